//! xvs's OpenFlow model against real Open vSwitch 3.1: the flows of
//! `ovs_vectors/dump_flows.txt` (Neutron's br-int, br-tun and br-phys flows, and more
//! fields and actions) as OVS printed them in `ovs-ofctl dump-flows`, over OpenFlow 1.0
//! and over OpenFlow 1.3, after adding them over 1.3 (as os-ken does) or 1.0 (as plain
//! ovs-ofctl does); and the flows of `ovs_vectors/errors.txt` that OVS refuses.
//! `ovs_vectors/gen.sh` records both files from a private OVS.
//!
//! For each flow, xvs parses the text, keeps it as OVS would after receiving it over the
//! add's version (`wire_flow_mod`), and prints the rule as ovs-ofctl prints OVS's reply
//! over each dump version (`format_rule_as`).

use xvs_pipeline::ofp::check::verify_order;
use xvs_pipeline::ofp::version::{wire_actions, wire_flow_mod};
use xvs_pipeline::ofp::{parse_flow, FlowMod, OfPort, OfVersion, ParseMode, PortNames};
use xvs_pipeline::ofproto::table::Rule;
use xvs_pipeline::present::flows::format_rule_as;

const DUMPS: &str = include_str!("ovs_vectors/dump_flows.txt");
const ERRORS: &str = include_str!("ovs_vectors/errors.txt");

/// The ports of the OVS bridge the vectors were recorded on.
struct Br0;

const PORTS: [(&str, OfPort); 5] = [
    ("patch-int", 1),
    ("gre-1", 2),
    ("vxlan-1", 3),
    ("tap5", 5),
    ("int-br-eth1", 6),
];

impl PortNames for Br0 {
    fn port_no(&self, name: &str) -> Option<OfPort> {
        PORTS.iter().find(|(n, _)| *n == name).map(|&(_, p)| p)
    }
    fn port_name(&self, no: OfPort) -> Option<&str> {
        PORTS.iter().find(|&&(_, p)| p == no).map(|&(n, _)| n)
    }
}

/// One recorded flow: the text given to OVS and what OVS said back.
#[derive(Default, Debug)]
struct Vector {
    add: Option<OfVersion>,
    flow: String,
    of10: Option<String>,
    of10_error: Option<String>,
    of13: Option<String>,
    ovs_warn: Option<String>,
    ovs_error: Option<String>,
}

fn vectors(text: &str) -> Vec<Vector> {
    let mut out: Vec<Vector> = Vec::new();
    let mut add = Some(OfVersion::Of13);
    for line in text.lines() {
        let (key, value) = match line.split_once(": ") {
            Some((k, v)) if !line.starts_with('#') => (k, v.trim_end().to_string()),
            _ => {
                match line {
                    "[add of13]" => add = Some(OfVersion::Of13),
                    "[add of10]" => add = Some(OfVersion::Of10),
                    _ => {}
                }
                continue;
            }
        };
        if key == "flow" {
            out.push(Vector {
                add,
                flow: value,
                ..Vector::default()
            });
            continue;
        }
        let v = out.last_mut().expect("a flow first");
        match key {
            "of10" => v.of10 = Some(value),
            "of10-error" => v.of10_error = Some(value),
            "of13" => v.of13 = Some(value),
            "ovs-warn" => v.ovs_warn = Some(value),
            "ovs-error" => v.ovs_error = Some(value),
            _ => panic!("unknown line {line:?}"),
        }
    }
    out
}

/// A dump line without what changes from run to run (as gen.sh strips OVS's).
fn strip(line: &str) -> String {
    let mut s = line.trim_start().to_string();
    for key in [
        "duration=",
        "n_packets=",
        "n_bytes=",
        "idle_age=",
        "hard_age=",
    ] {
        if let Some(i) = s.find(key) {
            let end = s[i..].find(", ").map_or(s.len(), |j| i + j + 2);
            s.replace_range(i..end, "");
        }
    }
    s
}

