//! Criterion micro-benchmarks of the fast path: parsing, the per-packet cache hit, the
//! slow-path translation and the upcall handling of a miss storm.
//!
//! `cargo bench -p xvs-bench --bench fastpath` (add `-- hit/` and so on to pick some).
//!
//! - `parse/vlan_64`: [`FlowKey::extract`] of a 64-byte 802.1Q-tagged IPv4/UDP frame.
//! - `parse/gre_teb`: [`decap_gre`] of a GRE-TEB packet (outer Ethernet/IPv4/GRE, key
//!   0x3e7) and [`FlowKey::extract`] of its inner 64-byte tagged frame.
//! - `hit/{1,1000,1000000}`: [`Worker::process`] of a 64-byte tagged frame that hits one
//!   of N cache entries. Each iteration copies the 64 bytes of a template frame into the
//!   same buffer (behind the usual headroom) and writes the destination MAC of the next
//!   entry into it, as an rx ring hands the worker a fresh frame; the copy is part of the
//!   measured time. Entries are visited in a fixed pseudo-random permutation of `0..N`,
//!   cycled, so that neither the cache's hash tables nor the entries on the heap are
//!   walked in the order they were filled (sequential order would let the hardware
//!   prefetcher hide misses at 1,000,000 entries).
//! - `xlate/seed_brint_to_brtun`: [`Switch::translate`] on the Folsom seed network node
//!   of a frame from `tap-dhcp-a` (br-int, tag 1) to VM A, which br-int has learned
//!   behind `patch-tun`: NORMAL, the patch, br-tun's priority-4 rule, out of `gre-1`.
//! - `upcall/handle`: [`Revalidator::handle_upcall`] for misses with distinct destination
//!   MACs (a miss storm: NORMAL floods each to br-tun, which tunnels it), timing only the
//!   control thread's work: translation, side effects, the install and the `Execute`
//!   command. The cache is first filled to its capacity (the default, 200,000 entries;
//!   `XVS_BENCH_UPCALL_CAPACITY` overrides it), so every measured upcall also evicts one
//!   entry (a `Remove` command). The worker's command queue is drained between batches
//!   of 256 upcalls, untimed.
//! - `upcall/roundtrip`: the same storm, all of it timed on one thread: the worker's miss
//!   (parse, lookup, copy into the upcall queue), the control thread's handling, and the
//!   worker applying the commands (install, remove, execute with a no-op transmit).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_channel::{bounded, Receiver};
use xvs_bench::{
    gre_from_compute, mac_for, network_node, shuffled, udp_64, NetworkNode, DHCP_A_MAC, FRAME_LEN,
    TUN_ID_A, VM_A_MAC,
};
use xvs_dataplane::cache::CachedFlow;
use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::worker::{Upcall, Worker, WorkerCmd};
use xvs_dataplane::{decap_gre, DpAction, FlowKey, FrameBuf, MacAddr, PortNo, DEFAULT_HEADROOM};
use xvs_pipeline::revalidator::{
    Revalidator, RevalidatorStats, WorkerHandle, DEFAULT_CACHE_CAPACITY,
};
use xvs_pipeline::xlate::base_consulted;
use xvs_pipeline::Switch;

/// The clock the benchmarks pretend it is (ms); nothing ages during a run.
const NOW: u64 = 1_000;

/// Whether this is a real benchmark run: `cargo bench` passes `--bench`; `cargo test
/// --benches` does not, and then criterion runs every benchmark once, so the sizes that
/// take long to set up are cut down.
fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn noop(_: PortNo, _: &[u8]) {}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    let frame = udp_64(VM_A_MAC, DHCP_A_MAC, Some(7));
    g.bench_function("vlan_64", |b| {
        b.iter(|| FlowKey::extract(black_box(1), black_box(&frame[..])))
    });
    let packet = gre_from_compute(&frame);
    g.bench_function("gre_teb", |b| {
        b.iter(|| {
            let p = black_box(&packet[..]);
            let d = decap_gre(p).unwrap();
            let mut k = FlowKey::extract(black_box(5), &p[d.inner_range()]).unwrap();
            k.tun_id = u64::from(d.key.unwrap_or(0));
            k
        })
    });
    g.finish();
}

