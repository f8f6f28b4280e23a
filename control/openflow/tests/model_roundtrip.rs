//! The flow model through the wire and back: for every flow of the pipeline's OVS
//! vectors (and the Neutron flows OVS showed for os-ken's flow mods), writing it as a
//! flow stats entry in a version ([`flow_stats`]) and reading that entry's match and
//! actions back ([`decode_match`], [`decode_actions`]) gives the flow as the
//! pipeline's `version::wire_flow_mod` says the version makes it; a stats request
//! selects what the same text selects in `dump-flows`; every flow command ovs-ofctl
//! sent is what its text says.

use xvs_openflow::actions::{parse_actions, parse_instructions};
use xvs_openflow::flow_mod::FlowActions;
use xvs_openflow::model::nxm::decode_match;
use xvs_openflow::model::{decode_actions, flow_filter, flow_mod, flow_stats};
use xvs_openflow::oxm::parse_tlvs;
use xvs_openflow::request::{decode_request, DecodeContext, Request};
use xvs_openflow::stats::FlowStatsForm;
use xvs_openflow::version::Version;
use xvs_openflow::OfError;
use xvs_pipeline::ofp::field::Field;
use xvs_pipeline::ofp::version::wire_flow_mod;
use xvs_pipeline::ofp::{
    parse_flow, Action, FlowFlags, FlowMod, NoPortNames, OfVersion, ParseMode,
};
use xvs_pipeline::ofproto::flow_mods::FlowModCommand;
use xvs_pipeline::ofproto::table::Rule;