fn rule(fm: &FlowMod) -> Rule {
    Rule {
        id: 1,
        table: fm.table.unwrap_or(0),
        priority: fm.priority,
        matcher: fm.matcher,
        actions: fm.actions.clone().unwrap_or_default(),
        cookie: fm.cookie,
        idle_timeout: fm.idle_timeout,
        hard_timeout: fm.hard_timeout,
        flags: fm.flags,
        created: 0,
        modified: 0,
        last_used: 0,
        n_packets: 0,
        n_bytes: 0,
    }
}

#[test]
fn dumps_print_as_ovs_prints_them() {
    let all = vectors(DUMPS);
    assert!(all.len() > 90, "{} vectors", all.len());
    let mut failures = Vec::new();
    for v in &all {
        let fm = match parse_flow(&v.flow, ParseMode::Add, &Br0) {
            Ok(fm) => fm,
            Err(e) => {
                failures.push(format!("{}\n  xvs refuses it: {e}", v.flow));
                continue;
            }
        };
        let stored = wire_flow_mod(&fm, v.add.expect("an add version"));
        let r = rule(&stored);
        for (version, want) in [(OfVersion::Of10, &v.of10), (OfVersion::Of13, &v.of13)] {
            let Some(want) = want else { continue };
            let got = strip(&format_rule_as(&r, &Br0, false, 0, Some(version)));
            if &got != want {
                failures.push(format!(
                    "{}\n  {version:?} ovs: {want}\n  {version:?} xvs: {got}",
                    v.flow
                ));
            }
        }
        if let Some(want) = &v.of10_error {
            // OVS itself cannot show this flow to an OpenFlow 1.0 ovs-ofctl: over 1.0,
            // write_metadata and goto_table (as resubmit) are actions, in an order 1.1+
            // instructions forbid; xvs knows the same of the 1.0 view.
            let view = wire_actions(r.actions.as_slice(), &r.matcher, OfVersion::Of10);
            match verify_order(&view) {
                Err(e) if &e.detail == want => {}
                other => failures.push(format!(
                    "{}\n  ovs over 1.0: {want}\n  xvs: {other:?}",
                    v.flow
                )),
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Wordings of xvs that differ from ovs-ofctl's for the same refusal.
const OTHER_WORDS: [(&str, &str); 2] = [
    ("in_port=1/1,actions=drop", "bad mask \"1\" for in_port"),
    ("reg16=1,actions=drop", "unknown field \"reg16\""),
];

#[test]
fn what_ovs_refuses_xvs_refuses_with_its_words() {
    let all = vectors(ERRORS);
    assert!(all.len() > 20, "{} vectors", all.len());
    let mut failures = Vec::new();
    for v in &all {
        let ovs = v.ovs_error.as_deref().expect("OVS refused it");
        let e = match parse_flow(&v.flow, ParseMode::Add, &Br0) {
            Ok(fm) => {
                failures.push(format!("{}\n  xvs takes it: {fm:?}", v.flow));
                continue;
            }
            Err(e) => e.to_string(),
        };
        // The explanation OVS logs, else its message without the quoted input.
        let want = match (&v.ovs_warn, OTHER_WORDS.iter().find(|(f, _)| *f == v.flow)) {
            (_, Some((_, words))) => words.to_string(),
            (Some(w), None) => w.clone(),
            (None, None) => match ovs.split_once(": ") {
                Some((_, rest)) if !ovs.starts_with("invalid") && !ovs.starts_with("duplicate") => {
                    rest.to_string()
                }
                _ => ovs.to_string(),
            },
        };
        if !e.contains(&want) {
            failures.push(format!(
                "{}\n  ovs: {ovs}\n  xvs: {e}\n  want: {want}",
                v.flow
            ));
        }
        // The OpenFlow error code, where OVS names one.
        if let Some(code) = ovs.split('(').nth(1).and_then(|c| c.strip_suffix(')')) {
            if !e.contains(code) {
                failures.push(format!("{}\n  ovs code {code} not in: {e}", v.flow));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
