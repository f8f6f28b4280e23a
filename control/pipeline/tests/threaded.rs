//! The fast path on threads: workers with their own caches, the control thread, the
//! barrier, and a miss storm. In-memory frames stand in for AF_XDP rings.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::threads::{Batch, Harness};
use common::*;
use xvs_pipeline::present::datapath::dp_show_text;
use xvs_pipeline::{PortConfig, PortKind, Switch};

fn bridge() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge("br0").unwrap();
    for (name, tag) in [("p1", 1), ("p2", 1), ("p3", 1)] {
        sw.add_port("br0", PortConfig::new(name, PortKind::Netdev).tag(tag))
            .unwrap();
    }
    sw
}

/// A frame carrying a sequence number, so outputs can be told apart.
fn frame(dst: u32, seq: u32) -> Vec<u8> {
    let d = format!(
        "fa:16:3e:{:02x}:{:02x}:{:02x}",
        dst >> 16,
        (dst >> 8) & 0xff,
        dst & 0xff
    );
    let mut f = eth(&d, "fa:16:3e:aa:aa:aa", None, 0x88b5);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&[0u8; 42]);
    f
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn after_the_barrier_no_packet_uses_a_deleted_rule() {
    let mut sw = bridge();
    sw.add_flows(
        "br0",
        &[
            "priority=10,in_port=p1 actions=output:p2",
            "priority=5,in_port=p1 actions=output:p3",
        ],
        0,
    )
    .unwrap();
    let (p1, p2, p3) = (
        sw.dp_port_named("p1").unwrap(),
        sw.dp_port_named("p2").unwrap(),
        sw.dp_port_named("p3").unwrap(),
    );

    let acked = Arc::new(AtomicU64::new(0));
    let violations = Arc::new(AtomicU64::new(0));
    let (to_p2, to_p3) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let hook = {
        let (acked, violations, to_p2, to_p3) = (
            acked.clone(),
            violations.clone(),
            to_p2.clone(),
            to_p3.clone(),
        );
        Arc::new(move |_w: usize, port: u32, _b: &[u8]| {
            if port == p2 {
                to_p2.fetch_add(1, Ordering::Relaxed);
                if acked.load(Ordering::Acquire) == 1 {
                    violations.fetch_add(1, Ordering::Relaxed);
                }
            } else if port == p3 {
                to_p3.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let h = Harness::start(sw, 2, 10_000, 4096, hook);

    // Both workers forward a few flows flat out, so their caches hold entries for the
    // rule when it goes.
    let stop_feed = Arc::new(AtomicU64::new(0));
    let feeders: Vec<_> = h
        .inputs
        .iter()
        .cloned()
        .enumerate()
        .map(|(w, input)| {
            let stop = stop_feed.clone();
            std::thread::spawn(move || {
                let mut seq = 0u32;
                while stop.load(Ordering::Relaxed) == 0 {
                    let batch: Batch = (0..64)
                        .map(|i| (p1, frame(w as u32 * 100 + i % 8, seq + i)))
                        .collect();
                    seq += 64;
                    if input.send(batch).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();

    wait_until("traffic through the rule", Duration::from_secs(20), || {
        to_p2.load(Ordering::Relaxed) > 20_000
    });
    let hits_before: u64 = h.stats.iter().map(|s| s.snapshot().hits).sum();
    assert!(
        hits_before > 1000,
        "the cache forwards the flows ({hits_before} hits)"
    );

    let r = h.control().change(|sw, _| {
        sw.del_flows("br0", Some("priority=10,in_port=p1"), true)
            .map(|n| n.to_string())
    });
    assert_eq!(r.unwrap(), "1");
    acked.store(1, Ordering::Release);
    let p3_at_ack = to_p3.load(Ordering::Relaxed);

    wait_until(
        "traffic through the remaining rule",
        Duration::from_secs(20),
        || to_p3.load(Ordering::Relaxed) > p3_at_ack + 20_000,
    );
    stop_feed.store(1, Ordering::Relaxed);
    for f in feeders {
        f.join().unwrap();
    }
    assert_eq!(
        violations.load(Ordering::Relaxed),
        0,
        "outputs by the deleted rule after the acknowledgement"
    );

    // dump-flows counts what the caches forwarded.
    let dump = h
        .control()
        .read(|sw, _, now| sw.dump_flows("br0", None, false, now).unwrap());
    let n: u64 = dump
        .lines()
        .find(|l| l.contains("priority=5,in_port=1"))
        .and_then(|l| l.split("n_packets=").nth(1))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let (sw, _) = h.stop();
    drop(sw);
    assert!(n >= 20_000, "counters flow back to the rule: {n}");
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn a_miss_storm_stays_bounded_counts_lost_and_cached_flows_keep_forwarding() {
    const STORM: u32 = 1_000_000;
    const CAPACITY: usize = 20_000;
    let sw = bridge();
    let (p1, p2) = (
        sw.dp_port_named("p1").unwrap(),
        sw.dp_port_named("p2").unwrap(),
    );
    let cached_seen = Arc::new(AtomicU64::new(0));
    let hook = {
        let cached_seen = cached_seen.clone();
        Arc::new(move |_w: usize, port: u32, b: &[u8]| {
            // The established flow: to fa:16:3e:bb:bb:bb, which p2 taught the bridge.
            if port == p2 && b[..6] == [0xfa, 0x16, 0x3e, 0xbb, 0xbb, 0xbb] {
                cached_seen.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let h = Harness::start(sw, 1, CAPACITY, 1024, hook);
    let input = h.inputs[0].clone();

    // p2 speaks, so its MAC is learned; then the established flow p1 -> p2 gets cached.
    let from_b = {
        let mut f = eth("fa:16:3e:aa:aa:aa", "fa:16:3e:bb:bb:bb", None, 0x88b5);
        f.extend_from_slice(&[0u8; 46]);
        f
    };
    let to_b = {
        let mut f = eth("fa:16:3e:bb:bb:bb", "fa:16:3e:aa:aa:aa", None, 0x88b5);
        f.extend_from_slice(&[0u8; 46]);
        f
    };
    input.send(vec![(p2, from_b)]).unwrap();
    wait_until("the MAC learned", Duration::from_secs(10), || {
        h.stats[0].snapshot().executed >= 1
    });
    input.send(vec![(p1, to_b.clone())]).unwrap();
    // (Learning aa's MAC invalidates the first packet's entry, which flooded because aa
    // was unknown; the established flow's entry stays.)
    wait_until(
        "the established flow cached",
        Duration::from_secs(10),
        || {
            let s = h.stats[0].snapshot();
            s.executed >= 2 && s.entries >= 1
        },
    );

    let rss_before = rss_kib();
    // The storm: every frame a new destination; every 8th frame the established flow.
    let mut sent_established = 0u64;
    let mut sent = 2u64;
    let mut i = 0u32;
    while i < STORM {
        let mut batch: Batch = Vec::with_capacity(64);
        for _ in 0..64 {
            if i.is_multiple_of(8) {
                batch.push((p1, to_b.clone()));
                sent_established += 1;
            } else {
                batch.push((p1, frame(i, i)));
            }
            i += 1;
        }
        sent += batch.len() as u64;
        input.send(batch).unwrap();
    }
    let done = || {
        let s = h.stats[0].snapshot();
        s.hits + s.misses + s.malformed >= sent
    };
    wait_until("the storm processed", Duration::from_secs(120), done);
    std::thread::sleep(Duration::from_millis(300));
    let st = h.stats[0].snapshot();
    let rss_after = rss_kib();
    let (_sw, fp) = h.stop();

    eprintln!("{}", dp_show_text(&fp.worker_stats(), &fp.stats));
    // Every frame was either a hit or a miss; every miss was handled or counted lost.
    assert_eq!(st.hits + st.misses, sent);
    assert_eq!(
        fp.stats.upcalls + st.lost,
        st.misses,
        "{}",
        dp_show_text(&fp.worker_stats(), &fp.stats)
    );
    assert!(
        st.lost > 0,
        "a storm this size overflows a 1024-entry upcall queue: {}",
        dp_show_text(&fp.worker_stats(), &fp.stats)
    );
    // Bounded: the cache and the registry stay under the capacity, memory under control.
    assert!(
        st.entries as usize <= CAPACITY && fp.n_entries() <= CAPACITY,
        "{}",
        dp_show_text(&fp.worker_stats(), &fp.stats)
    );
    assert!(
        fp.stats.evicted > 0,
        "the storm filled the cache: {}",
        dp_show_text(&fp.worker_stats(), &fp.stats)
    );
    let grown_mib = rss_after.saturating_sub(rss_before) / 1024;
    assert!(grown_mib < 300, "memory grew by {grown_mib} MiB");
    // The established flow was never evicted: all its packets were forwarded.
    assert_eq!(
        cached_seen.load(Ordering::Relaxed),
        sent_established + 1,
        "{}",
        dp_show_text(&fp.worker_stats(), &fp.stats)
    );
}