const PIPELINE: &str = include_str!("../../pipeline/tests/ovs_vectors/dump_flows.txt");
const OURS: &str = include_str!("vectors/ovs-model-flows.txt");
const REQUESTS: &str = include_str!("vectors/ovs-ofctl-requests.txt");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Every flow text: the pipeline's vectors, our extra flows, and OVS's 1.3 view of
/// the os-ken flows (port names replaced by numbers).
fn flows() -> Vec<String> {
    let mut out: Vec<String> = PIPELINE
        .lines()
        .filter_map(|l| l.strip_prefix("flow: "))
        .map(str::to_string)
        .collect();
    let mut neutron = false;
    for l in OURS.lines() {
        if let Some(f) = l.strip_prefix("more: ") {
            out.push(f.to_string());
        }
        neutron |= l.starts_with("neutron: ");
        if let Some(f) = l.strip_prefix("ovs13: ").filter(|_| neutron) {
            out.push(f.to_string());
            neutron = false;
        }
    }
    out
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

/// A port name of the vectors' bridge as its number.
fn numbers(text: &str) -> String {
    let mut t = text.to_string();
    for (n, p) in [
        ("patch-int", 1),
        ("gre-1", 2),
        ("vxlan-1", 3),
        ("tap5", 5),
        ("int-br-eth1", 6),
    ] {
        t = t.replace(n, &p.to_string());
    }
    t
}

#[test]
fn decode_of_encode_is_what_each_version_makes_of_a_flow() {
    let all = flows();
    assert!(all.len() > 120, "{} flows", all.len());
    let mut failures = Vec::new();
    for text in &all {
        let fm = match parse_flow(&numbers(text), ParseMode::Add, &NoPortNames) {
            Ok(fm) => fm,
            Err(e) => panic!("{text}: {e}"),
        };
        let r = rule(&fm);
        for (version, ofv, form) in [
            (Version::Of10, OfVersion::Of10, FlowStatsForm::Nx),
            (Version::Of13, OfVersion::Of13, FlowStatsForm::Of11),
            (Version::Of14, OfVersion::Of13, FlowStatsForm::Of11),
        ] {
            let want = wire_flow_mod(&fm, ofv);
            let e = flow_stats(&r, 0, version, form);
            let m = parse_tlvs(&e.match_bytes, false)
                .map_err(|e| e.of_error())
                .and_then(|m| decode_match(&m.tlvs));
            let acts = if form == FlowStatsForm::Nx {
                parse_actions(version, &e.actions_bytes).map(FlowActions::Actions)
            } else {
                parse_instructions(version, &e.actions_bytes)
                    .map(FlowActions::Instructions)
                    .map_err(|e| match e {
                        xvs_openflow::actions::InstructionError::Action(a) => a,
                        other => panic!("{text}: {other}"),
                    })
            };
            let acts = acts
                .map_err(|e| e.of_error())
                .and_then(|a| decode_actions(&a, version));
            if m.as_ref() != Ok(&want.matcher) {
                failures.push(format!(
                    "{text} {version:?}\n  want {:?}\n  got  {m:?}",
                    want.matcher
                ));
            }
            // A set_field of vlan_vid without OFPVID_PRESENT (only flow text holds
            // one; over 1.0 it becomes mod_vlan_vid) is written as OVS writes it, and
            // read back as OVS reads it: refused.
            let no_present = want.actions.iter().flatten().any(|a| {
                matches!(a, Action::SetField { field: Field::VlanVid, value, .. } if value & 0x1000 == 0)
            });
            if no_present && acts == Err(OfError::OFPBAC_BAD_SET_ARGUMENT) {
                continue;
            }
            if acts.as_ref().ok() != want.actions.as_ref() {
                failures.push(format!(
                    "{text} {version:?}\n  want {:?}\n  got  {acts:?}",
                    want.actions
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn stats_requests_select_what_dump_flows_text_selects() {
    let mut cmd: Option<(Version, String)> = None;
    let mut seen = 0;
    for line in REQUESTS.lines() {
        if let Some(c) = line.strip_prefix("# ovs-ofctl ") {
            let words: Vec<&str> = c.split_whitespace().collect();
            let version = match words.iter().position(|w| *w == "-O") {
                Some(i) if words[i + 1] == "OpenFlow13" => Version::Of13,
                Some(i) if words[i + 1] == "OpenFlow14" => Version::Of14,
                _ => Version::Of10,
            };
            cmd = words
                .iter()
                .position(|w| *w == "dump-flows" || *w == "dump-aggregate")
                .map(|i| (version, words[i + 2..].join(",")));
            continue;
        }
        let (Some((version, args)), Some(h)) = (&cmd, line.strip_prefix("c2s ")) else {
            continue;
        };
        let Ok(m) = decode_request(&hex(h), &DecodeContext::new(*version)) else {
            continue;
        };
        let req = match m.request {
            Request::FlowStats(r) | Request::AggregateStats(r) => r,
            _ => continue,
        };
        let want = parse_flow(args, ParseMode::Dump, &NoPortNames).unwrap();
        let got = flow_filter(&req, *version).unwrap();
        assert_eq!(got, want, "{args} over {version:?}");
        seen += 1;
    }
    assert!(seen >= 9, "{seen} requests");
}

/// Every add-flow, mod-flows and del-flows of the ovs-ofctl capture (OpenFlow 1.0
/// with and without NXM and table ids, 1.3, 1.4 and bundles) is the command its
/// text says, with the flow as its version makes it.
#[test]
fn ovs_ofctl_flow_commands_mean_what_their_text_says() {
    let mut seen = 0;
    let mut cmd: Option<(String, Vec<String>)> = None;
    let mut tid = false;
    for line in REQUESTS.lines() {
        if let Some(c) = line.strip_prefix("# ovs-ofctl ") {
            let words: Vec<String> = c.split_whitespace().map(str::to_string).collect();
            cmd = words
                .iter()
                .position(|w| matches!(w.as_str(), "add-flow" | "mod-flows" | "del-flows"))
                .map(|i| (words[i].clone(), words[i + 2..].to_vec()));
            continue;
        }
        if line.starts_with("conn ") {
            tid = false;
            continue;
        }
        let (Some((name, args)), Some(h)) = (&cmd, line.strip_prefix("c2s ")) else {
            continue;
        };
        let msg = hex(h);
        let Some(version) = Version::from_wire(msg[0]) else {
            continue;
        };
        let mut ctx = DecodeContext::new(version);
        ctx.flow_mod_table_id = tid;
        let request = match decode_request(&msg, &ctx).map(|m| m.request) {
            Ok(Request::BundleAdd { message, .. }) => *message,
            Ok(r) => r,
            Err(_) => continue,
        };
        let fm = match request {
            Request::FlowModTableId(on) => {
                tid = on;
                continue;
            }
            Request::FlowMod(fm) => fm,
            _ => continue,
        };
        let strict = args.iter().any(|a| a == "--strict");
        let text: Vec<&str> = args
            .iter()
            .filter(|a| !a.starts_with("--"))
            .map(String::as_str)
            .collect();
        let text = text.join(",");
        let mode = match name.as_str() {
            "add-flow" => ParseMode::Add,
            "mod-flows" => ParseMode::Modify,
            _ => ParseMode::Delete,
        };
        let ofv = if version == Version::Of10 {
            OfVersion::Of10
        } else {
            OfVersion::Of13
        };
        let got = match flow_mod(&fm, version) {
            Ok(m) => m,
            Err(e) => {
                // write_actions, clear_actions and meters: not in xvs's model.
                assert!(text.contains("write_actions"), "{text}: {e:?}");
                assert_eq!(e, OfError::OFPBIC_UNSUP_INST);
                continue;
            }
        };
        let mut want = wire_flow_mod(&parse_flow(&text, mode, &NoPortNames).unwrap(), ofv);
        if mode != ParseMode::Add || version == Version::Of10 {
            want.flags.0 &= !FlowFlags::RESET_COUNTS;
        }
        if mode == ParseMode::Add && version == Version::Of10 {
            want.flags.0 |= FlowFlags::RESET_COUNTS;
        }
        if want.table.is_none() && mode != ParseMode::Delete && version != Version::Of10 {
            want.table = Some(0);
        }
        match mode {
            ParseMode::Add => assert_eq!(got.command, FlowModCommand::Add, "{text}"),
            ParseMode::Modify => {
                assert_eq!(got.command, FlowModCommand::Modify { strict }, "{text}");
                // OpenFlow 1.0 sets the cookie it carries (0 when not given), and
                // may add; 1.3 does neither.
                let of10 = version == Version::Of10;
                assert_eq!(got.new_cookie, of10.then_some(want.cookie), "{text}");
                assert_eq!(got.modify_may_add, of10, "{text}");
            }
            _ => {
                assert_eq!(got.command, FlowModCommand::Delete { strict }, "{text}");
                want.actions = None;
            }
        }
        assert_eq!(got.flow, want, "{name} {text} over {version:?}");
        seen += 1;
    }
    assert!(seen >= 25, "{seen} flow mods");
}
