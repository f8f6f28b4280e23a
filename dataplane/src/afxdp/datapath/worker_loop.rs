//! A worker thread: its sockets, UMEM and tx path ([`WorkerIo`]), the commands the
//! datapath sends it ([`DpCmd`]), and its poll loop ([`run`]).
//!
//! # The loop (xdpsock's l2fwd shape), per iteration
//! 1. commands of the datapath (ports added or removed, stats), rarely;
//! 2. completions of every tx ring back to the free list;
//! 3. per socket: up to `batch` rx descriptors; each frame goes through
//!    [`Worker::process`] in place in its UMEM frame; outputs are copied into free frames
//!    and queued on the tx ring of the out port's socket; the rx frames go straight back
//!    to the fill ring, topped up from the free list when short;
//! 4. [`Worker::poll_commands`] (installs, removals, barriers, packet-outs);
//! 5. tx rings submitted, and kicked (`sendto`) only when the kernel asks for it
//!    (need_wakeup; always so in copy mode, which sends at most 32 frames per kick).
//!
//! Each iteration's cycles (one [`cycle_counter`] read, the TSC on x86_64) go to the
//! worker's `busy_cycles` when it did any of the above, else to `idle_cycles` (sleep
//! included), and the frames handed to the pipeline to `polled_packets`
//! ([`WorkerStats`](crate::worker::WorkerStats)): `dp-show`'s busy cycles per packet, as
//! OVS's `pmd-stats-show`.
//!
//! No allocation, lock or syscall per packet: the kicks are per batch. When nothing
//! happened for `idle_spins` iterations, the worker sleeps in `poll()` on its sockets for
//! at most `idle_poll`: an idle daemon costs a wake-up per millisecond instead of a
//! core, at the price of up to `idle_poll` of latency for the first command after a quiet
//! spell (a frame wakes the poll at once) and a slower first packet (the wake-up).

use std::collections::BTreeMap;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::config::{AfXdpError, DatapathConfig, PortStats, WorkerIoStats};
use super::rx::{service_rx, top_up, RxCounters, RxSide};
use super::tx::{KernelTx, PortTx, TxCounters, TxPath, TxSide};
use crate::afxdp::socket::{BindMode, RingSizes, XskSocket};
use crate::afxdp::sys;
use crate::afxdp::umem::{FramePool, UmemArea, FREE};
use crate::flow_key::PortNo;
use crate::worker::{cycle_counter, Worker};

/// A socket made for a worker by [`AfXdpDatapath::add_port`](super::AfXdpDatapath::add_port)
/// in the caller's namespace, for the worker to set up and bind on `queue`.
pub(super) struct NewSocket {
    pub(super) queue: u32,
    pub(super) fd: OwnedFd,
    pub(super) spare: Option<OwnedFd>,
}

/// A socket a worker bound: what the port's XSKMAP and [`PortInfo`](super::PortInfo) need.
pub(super) struct Bound {
    pub(super) queue: u32,
    pub(super) fd: RawFd,
    pub(super) zero_copy: bool,
}

pub(super) type StatsReply = (WorkerIoStats, Vec<(PortNo, PortStats)>);

/// A socket of a removed port, handed by its worker to the thread that removes the port,
/// to be closed there: closing an AF_XDP socket waits for an RCU grace period in the
/// kernel (`xsk_release`, `synchronize_net`), tens to hundreds of milliseconds on a
/// loaded host, and a worker waiting for it would move no frame of any of its ports
/// (found by the soak: both streams of another port lost 200 ms of frames when an extra
/// port was removed). Dropping it closes the socket, then tells the worker, which takes
/// the socket's frames back (the kernel no longer touches them) and frees its slot.
pub(super) struct Closing {
    slot: u16,
    socket: Option<XskSocket>,
    /// The worker's command channel; `None` once the worker closed it itself.
    worker: Option<Sender<DpCmd>>,
}

