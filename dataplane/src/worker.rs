//! The worker's core: what happens to each received frame, and to each command from the
//! control thread, with no I/O of its own (the AF_XDP loop and the tests wrap it).
//!
//! Per frame: decapsulate if it came in on an underlay and extract the key
//! ([`classify`](mod@crate::classify)), look it up in the worker's own cache. A hit runs
//! the entry's action program on the frame in place; a miss is copied into the bounded
//! upcall queue for the control thread, or counted as `lost` when the queue is full.
//! Nothing on this path allocates (but the miss's copy), locks or waits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use std::mem::MaybeUninit;

use crate::cache::{ActionProgram, CachedFlow, EntryId, FlowCache};
use crate::classify::{classify_into, ClassifyDrop};
use crate::execute::{execute, FrameBuf, DEFAULT_HEADROOM};
use crate::flow_key::{FlowKey, PackedKey, PortNo};

/// Frames the hot path handles together (the design's batch): the AF_XDP loop's default
/// rx batch per socket ([`DatapathConfig::batch`]), and the chunk whose cache misses
/// [`Worker::process_batch`] overlaps (its per-chunk arrays are on the stack).
///
/// [`DatapathConfig::batch`]: crate::afxdp::DatapathConfig::batch
pub const BATCH: usize = 64;
/// The largest rx batch [`DatapathConfig::batch`] accepts: four times [`BATCH`]; a batch
/// that large reaches [`Worker::process_batch`] whole and is worked through in chunks of
/// [`BATCH`].
///
/// [`DatapathConfig::batch`]: crate::afxdp::DatapathConfig::batch
pub const MAX_BATCH: usize = 4 * BATCH;
use crate::tunnel::TunnelMap;

/// What the control thread asks of a worker. Applied in order, between batches.
#[derive(Debug)]
pub enum WorkerCmd {
    Install(Arc<CachedFlow>),
    Remove(Vec<EntryId>),
    Flush,
    /// Sends a frame the control thread translated (the miss that created an entry).
    Execute {
        frame: Vec<u8>,
        actions: ActionProgram,
    },
    SetTunnels(Arc<TunnelMap>),
    /// Everything sent before is applied once the worker acknowledges this generation.
    Barrier(u64),
}

/// A miss, on its way to the control thread.
#[derive(Debug)]
pub struct Upcall {
    pub worker: usize,
    pub key: FlowKey,
    /// The frame as looked up (inner frame for tunnel packets).
    pub frame: Vec<u8>,
}

/// A worker's counters, like `ovs-dpctl show` and `pmd-stats-show`. Written by the
/// worker only, read by anyone.
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Misses dropped because the upcall queue was full.
    pub lost: AtomicU64,
    /// Frames too short for an Ethernet header (the one parse failure that drops a
    /// frame; see [`ClassifyDrop::Malformed`]).
    pub malformed: AtomicU64,
    /// Tunnel packets that failed the outer checks.
    pub bad_tunnel: AtomicU64,
    /// Tunnel packets for no tunnel port of ours.
    pub unknown_tunnel: AtomicU64,
    /// Frames sent on the control thread's behalf (translated misses).
    pub executed: AtomicU64,
    /// Tunnel packets not sent because they would exceed the underlay MTU.
    pub too_big: AtomicU64,
    /// Entries the cache refused (full).
    pub install_failed: AtomicU64,
    /// Entries in the cache now.
    pub entries: AtomicU64,
    /// The last barrier generation the worker applied.
    pub acked: AtomicU64,
    /// [`cycle_counter`] cycles of the worker loop's iterations that did work (received,
    /// sent or completed a frame, or handled a command): OVS's "processing cycles".
    /// Written by the AF_XDP loop.
    pub busy_cycles: AtomicU64,
    /// Cycles of the iterations that found nothing to do, their sleeps included.
    pub idle_cycles: AtomicU64,
    /// Received frames the AF_XDP loop handed to the pipeline.
    pub polled_packets: AtomicU64,
}

