//! Flow-table commands as OpenFlow connections send them ([`FlowTableMod`]): one at a
//! time, as an all-or-nothing batch (a bundle's commit), and fail-open's hidden NORMAL
//! rule.

mod common;

use common::{eth, send};
use xvs_pipeline::ofp::{parse_flow, FlowFlags, FlowMod, ParseMode};
use xvs_pipeline::ofproto::flow_mods::{FlowModCommand, FlowModFailure, FlowTableMod};
use xvs_pipeline::{PortConfig, PortKind, Switch};

fn bridge() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge_with("br0", false).unwrap();
    for p in ["p1", "p2", "p3"] {
        sw.add_port("br0", PortConfig::new(p, PortKind::Netdev))
            .unwrap();
    }
    sw
}

fn flow(sw: &Switch, text: &str, mode: ParseMode) -> FlowMod {
    parse_flow(text, mode, sw.bridge("br0").unwrap()).unwrap()
}

fn dump(sw: &Switch) -> String {
    sw.dump_flows("br0", None, false, 0).unwrap()
}

#[test]
fn a_batch_with_one_refused_command_changes_nothing() {
    let mut sw = bridge();
    sw.add_flow("br0", "priority=5,in_port=p1 actions=output:p2", 0)
        .unwrap();
    let before = dump(&sw);
    let mut bad = flow(&sw, "priority=7 actions=drop", ParseMode::Add);
    bad.table = Some(255);
    let mods = vec![
        FlowTableMod::add(flow(
            &sw,
            "priority=9,in_port=p2 actions=output:p1",
            ParseMode::Add,
        )),
        FlowTableMod::delete(FlowMod::default(), false),
        FlowTableMod::add(bad),
        FlowTableMod::add(flow(&sw, "priority=8 actions=drop", ParseMode::Add)),
    ];
    let r = sw.flow_mods_atomic("br0", mods.clone(), 10).unwrap();
    assert_eq!(r, Err((2, FlowModFailure::BadTableId(255))));
    assert_eq!(dump(&sw), before, "a refused batch changed the tables");

    // Without the bad one, all of it: the add, then the delete of everything, then
    // the last add.
    let good: Vec<FlowTableMod> = mods
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, m)| m)
        .collect();
    let r = sw.flow_mods_atomic("br0", good, 10).unwrap();
    assert_eq!(r, Ok(vec![1, 2, 1]));
    assert_eq!(
        dump(&sw),
        " cookie=0x0, duration=0.000s, table=0, n_packets=0, n_bytes=0, idle_age=0, priority=8 actions=drop\n"
    );
}

#[test]
fn one_at_a_time_each_command_has_its_outcome() {
    let mut sw = bridge();
    let mut add = flow(
        &sw,
        "priority=5,in_port=p1 actions=output:p2",
        ParseMode::Add,
    );
    add.cookie = 0x10;
    assert_eq!(
        sw.flow_mod("br0", FlowTableMod::add(add.clone()), 0)
            .unwrap(),
        Ok(1)
    );
    let mut bad = add.clone();
    bad.table = Some(255);
    assert_eq!(
        sw.flow_mod("br0", FlowTableMod::add(bad), 0).unwrap(),
        Err(FlowModFailure::BadTableId(255))
    );
    // An identical add replaces the flow, its cookie included.
    add.cookie = 0x20;
    assert_eq!(
        sw.flow_mod("br0", FlowTableMod::add(add), 0).unwrap(),
        Ok(1)
    );
    assert!(dump(&sw).contains("cookie=0x20,"), "{}", dump(&sw));

    // Modify selected by cookie, giving a new cookie; strict needs the priority.
    let mut sel = flow(&sw, "in_port=p1 actions=output:p3", ParseMode::Modify);
    sel.cookie = 0x20;
    sel.cookie_mask = u64::MAX;
    let modify = |strict, new_cookie, may_add| FlowTableMod {
        command: FlowModCommand::Modify { strict },
        flow: sel.clone(),
        new_cookie,
        modify_may_add: may_add,
    };
    assert_eq!(
        sw.flow_mod("br0", modify(true, None, false), 1).unwrap(),
        Ok(0)
    );
    assert_eq!(
        sw.flow_mod("br0", modify(false, Some(0x30), false), 1)
            .unwrap(),
        Ok(1)
    );
    assert!(
        dump(&sw).contains("cookie=0x30,") && dump(&sw).contains("actions=output:3"),
        "{}",
        dump(&sw)
    );
    // OpenFlow 1.0's modify adds what it does not find (with its new cookie).
    let mut other = flow(&sw, "priority=3,in_port=p3 actions=drop", ParseMode::Modify);
    other.cookie = 0;
    let m = FlowTableMod {
        command: FlowModCommand::Modify { strict: true },
        flow: other,
        new_cookie: Some(0x40),
        modify_may_add: true,
    };
    assert_eq!(sw.flow_mod("br0", m, 2).unwrap(), Ok(1));
    assert!(dump(&sw).contains("cookie=0x40,"), "{}", dump(&sw));

    // A strict delete only takes the identical flow: a broader match takes nothing.
    let d = flow(&sw, "priority=5", ParseMode::Delete);
    assert_eq!(
        sw.flow_mod("br0", FlowTableMod::delete(d, true), 3)
            .unwrap(),
        Ok(0)
    );
    let d = flow(&sw, "priority=5,in_port=p1", ParseMode::Delete);
    assert_eq!(
        sw.flow_mod("br0", FlowTableMod::delete(d, true), 3)
            .unwrap(),
        Ok(1)
    );
    assert!(sw.bridge("br0").is_ok());
    assert!(sw
        .flow_mod("nope", FlowTableMod::delete(FlowMod::default(), false), 0)
        .is_err());
}