impl Closing {
    /// Whether the socket is still open (for tests).
    #[cfg(test)]
    pub(super) fn is_open(&self) -> bool {
        self.socket.is_some()
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        drop(self.socket.take());
        if let Some(w) = self.worker.take() {
            // The worker drains its channel every iteration; a stopped one has dropped
            // its end, and the send fails at once.
            let _ = w.send_timeout(DpCmd::Reclaim { slot: self.slot }, Duration::from_secs(5));
        }
    }
}

/// What the datapath asks of a worker thread, each with a channel for the answer.
pub(super) enum DpCmd {
    AddPort {
        port: PortNo,
        ifindex: u32,
        sockets: Vec<NewSocket>,
        /// A send-only port's packet socket (this worker's duplicate of it).
        kernel: Option<OwnedFd>,
        /// The port's carrier, set by the datapath.
        carrier: Arc<AtomicBool>,
        reply: Sender<Result<Vec<Bound>, AfXdpError>>,
    },
    /// Answered with the port's sockets, for the caller to close ([`Closing`]).
    RemovePort {
        port: PortNo,
        reply: Sender<Vec<Closing>>,
    },
    /// A [`Closing`] socket is closed: its frames come back, its slot is free.
    Reclaim {
        slot: u16,
    },
    Stats {
        reply: Sender<StatsReply>,
    },
}

/// Pins the calling worker thread to `core` (when given), and says so in the log.
pub(super) fn pin(index: usize, id: usize, core: Option<usize>) {
    match core {
        Some(c) => {
            if core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
                tracing::info!("worker {index} (id {id}) pinned to core {c}");
            } else {
                tracing::warn!("worker {index} (id {id}): pinning to core {c} failed; not pinned");
            }
        }
        None => tracing::info!("worker {index} (id {id}) not pinned"),
    }
}

/// What the loop reads of the [`DatapathConfig`] on every iteration.
#[derive(Clone, Copy)]
pub(super) struct LoopConfig {
    batch: u32,
    idle_spins: u32,
    idle_poll: Duration,
}

impl From<&DatapathConfig> for LoopConfig {
    fn from(c: &DatapathConfig) -> Self {
        LoopConfig {
            batch: c.batch,
            idle_spins: c.idle_spins,
            idle_poll: c.idle_poll,
        }
    }
}

/// A worker thread's sockets, UMEM and tx path.
pub(super) struct WorkerIo {
    index: usize,
    /// Sockets by slot (the frame owner id). Dropped before the UMEM.
    sockets: Vec<Option<(PortNo, XskSocket)>>,
    /// Slots whose socket is being closed by another thread ([`Closing`]): their frames
    /// are not ours again, nor the slot free, until [`DpCmd::Reclaim`].
    closing: Vec<u16>,
    /// This worker's own command channel, for [`Closing`] sockets to report back.
    me: Sender<DpCmd>,
    rxs: Vec<RxSide>,
    tx: TxPath,
    pollfds: Vec<libc::pollfd>,
    /// The most frames one socket's fill ring gets (DatapathConfig::fill_frames).
    fill_frames: u32,
    /// The least: one batch. A socket gets it even from the tx reserve, so that many
    /// ports fit on one worker (each with less to absorb bursts).
    min_fill: u32,
    /// Frames kept out of fill rings for transmission.
    tx_reserve: usize,
    rings: RingSizes,
    bind_mode: BindMode,
    iterations: u64,
    idle_sleeps: u64,
    yields: u64,
    /// Last: unmapped after the sockets are closed.
    umem: UmemArea,
}

// SAFETY: the raw pointers (UMEM base, ring mappings) point into memory owned by this
// struct, which moves to its worker thread as a whole.
unsafe impl Send for WorkerIo {}

