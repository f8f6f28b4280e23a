//! The harness's generator and sink against the real kernel (root): the generator on one
//! end of a veth pair, the sink on the other, each in its own namespace, no switch in
//! between, so every frame must arrive exactly as sent. Rates are printed, never
//! asserted (a shared 2-core machine). The tests run one at a time: they would compete
//! for the same two cores.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use xvs_bench::traffic::{
    CheckIn, Encap, Engine, Expectation, FlowSet, GenConfig, GenStats, Generator, GreTunnel, Sink,
    SinkConfig, SinkStats,
};
use xvs_dataplane::testnet::{require_root, unique_name, veth_pair, Netns, RawSocket, VethPair};

static SERIAL: Mutex<()> = Mutex::new(());

/// Generator core 0, sink core 1, as the peers are measured; unpinned on a 1-core box.
fn cores() -> (Option<usize>, Option<usize>) {
    match std::thread::available_parallelism().map(|n| n.get()) {
        Ok(n) if n >= 2 => (Some(0), Some(1)),
        _ => (None, None),
    }
}

/// Field order is drop order: the pair, then the namespaces.
struct Net {
    gen_if: String,
    sink_if: String,
    _pair: VethPair,
    ns_gen: Netns,
    ns_sink: Netns,
}

fn net() -> Net {
    require_root();
    let ns_gen = Netns::new("g");
    let ns_sink = Netns::new("s");
    let gen_if = unique_name("tg");
    let sink_if = unique_name("ts");
    let pair = veth_pair(&gen_if, &sink_if, Some(&ns_gen), Some(&ns_sink));
    Net {
        gen_if,
        sink_if,
        _pair: pair,
        ns_gen,
        ns_sink,
    }
}

fn sink_config(net: &Net, flows: &FlowSet, core: Option<usize>) -> SinkConfig {
    SinkConfig {
        netns: Some(net.ns_sink.name().into()),
        core,
        ..SinkConfig::new(&net.sink_if, flows.clone(), Expectation::Same)
    }
}

fn gen_config(net: &Net, flows: &FlowSet, core: Option<usize>) -> GenConfig {
    GenConfig {
        netns: Some(net.ns_gen.name().into()),
        core,
        ..GenConfig::new(&net.gen_if, flows.clone())
    }
}

/// Flat out for about a second; returns both sides' totals after printing the rates.
fn flat_out(label: &str, flows: FlowSet) -> (GenStats, SinkStats) {
    flat_out_with(label, flows, Engine::AfXdp, CheckIn::Userspace)
}

fn flat_out_with(
    label: &str,
    flows: FlowSet,
    engine: Engine,
    check: CheckIn,
) -> (GenStats, SinkStats) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let net = net();
    let (gen_core, sink_core) = cores();
    let sink = Sink::start(SinkConfig {
        check,
        ..sink_config(&net, &flows, sink_core)
    })
    .expect("sink");
    let gen = Generator::start(GenConfig {
        engine,
        ..gen_config(&net, &flows, gen_core)
    })
    .expect("generator");
    std::thread::sleep(Duration::from_millis(200));
    let (s1, g1, t1) = (sink.snapshot(), gen.sent(), Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let (s2, g2, t2) = (sink.snapshot(), gen.sent(), Instant::now());
    let g = gen.stop().expect("generator stop");
    std::thread::sleep(Duration::from_millis(50));
    let s = sink.stop().expect("sink stop");
    let window = t2.duration_since(t1).as_secs_f64();
    eprintln!(
        "{label}: generator {:.3} Mpps offered, sink {:.3} Mpps received ({:.3} Mpps ok) over \
         {window:.2} s; totals sent {} / received {} ok {} bad {} unknown {}; {:.2} kicks per \
         batch of 64 ({} answered EAGAIN); kernel rx {:?}; xdp {:?}; xdp check {:?}; per \
         second {:?}",
        (g2 - g1) as f64 / window / 1e6,
        s2.rate_since(&s1) / 1e6,
        s2.ok_rate_since(&s1) / 1e6,
        g.sent,
        s.received,
        s.ok,
        s.bad,
        s.unknown,
        g.kicks as f64 / (g.submitted as f64 / 64.0),
        g.kicks_again,
        s.kernel,
        s.xdp,
        s.xdp_check,
        s.per_second,
    );
    (g, s)
}

fn assert_clean(g: &GenStats, s: &SinkStats) {
    assert_eq!(
        s.bad, 0,
        "bad frames: {:?}, first {:?}",
        s.bad_reasons, s.first_bad
    );
    assert_eq!(s.ok + s.unknown, s.received);
    assert_eq!(s.unknown, 0, "noise on a veth with IPv6 off");
    assert!(s.ok > 0, "nothing arrived");
    assert!(
        s.ok <= g.sent,
        "more arrived ({}) than was sent ({})",
        s.ok,
        g.sent
    );
    assert_eq!(s.bad_descs, 0);
    assert_eq!(
        s.xdp_check_missed, 0,
        "the XDP check refused frames the Checker took"
    );
    assert_eq!(
        (g.kick_errors, g.bad_completions, g.kernel_tx_invalid),
        (0, 0, 0)
    );
}

