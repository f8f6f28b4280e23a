//! The AF_XDP datapath on real veths (root): byte-exact forwarding both ways, malformed
//! frames counted, removing a port leaves the others alone.
//!
//! Topology (testnet::SwitchNet): host namespaces hN with aN, the switch namespace with
//! xN, aN <-> xN veth pairs. The datapath runs in the switch namespace with one worker
//! whose cache forwards by in_port only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use xvs_dataplane::afxdp::{AfXdpDatapath, DatapathConfig, PortMode, XdpMode};
use xvs_dataplane::cache::CachedFlow;
use xvs_dataplane::testnet::{in_netns, require_root, test_frame, test_frame_tag, SwitchNet};
use xvs_dataplane::worker::{Upcall, Worker, WorkerCmd};
use xvs_dataplane::{DpAction, FlowKey, PortNo};

fn clock() -> impl Fn() -> u64 + Send + Clone + 'static {
    let t0 = Instant::now();
    move || t0.elapsed().as_millis() as u64
}

/// A cache entry: everything from `from` goes to `to`.
fn forward(id: u64, from: PortNo, to: PortNo) -> WorkerCmd {
    let key = FlowKey {
        in_port: from,
        ..Default::default()
    };
    let mask = FlowKey {
        in_port: u32::MAX,
        ..Default::default()
    };
    WorkerCmd::Install(Arc::new(CachedFlow::new(
        id,
        &key,
        mask,
        &[DpAction::Output(to)],
        0,
    )))
}

struct Rig {
    dp: AfXdpDatapath,
    cmds: Sender<WorkerCmd>,
    upcalls: Receiver<Upcall>,
}

/// Starts a one-worker datapath in the switch namespace with ports 1..=n on x0..x(n-1).
fn start(net: &SwitchNet, n: usize) -> Rig {
    let (cmd_tx, cmd_rx) = bounded(1024);
    let (up_tx, up_rx) = bounded(1024);
    let worker = Worker::new(0, 1024, cmd_rx, up_tx);
    let config = DatapathConfig {
        cores: vec![Some(1)],
        xdp_mode: XdpMode::Native,
        ..Default::default()
    };
    let dp = in_netns(&net.ns_switch, || {
        let dp = AfXdpDatapath::start(config, vec![worker], clock()).expect("start");
        for i in 0..n {
            let info = dp
                .add_port(i as PortNo + 1, &net.hosts[i].switch_if, PortMode::All)
                .expect("add_port");
            assert_eq!(info.xdp_mode, Some(XdpMode::Native), "veth does native XDP");
            assert!(!info.zero_copy, "veth is copy mode only");
            assert_eq!(info.queues, 1);
            assert!(info.workers_without_tx.is_empty());
        }
        dp
    });
    for i in 0..n {
        assert!(
            net.switch_link(i).contains("prog/xdp"),
            "XDP attached to {}",
            net.hosts[i].switch_if
        );
    }
    Rig {
        dp,
        cmds: cmd_tx,
        upcalls: up_rx,
    }
}

/// Waits until the worker has applied everything sent before.
fn barrier(rig: &Rig, generation: u64) {
    rig.cmds.send(WorkerCmd::Barrier(generation)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while rig.dp.worker_stats()[0].acked < generation {
        assert!(Instant::now() < deadline, "worker did not ack barrier");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn sizes(n: usize, seed: u32) -> Vec<usize> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            60 + (x >> 8) as usize % (1500 - 60 + 1)
        })
        .collect()
}