impl WorkerIo {
    pub(super) fn new(
        index: usize,
        umem: UmemArea,
        c: &DatapathConfig,
        me: Sender<DpCmd>,
    ) -> WorkerIo {
        let pool = FramePool::new(umem.frames(), umem.frame_size());
        WorkerIo {
            index,
            sockets: Vec::new(),
            closing: Vec::new(),
            me,
            rxs: Vec::new(),
            tx: TxPath {
                base: umem.base(),
                frame_size: umem.frame_size(),
                umem_len: umem.len() as u64,
                pool,
                txs: Vec::new(),
                ports: Vec::new(),
                unknown_port: 0,
            },
            pollfds: Vec::new(),
            fill_frames: c.fill_frames,
            min_fill: c.batch.min(c.fill_frames),
            tx_reserve: (umem.frames() as usize / 4).max(2 * c.batch as usize),
            rings: c.rings,
            bind_mode: c.bind_mode,
            iterations: 0,
            idle_sleeps: 0,
            yields: 0,
            umem,
        }
    }

    fn handle(&mut self, cmd: DpCmd) {
        match cmd {
            DpCmd::AddPort {
                port,
                ifindex,
                sockets,
                kernel,
                carrier,
                reply,
            } => {
                let r = self.add_port(port, ifindex, sockets, kernel, carrier);
                if r.is_err() {
                    let closing = self.remove_port(port);
                    self.close_here(closing);
                }
                let _ = reply.send(r);
            }
            DpCmd::RemovePort { port, reply } => {
                let closing = self.remove_port(port);
                if let Err(e) = reply.send(closing) {
                    // Nobody waits any more: closed here after all.
                    self.close_here(e.into_inner());
                }
            }
            DpCmd::Reclaim { slot } => self.reclaim(slot),
            DpCmd::Stats { reply } => {
                let _ = reply.send(self.stats());
            }
        }
    }

    fn add_port(
        &mut self,
        port: PortNo,
        ifindex: u32,
        sockets: Vec<NewSocket>,
        kernel: Option<OwnedFd>,
        carrier: Arc<AtomicBool>,
    ) -> Result<Vec<Bound>, AfXdpError> {
        if !self.tx.ports.iter().any(|p| p.port == port) {
            let slot_size = self.tx.frame_size as usize;
            self.tx.ports.push(PortTx {
                port,
                tx: None,
                kernel: kernel.map(|fd| KernelTx::new(fd, slot_size)),
                carrier,
                counters: TxCounters::default(),
            });
        }
        let mut bound = Vec::new();
        for ns in sockets {
            let closing = &self.closing;
            let free = |(i, s): (usize, &Option<(PortNo, XskSocket)>)| {
                s.is_none() && !closing.contains(&(i as u16))
            };
            let slot = match self.sockets.iter().enumerate().position(free) {
                Some(i) => i,
                None => {
                    self.sockets.push(None);
                    self.sockets.len() - 1
                }
            };
            if slot >= FREE as usize {
                return Err(AfXdpError::TooManySockets(slot));
            }
            let slot = slot as u16;
            // Share the UMEM through any socket that already has it; the first socket
            // (or the first after all were closed) registers it.
            let share = self.sockets.iter().flatten().map(|(_, s)| s.fd()).next();
            let (sock, rings) = XskSocket::bind(
                ns.fd,
                ns.spare,
                &self.umem,
                share,
                ifindex,
                ns.queue,
                self.rings,
                self.bind_mode,
            )?;
            let fd = sock.fd();
            tracing::debug!(
                "worker {}: port {port} queue {} socket fd {fd} slot {slot}{}",
                self.index,
                ns.queue,
                if share.is_some() {
                    " (shared UMEM)"
                } else {
                    " (UMEM owner)"
                }
            );
            bound.push(Bound {
                queue: ns.queue,
                fd,
                zero_copy: sock.zero_copy(),
            });
            self.sockets[slot as usize] = Some((port, sock));
            self.rxs.push(RxSide {
                slot,
                port,
                fd,
                rx: rings.rx,
                fill: rings.fill,
                owned: 0,
                target: 0,
                counters: RxCounters::default(),
            });
            self.tx.txs.push(TxSide {
                slot,
                port,
                fd,
                tx: rings.tx,
                comp: rings.comp,
                unsubmitted: 0,
                in_flight: 0,
            });
            self.share_fill();
            let min_fill = self.min_fill;
            let r = self.rxs.last_mut().unwrap();
            top_up(r, &mut self.tx.pool, r.target, self.tx_reserve);
            if r.owned < min_fill {
                // The others hold the budget until their traffic gives frames back:
                // start with one batch from half the tx reserve.
                top_up(r, &mut self.tx.pool, min_fill, self.tx_reserve / 2);
            }
            if r.owned == 0 {
                return Err(AfXdpError::OutOfFrames {
                    worker: self.index,
                    port,
                    queue: ns.queue,
                });
            }
        }
        self.rebuild();
        Ok(bound)
    }