/// A worker with `n` entries, one per destination MAC `mac_for(0..n)`, for tagged frames
/// from `in_port`, installed through its command queue.
struct HitSetup {
    worker: Worker,
    /// Keeps the queues open.
    _cmds: crossbeam_channel::Sender<WorkerCmd>,
    _upcalls: Receiver<Upcall>,
    in_port: PortNo,
    template: [u8; FRAME_LEN],
    /// Destination MACs in visiting order.
    order: Vec<MacAddr>,
}

fn hit_setup(node: &NetworkNode, n: usize) -> HitSetup {
    // The mask a real translation makes: a VM's frame through NORMAL on br-int and the
    // Folsom br-tun consults in_port, tun_id, the TCI and dl_dst (always) and dl_src
    // (NORMAL learned it).
    let vm = FlowKey::extract(node.tap_a, &udp_64(VM_A_MAC, DHCP_A_MAC, None)).unwrap();
    let mask = node.sw.translate(&vm, NOW).consulted;
    let mut want = base_consulted();
    want.dl_src = MacAddr::BROADCAST;
    assert_eq!(mask, want, "the seed translation's mask changed");

    let (cmd_tx, cmd_rx) = bounded(4096);
    let (up_tx, up_rx) = bounded(1024);
    let mut worker = Worker::new(0, n, cmd_rx, up_tx);
    let in_port = node.tap_a;
    let template = udp_64(mac_for(0), DHCP_A_MAC, Some(7));
    // Length-preserving, like the VLAN rewrite of a trunk-to-trunk path.
    let actions = [
        DpAction::SetVlan(VLAN_PRESENT | 2),
        DpAction::Output(node.tap_b),
    ];
    for i in 0..n {
        let mut f = template;
        f[..6].copy_from_slice(&mac_for(i as u64).0);
        let key = FlowKey::extract(in_port, &f).unwrap();
        let flow = CachedFlow::new(i as u64 + 1, &key, mask, &actions, NOW);
        cmd_tx.send(WorkerCmd::Install(Arc::new(flow))).unwrap();
        if cmd_tx.is_full() {
            worker.poll_commands(&mut noop);
        }
    }
    worker.poll_commands(&mut noop);
    assert_eq!(worker.cache().len(), n);
    assert_eq!(worker.cache().n_masks(), 1);
    let order = shuffled(n, 0x9e37_79b9_7f4a_7c15)
        .into_iter()
        .map(|i| mac_for(u64::from(i)))
        .collect();
    HitSetup {
        worker,
        _cmds: cmd_tx,
        _upcalls: up_rx,
        in_port,
        template,
        order,
    }
}

fn hit(c: &mut Criterion) {
    let node = network_node();
    let mut g = c.benchmark_group("hit");
    g.throughput(Throughput::Elements(1));
    let sizes: &[usize] = if benchmarking() {
        &[1, 1000, 1_000_000]
    } else {
        &[1, 1000]
    };
    for &n in sizes {
        // Built on first use, so that a filter that skips this size skips its setup.
        let mut setup: Option<HitSetup> = None;
        let mut buf = vec![0u8; DEFAULT_HEADROOM + FRAME_LEN];
        let mut pos = 0;
        let mut sent = 0usize;
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            let s = setup.get_or_insert_with(|| hit_setup(&node, n));
            b.iter(|| {
                let d = &mut buf[DEFAULT_HEADROOM..];
                d.copy_from_slice(&s.template);
                d[..6].copy_from_slice(&s.order[pos].0);
                pos += 1;
                if pos == s.order.len() {
                    pos = 0;
                }
                let mut f =
                    FrameBuf::from_parts(&mut buf[..], DEFAULT_HEADROOM, FRAME_LEN).unwrap();
                s.worker
                    .process(black_box(s.in_port), &mut f, NOW, &mut |p, bytes: &[u8]| {
                        sent += bytes.len();
                        black_box(p);
                    });
            })
        });
        if let Some(s) = setup {
            let st = s.worker.stats().snapshot();
            assert_eq!((st.misses, st.malformed), (0, 0), "{st:?}");
            assert_eq!(sent as u64, st.hits * FRAME_LEN as u64);
        }
    }
    g.finish();
}