#[test]
fn forwards_exact_frames_both_ways() {
    require_root();
    let net = SwitchNet::new(2);
    let rig = start(&net, 2);
    rig.cmds.send(forward(1, 1, 2)).unwrap();
    rig.cmds.send(forward(2, 2, 1)).unwrap();
    barrier(&rig, 1);

    let s0 = net.host_socket(0);
    let s1 = net.host_socket(1);
    let (m0, m1) = (net.hosts[0].host_mac, net.hosts[1].host_mac);
    const N: usize = 1000;
    let out0: Vec<Vec<u8>> = sizes(N, 7)
        .into_iter()
        .enumerate()
        .map(|(i, len)| test_frame(m1, m0, i as u32, len))
        .collect();
    let out1: Vec<Vec<u8>> = sizes(N, 9)
        .into_iter()
        .enumerate()
        .map(|(i, len)| test_frame(m0, m1, 0x1000_0000 | i as u32, len))
        .collect();
    // Both directions at once, from two threads.
    let t0 = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            for f in &out0 {
                s0.send(f).unwrap();
            }
        });
        s.spawn(|| {
            for f in &out1 {
                s1.send(f).unwrap();
            }
        });
    });
    let got1 = s1.recv_all(Duration::from_millis(500));
    let got0 = s0.recv_all(Duration::from_millis(500));
    let elapsed = t0.elapsed();
    let stats = rig.dp.port_stats().unwrap();
    eprintln!("port stats: {stats:#?}");
    eprintln!(
        "{} + {} frames forwarded in {elapsed:?} (including the 500 ms quiet wait)",
        got1.len(),
        got0.len()
    );
    for (dir, sent, got) in [("0->1", &out0, &got1), ("1->0", &out1, &got0)] {
        let ours: Vec<&Vec<u8>> = got.iter().filter(|f| test_frame_tag(f).is_some()).collect();
        assert_eq!(
            ours.len(),
            sent.len(),
            "{dir}: {} of {} frames arrived; stats {stats:?}",
            ours.len(),
            sent.len()
        );
        for (i, (a, b)) in sent.iter().zip(ours).enumerate() {
            assert_eq!(a, b, "{dir}: frame {i} differs");
        }
    }
    let p1 = stats[&1];
    let p2 = stats[&2];
    assert_eq!(p1.rx_packets, N as u64);
    assert_eq!(p2.rx_packets, N as u64);
    assert_eq!(p1.tx_packets, N as u64);
    assert_eq!(p2.tx_packets, N as u64);
    let ws = rig.dp.worker_stats()[0];
    assert_eq!(ws.hits, 2 * N as u64);
    assert_eq!(ws.misses, 0);
    // The loop's busy cycles per packet (no claim on speed).
    eprintln!("{ws:?}, {:?} cycles/packet", ws.cycles_per_packet());
    assert_eq!(ws.polled_packets, 2 * N as u64);
    assert!(ws.busy_cycles > 0, "{ws:?}");
    assert!(ws.cycles_per_packet().is_some_and(f64::is_finite), "{ws:?}");
    rig.dp.stop();
}

/// A frame whose IPv4 header is cut short is no drop: as in OVS, its key holds its L2
/// fields and it goes where they send it (here: the entry for its input port), bytes
/// unchanged, and so does a bare Ethernet header. (A frame shorter than an Ethernet
/// header, the one kind still dropped as `malformed`, cannot be sent over a veth: the
/// kernel refuses it.)
#[test]
fn truncated_l3_frames_forward_by_their_l2_fields() {
    require_root();
    let net = SwitchNet::new(2);
    let rig = start(&net, 2);
    rig.cmds.send(forward(1, 1, 2)).unwrap();
    barrier(&rig, 1);
    let s0 = net.host_socket(0);
    let s1 = net.host_socket(1);
    let (m0, m1) = (net.hosts[0].host_mac, net.hosts[1].host_mac);

    // 20 bytes claiming IPv4: 6 bytes where a 20-byte header should be.
    let mut bad = Vec::new();
    bad.extend_from_slice(&m1);
    bad.extend_from_slice(&m0);
    bad.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 60, 0, 0]);
    assert_eq!(bad.len(), 20);
    s0.send(&bad).unwrap();
    s0.send(&bad[..14]).unwrap();
    let good = test_frame(m1, m0, 42, 100);
    s0.send(&good).unwrap();
    let got = s1.recv_all(Duration::from_millis(300));
    // The kernel may pad short frames to 60 bytes on the way: compare what was sent.
    let ours: Vec<_> = got
        .iter()
        .filter(|f| f.len() >= 14 && f[..12] == bad[..12])
        .collect();
    assert_eq!(ours.len(), 3, "{got:?}");
    assert_eq!(&ours[0][..20], &bad[..]);
    assert_eq!(ours[2], &good);
    let ws = rig.dp.worker_stats()[0];
    assert_eq!((ws.malformed, ws.hits), (0, 3), "{ws:?}");
    assert_eq!(rig.dp.port_stats().unwrap()[&1].rx_packets, 3);
}