    /// Takes the port off this worker; its sockets are returned to be closed by the
    /// caller ([`Closing`]), their frames reclaimed when that is done.
    fn remove_port(&mut self, port: PortNo) -> Vec<Closing> {
        // Anything queued for the port is dropped with its socket.
        self.rxs.retain(|r| r.port != port);
        self.tx.txs.retain(|t| t.port != port);
        let mut closing = Vec::new();
        for slot in 0..self.sockets.len() {
            if matches!(&self.sockets[slot], Some((p, _)) if *p == port) {
                let (_, socket) = self.sockets[slot].take().expect("matched");
                let slot = slot as u16;
                self.closing.push(slot);
                closing.push(Closing {
                    slot,
                    socket: Some(socket),
                    worker: Some(self.me.clone()),
                });
            }
        }
        self.tx.ports.retain(|p| p.port != port);
        self.share_fill();
        self.rebuild();
        closing
    }

    /// Closes `closing` in this thread and takes their frames back at once.
    fn close_here(&mut self, closing: Vec<Closing>) {
        for mut c in closing {
            c.worker = None;
            drop(c.socket.take());
            self.reclaim(c.slot);
        }
    }

    /// The socket of `slot` is closed: after that the kernel touches none of its frames,
    /// and they can go back to the free list.
    fn reclaim(&mut self, slot: u16) {
        self.closing.retain(|s| *s != slot);
        let n = self.tx.pool.reclaim(slot);
        tracing::debug!("worker {}: slot {slot} closed, {n} frames back", self.index);
        self.share_fill();
    }

    /// Shares the frames not reserved for transmission among the sockets' fill rings,
    /// each between one batch and `fill_frames`: a few ports get deep fill rings, many
    /// ports fit. A socket gives back what is over its share as it receives; an idle
    /// one keeps its frames, so sockets added later may start with one batch taken from
    /// the tx reserve.
    fn share_fill(&mut self) {
        let budget = (self.umem.frames() as usize).saturating_sub(self.tx_reserve);
        let n = self.rxs.len().max(1);
        let share = (budget / n) as u32;
        let target = share.clamp(self.min_fill, self.fill_frames);
        for r in &mut self.rxs {
            r.target = target;
        }
    }

    /// Recomputes which socket each port transmits on, and the poll set.
    fn rebuild(&mut self) {
        for p in &mut self.tx.ports {
            p.tx = self.tx.txs.iter().position(|t| t.port == p.port);
        }
        self.pollfds = self.rxs.iter().map(|r| sys::rx_pollfd(r.fd)).collect();
    }

