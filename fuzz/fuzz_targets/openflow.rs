//! The OpenFlow decoder (framing, `decode_request` in each version and
//! `flow_mod_table_id` state) and the flow model's mapping of what it decodes
//! (`model::flow_mod`, `model::flow_filter`), then a FLOW_MOD applied to a switch, on
//! any bytes.
//!
//! Beyond "no panic": framing gives back whole messages whose length field is their
//! length; a refused message gets one OFPT_ERROR of at most 64 KiB with the request's
//! xid; a FLOW_MOD the model takes, written back as OVS writes a flow in that version
//! (a flow stats entry: NXM match and actions for 1.0, OXM and instructions for 1.3 and
//! 1.4) and read again, is the same match and the same actions (decode of encode); a
//! decoded BUNDLE_ADD's inner message is held to all of it too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use xvs_openflow::actions::{parse_actions, parse_instructions, InstructionError};
use xvs_openflow::flow_mod::FlowActions;
use xvs_openflow::framing::{Header, MessageStream};
use xvs_openflow::model::nxm::decode_match;
use xvs_openflow::model::{decode_actions, flow_filter, flow_mod, flow_stats};
use xvs_openflow::oxm::parse_tlvs;
use xvs_openflow::request::{decode_request, DecodeContext, Request};
use xvs_openflow::stats::FlowStatsForm;
use xvs_openflow::version::Version;
use xvs_openflow::OfError;
use xvs_pipeline::ofp::Match;
use xvs_pipeline::ofproto::flow_mods::FlowModCommand;
use xvs_pipeline::ofproto::table::Rule;
use xvs_pipeline::{PortConfig, PortKind, Switch};

fn switch() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge("br-int").unwrap();
    for (name, no) in [("tap1", 1), ("tap2", 2), ("patch-tun", 3)] {
        sw.add_port("br-int", PortConfig::new(name, PortKind::Netdev).ofport(no))
            .unwrap();
    }
    sw
}

/// What a match is once written: as in OVS, an OpenFlow 1.0 ICMP match keeps its 16-bit
/// `tp_src`/`tp_dst` whole (a type or code over 255, which no packet has, so the flow
/// matches nothing), and NXM and OXM write ICMP type and code as their low byte
/// (`nx_put_raw`'s `nxm_put_8m`). Found by this target; kept as OVS has it.
fn as_written(m: &Match) -> Match {
    let mut m = *m;
    if m.value.dl_type == 0x0800 && m.value.nw_proto == 1 {
        m.value.tp_src &= 0xff;
        m.value.tp_dst &= 0xff;
    }
    m
}

/// A flow the model took, written in `version`'s flow stats form and read back.
fn round_trip(fm: &xvs_pipeline::ofp::FlowMod, version: Version) {
    let rule = Rule {
        id: 1,
        table: fm.table.unwrap_or(0),
        priority: fm.priority,
        matcher: fm.matcher,
        actions: fm.actions.clone().unwrap_or_default(),
        cookie: fm.cookie,
        idle_timeout: fm.idle_timeout,
        hard_timeout: fm.hard_timeout,
        flags: fm.flags,
        created: 5,
        modified: 3,
        last_used: 9,
        n_packets: 1,
        n_bytes: 60,
    };
    let form = if version == Version::Of10 {
        FlowStatsForm::Nx
    } else {
        FlowStatsForm::Of11
    };
    // Every form and version writes it (what a dump over another connection does).
    for w in Version::ALL {
        for f in [FlowStatsForm::Of10, FlowStatsForm::Nx, FlowStatsForm::Of11] {
            let e = flow_stats(&rule, 10, w, f);
            assert!(e.encode(w, f).len() <= 65535 + 8);
        }
    }
    let e = flow_stats(&rule, 10, version, form);
    let m = parse_tlvs(&e.match_bytes, false)
        .map_err(|e| e.of_error())
        .and_then(|m| decode_match(&m.tlvs));
    assert_eq!(
        m.as_ref(),
        Ok(&as_written(&fm.matcher)),
        "the match, written in {version:?} and read back"
    );
    let acts = if form == FlowStatsForm::Nx {
        parse_actions(version, &e.actions_bytes).map(FlowActions::Actions)
    } else {
        parse_instructions(version, &e.actions_bytes)
            .map(FlowActions::Instructions)
            .map_err(|e| match e {
                InstructionError::Action(a) => a,
                other => panic!("our own instructions do not parse: {other}"),
            })
    };
    let acts: Result<_, OfError> = acts
        .map_err(|e| e.of_error())
        .and_then(|a| decode_actions(&a, version));
    assert_eq!(
        acts.as_ref().ok(),
        Some(&rule.actions),
        "the actions, written in {version:?} and read back: {acts:?}"
    );
}

fn request(r: &Request, version: Version, sw: &mut Switch) {
    match r {
        Request::FlowMod(wire) => {
            let Ok(m) = flow_mod(wire, version) else {
                return;
            };
            if matches!(
                m.command,
                FlowModCommand::Add | FlowModCommand::Modify { .. }
            ) {
                round_trip(&m.flow, version);
            }
            let _ = sw.flow_mod("br-int", m, 1000);
            let _ = sw.dump_flows("br-int", None, true, 2000);
        }
        Request::FlowStats(req) | Request::AggregateStats(req) => {
            let _ = flow_filter(req, version);
        }
        Request::BundleAdd { message, .. } => request(message, version, sw),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let version = Version::ALL[usize::from(sel & 3) % 3];
    let ctx = DecodeContext {
        version,
        flow_mod_table_id: sel & 4 != 0,
    };
    // Fed whole, or in pieces, as reads would bring it.
    let chunk = match sel >> 3 {
        0 => rest.len().max(1),
        n => usize::from(n),
    };
    let mut stream = MessageStream::new();
    let mut sw = switch();
    for piece in rest.chunks(chunk) {
        stream.feed(piece);
        // A framing error ends the stream (the connection would be closed).
        while let Ok(Some(msg)) = stream.next_message() {
            let h = Header::parse(&msg).expect("a framed message has a header");
            assert_eq!(usize::from(h.length), msg.len());
            match decode_request(&msg, &ctx) {
                Err(e) => {
                    let reply = e.encode_reply(&msg);
                    assert!(reply.len() <= 65535);
                    let rh = Header::parse(&reply).expect("an error message");
                    assert_eq!((rh.msg_type, rh.xid), (1, h.xid));
                    assert_eq!(usize::from(rh.length), reply.len());
                }
                Ok(m) => {
                    assert_eq!(m.header.xid, h.xid);
                    request(&m.request, version, &mut sw);
                }
            }
        }
    }
});