/// Adds to a counter that only this thread writes: a plain load and store, which costs
/// nothing like a locked increment.
#[inline]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// A plain copy of [`WorkerStats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerStatsSnapshot {
    pub hits: u64,
    pub misses: u64,
    pub lost: u64,
    pub malformed: u64,
    pub bad_tunnel: u64,
    pub unknown_tunnel: u64,
    pub executed: u64,
    pub too_big: u64,
    pub install_failed: u64,
    pub entries: u64,
    pub acked: u64,
    pub busy_cycles: u64,
    pub idle_cycles: u64,
    pub polled_packets: u64,
}

impl WorkerStatsSnapshot {
    /// Busy cycles per received packet (`pmd-stats-show`'s "avg processing cycles per
    /// packet"); `None` before the first packet.
    pub fn cycles_per_packet(&self) -> Option<f64> {
        (self.polled_packets > 0).then(|| self.busy_cycles as f64 / self.polled_packets as f64)
    }

    /// Busy cycles as a percentage of all the loop's cycles (0 before any were counted).
    pub fn busy_percent(&self) -> f64 {
        let all = self.busy_cycles + self.idle_cycles;
        if all == 0 {
            0.0
        } else {
            100.0 * self.busy_cycles as f64 / all as f64
        }
    }
}

impl WorkerStats {
    pub fn snapshot(&self) -> WorkerStatsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WorkerStatsSnapshot {
            hits: r(&self.hits),
            misses: r(&self.misses),
            lost: r(&self.lost),
            malformed: r(&self.malformed),
            bad_tunnel: r(&self.bad_tunnel),
            unknown_tunnel: r(&self.unknown_tunnel),
            executed: r(&self.executed),
            too_big: r(&self.too_big),
            install_failed: r(&self.install_failed),
            entries: r(&self.entries),
            acked: r(&self.acked),
            busy_cycles: r(&self.busy_cycles),
            idle_cycles: r(&self.idle_cycles),
            polled_packets: r(&self.polled_packets),
        }
    }
}

impl std::ops::AddAssign for WorkerStatsSnapshot {
    fn add_assign(&mut self, o: Self) {
        self.hits += o.hits;
        self.misses += o.misses;
        self.lost += o.lost;
        self.malformed += o.malformed;
        self.bad_tunnel += o.bad_tunnel;
        self.unknown_tunnel += o.unknown_tunnel;
        self.executed += o.executed;
        self.too_big += o.too_big;
        self.install_failed += o.install_failed;
        self.entries += o.entries;
        self.acked = self.acked.max(o.acked);
        self.busy_cycles += o.busy_cycles;
        self.idle_cycles += o.idle_cycles;
        self.polled_packets += o.polled_packets;
    }
}

/// A cheap cycle counter for the loop's busy/idle accounting: the TSC on x86_64 (one
/// `rdtsc`, no syscall, no fence), elsewhere a monotonic clock in nanoseconds.
/// [`cycle_counter_hz`] converts.
#[inline]
pub fn cycle_counter() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions and is available on every x86_64 CPU.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        EPOCH
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos() as u64
    }
}

/// [`cycle_counter`] ticks per second. On x86_64 it is measured once per process, on the
/// first call (the AF_XDP datapath's start): TSC ticks over about 50 ms of `Instant` time,
/// which blocks that first caller for as long. Elsewhere 1e9 (the counter is in ns).
pub fn cycle_counter_hz() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        static HZ: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        *HZ.get_or_init(|| {
            let (t0, c0) = (std::time::Instant::now(), cycle_counter());
            std::thread::sleep(std::time::Duration::from_millis(50));
            let (c1, dt) = (cycle_counter(), t0.elapsed());
            ((c1.saturating_sub(c0)) as f64 / dt.as_secs_f64()).round() as u64
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        1_000_000_000
    }
}

pub struct Worker {
    pub id: usize,
    cache: FlowCache,
    cmds: Receiver<WorkerCmd>,
    upcalls: Sender<Upcall>,
    stats: Arc<WorkerStats>,
    tunnels: Arc<TunnelMap>,
}

impl Worker {
    pub fn new(
        id: usize,
        cache_capacity: usize,
        cmds: Receiver<WorkerCmd>,
        upcalls: Sender<Upcall>,
    ) -> Self {
        Worker {
            id,
            cache: FlowCache::new(cache_capacity),
            cmds,
            upcalls,
            stats: Arc::new(WorkerStats::default()),
            tunnels: Arc::new(TunnelMap::default()),
        }
    }

