//! The control socket's protocol (`protocol::parse_request`) on any line, and what the
//! daemon does with a request that parses: flow and read commands run by a `Daemon`
//! without a datapath (one for the whole run, its br-tun's flows put back after each
//! input), configuration commands turned into database operations against a fixed
//! replica (`vsctl::ops_for`, what xvsd would send to ovsdb-server).
//!
//! Beyond "no panic": a request that parses is written back by `request_line` to a
//! line that parses to the same request; every response is one line of JSON that
//! reads back as a response, and echoes the request's id.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use xvs_daemon::ovsdb::replica::Replica;
use xvs_daemon::ovsdb::vsctl::{ops_for, ConfigCmd};
use xvs_daemon::ports::NoDatapath;
use xvs_daemon::protocol::{parse_request, request_line, Command, Response};
use xvs_daemon::Daemon;
use xvs_dataplane::worker::Upcall;
use xvs_pipeline::control_thread::{Clock, ControlConfig, ControlThread};
use xvs_pipeline::revalidator::Revalidator;
use xvs_pipeline::{PortConfig, PortKind, Switch};

const FLOWS: [&str; 4] = [
    "priority=1,in_port=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x3e7,output:2,output:3",
    "priority=1,tun_id=0x3e7 actions=mod_vlan_vid:1,output:1",
    "table=0,priority=0 actions=drop",
    "table=1,priority=2,arp,arp_tpa=10.0.0.1 actions=NORMAL",
];

fn daemon() -> &'static Daemon {
    // The sender is kept: a control thread whose upcall channel is closed has no
    // worker to serve.
    type Kept = (Daemon, crossbeam_channel::Sender<Upcall>);
    static D: OnceLock<Kept> = OnceLock::new();
    &D.get_or_init(|| {
        let mut sw = Switch::new();
        sw.add_bridge("br-tun").unwrap();
        for (name, no) in [("patch-int", 1), ("gre-1", 2), ("gre-2", 3)] {
            sw.add_port("br-tun", PortConfig::new(name, PortKind::Netdev).ofport(no))
                .unwrap();
        }
        // No worker sends upcalls: the channel stays empty.
        let (up_tx, up_rx) = crossbeam_channel::bounded(1);
        let control = ControlThread::spawn(
            sw,
            Revalidator::new(Vec::new(), 16),
            up_rx,
            Clock::new(),
            ControlConfig::default(),
        );
        (Daemon::new(control, Box::new(NoDatapath)), up_tx)
    })
    .0
}

/// Open_vSwitch with br-int (ports br-int, tap1 tag 1) and br-tun (gre-1).
fn replica() -> Replica {
    let mut db = Replica::default();
    db.apply_update(&json!({
        "Open_vSwitch": {"o": {"new": {"bridges": ["set", [["uuid", "b1"], ["uuid", "b2"]]], "next_cfg": 3, "cur_cfg": 3}}},
        "Bridge": {
            "b1": {"new": {"name": "br-int", "ports": ["set", [["uuid", "p1"], ["uuid", "p2"]]]}},
            "b2": {"new": {"name": "br-tun", "ports": ["uuid", "p3"]}},
        },
        "Port": {
            "p1": {"new": {"name": "br-int", "interfaces": ["uuid", "i1"]}},
            "p2": {"new": {"name": "tap1", "interfaces": ["uuid", "i2"], "tag": 1}},
            "p3": {"new": {"name": "gre-1", "interfaces": ["uuid", "i3"]}},
        },
        "Interface": {
            "i1": {"new": {"name": "br-int", "type": "internal"}},
            "i2": {"new": {"name": "tap1", "type": ""}},
            "i3": {"new": {"name": "gre-1", "type": "gre", "options": ["map", [["remote_ip", "192.0.2.2"]]]}},
        },
    }))
    .unwrap();
    db
}

fn check_response(r: &Response, id: Option<&Value>) {
    let line = r.to_line();
    assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
    // As JSON: a `"result":null` reads back as no result, which says the same.
    let back: Value = serde_json::from_str(&line).expect("a response is JSON");
    assert_eq!(back, serde_json::to_value(r).unwrap());
    serde_json::from_value::<Response>(back).expect("a response reads back");
    assert_eq!(r.id.as_ref(), id, "the id is echoed");
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let (id, cmd) = match parse_request(line) {
        Ok(r) => r,
        Err(resp) => {
            check_response(&resp, resp.id.clone().as_ref());
            return;
        }
    };
    let again = request_line(id.clone(), &cmd);
    assert_eq!(
        parse_request(&again),
        Ok((id.clone(), cmd.clone())),
        "{again}"
    );

    let config = match &cmd {
        Command::AddBr { bridge } => Some(ConfigCmd::AddBr {
            bridge: bridge.clone(),
        }),
        Command::DelBr { bridge } => Some(ConfigCmd::DelBr {
            bridge: bridge.clone(),
        }),
        Command::AddPort {
            bridge,
            port,
            options,
        } => Some(ConfigCmd::AddPort {
            bridge: bridge.clone(),
            port: port.clone(),
            options: options.clone(),
        }),
        Command::DelPort { bridge, port } => Some(ConfigCmd::DelPort {
            bridge: bridge.clone(),
            port: port.clone(),
        }),
        _ => None,
    };
    if let Some(c) = config {
        let db = replica();
        if let Ok(ops) = ops_for(&db, &c) {
            assert!(!ops.is_empty(), "{c:?}: a change has operations");
        }
        return;
    }

    let d = daemon();
    let r = d.respond(id.clone(), cmd);
    check_response(&r, id.as_ref());
    // Back to the same flows for the next input.
    let reset = d.respond(
        None,
        Command::ReplaceFlows {
            bridge: "br-tun".into(),
            flows: FLOWS.iter().map(|s| s.to_string()).collect(),
        },
    );
    assert!(reset.ok, "{reset:?}");
});
