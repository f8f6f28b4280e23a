//! `l2fwd`: the bare AF_XDP forwarder, the I/O limit of the userspace design on this
//! machine (L2 scenarios only).
//!
//! One thread, pinned to the switch core and inside the switch namespace, built from the
//! dataplane's AF_XDP building blocks (`xvs_dataplane::afxdp::{umem, ring, socket}`) and
//! the project's XDP program ([`XdpProgram`], mode all) on `sw_in`:
//!
//! - one UMEM (8192 frames of 2 KiB), registered by the first socket; a socket per rx
//!   queue of `sw_in` (copy mode: veth has no zero-copy) and one on `sw_out` queue 0, all
//!   sharing it (`XDP_SHARED_UMEM`, each with its own fill and completion rings);
//! - per round: completions of `sw_out`'s socket back to a free list, fill rings topped
//!   up from it, then per rx socket up to 64 descriptors moved **as they are** (same
//!   frame, same address and length: no copy between the two sockets, no parsing) onto
//!   `sw_out`'s tx ring, at most as many as it has room for (the rest waits in the rx
//!   ring: back-pressure, the kernel drops at rx when that is full, counted in
//!   `rx_dropped`/`rx_ring_full`), submitted, and `sendto` kicks while the kernel asks
//!   for them (copy mode sends at most 32 frames per kick: two kicks per full batch);
//! - only `sw_in` -> `sw_out` (the one direction the harness measures);
//! - after 10,000 empty rounds it sleeps in `poll()` for at most 1 ms (before traffic
//!   starts; under load it busy-polls).
//!
//! Cycles per packet: busy rounds' TSC cycles over received frames, from
//! [`before_run`](SwitchUnderTest::before_run) on, as xvs's worker counts them. They
//! cover only what the thread does in user space and in its own syscalls (the copy-mode
//! transmit, veth and the sink's receive, which the kicks run on this core); the copy
//! into the UMEM at receive happens in `sw_in`'s NAPI on the generator's core.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use xvs_dataplane::afxdp::netdev::netdev_info;
use xvs_dataplane::afxdp::ring::{ConsRing, ProdRing};
use xvs_dataplane::afxdp::socket::{new_socket, BindMode, RingSizes, XdpDesc, XskSocket};
use xvs_dataplane::afxdp::sys::{self, raise_memlock, KickError};
use xvs_dataplane::afxdp::umem::UmemArea;
use xvs_dataplane::worker::cycle_counter;
use xvs_ebpf::{XdpMode, XdpProgram};

use super::super::dut::{SwitchStats, SwitchUnderTest};
use super::super::{HarnessError, Scenario, Topology};
use super::peer_err;
use crate::traffic::{enter_thread, FlowSet};

const NAME: &str = "l2fwd";
const FRAME_SIZE: u32 = 2048;
const FRAMES: u32 = 8192;
const RING: u32 = 2048;
/// Rx descriptors per socket per round: the batch of xvs's workers.
const BATCH: u32 = xvs_dataplane::BATCH as u32;
/// Frames the kernel sends per `sendto` in copy mode.
const PER_KICK: u32 = 32;
const IDLE_SPINS: u32 = 10_000;
const IDLE_POLL: Duration = Duration::from_millis(1);

/// The thread's counters (one writer; plain loads and stores).
#[derive(Default)]
struct Counters {
    rx: AtomicU64,
    tx_completed: AtomicU64,
    kicks: AtomicU64,
    kick_errors: AtomicU64,
    bad_descs: AtomicU64,
    busy_cycles: AtomicU64,
    idle_cycles: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Snapshot {
    rx: u64,
    tx_completed: u64,
    kicks: u64,
    kick_errors: u64,
    bad_descs: u64,
    busy_cycles: u64,
    idle_cycles: u64,
}

impl Counters {
    fn snapshot(&self) -> Snapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            rx: r(&self.rx),
            tx_completed: r(&self.tx_completed),
            kicks: r(&self.kicks),
            kick_errors: r(&self.kick_errors),
            bad_descs: r(&self.bad_descs),
            busy_cycles: r(&self.busy_cycles),
            idle_cycles: r(&self.idle_cycles),
        }
    }
}

