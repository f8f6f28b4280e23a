//! xvsd with the XDP tier (`--xdp-tier on`) on real veth pairs in network namespaces:
//! a hot flow moves into the XDP program and is forwarded in the kernel, byte for byte,
//! its packets counted on the rule and the ports; a flow change takes it out of the
//! kernel before the change is acknowledged. Needs root; fails loudly without it.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::daemon::Xvsd;
use xvs_dataplane::testnet::{
    in_netns, require_root, test_frame, test_frame_tag, RawSocket, SwitchNet,
};

struct Setup {
    net: SwitchNet,
    d: Xvsd,
}

/// Three VMs on br-int; the test nets turn GRO on at every veth end, so each switch
/// port takes XDP redirects.
fn setup(name: &str) -> Setup {
    setup_n(name, 3)
}

fn setup_n(name: &str, n: usize) -> Setup {
    require_root();
    let net = SwitchNet::new(n);
    let d = Xvsd::start_in(
        Some(net.ns_switch.name()),
        &Xvsd::dir(name),
        &["--xdp-tier", "on"],
    );
    d.ok(&["add-br", "br-int"]);
    for h in &net.hosts {
        d.ok(&["add-port", "br-int", &h.switch_if]);
    }
    Setup { net, d }
}

fn ours(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .filter(|f| test_frame_tag(f).is_some())
        .collect()
}

fn n_packets(dump: &str, rule: &str) -> u64 {
    let line = dump
        .lines()
        .find(|l| l.contains(rule))
        .unwrap_or_else(|| panic!("no {rule} in {dump}"));
    line.split("n_packets=")
        .nth(1)
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn dp_show(d: &Xvsd) -> serde_json::Value {
    serde_json::from_str(&d.ok(&["--json", "dp-show"])).unwrap()
}

fn worker_hits(v: &serde_json::Value) -> u64 {
    v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["hits"].as_u64().unwrap())
        .sum()
}

/// Sends `n` frames h0 → `dst` (tags `first..`), sizes 60 to 1500.
fn burst(s: &Setup, dst: [u8; 6], first: u32, n: u32) -> Vec<Vec<u8>> {
    let s0 = s.net.host_socket(0);
    let src = s.net.hosts[0].host_mac;
    (first..first + n)
        .map(|i| {
            let f = test_frame(dst, src, i, 60 + (i as usize * 37) % 1441);
            s0.send(&f).unwrap();
            f
        })
        .collect()
}

/// Waits until the tier holds `n` entries.
fn wait_for_tier_entries(d: &Xvsd, n: u64) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let v = dp_show(d);
        if v["xdp_tier"]["entries"].as_u64() == Some(n) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the tier did not come to {n} entries: {}",
            d.ok(&["dp-show"])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A hot flow goes into the XDP tier; from then on its frames are forwarded by the
/// kernel (the workers' hit counts stand still) byte for byte and in order, and the
/// rule, the cache entry and the ports count every one of them.
#[test]
fn a_hot_flow_is_forwarded_in_the_kernel_and_counted() {
    let s = setup("tier-hot");
    let (h0, h1) = (&s.net.hosts[0], &s.net.hosts[1]);
    let (x0, x1) = (&h0.switch_if, &h1.switch_if);
    s.d.ok(&[
        "add-flow",
        "br-int",
        &format!(
            "priority=10,in_port={x0},dl_dst={} actions=output:{x1}",
            mac(h1.host_mac)
        ),
    ]);
    let show = s.d.ok(&["dp-show"]);
    assert!(show.contains("xdp-tier: entries:0"), "{show}");
    let s1 = s.net.host_socket(1);

    // Hot: more than the promotion threshold in one tick. The first frame sets the
    // entry up in the worker (the others may overtake it, as in OVS).
    let warm = burst(&s, h1.host_mac, 0, 1);
    assert_eq!(ours(s1.recv_all(Duration::from_millis(300))), warm);
    let first = burst(&s, h1.host_mac, 1, 300);
    assert_eq!(ours(s1.recv_all(Duration::from_millis(500))), first);
    let before = wait_for_tier_entries(&s.d, 1);

    let sent = burst(&s, h1.host_mac, 1000, 1000);
    let got = ours(s1.recv_all(Duration::from_millis(500)));
    assert_eq!(got.len(), sent.len(), "every frame arrives");
    assert_eq!(got, sent, "byte for byte, in order");
    let after = dp_show(&s.d);
    assert!(
        worker_hits(&after) - worker_hits(&before) < 10,
        "the workers forwarded the frames, not the tier: {before} {after}"
    );
    assert!(
        after["xdp_tier"]["packets"].as_u64().unwrap() >= 1000,
        "{after}"
    );

    // Every frame counted: the rule, the datapath's entry, the ports.
    let dump = s.d.ok(&["dump-flows", "br-int"]);
    assert_eq!(n_packets(&dump, "priority=10"), 1301, "{dump}");
    let bytes: u64 = [&warm, &first, &sent]
        .iter()
        .flat_map(|b| b.iter())
        .map(|f| f.len() as u64)
        .sum();
    let ports: serde_json::Value =
        serde_json::from_str(&s.d.ok(&["--json", "dump-ports", "br-int"])).unwrap();
    let counters = |name: &str| {
        ports
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {ports}"))["counters"]
            .clone()
    };
    let (c0, c1) = (counters(x0), counters(x1));
    assert_eq!(
        (c0["rx_packets"].as_u64(), c0["rx_bytes"].as_u64()),
        (Some(1301), Some(bytes)),
        "{ports}"
    );
    assert_eq!(
        (c1["tx_packets"].as_u64(), c1["tx_bytes"].as_u64()),
        (Some(1301), Some(bytes)),
        "{ports}"
    );
}

fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A flow deleted while its entry is in the XDP tier and frames keep coming: no frame
/// sent after the deletion is acknowledged comes out (the entry left the kernel and a
/// grace period passed before the barrier), and every frame is counted once.
#[test]
fn a_deleted_flow_leaves_the_kernel_before_the_change_is_acknowledged() {
    let s = setup("tier-del");
    let (h0, h1) = (&s.net.hosts[0], &s.net.hosts[1]);
    let x0 = h0.switch_if.clone();
    let x1 = h1.switch_if.clone();
    let flows = format!("priority=10,in_port={x0} actions=output:{x1}\npriority=0 actions=drop\n");
    let file = s.d.dir.join("flows.txt");
    std::fs::write(&file, flows).unwrap();
    s.d.ok(&["replace-flows", "br-int", file.to_str().unwrap()]);

    let s1 = s.net.host_socket(1);
    let sent = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (sent, stop) = (sent.clone(), stop.clone());
        let s0 = s.net.host_socket(0);
        let (src, dst) = (h0.host_mac, h1.host_mac);
        std::thread::spawn(move || {
            let mut tag = 0u32;
            while !stop.load(Ordering::Relaxed) {
                tag += 1;
                s0.send(&test_frame(dst, src, tag, 64)).unwrap();
                sent.store(tag, Ordering::Release);
                if tag.is_multiple_of(64) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    // The entry is hot: it goes into the tier while the frames come.
    wait_for_tier_entries(&s.d, 1);
    let in_tier = dp_show(&s.d)["xdp_tier"]["packets"].as_u64().unwrap();
    let start = Instant::now();
    while dp_show(&s.d)["xdp_tier"]["packets"].as_u64().unwrap() < in_tier + 1000 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the tier forwards nothing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s.d.ok(&[
        "--strict",
        "del-flows",
        "br-int",
        &format!("priority=10,in_port={x0}"),
    ]);
    let at_ack = sent.load(Ordering::Acquire);
    let v = dp_show(&s.d);
    assert_eq!(v["xdp_tier"]["entries"].as_u64(), Some(0), "{v}");
    assert!(v["xdp_tier"]["grace_periods"].as_u64().unwrap() >= 1, "{v}");
    while sent.load(Ordering::Acquire) < at_ack + 2000 {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let total = sent.load(Ordering::Acquire) as u64;

    let got: Vec<u32> = ours(s1.recv_all(Duration::from_millis(500)))
        .iter()
        .filter_map(|f| test_frame_tag(f))
        .collect();
    assert!(
        got.len() >= 1000,
        "the rule forwarded before its deletion: {}",
        got.len()
    );
    let late: Vec<u32> = got.iter().copied().filter(|&t| t >= at_ack + 2).collect();
    assert!(
        late.is_empty(),
        "{} frames sent after the del-flows were forwarded: {:?}",
        late.len(),
        &late[..late.len().min(5)]
    );
    // The drop rule counted the rest: every frame sent is counted once.
    let start = Instant::now();
    loop {
        let dump = s.d.ok(&["dump-flows", "br-int"]);
        let dropped = n_packets(&dump, "priority=0 actions=drop");
        if got.len() as u64 + dropped == total || start.elapsed() > Duration::from_secs(3) {
            assert_eq!(got.len() as u64 + dropped, total, "{dump}");
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// NORMAL floods an unknown destination to the bridge's own port too. While that port's
/// host end is down (as OVS leaves it) its netdev has no carrier: the workers drop what
/// they would send there (counted as tx drops, as OVS counts a down tap's) and the tier
/// leaves that output out, so the flood to the one VM is done in the kernel. Once the
/// host end comes up, the entry leaves the tier by itself and the frames reach both.
#[test]
fn a_flood_to_a_down_internal_port_is_done_in_the_kernel_until_it_comes_up() {
    let s = setup_n("tier-local", 2);
    let s1 = s.net.host_socket(1);
    // An unknown unicast destination: flooded to h1 and br-int.
    let dst = [0x02, 0, 0, 0, 0x77, 0x77];
    let warm = burst(&s, dst, 0, 1);
    assert_eq!(ours(s1.recv_all(Duration::from_millis(300))), warm);
    let first = burst(&s, dst, 1, 300);
    assert_eq!(ours(s1.recv_all(Duration::from_millis(500))), first);
    let before = wait_for_tier_entries(&s.d, 1);
    let sent = burst(&s, dst, 1000, 500);
    assert_eq!(ours(s1.recv_all(Duration::from_millis(500))), sent);
    let after = dp_show(&s.d);
    assert!(
        worker_hits(&after) - worker_hits(&before) < 10,
        "the tier did the flood: {before} {after}"
    );
    let ports: serde_json::Value =
        serde_json::from_str(&s.d.ok(&["--json", "dump-ports", "br-int"])).unwrap();
    let local = ports
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "br-int")
        .unwrap()["counters"]
        .clone();
    assert_eq!(local["tx_packets"].as_u64(), Some(0), "{ports}");
    assert!(
        local["tx_dropped"].as_u64().unwrap() >= 301,
        "the workers' drops: {ports}"
    );

    // The host end comes up: the entry leaves the tier and the flood reaches br-int too.
    s.net.ns_switch.ip(&["link", "set", "br-int", "up"]);
    let start = Instant::now();
    while dp_show(&s.d)["xdp_tier"]["entries"].as_u64() != Some(0) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{}",
            s.d.ok(&["dp-show"])
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let local_socket = in_netns(&s.net.ns_switch, || RawSocket::open("br-int").unwrap());
    let again = burst(&s, dst, 5000, 20);
    assert_eq!(ours(s1.recv_all(Duration::from_millis(500))), again);
    assert_eq!(
        ours(local_socket.recv_all(Duration::from_millis(300))),
        again
    );
}
