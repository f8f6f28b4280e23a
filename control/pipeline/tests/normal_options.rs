//! A bridge's NORMAL options (OVS's `other_config:forward-bpdu`, `mac-table-size`,
//! `mac-aging-time`), packets in and packets out, through the slow path and through a
//! worker's cache.

mod common;

use common::cached::Cached;
use common::*;
use xvs_pipeline::xlate::is_reserved_mac;
use xvs_pipeline::{BridgeOptions, PortConfig, PortKind, Switch};

const A: &str = "fa:16:3e:00:00:0a";
const B: &str = "fa:16:3e:00:00:0b";
const STP: &str = "01:80:c2:00:00:00";
const LLDP: &str = "01:80:c2:00:00:0e";
const NOT_RESERVED: &str = "01:80:c2:00:00:10";

fn sw() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge("br0").unwrap();
    for p in ["p1", "p2", "p3"] {
        sw.add_port("br0", PortConfig::new(p, PortKind::Netdev))
            .unwrap();
    }
    sw
}

/// A frame to `dst` from `src` (an 802.1D BPDU's length; the type does not matter).
fn to(dst: &str, src: &str) -> Vec<u8> {
    let mut f = eth(dst, src, None, 0x88b5);
    f.extend_from_slice(&[0u8; 46]);
    f
}

fn names(out: &[(String, Vec<u8>)]) -> Vec<&str> {
    out.iter().map(|(n, _)| n.as_str()).collect()
}

fn opts(f: impl FnOnce(&mut BridgeOptions)) -> BridgeOptions {
    let mut o = BridgeOptions::default();
    f(&mut o);
    o
}

#[test]
fn defaults_are_ovs_defaults() {
    let s = sw();
    let o = s.tables("br0").unwrap().options();
    assert_eq!(o, BridgeOptions::default());
    assert_eq!(
        (o.mac_table_size, o.mac_aging_ms, o.forward_bpdu),
        (8192, 300_000, false)
    );
}

#[test]
fn reserved_addresses_are_ovs_list() {
    let m = |s: &str| s.parse().unwrap();
    for r in [
        STP,
        "01:80:c2:00:00:01",
        "01:80:c2:00:00:02",
        LLDP,
        "01:80:c2:00:00:0f",
        "00:e0:2b:00:00:00",
        "00:e0:2b:00:00:04",
        "00:e0:2b:00:00:06",
        "01:00:0c:00:00:00",
        "01:00:0c:cc:cc:cc",
        "01:00:0c:cc:cc:cd",
        "01:00:0c:cd:cd:cd",
        "01:00:0c:cc:cc:c0",
        "01:00:0c:cc:cc:c7",
    ] {
        assert!(is_reserved_mac(m(r)), "{r}");
    }
    for n in [
        NOT_RESERVED,
        "01:80:c2:00:00:20",
        "01:80:c2:00:01:00",
        "00:e0:2b:00:00:01",
        "01:00:0c:cc:cc:c8",
        "ff:ff:ff:ff:ff:ff",
        "01:00:5e:00:00:01",
        A,
    ] {
        assert!(!is_reserved_mac(m(n)), "{n}");
    }
}

#[test]
fn a_bpdu_is_not_forwarded_by_normal_by_default() {
    let mut s = sw();
    for dst in [STP, LLDP] {
        assert_eq!(send(&mut s, "p1", &to(dst, A), 0), vec![], "{dst}");
    }
    // Tagged on a trunk: the same.
    assert_eq!(send(&mut s, "p1", &tagged(&to(STP, A), 5), 0), vec![]);
    assert!(
        s.tables("br0").unwrap().mac_table.is_empty(),
        "a dropped BPDU teaches nothing (OVS checks before learning)"
    );
    let trace = s
        .trace("br0", &format!("in_port=p1,dl_src={A},dl_dst={STP}"), 0)
        .unwrap();
    assert!(
        trace.contains(&format!(
            "     >> NORMAL: reserved destination {STP} (BPDU or other control frame) not forwarded without forward-bpdu: drop"
        )),
        "{trace}"
    );
    assert!(trace.ends_with("Datapath actions: drop\n"), "{trace}");
    // An explicit output is not NORMAL: the flow tables may still send BPDUs on.
    s.add_flow(
        "br0",
        &format!("priority=5,dl_dst={STP} actions=output:p3"),
        0,
    )
    .unwrap();
    assert_eq!(names(&send(&mut s, "p1", &to(STP, A), 0)), ["p3"]);
}

