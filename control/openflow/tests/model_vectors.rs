//! The flow model against real Open vSwitch 3.1, byte for byte
//! (`vectors/ovs-model-flows.txt`, recorded by `capture/capture_model.py`):
//!
//! 1. every FLOW_MOD `ovs-ofctl` sent for the pipeline's 97 vector flows (OpenFlow
//!    1.0 + NXM, and 1.3) decodes into the flow the pipeline parses from the same
//!    text, as it is after the add's version (`version::wire_flow_mod`);
//! 2. that flow, stored, is written into flow stats entries equal to OVS's replies to
//!    `dump-flows` (NXST_FLOW), `-O OpenFlow13 dump-flows` (OFPMP_FLOW) and an
//!    OpenFlow 1.0 OFPST_FLOW request, its durations, counters and ages taken from
//!    OVS's entry;
//! 3. the refused flows, in a wire form, get OVS's OFPT_ERROR (or are taken where
//!    OVS takes them);
//! 4. os-ken's encodings of the Neutron agent's flows decode into the flows OVS
//!    shows for them, whose flow stats entries are OVS's; its deletes leave the
//!    flows OVS leaves;
//! 5. 67 single faults of OpenFlow 1.0 and 1.3 flow mods get OVS's errors (but for
//!    what the model cannot hold, refused by design), and reg_load2, output_reg2
//!    and ONF's copy-field read as OVS reads them.

use xvs_openflow::errors::encode_error_reply;
use xvs_openflow::model::{flow_mod, flow_stats};
use xvs_openflow::request::{decode_request, DecodeContext, Request};
use xvs_openflow::stats::{FlowStatsEntry, FlowStatsForm};
use xvs_openflow::version::Version;
use xvs_openflow::OfError;
use xvs_pipeline::ofp::version::wire_flow_mod;
use xvs_pipeline::ofp::{parse_flow, FlowMod, OfPort, OfVersion, ParseMode, PortNames};
use xvs_pipeline::ofproto::flow_mods::{FlowModCommand, FlowTableMod};
use xvs_pipeline::ofproto::table::Rule;
use xvs_pipeline::present::flows::format_rule_as;
use xvs_pipeline::Switch;

const VECTORS: &str = include_str!("vectors/ovs-model-flows.txt");

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

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}
fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn be64(b: &[u8], o: usize) -> u64 {
    (u64::from(be32(b, o)) << 32) | u64::from(be32(b, o + 4))
}

/// One block of the vector file: its key lines, in order.
#[derive(Default, Debug)]
struct Block {
    kind: String,
    label: String,
    lines: Vec<(String, String)>,
}