#[test]
fn removing_a_port_leaves_the_others_running() {
    require_root();
    let net = SwitchNet::new(3);
    // Port 3 first: its socket registers the worker's UMEM, which the others share;
    // closing it must not disturb them.
    let (cmd_tx, cmd_rx) = bounded(1024);
    let (up_tx, _up_rx) = bounded(1024);
    let worker = Worker::new(0, 1024, cmd_rx, up_tx);
    let dp = in_netns(&net.ns_switch, || {
        let dp =
            AfXdpDatapath::start(DatapathConfig::default(), vec![worker], clock()).expect("start");
        dp.add_port(3, &net.hosts[2].switch_if, PortMode::All)
            .unwrap();
        dp.add_port(1, &net.hosts[0].switch_if, PortMode::All)
            .unwrap();
        dp.add_port(2, &net.hosts[1].switch_if, PortMode::All)
            .unwrap();
        dp
    });
    cmd_tx.send(forward(1, 1, 2)).unwrap();
    cmd_tx.send(forward(2, 3, 2)).unwrap();
    let s0 = net.host_socket(0);
    let s1 = net.host_socket(1);
    let (m0, m1) = (net.hosts[0].host_mac, net.hosts[1].host_mac);
    // Let the entries land.
    let first = test_frame(m1, m0, 0, 64);
    s0.send(&first).unwrap();
    assert_eq!(
        s1.recv(Duration::from_secs(2)).as_deref(),
        Some(&first[..]),
        "forwarding works before the removal"
    );

    const N: u32 = 2000;
    let frames: Vec<Vec<u8>> = (1..=N)
        .map(|i| test_frame(m1, m0, i, 60 + (i as usize * 7) % 1400))
        .collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            for (i, f) in frames.iter().enumerate() {
                s0.send(f).unwrap();
                if i % 100 == 99 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        });
        std::thread::sleep(Duration::from_millis(10));
        dp.remove_port(3).unwrap();
    });
    let got: Vec<Vec<u8>> = s1
        .recv_all(Duration::from_millis(500))
        .into_iter()
        .filter(|f| test_frame_tag(f).is_some())
        .collect();
    assert_eq!(got.len(), frames.len(), "every frame 1 -> 2 arrived");
    assert_eq!(got, frames);
    assert!(
        !net.switch_link(2).contains("xdp"),
        "port 3's XDP program is gone: {}",
        net.switch_link(2)
    );
    let stats = dp.port_stats().unwrap();
    assert!(!stats.contains_key(&3));
    assert_eq!(stats[&2].tx_packets, N as u64 + 1);
    // The worker got all of port 3's frames back.
    let io = dp.worker_io_stats().unwrap()[0];
    assert_eq!(io.sockets, 2);
    dp.stop();
    for i in 0..3 {
        assert!(
            !net.switch_link(i).contains("xdp"),
            "stop detaches everything"
        );
    }
}

/// Two workers, two-queue veths: each worker owns one queue of each port and transmits
/// on its own socket; zero-copy is asked for and veth's refusal falls back to copy.
/// A one-queue port leaves the second worker without a tx socket, and says so.
#[test]
fn two_workers_two_queues() {
    require_root();
    let net = SwitchNet::with_queues(2, 2);
    let net1 = SwitchNet::new(1);
    let mut cmds = Vec::new();
    let mut workers = Vec::new();
    let (up_tx, _up_rx) = bounded(1024);
    for id in 0..2 {
        let (tx, rx) = bounded(1024);
        tx.send(forward(1, 1, 2)).unwrap();
        tx.send(forward(2, 2, 1)).unwrap();
        cmds.push(tx);
        workers.push(Worker::new(id, 1024, rx, up_tx.clone()));
    }
    let config = DatapathConfig {
        cores: vec![Some(0), Some(1)],
        bind_mode: xvs_dataplane::afxdp::BindMode::ZeroCopyThenCopy,
        ..Default::default()
    };
    let dp = in_netns(&net.ns_switch, || {
        let dp = AfXdpDatapath::start(config, workers, clock()).expect("start");
        for i in 0..2 {
            let info = dp
                .add_port(i as PortNo + 1, &net.hosts[i].switch_if, PortMode::All)
                .expect("add_port");
            assert_eq!(info.queues, 2);
            assert!(!info.zero_copy, "veth refuses zero-copy: copy fallback");
            assert!(info.workers_without_tx.is_empty());
        }
        dp
    });
    // A one-queue port in another namespace: worker 1 cannot transmit there.
    let one = in_netns(&net1.ns_switch, || {
        dp.add_port(3, &net1.hosts[0].switch_if, PortMode::All)
            .unwrap()
    });
    assert_eq!(one.queues, 1);
    assert_eq!(one.workers_without_tx, vec![1]);
    let io = dp.worker_io_stats().unwrap();
    assert_eq!(io[0].sockets, 3);
    assert_eq!(io[1].sockets, 2);

    let s0 = net.host_socket(0);
    let s1 = net.host_socket(1);
    let (m0, m1) = (net.hosts[0].host_mac, net.hosts[1].host_mac);
    const N: usize = 1000;
    let frames: Vec<Vec<u8>> = sizes(N, 3)
        .into_iter()
        .enumerate()
        .map(|(i, len)| test_frame(m1, m0, i as u32, len))
        .collect();
    // Send from both CPUs: with the qdisc bypassed, the tx (and so the peer's rx)
    // queue is the sending CPU's.
    s0.bypass_qdisc().unwrap();
    std::thread::scope(|s| {
        for (cpu, half) in frames.chunks(N / 2).enumerate() {
            let s0 = &s0;
            s.spawn(move || {
                core_pin(cpu);
                for f in half {
                    s0.send(f).unwrap();
                }
            });
        }
    });
    let mut got: Vec<Vec<u8>> = s1
        .recv_all(Duration::from_millis(500))
        .into_iter()
        .filter(|f| test_frame_tag(f).is_some())
        .collect();
    let mut want = frames.clone();
    got.sort();
    want.sort();
    assert_eq!(got.len(), N, "all frames arrived");
    assert_eq!(got, want);
    let ws = dp.worker_stats();
    eprintln!("worker stats: {ws:?}");
    assert_eq!(ws[0].hits + ws[1].hits, N as u64);
    assert!(
        ws[0].hits > 0 && ws[1].hits > 0,
        "both queues (and so both workers) carried traffic: {ws:?}"
    );
    let _ = &cmds;
    dp.stop();
}