/// The same hits as `hit/N`, through [`Worker::process_batch`] 64 frames at a time (as
/// the AF_XDP loop hands them over), reported per frame: the batch prefetches its cache
/// slots and entries before using them.
fn hit_batch(c: &mut Criterion) {
    let node = network_node();
    let mut g = c.benchmark_group("hit_batch");
    const BATCH: usize = xvs_dataplane::BATCH;
    g.throughput(Throughput::Elements(BATCH as u64));
    let sizes: &[usize] = if benchmarking() {
        &[1, 1000, 1_000_000]
    } else {
        &[1, 1000]
    };
    for &n in sizes {
        let mut setup: Option<HitSetup> = None;
        let mut bufs = vec![0u8; BATCH * (DEFAULT_HEADROOM + FRAME_LEN)];
        let mut pos = 0;
        let mut sent = 0usize;
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            let s = setup.get_or_insert_with(|| hit_setup(&node, n));
            b.iter(|| {
                let mut frames: Vec<FrameBuf<&mut [u8]>> = Vec::with_capacity(BATCH);
                for buf in bufs.chunks_mut(DEFAULT_HEADROOM + FRAME_LEN) {
                    let d = &mut buf[DEFAULT_HEADROOM..];
                    d.copy_from_slice(&s.template);
                    d[..6].copy_from_slice(&s.order[pos].0);
                    pos += 1;
                    if pos == s.order.len() {
                        pos = 0;
                    }
                    frames.push(FrameBuf::from_parts(buf, DEFAULT_HEADROOM, FRAME_LEN).unwrap());
                }
                s.worker.process_batch(
                    black_box(s.in_port),
                    &mut frames,
                    NOW,
                    &mut |p, bytes: &[u8]| {
                        sent += bytes.len();
                        black_box(p);
                    },
                );
            })
        });
        if let Some(s) = setup {
            let st = s.worker.stats().snapshot();
            assert_eq!((st.misses, st.malformed), (0, 0), "{st:?}");
            assert_eq!(sent as u64, st.hits * FRAME_LEN as u64);
        }
    }
    g.finish();
}

fn xlate(c: &mut Criterion) {
    let mut node = network_node();
    // VM A's frame arrives through the tunnel: br-tun maps it to VLAN 1 and br-int's
    // NORMAL learns VM A behind patch-tun.
    let from_vm = gre_from_compute(&udp_64(DHCP_A_MAC, VM_A_MAC, Some(7)));
    let out = node.sw.process(node.underlay, &from_vm, NOW);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, node.tap_a);

    let key = FlowKey::extract(node.tap_a, &udp_64(VM_A_MAC, DHCP_A_MAC, None)).unwrap();
    let tr = node.sw.translate(&key, NOW);
    assert_eq!(tr.rules.len(), 2, "br-int NORMAL, then br-tun priority 4");
    assert!(
        matches!(
            tr.actions[..],
            [DpAction::PushVlan { .. }, DpAction::TunnelOutput { header, .. }]
                if header.kind == xvs_dataplane::TunnelKind::Gre { key: Some(TUN_ID_A), csum: false }
        ),
        "{:?}",
        tr.actions
    );
    assert_eq!(tr.mac_lookups.len(), 1);

    let mut g = c.benchmark_group("xlate");
    g.throughput(Throughput::Elements(1));
    let sw: &Switch = &node.sw;
    g.bench_function("seed_brint_to_brtun", |b| {
        b.iter(|| sw.translate(black_box(&key), NOW))
    });
    g.finish();
}

/// A Folsom network node behind a fast-path manager with one worker, for miss storms:
/// frames from `tap-dhcp-a` to ever new destination MACs.
struct Storm {
    node: NetworkNode,
    fp: Revalidator,
    worker: Worker,
    upcalls: Receiver<Upcall>,
    template: [u8; FRAME_LEN],
    next: u64,
    /// The manager's counters once the cache was full.
    filled: RevalidatorStats,
}

/// Upcalls handled between two drains of the worker's command queue.
const BATCH: u64 = 256;