#[test]
fn untagged_64_one_flow() {
    let flows = FlowSet::new(64, 1, Encap::Untagged).unwrap();
    let (g, s) = flat_out("untagged 64 B, 1 flow", flows);
    assert_clean(&g, &s);
    assert_eq!(s.distinct_flows, 1);
}

#[test]
fn untagged_64_thousand_flows() {
    let flows = FlowSet::new(64, 1000, Encap::Untagged).unwrap();
    let (g, s) = flat_out("untagged 64 B, 1000 flows", flows);
    assert_clean(&g, &s);
    // Round robin: a second of traffic covers every flow many times over.
    assert_eq!(s.distinct_flows, 1000);
}

#[test]
fn untagged_64_more_flows_than_umem_frames() {
    let flows = FlowSet::new(64, 100_000, Encap::Untagged).unwrap();
    let (g, s) = flat_out("untagged 64 B, 100000 flows", flows);
    assert_clean(&g, &s);
    assert!(s.distinct_flows > 4096, "{} flows seen", s.distinct_flows);
}

#[test]
fn vlan_64() {
    let flows = FlowSet::new(64, 10, Encap::Vlan(100)).unwrap();
    let (g, s) = flat_out("VLAN 100, 64 B, 10 flows", flows);
    assert_clean(&g, &s);
    assert_eq!(s.distinct_flows, 10);
}

#[test]
fn gre_106() {
    let flows = gre_flows();
    let (g, s) = flat_out("GRE 106 B (64 B inner), 100 keys", flows);
    assert_clean(&g, &s);
    assert_eq!(s.distinct_flows, 100);
}

fn gre_flows() -> FlowSet {
    let tunnel = GreTunnel {
        src_mac: [0x52, 0x54, 0, 0, 1, 0xfd],
        dst_mac: [0x52, 0x54, 0, 0, 1, 0xfe],
        src_ip: "192.168.1.253".parse().unwrap(),
        dst_ip: "192.168.1.254".parse().unwrap(),
        key_base: 0x3e7,
    };
    // A 64-byte inner frame.
    FlowSet::new(106, 100, Encap::Gre(tunnel)).unwrap()
}

#[test]
fn in_kernel_generator_and_xdp_check_untagged_thousand_flows() {
    let flows = FlowSet::new(64, 1000, Encap::Untagged).unwrap();
    let (g, s) = flat_out_with(
        "in-kernel generator, XDP check: untagged 64 B, 1000 flows",
        flows,
        Engine::XdpLoop,
        CheckIn::Xdp,
    );
    assert_clean(&g, &s);
    assert_eq!(s.distinct_flows, 1000);
    // Everything was checked in the kernel; nothing needed the thread.
    assert_eq!(s.xdp_check.ok, s.ok);
    assert_eq!(s.xdp_check.to_user, 0);
}

#[test]
fn in_kernel_generator_and_xdp_check_vlan_and_gre() {
    for (label, flows) in [
        (
            "VLAN 100, 64 B, 10 flows",
            FlowSet::new(64, 10, Encap::Vlan(100)).unwrap(),
        ),
        ("GRE 106 B, 100 keys", gre_flows()),
        (
            "untagged 1500 B, 3 flows",
            FlowSet::new(1500, 3, Encap::Untagged).unwrap(),
        ),
    ] {
        let n = flows.flows();
        let (g, s) = flat_out_with(label, flows, Engine::XdpLoop, CheckIn::Xdp);
        assert_clean(&g, &s);
        assert_eq!(s.distinct_flows, u64::from(n), "{label}");
        assert_eq!(s.xdp_check.to_user, 0, "{label}");
    }
}

#[test]
fn in_kernel_generator_stops_at_its_limit_and_refuses_a_rate() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let net = net();
    let flows = FlowSet::new(64, 7, Encap::Untagged).unwrap();
    let sink = Sink::start(SinkConfig {
        check: CheckIn::Xdp,
        ..sink_config(&net, &flows, None)
    })
    .expect("sink");
    let limit = 50_000u64;
    let gen = Generator::start(GenConfig {
        engine: Engine::XdpLoop,
        limit: Some(limit),
        ..gen_config(&net, &flows, None)
    })
    .expect("generator");
    let (g, s) = stop_at_limit(gen, sink);
    assert_eq!(g.sent, limit);
    assert_clean(&g, &s);
    let err = Generator::start(GenConfig {
        engine: Engine::XdpLoop,
        rate_pps: Some(1000),
        ..gen_config(&net, &flows, None)
    })
    .err()
    .expect("a rate for the in-kernel generator");
    assert!(err.to_string().contains("rate_pps"), "{err}");
}

/// Waits (5 s at most) for a generator with a limit to end, then stops both sides.
fn stop_at_limit(gen: Generator, sink: Sink) -> (GenStats, SinkStats) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gen.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gen.is_finished(), "the generator did not stop at its limit");
    let g = gen.stop().expect("generator stop");
    std::thread::sleep(Duration::from_millis(50));
    (g, sink.stop().expect("sink stop"))
}