#[test]
fn an_add_replacing_a_flow_keeps_its_counters_unless_reset_counts() {
    // As OVS 3.1 (measured with ovs-vswitchd and ovs-ofctl -O OpenFlow13): an ADD with
    // the same table, priority and match replaces the flow (cookie, actions, duration)
    // but carries its packet and byte counts over (ofproto's modify_keep_counts),
    // unless the flow mod has reset_counts, which every OpenFlow 1.0 add implies. The
    // Neutron agent re-adds all its flows under a new cookie when it restarts.
    let mut sw = bridge();
    let mut add = flow(&sw, "priority=5,in_port=p1 actions=drop", ParseMode::Add);
    add.cookie = 0x1;
    assert_eq!(
        sw.flow_mod("br0", FlowTableMod::add(add.clone()), 0)
            .unwrap(),
        Ok(1)
    );
    let frame = eth("ff:ff:ff:ff:ff:ff", "fa:16:3e:00:00:01", None, 0x0800);
    for t in 0..3 {
        send(&mut sw, "p1", &frame, 1000 + t);
    }
    let counts = |sw: &Switch| {
        let d = dump(sw);
        let n = d
            .split("n_packets=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        let b = d
            .split("n_bytes=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        (n.parse::<u64>().unwrap(), b.parse::<u64>().unwrap(), d)
    };
    let (n, bytes, _) = counts(&sw);
    assert_eq!((n, bytes), (3, 3 * frame.len() as u64));

    // Re-added under a new cookie, with other actions: the counts stay.
    add.cookie = 0x2;
    add.actions = flow(
        &sw,
        "priority=5,in_port=p1 actions=output:p2",
        ParseMode::Add,
    )
    .actions;
    assert_eq!(
        sw.flow_mod("br0", FlowTableMod::add(add.clone()), 5000)
            .unwrap(),
        Ok(1)
    );
    let (n, b, d) = counts(&sw);
    assert_eq!((n, b), (3, bytes), "{d}");
    assert!(
        d.contains("cookie=0x2, duration=0.000s,"),
        "a new flow: {d}"
    );
    assert!(d.contains("actions=output:2"), "{d}");
    send(&mut sw, "p1", &frame, 6000);
    assert_eq!(counts(&sw).0, 4, "and go on counting");

    // With reset_counts (an OpenFlow 1.0 add), they start again.
    add.flags.0 |= FlowFlags::RESET_COUNTS;
    assert_eq!(
        sw.flow_mod("br0", FlowTableMod::add(add.clone()), 7000)
            .unwrap(),
        Ok(1)
    );
    assert_eq!(counts(&sw).0, 0, "{}", dump(&sw));
    // A bundle's adds are the same adds.
    send(&mut sw, "p1", &frame, 8000);
    add.flags.0 &= !FlowFlags::RESET_COUNTS;
    assert_eq!(
        sw.flow_mods_atomic("br0", vec![FlowTableMod::add(add)], 9000)
            .unwrap(),
        Ok(vec![1])
    );
    assert_eq!(counts(&sw).0, 1, "{}", dump(&sw));
}

#[test]
fn fail_open_sends_everything_to_normal_above_every_flow_and_stays_hidden() {
    let mut sw = bridge();
    sw.add_flow("br0", "priority=65535 actions=drop", 0)
        .unwrap();
    let frame = eth("fa:16:3e:00:00:02", "fa:16:3e:00:00:01", None, 0x88b5);
    assert!(
        send(&mut sw, "p1", &frame, 0).is_empty(),
        "dropped by the flow"
    );

    assert!(sw.set_fail_open("br0", true).unwrap());
    assert!(!sw.set_fail_open("br0", true).unwrap(), "already open");
    let mut out: Vec<String> = send(&mut sw, "p1", &frame, 1)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    out.sort();
    assert_eq!(out, ["p2", "p3"], "flooded by NORMAL");
    // Not in dumps, not deleted by a flush, and the flow's counters did not move
    // (the one packet is the one it dropped).
    assert_eq!(
        dump(&sw),
        " cookie=0x0, duration=0.000s, table=0, n_packets=1, n_bytes=14, idle_age=0, priority=65535 actions=drop\n"
    );
    assert_eq!(sw.flush_flows("br0").unwrap(), 1);
    assert_eq!(dump(&sw), "");
    assert_eq!(send(&mut sw, "p2", &frame, 2).len(), 2);

    assert!(sw.set_fail_open("br0", false).unwrap());
    assert!(
        send(&mut sw, "p1", &frame, 3).is_empty(),
        "no flow: dropped"
    );
}