impl Storm {
    /// Fills the cache to `capacity` first, so that the storm runs at steady state.
    fn new(capacity: usize) -> Self {
        let mut node = network_node();
        node.sw.track_changes(true);
        let (cmd_tx, cmd_rx) = bounded(1 << 16);
        let (up_tx, up_rx) = bounded(1 << 10);
        let mut worker = Worker::new(0, capacity, cmd_rx, up_tx);
        let mut fp = Revalidator::new(
            vec![WorkerHandle {
                cmds: cmd_tx,
                stats: worker.stats().clone(),
            }],
            capacity,
        );
        fp.push_tunnels(&node.sw);
        worker.poll_commands(&mut noop);
        let mut s = Storm {
            node,
            fp,
            worker,
            upcalls: up_rx,
            template: udp_64(mac_for(0), DHCP_A_MAC, None),
            next: 0,
            filled: RevalidatorStats::default(),
        };
        while s.fp.n_entries() < capacity {
            for _ in 0..BATCH {
                let up = s.upcall();
                s.fp.handle_upcall(&mut s.node.sw, up, NOW);
            }
            s.worker.poll_commands(&mut noop);
        }
        assert_eq!(s.worker.cache().len(), capacity);
        assert!(s.fp.stats.installed >= capacity as u64, "{:?}", s.fp.stats);
        s.filled = s.fp.stats;
        s
    }

    /// The next frame of the storm.
    fn frame(&mut self) -> [u8; FRAME_LEN] {
        let mut f = self.template;
        f[..6].copy_from_slice(&mac_for(self.next).0);
        self.next += 1;
        f
    }

    /// The next miss, as the worker would queue it.
    fn upcall(&mut self) -> Upcall {
        let f = self.frame();
        Upcall {
            worker: 0,
            key: FlowKey::extract(self.node.tap_a, &f).unwrap(),
            frame: f.to_vec(),
        }
    }

    /// Every measured upcall installed an entry and evicted one.
    fn check(&self) {
        let (st, before) = (self.fp.stats, self.filled);
        let handled = st.upcalls - before.upcalls;
        assert_eq!(st.installed - before.installed, handled, "{st:?}");
        assert_eq!(st.evicted - before.evicted, handled, "{st:?}");
        let ws = self.worker.stats().snapshot();
        assert_eq!((ws.lost, ws.install_failed), (0, 0), "{ws:?}");
    }
}

fn upcall(c: &mut Criterion) {
    let capacity = match std::env::var("XVS_BENCH_UPCALL_CAPACITY") {
        Ok(v) => v
            .parse()
            .expect("XVS_BENCH_UPCALL_CAPACITY: a number of entries"),
        Err(_) if benchmarking() => DEFAULT_CACHE_CAPACITY,
        Err(_) => 2_000,
    };
    let mut g = c.benchmark_group("upcall");
    g.throughput(Throughput::Elements(1));

    let mut storm: Option<Storm> = None;
    g.bench_function("handle", |b| {
        let s = storm.get_or_insert_with(|| Storm::new(capacity));
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters;
            let mut batch = Vec::with_capacity(BATCH as usize);
            while left > 0 {
                let k = left.min(BATCH);
                batch.extend((0..k).map(|_| s.upcall()));
                let t = Instant::now();
                for up in batch.drain(..) {
                    s.fp.handle_upcall(&mut s.node.sw, up, NOW);
                }
                timed += t.elapsed();
                s.worker.poll_commands(&mut noop);
                left -= k;
            }
            timed
        })
    });
    if let Some(s) = storm.take() {
        s.check();
    }

    let mut storm: Option<Storm> = None;
    let mut buf = vec![0u8; DEFAULT_HEADROOM + FRAME_LEN];
    let mut n = 0u64;
    g.bench_function("roundtrip", |b| {
        let s = storm.get_or_insert_with(|| Storm::new(capacity));
        b.iter(|| {
            let f = s.frame();
            buf[DEFAULT_HEADROOM..].copy_from_slice(&f);
            let mut frame =
                FrameBuf::from_parts(&mut buf[..], DEFAULT_HEADROOM, FRAME_LEN).unwrap();
            s.worker.process(s.node.tap_a, &mut frame, NOW, &mut noop);
            let up = s.upcalls.try_recv().expect("a miss");
            s.fp.handle_upcall(&mut s.node.sw, up, NOW);
            n += 1;
            if n.is_multiple_of(BATCH) {
                s.worker.poll_commands(&mut noop);
            }
        })
    });
    if let Some(mut s) = storm.take() {
        s.worker.poll_commands(&mut noop);
        s.check();
        let ws = s.worker.stats().snapshot();
        assert_eq!(ws.hits, 0, "{ws:?}");
    }
    g.finish();
}

criterion_group!(benches, parse, hit, hit_batch, xlate, upcall);
criterion_main!(benches);
