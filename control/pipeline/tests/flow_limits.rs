//! Learning and tables are bounded (issue 15): learned flows stop at the bridge's
//! ceiling (refused when none can expire, else the soonest to expire evicted), and a
//! table's `flow_limit` (a `Flow_Table` row) refuses or evicts as OVS does, by groups
//! and expiry, never a permanent flow; everything refused or evicted is counted.

mod common;

use std::collections::BTreeMap;

use common::*;
use xvs_pipeline::ofp::{parse_flow, Field, FieldSlice, ParseMode};
use xvs_pipeline::ofproto::flow_mods::{FlowModFailure, FlowTableMod};
use xvs_pipeline::ofproto::limits::{FlowLimitStats, OverflowPolicy, TableConfig};
use xvs_pipeline::present::datapath::pipeline_counters_text;
use xvs_pipeline::{PortConfig, PortKind, Switch, SwitchError};

const A: &str = "fa:16:3e:00:00:0a";

/// br0 (no NORMAL flow) with netdev ports p1 (OpenFlow 1) and p2 (2), and `flows`.
fn bridge(flows: &[&str]) -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge_with("br0", false).unwrap();
    for p in ["p1", "p2"] {
        sw.add_port("br0", PortConfig::new(p, PortKind::Netdev))
            .unwrap();
    }
    for f in flows {
        sw.add_flow("br0", f, 0)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    sw
}

/// A frame from a source MAC numbered `i`.
fn from(i: u32) -> Vec<u8> {
    let src = format!("fa:16:3e:01:{:02x}:{:02x}", i >> 8, i & 0xff);
    ping(A, &src, None, "10.0.0.1", "10.0.0.2")
}

fn n_flows(sw: &Switch, table: usize) -> usize {
    sw.tables("br0").unwrap().tables[table].len()
}

fn learn_flow(timeouts: &str) -> String {
    format!(
        "actions=learn(table=5{timeouts},NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:p2"
    )
}

fn config(limit: usize, policy: OverflowPolicy, groups: Vec<FieldSlice>) -> TableConfig {
    TableConfig {
        name: None,
        flow_limit: Some(limit),
        overflow_policy: policy,
        groups,
    }
}

fn table_full(table: u8) -> SwitchError {
    SwitchError::FlowMod {
        bridge: "br0".into(),
        error: FlowModFailure::TableFull(table),
    }
}

/// A MAC storm through a `learn` without timeouts: the ceiling holds, every flow past
/// it is refused and counted, and the packets are still forwarded.
#[test]
fn learned_flows_without_timeouts_stop_at_the_ceiling() {
    let mut sw = bridge(&[&learn_flow("")]);
    sw.set_learned_limit("br0", 10).unwrap();
    for i in 0..25 {
        assert_eq!(send(&mut sw, "p1", &from(i), u64::from(i)).len(), 1);
    }
    assert_eq!(n_flows(&sw, 5), 10);
    let st = sw.flow_limit_stats();
    assert_eq!(
        st,
        FlowLimitStats {
            learn_refused: 15,
            ..Default::default()
        }
    );
    // A flow already learned is refreshed, not refused again.
    send(&mut sw, "p1", &from(3), 100);
    assert_eq!(sw.flow_limit_stats().learn_refused, 15);
    let shown = pipeline_counters_text(&sw);
    assert!(
        shown.contains("flow limits: refused:0 evicted:0 learn-refused:15 learn-evicted:0"),
        "{shown}"
    );
    // A learned flow that goes makes room for one more.
    sw.del_flows("br0", Some("table=5,dl_dst=fa:16:3e:01:00:00"), false)
        .unwrap();
    send(&mut sw, "p1", &from(99), 200);
    assert_eq!(n_flows(&sw, 5), 10);
    assert_eq!(sw.flow_limit_stats().learn_refused, 15);
    // Flows added by hand do not count against the learned ceiling.
    sw.add_flow(
        "br0",
        "table=5,priority=7,dl_dst=02:00:00:00:00:01,actions=drop",
        0,
    )
    .unwrap();
    assert_eq!(n_flows(&sw, 5), 11);
}