fn core_pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET stays in bounds for small cpu.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Generic (SKB) XDP mode, asked for explicitly, forwards too.
#[test]
fn generic_xdp_mode_forwards() {
    require_root();
    let net = SwitchNet::new(2);
    let (cmd_tx, cmd_rx) = bounded(16);
    let (up_tx, _up_rx) = bounded(16);
    cmd_tx.send(forward(1, 1, 2)).unwrap();
    let worker = Worker::new(0, 16, cmd_rx, up_tx);
    let config = DatapathConfig {
        xdp_mode: XdpMode::Generic,
        ..Default::default()
    };
    let dp = in_netns(&net.ns_switch, || {
        let dp = AfXdpDatapath::start(config, vec![worker], clock()).unwrap();
        for i in 0..2 {
            let info = dp
                .add_port(i as PortNo + 1, &net.hosts[i].switch_if, PortMode::All)
                .unwrap();
            assert_eq!(info.xdp_mode, Some(XdpMode::Generic));
        }
        dp
    });
    assert!(
        net.switch_link(0).contains("xdpgeneric"),
        "{}",
        net.switch_link(0)
    );
    let s0 = net.host_socket(0);
    let s1 = net.host_socket(1);
    let frames: Vec<Vec<u8>> = (0..100)
        .map(|i| {
            test_frame(
                net.hosts[1].host_mac,
                net.hosts[0].host_mac,
                i,
                60 + i as usize * 14,
            )
        })
        .collect();
    for f in &frames {
        s0.send(f).unwrap();
    }
    let got: Vec<Vec<u8>> = s1
        .recv_all(Duration::from_millis(300))
        .into_iter()
        .filter(|f| test_frame_tag(f).is_some())
        .collect();
    assert_eq!(got, frames);
    dp.stop();
}

/// A miss goes up the upcall queue with the frame as received; the control thread's
/// answer (a packet-out through WorkerCmd::Execute) goes out of the port it names.
#[test]
fn miss_goes_up_and_packet_out_goes_out() {
    require_root();
    let net = SwitchNet::new(2);
    let rig = start(&net, 2);
    let s0 = net.host_socket(0);
    let s1 = net.host_socket(1);
    let (m0, m1) = (net.hosts[0].host_mac, net.hosts[1].host_mac);
    let f = test_frame(m1, m0, 5, 200);
    s0.send(&f).unwrap();
    let up = rig
        .upcalls
        .recv_timeout(Duration::from_secs(2))
        .expect("an upcall for the miss");
    assert_eq!(up.key.in_port, 1);
    assert_eq!(up.frame, f);
    assert_eq!(rig.dp.worker_stats()[0].misses, 1);
    assert!(
        s1.recv_all(Duration::from_millis(100)).is_empty(),
        "a miss is not forwarded by the worker"
    );

    rig.cmds
        .send(WorkerCmd::Execute {
            frame: up.frame.clone(),
            actions: [DpAction::Output(2)].into_iter().collect(),
        })
        .unwrap();
    let got = s1.recv(Duration::from_secs(2)).expect("the packet-out");
    assert_eq!(got, f);
    assert_eq!(rig.dp.worker_stats()[0].executed, 1);
    assert_eq!(rig.dp.port_stats().unwrap()[&2].tx_packets, 1);
    rig.dp.stop();
}
