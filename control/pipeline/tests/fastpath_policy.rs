//! Fast-path housekeeping: idle entries go, a full cache evicts one-packet flows before
//! busy ones, counters reach the rules, and dp-show reports it all.

mod common;

use common::cached::Cached;
use common::*;
use xvs_pipeline::present::datapath::dp_show_text;
use xvs_pipeline::{PortConfig, PortKind, Switch};

fn bridge() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge("br0").unwrap();
    sw.add_port("br0", PortConfig::new("p1", PortKind::Netdev))
        .unwrap();
    sw.add_port("br0", PortConfig::new("p2", PortKind::Netdev))
        .unwrap();
    sw.add_flow("br0", "priority=5,in_port=p1 actions=output:p2", 0)
        .unwrap();
    sw
}

fn to(dst: u8) -> Vec<u8> {
    let mut f = eth(
        &format!("fa:16:3e:00:00:{dst:02x}"),
        "fa:16:3e:aa:aa:aa",
        None,
        0x88b5,
    );
    f.extend_from_slice(&[0u8; 46]);
    f
}

#[test]
fn idle_entries_are_removed() {
    let mut c = Cached::new(bridge(), 100);
    let p1 = c.sw.dp_port_named("p1").unwrap();
    c.send(p1, &to(1), 1000);
    c.send(p1, &to(1), 1500);
    assert_eq!(c.worker.cache().len(), 1);
    assert_eq!(c.worker.stats().snapshot().hits, 1);
    // Used at 1.5 s; the default max idle is 10 s.
    c.housekeeping(11_000);
    assert_eq!(c.worker.cache().len(), 1);
    c.housekeeping(11_600);
    assert_eq!((c.worker.cache().len(), c.fp.n_entries()), (0, 0));
    assert_eq!(c.fp.stats.expired, 1);
    // The two packets were credited to the rule before the entry went.
    let dump =
        c.sw.dump_flows("br0", Some("in_port=1"), false, 12_000)
            .unwrap();
    assert!(dump.contains("n_packets=2, n_bytes=120,"), "{dump}");
}

#[test]
fn a_full_cache_evicts_one_packet_flows_before_busy_ones() {
    let mut c = Cached::new(bridge(), 4);
    let p1 = c.sw.dp_port_named("p1").unwrap();
    // Flow 1 is busy; flows 2.. are seen once each.
    c.send(p1, &to(1), 1000);
    for d in 2..40u8 {
        c.send(p1, &to(1), 1000 + d as u64);
        c.send(p1, &to(d), 1000 + d as u64);
        assert!(c.worker.cache().len() <= 4);
    }
    let st = c.worker.stats().snapshot();
    assert_eq!(
        st.misses, 39,
        "flow 1 missed once, every other flow once: {st:?}"
    );
    assert_eq!(st.hits, 38, "flow 1 always hit after its first packet");
    assert!(
        c.fp.stats.evicted >= 34,
        "{}",
        dp_show_text(&c.fp.worker_stats(), &c.fp.stats)
    );
    let show = dp_show_text(&c.fp.worker_stats(), &c.fp.stats);
    assert!(
        show.contains("total: lookups: hit:38 missed:39 lost:0"),
        "{show}"
    );
}

#[test]
fn while_waiting_for_flow_restore_misses_are_dropped_and_counted() {
    let mut c = Cached::new(bridge(), 100);
    let p1 = c.sw.dp_port_named("p1").unwrap();
    c.fp.set_flow_restore_wait(true);
    for t in 0..3 {
        assert!(c.send(p1, &to(1), 1000 + t).is_empty(), "nothing moves");
    }
    assert_eq!(c.worker.cache().len(), 0, "nothing is installed");
    assert_eq!(
        (c.fp.stats.upcalls, c.fp.stats.flow_restore_wait_drops),
        (0, 3)
    );
    let show = dp_show_text(&c.fp.worker_stats(), &c.fp.stats);
    assert!(
        show.contains("flow-restore-wait: waiting (upcalls are dropped) dropped:3"),
        "{show}"
    );
    // The wait over, the same packet is switched and cached.
    c.fp.set_flow_restore_wait(false);
    let p2 = c.sw.dp_port_named("p2").unwrap();
    let out = c.send(p1, &to(1), 2000);
    assert_eq!(out.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![p2]);
    assert_eq!(c.worker.cache().len(), 1);
    let show = dp_show_text(&c.fp.worker_stats(), &c.fp.stats);
    assert!(show.contains("flow-restore-wait: over dropped:3"), "{show}");
}