/// With timeouts, the learned flow that expires soonest makes room: the newest sources
/// stay learned.
#[test]
fn learned_flows_with_timeouts_evict_the_soonest_to_expire() {
    let mut sw = bridge(&[&learn_flow(",hard_timeout=300")]);
    sw.set_learned_limit("br0", 10).unwrap();
    for i in 0..25 {
        send(&mut sw, "p1", &from(i), u64::from(i) * 1000);
    }
    assert_eq!(n_flows(&sw, 5), 10);
    assert_eq!(
        sw.flow_limit_stats(),
        FlowLimitStats {
            learn_evicted: 15,
            ..Default::default()
        }
    );
    let dump = sw
        .dump_flows("br0", Some("table=5"), false, 25_000)
        .unwrap();
    for i in 15..25 {
        let mac = format!("dl_dst=fa:16:3e:01:00:{i:02x}");
        assert!(dump.contains(&mac), "{mac} missing: {dump}");
    }
    assert!(!dump.contains("dl_dst=fa:16:3e:01:00:0e"), "{dump}");
    // Refreshing an old flow (its hard timeout restarts) saves it: the next eviction
    // takes another.
    send(&mut sw, "p1", &from(15), 30_000);
    send(&mut sw, "p1", &from(50), 31_000);
    let dump = sw
        .dump_flows("br0", Some("table=5"), false, 31_000)
        .unwrap();
    assert!(dump.contains("dl_dst=fa:16:3e:01:00:0f"), "{dump}");
    assert!(!dump.contains("dl_dst=fa:16:3e:01:00:10"), "{dump}");
}

/// `flow_limit` with `refuse`: flows past it are refused, whatever adds them (text,
/// OpenFlow, a bundle, replace-flows, learn), a replacing add is not, and nothing of a
/// refused batch is applied.
#[test]
fn a_flow_limit_refuses() {
    let mut sw = bridge(&[]);
    let cfg = BTreeMap::from([(0, config(3, OverflowPolicy::Refuse, vec![]))]);
    sw.configure_tables("br0", &cfg).unwrap();
    for i in 1..=3 {
        sw.add_flow("br0", &format!("priority={i},actions=drop"), 0)
            .unwrap();
    }
    assert_eq!(
        sw.add_flow("br0", "priority=4,actions=drop", 0),
        Err(table_full(0))
    );
    // Replacing a flow needs no room.
    sw.add_flow("br0", "priority=3,actions=output:p2", 0)
        .unwrap();
    // Other tables have no limit.
    sw.add_flow("br0", "table=1,priority=4,actions=drop", 0)
        .unwrap();
    let br = sw.bridge("br0").unwrap();
    let fm = parse_flow("priority=9,actions=drop", ParseMode::Add, br).unwrap();
    let replace = parse_flow("priority=1,actions=output:p1", ParseMode::Add, br).unwrap();
    assert_eq!(
        sw.flow_mod("br0", FlowTableMod::add(fm.clone()), 0)
            .unwrap(),
        Err(FlowModFailure::TableFull(0))
    );
    // A bundle: the first add replaces, the second does not fit: nothing applied.
    assert_eq!(
        sw.flow_mods_atomic(
            "br0",
            vec![FlowTableMod::add(replace), FlowTableMod::add(fm)],
            0
        )
        .unwrap(),
        Err((1, FlowModFailure::TableFull(0)))
    );
    let dump = sw.dump_flows("br0", Some("table=0"), false, 0).unwrap();
    assert!(!dump.contains("output:1"), "{dump}");
    // replace-flows to four flows in table 0: refused, nothing changed.
    let four = [
        "priority=5,actions=drop",
        "priority=6,actions=drop",
        "priority=7,actions=drop",
        "priority=8,actions=drop",
    ];
    assert_eq!(sw.replace_flows("br0", &four, 0), Err(table_full(0)));
    assert_eq!(n_flows(&sw, 0), 3);
    assert_eq!(n_flows(&sw, 1), 1);
    sw.replace_flows("br0", &four[..3], 0).unwrap();
    assert_eq!(n_flows(&sw, 0), 3);
    assert_eq!(sw.flow_limit_stats().refused, 4, "one per refused request");

    // learn into a full table: refused and counted, the packet forwarded.
    let mut sw = bridge(&[&learn_flow(",hard_timeout=60")]);
    let cfg = BTreeMap::from([(5, config(2, OverflowPolicy::Refuse, vec![]))]);
    sw.configure_tables("br0", &cfg).unwrap();
    for i in 0..5 {
        assert_eq!(send(&mut sw, "p1", &from(i), 0).len(), 1);
    }
    assert_eq!(n_flows(&sw, 5), 2);
    assert_eq!(sw.flow_limit_stats().learn_refused, 3);
    // No limit any more: learning goes on.
    sw.configure_tables("br0", &BTreeMap::new()).unwrap();
    send(&mut sw, "p1", &from(7), 0);
    assert_eq!(n_flows(&sw, 5), 3);
}