    fn stats(&self) -> StatsReply {
        let mut per: BTreeMap<PortNo, PortStats> = BTreeMap::new();
        for p in &self.tx.ports {
            let s = per.entry(p.port).or_default();
            let c = p.counters;
            s.tx_packets += c.packets;
            s.tx_bytes += c.bytes;
            s.tx_ring_full += c.ring_full;
            s.tx_no_socket += c.no_socket;
            s.tx_no_frame += c.no_frame;
            s.tx_too_big += c.too_big;
            s.tx_link_down += c.link_down;
            s.tx_kicks += c.kicks;
            s.tx_kick_errors += c.kick_errors;
        }
        for r in &self.rxs {
            let s = per.entry(r.port).or_default();
            s.rx_packets += r.counters.packets;
            s.rx_bytes += r.counters.bytes;
            s.rx_bad_desc += r.counters.bad_desc;
        }
        for (port, sock) in self.sockets.iter().flatten() {
            if let Ok(k) = sock.statistics() {
                let s = per.entry(*port).or_default();
                s.kernel_rx_dropped += k.rx_dropped;
                s.kernel_rx_ring_full += k.rx_ring_full;
                s.kernel_rx_fill_empty += k.rx_fill_ring_empty_descs;
                s.kernel_rx_invalid_descs += k.rx_invalid_descs;
                s.kernel_tx_invalid_descs += k.tx_invalid_descs;
            }
        }
        let wio = WorkerIoStats {
            worker: self.index,
            iterations: self.iterations,
            idle_sleeps: self.idle_sleeps,
            yields: self.yields,
            tx_unknown_port: self.tx.unknown_port,
            free_frames: self.tx.pool.n_free() as u64,
            sockets: self.sockets.iter().flatten().count() as u64,
        };
        (wio, per.into_iter().collect())
    }
}

pub(super) fn run<C: Fn() -> u64>(
    mut io: WorkerIo,
    mut worker: Worker,
    cmds: Receiver<DpCmd>,
    stop: Arc<AtomicBool>,
    clock: C,
    lc: LoopConfig,
) {
    let mut idle: u32 = 0;
    let mut last_housekeeping = Instant::now();
    let mut fill_short = false;
    // Busy/idle cycles and packets (pmd-stats-show's): kept here, published with plain
    // stores (this thread is the only writer). One cycle_counter() per iteration: its
    // end is the next one's start, so the loop's time is split with nothing lost.
    let stats = worker.stats().clone();
    let mut busy_cycles = stats.busy_cycles.load(Ordering::Relaxed);
    let mut idle_cycles = stats.idle_cycles.load(Ordering::Relaxed);
    let mut packets = stats.polled_packets.load(Ordering::Relaxed);
    let mut last = cycle_counter();
    while !stop.load(Ordering::Relaxed) {
        io.iterations += 1;
        let mut work = 0u32;
        while let Ok(cmd) = cmds.try_recv() {
            io.handle(cmd);
            work += 1;
            fill_short = true;
        }
        work += io.tx.complete();
        let lost_before = stats.lost.load(Ordering::Relaxed);
        {
            let WorkerIo { rxs, tx, umem, .. } = &mut io;
            for r in rxs.iter_mut() {
                work += service_rx(r, tx, umem, &mut worker, &clock, lc.batch, &mut packets);
            }
        }
        if stats.lost.load(Ordering::Relaxed) != lost_before {
            // The upcall queue is full: the control thread is behind. Where it shares
            // this core (a small machine), let it run now rather than at the end of our
            // time slice; alone on the core, this returns at once. Only in a miss storm,
            // so never on the hit path.
            io.yields += 1;
            std::thread::yield_now();
        }
        {
            let tx = &mut io.tx;
            work += worker.poll_commands(&mut |p, b: &[u8]| tx.send(p, b)) as u32;
        }
        io.tx.flush();
        if fill_short || work > 0 {
            // Frames may have gone to the free list (completions, a bad batch, a
            // removed port): give short fill rings their share back.
            fill_short = false;
            let WorkerIo {
                rxs,
                tx,
                tx_reserve,
                ..
            } = &mut io;
            for r in rxs.iter_mut() {
                if r.owned < r.target {
                    top_up(r, &mut tx.pool, r.target, *tx_reserve);
                    fill_short |= r.owned < r.target;
                }
            }
        }
        if io.iterations.is_multiple_of(4096)
            && last_housekeeping.elapsed() >= Duration::from_millis(100)
        {
            worker.housekeeping();
            last_housekeeping = Instant::now();
        }
        if work > 0 {
            idle = 0;
        } else {
            idle += 1;
            if idle >= lc.idle_spins {
                io.idle_sleeps += 1;
                sys::poll_rx(&mut io.pollfds, lc.idle_poll);
            }
        }
        let now = cycle_counter();
        let spent = now.saturating_sub(last);
        last = now;
        if work > 0 {
            busy_cycles += spent;
            stats.busy_cycles.store(busy_cycles, Ordering::Relaxed);
            stats.polled_packets.store(packets, Ordering::Relaxed);
        } else {
            idle_cycles += spent;
            stats.idle_cycles.store(idle_cycles, Ordering::Relaxed);
        }
    }
    tracing::debug!("worker {} stopping", io.index);
}