    pub fn stats(&self) -> &Arc<WorkerStats> {
        &self.stats
    }

    pub fn cache(&self) -> &FlowCache {
        &self.cache
    }

    /// Applies the control thread's pending commands. Returns how many there were.
    pub fn poll_commands<F: FnMut(PortNo, &[u8])>(&mut self, tx: &mut F) -> usize {
        let mut n = 0;
        while let Ok(cmd) = self.cmds.try_recv() {
            n += 1;
            match cmd {
                WorkerCmd::Install(flow) => {
                    if self.cache.insert(flow).is_err() {
                        bump(&self.stats.install_failed, 1);
                    }
                }
                WorkerCmd::Remove(ids) => {
                    for id in ids {
                        self.cache.remove(id);
                    }
                }
                WorkerCmd::Flush => self.cache.clear(),
                WorkerCmd::Execute { frame, actions } => {
                    let mut f = FrameBuf::with_headroom(&frame, DEFAULT_HEADROOM);
                    // The control thread translated this very frame: actions fit it.
                    if let Ok(done) = execute(&actions, &mut f, &mut *tx) {
                        bump(&self.stats.too_big, u64::from(done.too_big));
                    }
                    bump(&self.stats.executed, 1);
                }
                WorkerCmd::SetTunnels(map) => self.tunnels = map,
                WorkerCmd::Barrier(generation) => {
                    self.stats
                        .entries
                        .store(self.cache.len() as u64, Ordering::Relaxed);
                    self.stats.acked.store(generation, Ordering::Release);
                }
            }
        }
        if n > 0 {
            self.stats
                .entries
                .store(self.cache.len() as u64, Ordering::Relaxed);
        }
        n
    }

    /// Orders the cache's subtables by recent hits; call now and then, not per packet.
    pub fn housekeeping(&mut self) {
        self.cache.reorder();
    }