/// `flow_limit` with `evict` and `groups`: the largest group loses its flow that
/// expires soonest; permanent flows are never evicted; a lowered limit evicts at once.
#[test]
fn a_flow_limit_evicts_by_group_then_expiry() {
    let mut sw = bridge(&[]);
    let in_port = FieldSlice::whole(Field::InPort);
    let cfg = BTreeMap::from([(1, config(4, OverflowPolicy::Evict, vec![in_port]))]);
    sw.configure_tables("br0", &cfg).unwrap();
    for f in [
        "table=1,in_port=1,dl_src=02:00:00:00:00:01,hard_timeout=100,actions=drop",
        "table=1,in_port=1,dl_src=02:00:00:00:00:02,hard_timeout=200,actions=drop",
        "table=1,in_port=1,dl_src=02:00:00:00:00:03,hard_timeout=300,actions=drop",
        "table=1,in_port=2,dl_src=02:00:00:00:00:04,hard_timeout=10,actions=drop",
    ] {
        sw.add_flow("br0", f, 0).unwrap();
    }
    // Port 1's group is the largest: its soonest (100 s) goes, not port 2's (10 s).
    sw.add_flow(
        "br0",
        "table=1,in_port=2,dl_src=02:00:00:00:00:05,hard_timeout=50,actions=drop",
        0,
    )
    .unwrap();
    let dump = sw.dump_flows("br0", Some("table=1"), false, 0).unwrap();
    assert!(!dump.contains("02:00:00:00:00:01"), "{dump}");
    assert!(dump.contains("02:00:00:00:00:04"), "{dump}");
    // Two and two: the soonest of all (port 2's, 10 s).
    sw.add_flow(
        "br0",
        "table=1,in_port=3,dl_src=02:00:00:00:00:06,actions=drop",
        0,
    )
    .unwrap();
    let dump = sw.dump_flows("br0", Some("table=1"), false, 0).unwrap();
    assert!(!dump.contains("02:00:00:00:00:04"), "{dump}");
    assert_eq!(n_flows(&sw, 1), 4);
    assert_eq!(sw.flow_limit_stats().evicted, 2);

    // Lowered to 2 under evict: two with timeouts go at once, the permanent one stays.
    let cfg = BTreeMap::from([(1, config(2, OverflowPolicy::Evict, vec![]))]);
    sw.configure_tables("br0", &cfg).unwrap();
    assert_eq!(n_flows(&sw, 1), 2);
    assert_eq!(sw.flow_limit_stats().evicted, 4);
    let dump = sw.dump_flows("br0", Some("table=1"), false, 0).unwrap();
    assert!(
        dump.contains("02:00:00:00:00:06"),
        "the permanent flow stays: {dump}"
    );
    // Lowered to 1: the one with a timeout goes; then only permanent flows: refused.
    let cfg = BTreeMap::from([(1, config(1, OverflowPolicy::Evict, vec![]))]);
    sw.configure_tables("br0", &cfg).unwrap();
    assert_eq!(n_flows(&sw, 1), 1);
    assert_eq!(
        sw.add_flow("br0", "table=1,in_port=4,actions=drop", 0),
        Err(table_full(1))
    );
    // Under refuse a lowered limit removes nothing.
    sw.add_flow("br0", "table=2,priority=1,actions=drop", 0)
        .unwrap();
    sw.add_flow("br0", "table=2,priority=2,actions=drop", 0)
        .unwrap();
    let cfg = BTreeMap::from([(2, config(1, OverflowPolicy::Refuse, vec![]))]);
    sw.configure_tables("br0", &cfg).unwrap();
    assert_eq!(n_flows(&sw, 2), 2);
    assert_eq!(
        sw.flow_limit_stats(),
        FlowLimitStats {
            refused: 1,
            evicted: 5,
            ..Default::default()
        }
    );
}