#[cfg(all(test, feature = "testnet"))]
mod tests {
    use std::ffi::CString;

    use crossbeam_channel::bounded;

    use super::*;
    use crate::afxdp::socket::new_socket;
    use crate::testnet::{in_netns, require_root, SwitchNet};

    /// Removing a port hands its socket to the caller to close: the worker, which moves
    /// every other port's frames, never waits in the kernel for the grace period of the
    /// socket's release (found by the soak: 23 to 286 ms per port removed on a loaded
    /// host, and 200 ms of two other ports' frames lost once). The socket's frames and
    /// its slot come back once the caller has closed it.
    #[test]
    fn a_removed_port_is_closed_by_the_caller_not_by_the_worker() {
        require_root();
        let net = SwitchNet::new(3);
        let config = DatapathConfig::default();
        let (me, cmds) = bounded(64);
        let umem = UmemArea::new(config.umem_frames, config.frame_size).expect("UMEM");
        let mut io = WorkerIo::new(0, umem, &config, me);
        let add = |io: &mut WorkerIo, port: PortNo, ifname: &str| {
            let c = CString::new(ifname).unwrap();
            // SAFETY: c is NUL-terminated.
            let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
            assert_ne!(ifindex, 0, "{ifname}");
            let (tx, rx) = bounded(1);
            io.handle(DpCmd::AddPort {
                port,
                ifindex,
                sockets: vec![NewSocket {
                    queue: 0,
                    fd: new_socket().expect("socket"),
                    spare: None,
                }],
                kernel: None,
                carrier: Arc::new(AtomicBool::new(true)),
                reply: tx,
            });
            rx.recv().unwrap().expect("bound");
        };
        in_netns(&net.ns_switch, || {
            add(&mut io, 1, &net.hosts[0].switch_if);
            add(&mut io, 2, &net.hosts[1].switch_if);
        });
        let free = io.tx.pool.n_free();

        let (tx, rx) = bounded(1);
        io.handle(DpCmd::RemovePort { port: 1, reply: tx });
        let closing = rx.recv().unwrap();
        assert_eq!(closing.len(), 1, "port 1's one socket");
        assert!(
            closing[0].is_open(),
            "the worker left it open for the caller"
        );
        assert_eq!(io.sockets.iter().flatten().count(), 1, "port 2's is left");
        assert_eq!(io.rxs.len(), 1);
        assert_eq!(io.tx.pool.n_free(), free, "its frames wait for the close");
        assert_eq!(io.closing, vec![0]);
        // A port added meanwhile does not take the closing socket's slot.
        in_netns(&net.ns_switch, || add(&mut io, 3, &net.hosts[2].switch_if));
        assert!(io.sockets[0].is_none() && io.sockets[2].is_some());
        let free = io.tx.pool.n_free();

        // The caller closes it: the worker is told, and takes the frames back.
        drop(closing);
        let reclaim = cmds.try_recv().expect("the close reported to the worker");
        assert!(matches!(reclaim, DpCmd::Reclaim { slot: 0 }));
        io.handle(reclaim);
        assert!(io.tx.pool.n_free() > free, "the frames are back");
        assert!(io.closing.is_empty());

        // Nobody waiting for the sockets: the worker closes them itself, and at once
        // takes their frames back.
        let (tx, rx) = bounded(1);
        drop(rx);
        let free = io.tx.pool.n_free();
        io.handle(DpCmd::RemovePort { port: 2, reply: tx });
        assert!(io.tx.pool.n_free() > free);
        assert!(io.closing.is_empty() && cmds.try_recv().is_err());
    }
}