    /// [`classify`](crate::classify::classify)s a frame into `key` and narrows it to the
    /// frame the key describes (a tunnel packet's outer headers go to the headroom: no
    /// copy). `false`: dropped and counted (malformed, or a tunnel packet that is not
    /// ours), and `key` maybe unwritten; `true`: `key` is written. Always inlined, with
    /// `classify_into`, into `process` and `process_batch` (`classify_into` says why).
    #[inline(always)]
    fn classify<B: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        in_port: PortNo,
        underlay: bool,
        frame: &mut FrameBuf<B>,
        key: &mut MaybeUninit<FlowKey>,
    ) -> bool {
        match classify_into(in_port, underlay, frame.data(), &self.tunnels, key) {
            Ok(inner) => {
                if underlay {
                    // classify checked both bounds against the frame.
                    let _ = frame.pull_front(inner.start);
                    frame.truncate(inner.len());
                }
                true
            }
            Err(drop) => {
                let counter = match drop {
                    ClassifyDrop::Malformed(_) => &self.stats.malformed,
                    ClassifyDrop::BadTunnel(_) => &self.stats.bad_tunnel,
                    ClassifyDrop::UnknownTunnel { .. } => &self.stats.unknown_tunnel,
                };
                bump(counter, 1);
                false
            }
        }
    }

    /// Forwards a frame by its entry, or sends it up as a miss. Takes the worker's fields
    /// one by one so that a batch can hold entries borrowed from `self.cache` meanwhile.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn act<B, F>(
        stats: &WorkerStats,
        upcalls: &Sender<Upcall>,
        id: usize,
        hit: Option<&CachedFlow>,
        key: &FlowKey,
        frame: &mut FrameBuf<B>,
        now: u64,
        tx: &mut F,
    ) where
        B: AsRef<[u8]> + AsMut<[u8]>,
        F: FnMut(PortNo, &[u8]),
    {
        match hit {
            Some(entry) => {
                bump(&stats.hits, 1);
                entry.stats.record(frame.len(), now);
                // Entries only hold programs translated for frames with this key's headers.
                if let Ok(done) = execute(&entry.actions, frame, tx) {
                    if done.too_big != 0 {
                        bump(&stats.too_big, u64::from(done.too_big));
                    }
                }
            }
            None => {
                bump(&stats.misses, 1);
                // A full queue loses the miss anyway: do not copy the frame for nothing.
                if upcalls.is_full() {
                    bump(&stats.lost, 1);
                    return;
                }
                let up = Upcall {
                    worker: id,
                    key: *key,
                    frame: frame.data().to_vec(),
                };
                match upcalls.try_send(up) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                        bump(&stats.lost, 1)
                    }
                }
            }
        }
    }

    /// Handles one received frame: forwards it by the cache, or queues an upcall.
    #[inline]
    pub fn process<B, F>(&mut self, in_port: PortNo, frame: &mut FrameBuf<B>, now: u64, tx: &mut F)
    where
        B: AsRef<[u8]> + AsMut<[u8]>,
        F: FnMut(PortNo, &[u8]),
    {
        let underlay = self.tunnels.is_underlay(in_port);
        let mut key = MaybeUninit::uninit();
        if !self.classify(in_port, underlay, frame, &mut key) {
            return;
        }
        // SAFETY: classify returned true, so it wrote the key.
        let key = unsafe { key.assume_init_ref() };
        let hit = self.cache.lookup(key);
        Self::act(
            &self.stats,
            &self.upcalls,
            self.id,
            hit,
            key,
            frame,
            now,
            tx,
        );
    }

    /// Handles a batch of frames received on one port, as [`Worker::process`] does each,
    /// in three passes so that memory latency is paid once per batch rather than once per
    /// frame: parse every frame and prefetch the cache slots its key will probe; look
    /// every key up and prefetch the entries found; then count and act. With a cache far
    /// larger than the CPU's, the misses of a whole batch overlap.
    pub fn process_batch<B, F>(
        &mut self,
        in_port: PortNo,
        frames: &mut [FrameBuf<B>],
        now: u64,
        tx: &mut F,
    ) where
        B: AsRef<[u8]> + AsMut<[u8]>,
        F: FnMut(PortNo, &[u8]),
    {
        let underlay = self.tunnels.is_underlay(in_port);
        for chunk in frames.chunks_mut(BATCH) {
            let n = chunk.len();
            // Only the first n are written, and each is read only where `valid` says so;
            // left uninitialised because a memset of both arrays costs more than a lookup.
            let mut keys = [const { MaybeUninit::<FlowKey>::uninit() }; BATCH];
            let mut packed = [const { MaybeUninit::<PackedKey>::uninit() }; BATCH];
            let mut valid = [false; BATCH];
            for (i, f) in chunk.iter_mut().enumerate() {
                if self.classify(in_port, underlay, f, &mut keys[i]) {
                    // SAFETY: classify returned true, so it wrote keys[i].
                    let p = unsafe { keys[i].assume_init_ref() }.pack();
                    self.cache.prefetch(&p);
                    packed[i].write(p);
                    valid[i] = true;
                }
            }
            let mut hits: [Option<&CachedFlow>; BATCH] = [None; BATCH];
            for i in 0..n {
                if valid[i] {
                    // SAFETY: written above when valid[i] was set.
                    let (k, p) =
                        unsafe { (keys[i].assume_init_ref(), packed[i].assume_init_ref()) };
                    hits[i] = self.cache.lookup_keyed(k, p);
                    if let Some(e) = hits[i] {
                        FlowCache::prefetch_entry(e);
                    }
                }
            }
            for (i, f) in chunk.iter_mut().enumerate() {
                if valid[i] {
                    // SAFETY: written above when valid[i] was set.
                    let key = unsafe { keys[i].assume_init_ref() };
                    Self::act(
                        &self.stats,
                        &self.upcalls,
                        self.id,
                        hits[i],
                        key,
                        f,
                        now,
                        tx,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::actions::TunnelKind;
    use crate::tunnel::{TunnelKeyMatch, TunnelPort, TunnelType};

    // The tunnel packets of the classify tests, the same frames the worker meets.
    use crate::classify::tests::{inner, LOCAL, REMOTE, UNDERLAY};

    /// A tunnel packet from REMOTE to LOCAL around `inner()`.
    fn encap(kind: TunnelKind) -> Vec<u8> {
        crate::classify::tests::encap(kind, &inner(), 0)
    }

    fn worker(tunnels: Vec<TunnelPort>) -> (Worker, Receiver<Upcall>) {
        let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded();
        let (up_tx, up_rx) = crossbeam_channel::bounded(16);
        let mut w = Worker::new(0, 1024, cmd_rx, up_tx);
        cmd_tx
            .send(WorkerCmd::SetTunnels(Arc::new(TunnelMap {
                underlays: vec![UNDERLAY],
                tunnels,
            })))
            .unwrap();
        w.poll_commands(&mut |_, _| {});
        (w, up_rx)
    }

    fn port(kind: TunnelType, key: TunnelKeyMatch, port: PortNo) -> TunnelPort {
        TunnelPort {
            kind,
            remote: REMOTE,
            local: Some(LOCAL),
            key,
            port,
        }
    }

    fn receive(w: &mut Worker, bytes: &[u8]) {
        let mut f = FrameBuf::with_headroom(bytes, DEFAULT_HEADROOM);
        w.process(UNDERLAY, &mut f, 0, &mut |_, _| {
            panic!("nothing is installed")
        });
    }

    #[test]
    fn vxlan_on_underlay_is_looked_up_on_the_tunnel_port() {
        let (mut w, up) = worker(vec![
            port(TunnelType::Gre, TunnelKeyMatch::Any, 5),
            port(TunnelType::Vxlan, TunnelKeyMatch::Any, 6),
        ]);
        let pkt = encap(TunnelKind::Vxlan {
            vni: 0x3e7,
            src_port: 50000,
        });
        receive(&mut w, &pkt);
        let u = up.try_recv().unwrap();
        assert_eq!(u.key.in_port, 6);
        assert_eq!(u.key.tun_id, 0x3e7);
        assert_eq!(u.frame, inner());
        assert_eq!(u.key, {
            let mut k = FlowKey::extract(6, &inner()).unwrap();
            k.tun_id = 0x3e7;
            k
        });

        // The batch path agrees.
        let mut frames = [FrameBuf::with_headroom(&pkt, DEFAULT_HEADROOM)];
        w.process_batch(UNDERLAY, &mut frames, 0, &mut |_, _| {});
        assert_eq!(up.try_recv().unwrap().key, u.key);

        // GRE still lands on the GRE port.
        receive(
            &mut w,
            &encap(TunnelKind::Gre {
                key: Some(9),
                csum: false,
            }),
        );
        let g = up.try_recv().unwrap();
        assert_eq!((g.key.in_port, g.key.tun_id), (5, 9));
        let s = w.stats().snapshot();
        assert_eq!((s.misses, s.unknown_tunnel, s.bad_tunnel), (3, 0, 0));
    }

    #[test]
    fn tunnel_types_do_not_cross() {
        let (mut w, up) = worker(vec![port(
            TunnelType::Vxlan,
            TunnelKeyMatch::Exactly(0x3e7),
            6,
        )]);
        // GRE with the very key the VXLAN port wants: no port for it.
        receive(
            &mut w,
            &encap(TunnelKind::Gre {
                key: Some(0x3e7),
                csum: false,
            }),
        );
        // VXLAN with another VNI.
        receive(
            &mut w,
            &encap(TunnelKind::Vxlan {
                vni: 0x3e8,
                src_port: 1,
            }),
        );
        assert!(up.try_recv().is_err());
        assert_eq!(w.stats().snapshot().unknown_tunnel, 2);

        // And the other way round: a GRE-only map refuses VXLAN.
        let (mut w, up) = worker(vec![port(TunnelType::Gre, TunnelKeyMatch::Any, 5)]);
        receive(
            &mut w,
            &encap(TunnelKind::Vxlan {
                vni: 1,
                src_port: 1,
            }),
        );
        assert!(up.try_recv().is_err());
        assert_eq!(w.stats().snapshot().unknown_tunnel, 1);

        // A VXLAN packet failing the outer checks is bad_tunnel.
        let mut bad = encap(TunnelKind::Vxlan {
            vni: 1,
            src_port: 1,
        });
        bad[14 + 20 + 8] = 0; // I flag clear
        receive(&mut w, &bad);
        assert_eq!(w.stats().snapshot().bad_tunnel, 1);
    }
}