#[inline]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

struct Running {
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
    /// Counters at the last `before_run`.
    base: Snapshot,
    /// The thread's sockets (name, fd), valid while it runs: their kernel counters.
    sockets: Vec<(String, RawFd)>,
}

#[derive(Default)]
pub struct L2Fwd {
    running: Option<Running>,
}

impl L2Fwd {
    pub fn new() -> L2Fwd {
        L2Fwd::default()
    }
}

impl SwitchUnderTest for L2Fwd {
    fn name(&self) -> &str {
        NAME
    }

    fn supports(&self, scenario: &Scenario) -> bool {
        matches!(scenario, Scenario::L2 { .. })
    }

    fn start(
        &mut self,
        topo: &Topology,
        scenario: &Scenario,
        _flows: &FlowSet,
        core: usize,
    ) -> Result<(), HarnessError> {
        if !self.supports(scenario) {
            return Err(peer_err(
                NAME,
                format!("{} is not an L2 scenario", scenario.name()),
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let (ready_tx, ready_rx) = sync_channel::<Result<Vec<(String, RawFd)>, String>>(1);
        let (ns, sw_in, sw_out) = (
            topo.switch_ns.clone(),
            topo.sw_in.clone(),
            topo.sw_out.clone(),
        );
        let (stop2, counters2) = (stop.clone(), counters.clone());
        let thread = std::thread::Builder::new()
            .name("xvs-bench-l2fwd".into())
            .spawn(move || {
                let io = match Io::open(&ns, core, &sw_in, &sw_out) {
                    Ok(io) => io,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(io.socket_names()));
                io.run(&stop2, &counters2)
            })
            .map_err(|e| peer_err(NAME, format!("spawning the forwarder: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(sockets)) => {
                self.running = Some(Running {
                    stop,
                    counters,
                    thread: Some(thread),
                    base: Snapshot::default(),
                    sockets,
                });
                Ok(())
            }
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(peer_err(NAME, e))
            }
            Err(_) => {
                let _ = thread.join();
                Err(peer_err(NAME, "the forwarder thread died while setting up"))
            }
        }
    }

    fn before_run(&mut self, _scenario: &Scenario) -> Result<(), HarnessError> {
        if let Some(r) = self.running.as_mut() {
            r.base = r.counters.snapshot();
        }
        Ok(())
    }

    fn stats(&mut self) -> SwitchStats {
        let Some(r) = self.running.as_ref() else {
            return SwitchStats::default();
        };
        let now = r.counters.snapshot();
        let b = r.base;
        let rx = now.rx - b.rx;
        let busy = now.busy_cycles - b.busy_cycles;
        let idle = now.idle_cycles - b.idle_cycles;
        let mut raw = format!(
            "l2fwd since the runs began: rx {rx}, tx completed {}, kicks {} ({} failed), \
             bad descriptors {}, busy {:.1}% of {} cycles\n",
            now.tx_completed - b.tx_completed,
            now.kicks - b.kicks,
            now.kick_errors - b.kick_errors,
            now.bad_descs - b.bad_descs,
            if busy + idle > 0 {
                100.0 * busy as f64 / (busy + idle) as f64
            } else {
                0.0
            },
            busy + idle,
        );
        for (name, fd) in &r.sockets {
            if let Ok(k) = sys::statistics(*fd) {
                raw.push_str(&format!(
                    "{name} (since start): rx_dropped {} rx_ring_full {} \
                     rx_fill_ring_empty {} tx_invalid {} tx_ring_empty {}\n",
                    k.rx_dropped,
                    k.rx_ring_full,
                    k.rx_fill_ring_empty_descs,
                    k.tx_invalid_descs,
                    k.tx_ring_empty_descs,
                ));
            }
        }
        SwitchStats {
            upcalls: None,
            cycles_per_packet: (rx > 0).then(|| busy as f64 / rx as f64),
            raw,
        }
    }

    fn stop(&mut self) {
        let Some(mut r) = self.running.take() else {
            return;
        };
        r.stop.store(true, Ordering::Relaxed);
        if let Some(t) = r.thread.take() {
            // The thread detaches XDP and closes its sockets as it returns.
            let _ = t.join();
        }
    }
}

impl Drop for L2Fwd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One socket's receive side: its rx ring and its fill ring.
struct RxSide {
    fd: RawFd,
    rx: ConsRing<XdpDesc>,
    fill: ProdRing<u64>,
}

/// The forwarder's resources. Field order is drop order: the XDP program first (nothing
/// more is steered to the sockets), then the rings, the sockets, and the UMEM last.
struct Io {
    xdp: XdpProgram,
    rxs: Vec<RxSide>,
    tx: ProdRing<XdpDesc>,
    comp: ConsRing<u64>,
    sockets: Vec<XskSocket>,
    tx_socket: XskSocket,
    free: Vec<u64>,
    umem: UmemArea,
}

impl Io {
    fn open(ns: &str, core: usize, sw_in: &str, sw_out: &str) -> Result<Io, String> {
        enter_thread(Some(ns), Some(core)).map_err(|e| e.to_string())?;
        raise_memlock();
        let inp = netdev_info(sw_in).map_err(|e| e.to_string())?;
        let out = netdev_info(sw_out).map_err(|e| e.to_string())?;
        let umem = UmemArea::new(FRAMES, FRAME_SIZE).map_err(|e| e.to_string())?;
        let mut xdp = XdpProgram::attach(sw_in, XdpMode::Native).map_err(|e| e.to_string())?;
        xdp.set_mode_all().map_err(|e| e.to_string())?;
        let sizes = RingSizes {
            rx: RING,
            tx: RING,
            fill: RING,
            comp: RING,
        };
        let mut sockets = Vec::new();
        let mut rxs = Vec::new();
        for q in 0..inp.rx_queues {
            let share = sockets.first().map(XskSocket::fd);
            let (s, rings) = XskSocket::bind(
                new_socket().map_err(|e| e.to_string())?,
                None,
                &umem,
                share,
                inp.ifindex,
                q,
                sizes,
                BindMode::Copy,
            )
            .map_err(|e| format!("{sw_in} queue {q}: {e}"))?;
            rxs.push(RxSide {
                fd: s.fd(),
                rx: rings.rx,
                fill: rings.fill,
            });
            sockets.push(s);
        }
        let owner = sockets
            .first()
            .map(XskSocket::fd)
            .ok_or_else(|| format!("{sw_in} has no rx queue"))?;
        let (tx_socket, tx_rings) = XskSocket::bind(
            new_socket().map_err(|e| e.to_string())?,
            None,
            &umem,
            Some(owner),
            out.ifindex,
            0,
            sizes,
            BindMode::Copy,
        )
        .map_err(|e| format!("{sw_out} queue 0: {e}"))?;
        let mut io = Io {
            xdp,
            rxs,
            tx: tx_rings.tx,
            comp: tx_rings.comp,
            sockets,
            tx_socket,
            free: (0..FRAMES)
                .rev()
                .map(|i| u64::from(i) * u64::from(FRAME_SIZE))
                .collect(),
            umem,
        };
        io.top_up();
        for s in &io.sockets {
            io.xdp
                .set_xsk(s.queue(), s.fd())
                .map_err(|e| e.to_string())?;
        }
        Ok(io)
    }

    /// The sockets by name (`sw_in queue 0`, ...) with their fds.
    fn socket_names(&self) -> Vec<(String, RawFd)> {
        let mut v: Vec<(String, RawFd)> = self
            .sockets
            .iter()
            .map(|s| (format!("rx socket, queue {}", s.queue()), s.fd()))
            .collect();
        v.push(("tx socket".into(), self.tx_socket.fd()));
        v
    }

    /// Free frames into the fill rings.
    #[inline]
    fn top_up(&mut self) {
        for r in &mut self.rxs {
            if self.free.is_empty() {
                return;
            }
            let want = self.free.len() as u32;
            let k = r.fill.nb_free(want).min(want);
            if k == 0 {
                continue;
            }
            let Some(idx) = r.fill.reserve(k) else {
                continue;
            };
            for i in 0..k {
                // k <= free.len()
                let f = self.free.pop().unwrap_or_default();
                r.fill.write(idx.wrapping_add(i), f);
            }
            r.fill.submit(k);
        }
    }

    /// Completed transmissions back to the free list; returns how many.
    #[inline]
    fn complete(&mut self) -> u32 {
        let (n, idx) = self.comp.peek(RING);
        for i in 0..n {
            let addr = self.comp.read(idx.wrapping_add(i));
            if addr < self.umem.len() as u64 {
                self.free.push(addr & !(u64::from(FRAME_SIZE) - 1));
            }
        }
        self.comp.release(n);
        n
    }

    /// Kicks the tx socket while frames wait and the kernel makes progress.
    #[inline]
    fn kick(&mut self, c: &Counters) {
        let mut left = self.tx.outstanding();
        if left == 0 || !self.tx.needs_wakeup() {
            return;
        }
        let mut tries = left.div_ceil(PER_KICK) + 1;
        while left > 0 && tries > 0 {
            tries -= 1;
            bump(&c.kicks, 1);
            let r = self.tx_socket.kick_tx();
            if let Err(KickError::Failed(_)) = r {
                bump(&c.kick_errors, 1);
                return;
            }
            let now = self.tx.outstanding();
            if now == left && r.is_err() {
                return;
            }
            left = now;
        }
    }

    fn run(mut self, stop: &AtomicBool, c: &Counters) {
        let mut pollfds: Vec<libc::pollfd> =
            self.rxs.iter().map(|r| sys::rx_pollfd(r.fd)).collect();
        let mut idle = 0u32;
        let mut t0 = cycle_counter();
        while !stop.load(Ordering::Relaxed) {
            let done = self.complete();
            if done > 0 {
                bump(&c.tx_completed, u64::from(done));
                self.top_up();
            }
            let mut received = 0u32;
            for r in &mut self.rxs {
                let avail = r.rx.nb_avail(BATCH);
                if avail == 0 {
                    if r.fill.needs_wakeup() {
                        sys::wake_rx(r.fd);
                    }
                    continue;
                }
                // Only as many as the tx ring takes; the rest waits in the rx ring.
                let room = self.tx.nb_free(avail).min(avail);
                if room == 0 {
                    continue;
                }
                let Some(tidx) = self.tx.reserve(room) else {
                    continue;
                };
                let (n, idx) = r.rx.peek(room);
                let mut sent = 0u32;
                for i in 0..n {
                    let d = r.rx.read(idx.wrapping_add(i));
                    // The same frame goes out: only make sure it is one of ours.
                    match self.umem.locate(d.addr, d.len) {
                        Some(_) => {
                            self.tx.write(tidx.wrapping_add(sent), d);
                            sent += 1;
                        }
                        None => bump(&c.bad_descs, 1),
                    }
                }
                r.rx.release(n);
                self.tx.submit(sent);
                self.tx.cancel(room - sent);
                received += n;
            }
            if received > 0 {
                bump(&c.rx, u64::from(received));
            }
            self.kick(c);
            let t1 = cycle_counter();
            if received > 0 || done > 0 {
                bump(&c.busy_cycles, t1.wrapping_sub(t0));
                idle = 0;
            } else {
                idle += 1;
                if idle >= IDLE_SPINS {
                    sys::poll_rx(&mut pollfds, IDLE_POLL);
                }
                bump(&c.idle_cycles, cycle_counter().wrapping_sub(t0));
            }
            t0 = cycle_counter();
        }
        for s in &self.sockets {
            let _ = self.xdp.clear_xsk(s.queue());
        }
    }
}