#[test]
fn forward_bpdu_floods_them() {
    let mut s = sw();
    s.set_bridge_options("br0", opts(|o| o.forward_bpdu = true))
        .unwrap();
    let f = to(STP, A);
    assert_eq!(
        send(&mut s, "p1", &f, 0),
        vec![("p2".to_string(), f.clone()), ("p3".to_string(), f.clone())]
    );
    assert_eq!(s.tables("br0").unwrap().mac_table.len(), 1, "A was learned");
    s.set_bridge_options("br0", BridgeOptions::default())
        .unwrap();
    assert_eq!(send(&mut s, "p1", &f, 0), vec![]);
}

#[test]
fn the_next_address_is_not_reserved_and_floods() {
    let mut s = sw();
    let f = to(NOT_RESERVED, A);
    assert_eq!(names(&send(&mut s, "p1", &f, 0)), ["p2", "p3"]);
}

#[test]
fn mac_table_size_limits_what_is_learned() {
    let mut s = sw();
    s.set_bridge_options("br0", opts(|o| o.mac_table_size = 12))
        .unwrap();
    for i in 0..20u64 {
        let src = format!("fa:16:3e:00:01:{i:02x}");
        send(&mut s, "p1", &to(B, &src), i * 10);
    }
    let t = &s.tables("br0").unwrap().mac_table;
    assert_eq!((t.len(), t.n_evicted), (12, 8));
    // The most recently seen stayed: a frame to the last one goes to p1 only.
    let last = "fa:16:3e:00:01:13";
    assert_eq!(names(&send(&mut s, "p2", &to(last, B), 300)), ["p1"]);
    // The first one was evicted: flooded.
    let first = "fa:16:3e:00:01:00";
    assert_eq!(names(&send(&mut s, "p2", &to(first, B), 300)), ["p1", "p3"]);

    // Shrinking evicts at once, least recently seen first (B, just learned, stays).
    s.set_bridge_options("br0", opts(|o| o.mac_table_size = 10))
        .unwrap();
    let t = &s.tables("br0").unwrap().mac_table;
    assert_eq!(t.len(), 10);
    assert!(t.lookup(0, B.parse().unwrap(), 300).is_some());

    // Out-of-range sizes are forced into OVS's range (10 to 1,000,000).
    s.set_bridge_options("br0", opts(|o| o.mac_table_size = 1))
        .unwrap();
    assert_eq!(s.tables("br0").unwrap().options().mac_table_size, 10);
    s.set_bridge_options("br0", opts(|o| o.mac_table_size = usize::MAX))
        .unwrap();
    assert_eq!(s.tables("br0").unwrap().options().mac_table_size, 1_000_000);
}

#[test]
fn mac_aging_time_applies() {
    let mut s = sw();
    s.set_bridge_options("br0", opts(|o| o.mac_aging_ms = 20_000))
        .unwrap();
    send(&mut s, "p1", &to(B, A), 0);
    assert_eq!(names(&send(&mut s, "p2", &to(A, B), 19_999)), ["p1"]);
    assert_eq!(names(&send(&mut s, "p2", &to(A, B), 20_000)), ["p1", "p3"]);
    s.expire(20_000);
    assert_eq!(
        s.tables("br0").unwrap().mac_table.len(),
        1,
        "only B is left"
    );

    // A longer aging time counts for entries learned before it.
    send(&mut s, "p1", &to(B, A), 30_000);
    s.set_bridge_options("br0", opts(|o| o.mac_aging_ms = 600_000))
        .unwrap();
    assert_eq!(names(&send(&mut s, "p2", &to(A, B), 500_000)), ["p1"]);
    // And a shorter one too: A, seen at 40 s, is gone at 55 s for a 15 s aging time.
    send(&mut s, "p1", &to(B, A), 40_000);
    s.set_bridge_options("br0", opts(|o| o.mac_aging_ms = 1000))
        .unwrap();
    assert_eq!(
        s.tables("br0").unwrap().options().mac_aging_ms,
        15_000,
        "forced into 15 s to 3600 s"
    );
    assert_eq!(names(&send(&mut s, "p2", &to(A, B), 55_000)), ["p1", "p3"]);
}