impl Block {
    fn get(&self, key: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, key: &str) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn blocks() -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for line in VECTORS.lines() {
        if line.starts_with('#') || line.starts_with('[') || line.is_empty() {
            continue;
        }
        let (k, v) = line
            .split_once(": ")
            .unwrap_or((line.trim_end_matches(':'), ""));
        if matches!(
            k,
            "flow" | "more" | "refused" | "wire" | "other" | "neutron" | "delete"
        ) {
            out.push(Block {
                kind: k.to_string(),
                label: v.to_string(),
                lines: Vec::new(),
            });
        } else {
            let b = out.last_mut().expect("a block first");
            b.lines.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// A flow added with ovs-ofctl: the pipeline's vectors, and a few more.
fn is_flow(b: &Block) -> bool {
    b.kind == "flow" || b.kind == "more"
}

/// Decodes a FLOW_MOD of `version` and maps it onto the model.
fn decode(msg: &[u8], version: Version, tid: bool) -> Result<FlowTableMod, OfError> {
    let mut ctx = DecodeContext::new(version);
    ctx.flow_mod_table_id = tid;
    let m = decode_request(msg, &ctx).map_err(|e| e.of_error())?;
    let Request::FlowMod(fm) = m.request else {
        panic!("not a flow mod: {:?}", m.request)
    };
    flow_mod(&fm, version)
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

/// Our entry for `r`, with what changes from run to run taken from OVS's entry.
fn our_entry(r: &Rule, ovs: &[u8], version: Version, form: FlowStatsForm) -> Vec<u8> {
    let mut e: FlowStatsEntry = flow_stats(r, 0, version, form);
    // Where ofp10_flow_stats, nx_flow_stats and ofp11_flow_stats keep them.
    let (duration, counters) = match form {
        FlowStatsForm::Of10 => (44, 72),
        _ => (4, 32),
    };
    e.duration_sec = be32(ovs, duration);
    e.duration_nsec = be32(ovs, duration + 4);
    e.packet_count = be64(ovs, counters);
    e.byte_count = be64(ovs, counters + 8);
    if form == FlowStatsForm::Nx {
        let age = |a: u16| a.checked_sub(1).map(u32::from);
        e.idle_age = age(be16(ovs, 20));
        e.hard_age = age(be16(ovs, 22));
    }
    e.encode(version, form)
}

/// A dump line without durations, counters and ages (as the capture strips them).
fn strip(line: &str) -> String {
    let mut s = line.trim().to_string();
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

#[test]
fn ovs_ofctl_flow_mods_decode_to_the_flows_the_pipeline_parses() {
    let all: Vec<Block> = blocks().into_iter().filter(is_flow).collect();
    assert_eq!(all.iter().filter(|b| b.kind == "flow").count(), 97);
    let mut failures = Vec::new();
    for b in &all {
        let (version, ofv) = match b.get("add") {
            Some("of13") => (Version::Of13, OfVersion::Of13),
            _ => (Version::Of10, OfVersion::Of10),
        };
        let msg = hex(b.get("flow_mod").unwrap());
        let got = match decode(&msg, version, b.get("tid") == Some("1")) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{}\n  refused: {e:?}", b.label));
                continue;
            }
        };
        let mut want = wire_flow_mod(&parse_flow(&b.label, ParseMode::Add, &Br0).unwrap(), ofv);
        // ovs-ofctl sends table 0 for an add without a table over 1.3.
        if want.table.is_none() && version == Version::Of13 {
            want.table = Some(0);
        }
        if got.command != FlowModCommand::Add || got.flow != want {
            failures.push(format!(
                "{}\n  want {want:?}\n  got  {:?} {:?}",
                b.label, got.command, got.flow
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn stored_flows_dump_as_ovs_dumps_them() {
    let mut failures = Vec::new();
    let mut compared = 0;
    for b in blocks().iter().filter(|b| is_flow(b)) {
        let version = if b.get("add") == Some("of13") {
            Version::Of13
        } else {
            Version::Of10
        };
        let msg = hex(b.get("flow_mod").unwrap());
        let Ok(m) = decode(&msg, version, b.get("tid") == Some("1")) else {
            failures.push(format!("{}: refused", b.label));
            continue;
        };
        let r = rule(&m.flow);
        for (key, v, form) in [
            ("nxst", Version::Of10, FlowStatsForm::Nx),
            ("mp13", Version::Of13, FlowStatsForm::Of11),
            ("st10", Version::Of10, FlowStatsForm::Of10),
        ] {
            let ovs = hex(b.get(key).unwrap());
            let ours = our_entry(&r, &ovs, v, form);
            compared += 1;
            if ours != ovs {
                failures.push(format!(
                    "{} ({key})\n  ovs {}\n  xvs {}",
                    b.label,
                    to_hex(&ovs),
                    to_hex(&ours)
                ));
            }
        }
        // And ovs-ofctl -O OpenFlow13 prints it as it printed OVS's.
        let text = strip(&format_rule_as(&r, &Br0, false, 0, Some(OfVersion::Of13)));
        if Some(text.as_str()) != b.get("ovs13") {
            failures.push(format!(
                "{} (text)\n  ovs {}\n  xvs {text}",
                b.label,
                b.get("ovs13").unwrap_or("")
            ));
        }
    }
    assert!(compared >= 3 * 97);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn refused_flows_get_ovs_errors() {
    let mut failures = Vec::new();
    let all: Vec<Block> = blocks()
        .into_iter()
        .filter(|b| b.kind == "refused")
        .collect();
    assert!(all.len() >= 20);
    for b in &all {
        let msg = hex(b.get("c2s").unwrap());
        let want = b.get("s2c").unwrap();
        let got = match decode(&msg, Version::Of13, false) {
            Ok(_) => "ok".to_string(),
            Err(e) => to_hex(&encode_error_reply(e, &msg)),
        };
        if got != want {
            failures.push(format!("{}\n  ovs {want}\n  xvs {got}", b.label));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Wire cases where xvs answers otherwise than OVS, by design: what the flow model
/// cannot hold is refused as OVS refuses what it does not know (OVS's answer is in
/// the vectors all the same).
const XVS_REFUSES: [(&str, OfError); 8] = [
    ("of13 set_field pkt_mark", OfError::OFPBAC_BAD_SET_TYPE),
    (
        "of13 learn with a fin timeout",
        OfError::OFPBAC_BAD_ARGUMENT,
    ),
    ("of13 reg_move from ct_nw_src", OfError::OFPBMC_BAD_FIELD),
    ("of13 write_actions", OfError::OFPBIC_UNSUP_INST),
    ("of13 clear_actions", OfError::OFPBIC_UNSUP_INST),
    ("of13 enqueue-like set_queue", OfError::OFPBAC_BAD_TYPE),
    ("of13 goto_table 255", OfError::OFPBIC_BAD_TABLE_ID),
    ("of10 enqueue", OfError::OFPBAC_BAD_TYPE),
];

#[test]
fn malformed_flow_mods_get_ovs_errors() {
    let mut failures = Vec::new();
    let all: Vec<Block> = blocks().into_iter().filter(|b| b.kind == "wire").collect();
    assert!(all.len() >= 60, "{} cases", all.len());
    for b in &all {
        let msg = hex(b.get("c2s").unwrap());
        let version = if msg[0] == 1 {
            Version::Of10
        } else {
            Version::Of13
        };
        let mut want = b.get("s2c").unwrap().to_string();
        if let Some((_, e)) = XVS_REFUSES.iter().find(|(l, _)| *l == b.label) {
            want = to_hex(&encode_error_reply(*e, &msg));
        }
        let got = match decode(&msg, version, false) {
            Ok(_) => "ok".to_string(),
            Err(e) => to_hex(&encode_error_reply(e, &msg)),
        };
        if got != want {
            failures.push(format!("{}\n  want {want}\n  xvs  {got}", b.label));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn os_ken_neutron_flows_decode_as_ovs_decodes_them() {
    let mut failures = Vec::new();
    let all: Vec<Block> = blocks()
        .into_iter()
        .filter(|b| b.kind == "neutron")
        .collect();
    assert!(all.len() >= 20);
    for b in &all {
        let msg = hex(b.get("c2s").unwrap());
        assert_eq!(b.get("s2c"), Some("ok"), "{}: OVS refused it", b.label);
        let got = match decode(&msg, Version::Of13, false) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{}\n  refused: {e:?}", b.label));
                continue;
            }
        };
        let ovs13 = b.get("ovs13").unwrap();
        let want = parse_flow(ovs13, ParseMode::Add, &Br0).unwrap();
        if got.flow != want {
            failures.push(format!(
                "{}\n  want {want:?}\n  got  {:?}",
                b.label, got.flow
            ));
        }
        let r = rule(&got.flow);
        let ovs = hex(b.get("mp13").unwrap());
        let ours = our_entry(&r, &ovs, Version::Of13, FlowStatsForm::Of11);
        if ours != ovs {
            failures.push(format!(
                "{} (mp13)\n  ovs {}\n  xvs {}",
                b.label,
                to_hex(&ovs),
                to_hex(&ours)
            ));
        }
        let text = strip(&format_rule_as(&r, &Br0, false, 0, Some(OfVersion::Of13)));
        if text != ovs13 {
            failures.push(format!("{} (text)\n  ovs {ovs13}\n  xvs {text}", b.label));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// reg_load2, output_reg2 and ONF's copy-field are read into the flows OVS shows
/// for them. Written back, they are what the model's set_field (a masked one is
/// `load`s), output_reg and move are; OVS writes each back as it came.
#[test]
fn other_encodings_decode_as_ovs_decodes_them() {
    let all: Vec<Block> = blocks().into_iter().filter(|b| b.kind == "other").collect();
    assert!(all.len() >= 4);
    for b in &all {
        assert_eq!(b.get("s2c"), Some("ok"), "{}: OVS refused it", b.label);
        let got = decode(&hex(b.get("c2s").unwrap()), Version::Of13, false).unwrap();
        let ovs13 = b.get("ovs13").unwrap();
        let want = parse_flow(ovs13, ParseMode::Add, &Br0).unwrap();
        assert_eq!(got.flow, want, "{}", b.label);
    }
}

#[test]
fn os_ken_deletes_leave_what_ovs_leaves() {
    let mut failures = Vec::new();
    for b in blocks().iter().filter(|b| b.kind == "delete") {
        let mut sw = Switch::new();
        sw.add_bridge_with("br0", false).unwrap();
        for add in b.all("add") {
            let m = decode(&hex(add), Version::Of13, false).unwrap();
            sw.flow_mod("br0", m, 0).unwrap().unwrap();
        }
        let del = decode(&hex(b.get("c2s").unwrap()), Version::Of13, false).unwrap();
        sw.flow_mod("br0", del, 0).unwrap().unwrap();
        let left: Vec<String> = sw
            .dump_rules("br0", None)
            .unwrap()
            .iter()
            .map(|r| strip(&format_rule_as(r, &Br0, false, 0, Some(OfVersion::Of13))))
            .collect();
        let want: Vec<String> = b.all("left").iter().map(|s| s.to_string()).collect();
        if left != want {
            failures.push(format!("{}\n  ovs {want:?}\n  xvs {left:?}", b.label));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