#[test]
fn rate_limit_and_frame_limit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let net = net();
    let (gen_core, sink_core) = cores();
    let flows = FlowSet::new(64, 7, Encap::Untagged).unwrap();
    let sink = Sink::start(sink_config(&net, &flows, sink_core)).expect("sink");
    let (rate, limit) = (50_000u64, 20_000u64);
    let gen = Generator::start(GenConfig {
        rate_pps: Some(rate),
        limit: Some(limit),
        ..gen_config(&net, &flows, gen_core)
    })
    .expect("generator");
    let (g, s) = stop_at_limit(gen, sink);
    eprintln!(
        "rate-limited: asked {rate} pps, sent {} in {:?} ({:.0} pps), received {} ok {}",
        g.sent,
        g.duration,
        g.rate_pps(),
        s.received,
        s.ok
    );
    assert_eq!((g.sent, g.submitted), (limit, limit));
    // The limiter never runs ahead of its schedule (one batch of slack).
    let earliest = Duration::from_secs_f64((limit - 64) as f64 / rate as f64);
    assert!(g.duration >= earliest, "{:?} < {earliest:?}", g.duration);
    assert_clean(&g, &s);
}

#[test]
fn damaged_frames_are_bad_and_noise_is_unknown() {
    damaged_frames(CheckIn::Userspace);
}

#[test]
fn damaged_frames_are_bad_and_noise_is_unknown_with_the_xdp_check() {
    damaged_frames(CheckIn::Xdp);
}

fn damaged_frames(check: CheckIn) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let net = net();
    let flows = FlowSet::new(64, 10, Encap::Untagged).unwrap();
    let sink = Sink::start(SinkConfig {
        check,
        ..sink_config(&net, &flows, None)
    })
    .expect("sink");
    let raw = RawSocket::open_in(&net.ns_gen, &net.gen_if);
    let frame = |flow: u32| {
        let mut b = vec![0u8; 64];
        flows.frame(flow, 1, &mut b).unwrap();
        b
    };
    let stamp = flows.stamp_offset();
    let mut sent = vec![frame(0), frame(1), frame(9)];
    // Flow id out of range.
    let mut f = frame(2);
    f[stamp + 4..stamp + 8].copy_from_slice(&10u32.to_be_bytes());
    sent.push(f);
    // Damaged magic.
    let mut f = frame(3);
    f[stamp] ^= 0xff;
    sent.push(f);
    // Flow 4's stamp on flow 5's frame (wrong MAC for the flow).
    let mut f = frame(5);
    f[stamp + 4..stamp + 8].copy_from_slice(&4u32.to_be_bytes());
    sent.push(f);
    // A changed byte after the stamp.
    let mut f = frame(6);
    f[63] ^= 1;
    sent.push(f);
    // Noise: an ARP request.
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[
        0x02, 0, 0, 0, 0, 0x42, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1,
    ]);
    arp.resize(60, 0);
    sent.push(arp);
    for f in &sent {
        raw.send(f).expect("raw send");
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while sink.snapshot().received < sent.len() as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let s = sink.stop().expect("sink stop");
    assert_eq!(
        (s.received, s.ok, s.bad, s.unknown),
        (8, 3, 4, 1),
        "{:?}",
        s.bad_reasons
    );
    assert_eq!(s.bad_reasons.flow_out_of_range, 1);
    assert_eq!(s.bad_reasons.misplaced, 1);
    assert_eq!(s.bad_reasons.content, 2);
    assert_eq!(s.distinct_flows, 3);
    if check == CheckIn::Xdp {
        // The program took the three good frames and handed over the five others.
        assert_eq!((s.xdp_check.ok, s.xdp_check.to_user), (3, 5));
        assert_eq!(s.xdp_check_missed, 0);
    }
}

#[test]
fn missing_interface_is_an_error() {
    let flows = FlowSet::new(64, 1, Encap::Untagged).unwrap();
    let err = Generator::start(GenConfig::new("xvs-no-such0", flows.clone()))
        .err()
        .expect("no such interface");
    assert!(err.to_string().contains("xvs-no-such0"), "{err}");
    let err = Sink::start(SinkConfig::new(
        "xvs-no-such0",
        flows.clone(),
        Expectation::Same,
    ))
    .err()
    .expect("no such interface");
    assert!(err.to_string().contains("xvs-no-such0"), "{err}");
    let err = Generator::start(GenConfig {
        batch: 0,
        ..GenConfig::new("lo", flows.clone())
    })
    .err()
    .expect("batch 0");
    assert!(err.to_string().contains("batch 0"), "{err}");
    // An expectation that does not fit the traffic is refused before anything starts.
    let err = Sink::start(SinkConfig::new(
        "lo",
        flows,
        Expectation::GreDecap {
            vlan: xvs_bench::traffic::VlanEdit::Keep,
        },
    ))
    .err()
    .expect("GreDecap of untagged traffic");
    assert!(err.to_string().contains("GreDecap"), "{err}");
}