#[test]
fn unchanged_options_change_nothing() {
    let mut s = sw();
    s.track_changes(true);
    s.set_bridge_options("br0", BridgeOptions::default())
        .unwrap();
    assert_eq!(s.take_changes(), vec![]);
    let o = opts(|o| {
        o.mac_table_size = 100;
        o.mac_aging_ms = 60_000;
        o.forward_bpdu = true;
    });
    s.set_bridge_options("br0", o).unwrap();
    assert!(!s.take_changes().is_empty());
    s.set_bridge_options("br0", o).unwrap();
    assert_eq!(s.take_changes(), vec![]);
    // What normalizes to the same is the same.
    s.set_bridge_options("br0", opts(|o| o.mac_table_size = 3))
        .unwrap();
    s.take_changes();
    s.set_bridge_options("br0", opts(|o| o.mac_table_size = 5))
        .unwrap();
    assert_eq!(s.take_changes(), vec![]);
    assert!(matches!(
        s.set_bridge_options("nope", BridgeOptions::default()),
        Err(xvs_pipeline::SwitchError::NoSuchBridge(_))
    ));
}

#[test]
fn the_cache_follows_option_changes_and_only_them() {
    let mut c = Cached::new(sw(), 100);
    let (p1, p2) = (
        c.sw.dp_port_named("p1").unwrap(),
        c.sw.dp_port_named("p2").unwrap(),
    );
    let bpdu = to(STP, A);
    c.send(p2, &to(A, B), 1000);
    c.send(p1, &to(B, A), 1000);
    assert_eq!(c.send(p1, &bpdu, 1000), vec![]);
    assert_eq!(c.send(p1, &bpdu, 1001), vec![], "a hit drops it too");
    let hits = c.worker.stats().snapshot().hits;
    assert_eq!(hits, 1);
    let entries = c.worker.cache().len();

    // The same options: nothing invalidated, the entries keep hitting.
    let invalidated = c.fp.stats.invalidated;
    c.sw.set_bridge_options("br0", BridgeOptions::default())
        .unwrap();
    c.fp.commit(&mut c.sw);
    c.housekeeping(1002);
    assert_eq!(c.fp.stats.invalidated, invalidated);
    assert_eq!(c.worker.cache().len(), entries);
    assert_eq!(c.send(p1, &bpdu, 1003), vec![]);
    assert_eq!(c.send(p1, &to(B, A), 1003).len(), 1);
    assert_eq!(c.worker.stats().snapshot().hits, hits + 2);

    // forward-bpdu: the cached drop goes, the BPDU floods.
    c.sw.set_bridge_options("br0", opts(|o| o.forward_bpdu = true))
        .unwrap();
    c.fp.commit(&mut c.sw);
    c.housekeeping(1004);
    assert_eq!(c.worker.cache().len(), 0);
    let out = c.send(p1, &bpdu, 1005);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(c.send(p1, &bpdu, 1006).len(), 2, "and so does a hit");

    // A shorter aging time: the entry that sent to the learned B goes; B (seen at
    // 1 s) is unknown at 20 s, so A's frame floods, cache or not.
    assert_eq!(c.send(p1, &to(B, A), 10_000).len(), 1);
    c.sw.set_bridge_options(
        "br0",
        opts(|o| {
            o.forward_bpdu = true;
            o.mac_aging_ms = 15_000;
        }),
    )
    .unwrap();
    c.fp.commit(&mut c.sw);
    c.worker.poll_commands(&mut |_, _| {});
    assert_eq!(c.send(p1, &to(B, A), 17_000).len(), 2);
}
