//! The traffic sink: one thread that attaches the project's XDP program (every frame to
//! the AF_XDP socket of its rx queue) to an interface, binds one socket per rx queue
//! (copy mode, a UMEM each), and checks every frame that arrives against an
//! [`Expectation`], counting `ok`, `bad` and `unknown` frames, and frames per second.
//!
//! Counters are published after every batch (plain stores by the one writer), so
//! [`Sink::snapshot`] can be taken at any time; two snapshots give the rate over the
//! window between them. Per-second counts are appended once per second.
//!
//! A malformed frame is counted, never trusted: descriptors are located inside the UMEM
//! before being read, and the checker bounds-checks every byte it looks at.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use xvs_dataplane::afxdp::netdev::{netdev_info, NetdevError};
use xvs_dataplane::afxdp::socket::{
    new_socket, BindMode, RingSizes, SocketError, XskRings, XskSocket,
};
use xvs_dataplane::afxdp::sys::{self, raise_memlock};
use xvs_dataplane::afxdp::umem::{UmemArea, UmemError};
use xvs_ebpf::bench::{SinkProgram, SinkXdpCounters};
use xvs_ebpf::{EbpfError, XdpCounters, XdpMode, XdpProgram};

use super::frames::{BadReason, Checker, Expectation, FlowSet, FrameError, Verdict};
use super::{enter_thread, ThreadSetupError};

const FRAME_SIZE: u32 = 2048;
/// UMEM frames per rx queue; the fill and rx rings hold them all, so the kernel never
/// finds the fill ring empty while we keep up.
const FRAMES_PER_QUEUE: u32 = 4096;
/// Rx descriptors handled per socket per round: the batch of xvs's workers.
const BATCH: u32 = xvs_dataplane::BATCH as u32;
/// Empty rounds before the thread sleeps in `poll()` (at most [`IDLE_POLL`]).
const IDLE_SPINS: u32 = 10_000;
const IDLE_POLL: Duration = Duration::from_millis(1);

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Setup(#[from] ThreadSetupError),
    #[error(transparent)]
    Netdev(#[from] NetdevError),
    #[error(transparent)]
    Umem(#[from] UmemError),
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error(transparent)]
    Ebpf(#[from] EbpfError),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("{ifname} has {have} rx queues; queue {queue} does not exist")]
    NoSuchQueue {
        ifname: String,
        queue: u32,
        have: u32,
    },
    #[error("spawning the sink thread: {0}")]
    Spawn(io::Error),
    #[error("the sink thread failed to set up (its error went to start())")]
    SetupFailed,
    #[error("the sink thread panicked")]
    Panicked,
}

/// Which rx queues of the interface get a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queues {
    /// Every rx queue: on a veth the queue follows the sender's queue or CPU, so this
    /// is the safe choice.
    All,
    One(u32),
}

#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Network namespace (`/run/netns/NAME`) holding `ifname`; `None`: the caller's.
    pub netns: Option<String>,
    pub ifname: String,
    pub queues: Queues,
    pub core: Option<usize>,
    /// The traffic the generator sends, and what must arrive of it.
    pub flows: FlowSet,
    pub expectation: Expectation,
    pub xdp_mode: XdpMode,
    /// Where frames are checked.
    pub check: CheckIn,
}

/// Where the sink checks frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckIn {
    /// Every frame goes to the sink thread (through the project's steering program) and
    /// its [`Checker`]. The thread busy-polls: it takes a core's worth of cycles.
    Userspace,
    /// The sink's XDP program (`xvs_ebpf::bench::SinkProgram`) counts and drops the
    /// frames that are exactly as expected; the others go to the thread's [`Checker`],
    /// which says what is wrong with them. The thread sleeps in `poll()` and reads the
    /// program's counters once a millisecond: next to no cycles taken from the switch.
    Xdp,
}

impl SinkConfig {
    /// Every rx queue of `ifname` in the caller's namespace, unpinned, native XDP.
    pub fn new(ifname: impl Into<String>, flows: FlowSet, expectation: Expectation) -> SinkConfig {
        SinkConfig {
            netns: None,
            ifname: ifname.into(),
            queues: Queues::All,
            core: None,
            flows,
            expectation,
            xdp_mode: XdpMode::Native,
            check: CheckIn::Userspace,
        }
    }
}

/// Live totals at one instant.
#[derive(Debug, Clone, Copy)]
pub struct SinkSnapshot {
    pub at: Instant,
    /// Frames that arrived (`ok + bad + unknown`).
    pub received: u64,
    pub ok: u64,
    pub bad: u64,
    pub unknown: u64,
    pub bytes: u64,
}

impl SinkSnapshot {
    /// Frames received per second between `earlier` and this snapshot.
    pub fn rate_since(&self, earlier: &SinkSnapshot) -> f64 {
        let s = self.at.saturating_duration_since(earlier.at).as_secs_f64();
        if s > 0.0 {
            self.received.saturating_sub(earlier.received) as f64 / s
        } else {
            0.0
        }
    }

    /// `ok` frames per second between `earlier` and this snapshot.
    pub fn ok_rate_since(&self, earlier: &SinkSnapshot) -> f64 {
        let s = self.at.saturating_duration_since(earlier.at).as_secs_f64();
        if s > 0.0 {
            self.ok.saturating_sub(earlier.ok) as f64 / s
        } else {
            0.0
        }
    }
}

/// `bad` frames by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BadCounts {
    pub misplaced: u64,
    pub flow_out_of_range: u64,
    pub length: u64,
    pub content: u64,
    pub outer_checksum: u64,
}

impl BadCounts {
    fn add(&mut self, r: BadReason) {
        match r {
            BadReason::Misplaced => self.misplaced += 1,
            BadReason::FlowOutOfRange => self.flow_out_of_range += 1,
            BadReason::Length => self.length += 1,
            BadReason::Content => self.content += 1,
            BadReason::OuterChecksum => self.outer_checksum += 1,
        }
    }
}

/// The kernel's counters of one socket (`XDP_STATISTICS`): frames lost before they
/// reached us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelRxStats {
    pub queue: u32,
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
}

/// What a sink saw, from start to stop.
#[derive(Debug, Clone, Default)]
pub struct SinkStats {
    pub received: u64,
    pub ok: u64,
    pub bad: u64,
    pub unknown: u64,
    pub bytes: u64,
    pub bad_reasons: BadCounts,
    /// Rx descriptors pointing outside the UMEM (never expected; not counted above).
    pub bad_descs: u64,
    /// Different flow ids among the `ok` frames.
    pub distinct_flows: u64,
    /// The first `bad` frame, for diagnosis.
    pub first_bad: Option<(BadReason, Vec<u8>)>,
    /// Frames received in each whole second since the sink started.
    pub per_second: Vec<u64>,
    pub duration: Duration,
    pub kernel: Vec<KernelRxStats>,
    /// The steering program's decisions on the interface ([`CheckIn::Userspace`]).
    pub xdp: XdpCounters,
    /// The checking program's counts ([`CheckIn::Xdp`]): frames it found as expected
    /// (included in `ok` and `received`) and frames it handed to the thread.
    pub xdp_check: SinkXdpCounters,
    /// Frames the XDP check handed over that the [`Checker`] still found as expected
    /// (the two checks disagree: never expected; counted in `ok`).
    pub xdp_check_missed: u64,
}

#[derive(Default)]
struct Live {
    received: AtomicU64,
    ok: AtomicU64,
    bad: AtomicU64,
    unknown: AtomicU64,
    bytes: AtomicU64,
}

/// A running sink. Stopped (thread joined, XDP program detached) by
/// [`stop`](Self::stop) or on drop.
pub struct Sink {
    stop: Arc<AtomicBool>,
    live: Arc<Live>,
    per_second: Arc<Mutex<Vec<u64>>>,
    thread: Option<JoinHandle<Result<SinkStats, SinkError>>>,
    queues: Vec<u32>,
}

impl Sink {
    /// Spawns the sink thread and returns once the XDP program is attached and every
    /// socket is bound and filled (frames arriving from then on are counted).
    pub fn start(cfg: SinkConfig) -> Result<Sink, SinkError> {
        // Build the checker here: a bad expectation is the caller's error, at once.
        let checker = cfg.flows.expect(cfg.expectation)?;
        let stop = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Live::default());
        let per_second = Arc::new(Mutex::new(Vec::with_capacity(3600)));
        let (ready_tx, ready_rx) = sync_channel::<Result<Vec<u32>, SinkError>>(1);
        let (stop2, live2, per_second2) = (stop.clone(), live.clone(), per_second.clone());
        let thread = std::thread::Builder::new()
            .name(format!("xvs-sink-{}", cfg.ifname))
            .spawn(move || {
                let io = match SinkIo::open(&cfg, &checker) {
                    Ok(io) => io,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Err(SinkError::SetupFailed);
                    }
                };
                let _ = ready_tx.send(Ok(io.queues.iter().map(|q| q.socket.queue()).collect()));
                io.run(checker, cfg.flows.flows(), &stop2, &live2, &per_second2)
            })
            .map_err(SinkError::Spawn)?;
        match ready_rx.recv() {
            Ok(Ok(queues)) => Ok(Sink {
                stop,
                live,
                per_second,
                thread: Some(thread),
                queues,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(SinkError::Panicked)
            }
        }
    }

    /// The rx queues the sink listens on.
    pub fn queues(&self) -> &[u32] {
        &self.queues
    }

    /// The totals now (at most one batch behind).
    pub fn snapshot(&self) -> SinkSnapshot {
        let l = &self.live;
        SinkSnapshot {
            at: Instant::now(),
            received: l.received.load(Ordering::Relaxed),
            ok: l.ok.load(Ordering::Relaxed),
            bad: l.bad.load(Ordering::Relaxed),
            unknown: l.unknown.load(Ordering::Relaxed),
            bytes: l.bytes.load(Ordering::Relaxed),
        }
    }

    /// Frames received in each whole second so far.
    pub fn per_second(&self) -> Vec<u64> {
        self.per_second
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// Stops, detaches the XDP program, and returns the totals.
    pub fn stop(mut self) -> Result<SinkStats, SinkError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| SinkError::Panicked)?,
            None => Err(SinkError::Panicked),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One rx queue's socket and memory. Field order is drop order: rings and socket before
/// the UMEM.
struct RxQueue {
    rings: XskRings,
    socket: XskSocket,
    umem: UmemArea,
}

/// The program on the sink's interface.
enum SinkXdp {
    Steer(XdpProgram),
    Check(Box<SinkProgram>),
}

impl SinkXdp {
    fn set_xsk(&mut self, queue: u32, fd: i32) -> Result<(), EbpfError> {
        match self {
            SinkXdp::Steer(p) => p.set_xsk(queue, fd),
            SinkXdp::Check(p) => p.set_xsk(queue, fd),
        }
    }

    fn clear_xsk(&mut self, queue: u32) -> Result<(), EbpfError> {
        match self {
            SinkXdp::Steer(p) => p.clear_xsk(queue),
            SinkXdp::Check(p) => p.clear_xsk(queue),
        }
    }
}

/// The sink thread's resources. The XDP program goes first (nothing more is steered to
/// the sockets), then the sockets.
struct SinkIo {
    xdp: SinkXdp,
    queues: Vec<RxQueue>,
    frame_len: u64,
}

impl SinkIo {
    fn open(cfg: &SinkConfig, checker: &Checker) -> Result<SinkIo, SinkError> {
        enter_thread(cfg.netns.as_deref(), cfg.core)?;
        raise_memlock();
        let dev = netdev_info(&cfg.ifname)?;
        let wanted: Vec<u32> = match cfg.queues {
            Queues::All => (0..dev.rx_queues).collect(),
            Queues::One(q) if q < dev.rx_queues => vec![q],
            Queues::One(q) => {
                return Err(SinkError::NoSuchQueue {
                    ifname: cfg.ifname.clone(),
                    queue: q,
                    have: dev.rx_queues,
                })
            }
        };
        let mut xdp = match cfg.check {
            CheckIn::Userspace => {
                let mut p = XdpProgram::attach(&cfg.ifname, cfg.xdp_mode)?;
                p.set_mode_all()?;
                SinkXdp::Steer(p)
            }
            CheckIn::Xdp => {
                let exp = checker.sink_expectation();
                SinkXdp::Check(Box::new(SinkProgram::attach(
                    &cfg.ifname,
                    cfg.xdp_mode,
                    &exp,
                )?))
            }
        };
        let mut queues = Vec::with_capacity(wanted.len());
        for q in wanted {
            let umem = UmemArea::new(FRAMES_PER_QUEUE, FRAME_SIZE)?;
            let sizes = RingSizes {
                rx: FRAMES_PER_QUEUE,
                fill: FRAMES_PER_QUEUE,
                // Nothing is sent from the sink.
                tx: 64,
                comp: 64,
            };
            let (socket, mut rings) = XskSocket::bind(
                new_socket()?,
                None,
                &umem,
                None,
                dev.ifindex,
                q,
                sizes,
                BindMode::Copy,
            )?;
            // Every frame into the fill ring: the ring has a slot for each.
            if let Some(idx) = rings.fill.reserve(FRAMES_PER_QUEUE) {
                for k in 0..FRAMES_PER_QUEUE {
                    rings
                        .fill
                        .write(idx.wrapping_add(k), u64::from(k) * u64::from(FRAME_SIZE));
                }
                rings.fill.submit(FRAMES_PER_QUEUE);
            }
            xdp.set_xsk(q, socket.fd())?;
            queues.push(RxQueue {
                rings,
                socket,
                umem,
            });
        }
        Ok(SinkIo {
            xdp,
            queues,
            frame_len: checker.expected_len() as u64,
        })
    }

    fn run(
        mut self,
        mut checker: Checker,
        n_flows: u32,
        stop: &AtomicBool,
        live: &Live,
        per_second: &Mutex<Vec<u64>>,
    ) -> Result<SinkStats, SinkError> {
        let mut st = SinkStats::default();
        // One bit per flow id: which flows arrived at least once.
        let mut seen = vec![0u64; (n_flows as usize).div_ceil(64)];
        let mut pollfds: Vec<libc::pollfd> = self
            .queues
            .iter()
            .map(|q| sys::rx_pollfd(q.socket.fd()))
            .collect();
        let t0 = Instant::now();
        let mut next_second = t0 + Duration::from_secs(1);
        let mut at_last_second = 0u64;
        let mut idle = 0u32;

        // Frames the XDP check counted as expected; none in `CheckIn::Userspace`.
        let mut in_xdp = SinkXdpCounters::default();
        let publish = |st: &SinkStats, in_xdp: &SinkXdpCounters| {
            live.received
                .store(st.received + in_xdp.ok, Ordering::Relaxed);
            live.ok.store(st.ok + in_xdp.ok, Ordering::Relaxed);
            live.bad.store(st.bad, Ordering::Relaxed);
            live.unknown.store(st.unknown, Ordering::Relaxed);
            live.bytes
                .store(st.bytes + in_xdp.ok * self.frame_len, Ordering::Relaxed);
        };
        while !stop.load(Ordering::Relaxed) {
            let mut work = 0;
            for q in self.queues.iter_mut() {
                work += service(q, &mut checker, &mut st, &mut seen);
            }
            if let SinkXdp::Check(p) = &self.xdp {
                // The thread only sees what the program handed over: no spinning.
                if work == 0 {
                    sys::poll_rx(&mut pollfds, IDLE_POLL);
                }
                if let Ok(c) = p.counters() {
                    in_xdp = c;
                }
                publish(&st, &in_xdp);
            } else if work > 0 {
                publish(&st, &in_xdp);
                idle = 0;
            } else {
                idle += 1;
                if idle >= IDLE_SPINS {
                    // An idle sink costs a wake-up per millisecond, not a core.
                    sys::poll_rx(&mut pollfds, IDLE_POLL);
                }
            }
            let now = Instant::now();
            if now >= next_second {
                let received = st.received + in_xdp.ok;
                if let Ok(mut v) = per_second.lock() {
                    v.push(received - at_last_second);
                }
                at_last_second = received;
                next_second += Duration::from_secs(1);
            }
        }
        st.duration = t0.elapsed();
        st.per_second = per_second.lock().map(|v| v.clone()).unwrap_or_default();
        for q in &self.queues {
            if let Ok(k) = q.socket.statistics() {
                st.kernel.push(KernelRxStats {
                    queue: q.socket.queue(),
                    rx_dropped: k.rx_dropped,
                    rx_invalid_descs: k.rx_invalid_descs,
                    rx_ring_full: k.rx_ring_full,
                    rx_fill_ring_empty_descs: k.rx_fill_ring_empty_descs,
                });
            }
        }
        match &self.xdp {
            SinkXdp::Steer(p) => st.xdp = p.counters().unwrap_or_default(),
            SinkXdp::Check(p) => {
                st.xdp_check = p.counters().unwrap_or(in_xdp);
                // What the thread found as expected had been refused by the program.
                st.xdp_check_missed = st.ok;
                st.received += st.xdp_check.ok;
                st.ok += st.xdp_check.ok;
                st.bytes += st.xdp_check.ok * self.frame_len;
                if let Ok(bits) = p.seen_flows() {
                    for (w, b) in seen.iter_mut().zip(bits) {
                        *w |= b;
                    }
                }
            }
        }
        st.distinct_flows = seen.iter().map(|w| u64::from(w.count_ones())).sum();
        for q in self.queues.iter() {
            let _ = self.xdp.clear_xsk(q.socket.queue());
        }
        Ok(st)
    }
}

/// Checks up to a batch of one socket's frames and gives them back to its fill ring.
/// Returns how many descriptors it took.
#[inline]
fn service(q: &mut RxQueue, checker: &mut Checker, st: &mut SinkStats, seen: &mut [u64]) -> u32 {
    // Room in the fill ring first: the frames go back there. There always is (the ring
    // has a slot per frame); if not, leave the descriptors for the next round.
    let avail = q.rings.rx.nb_avail(BATCH);
    if avail == 0 {
        if q.rings.fill.needs_wakeup() {
            q.socket.wake_rx();
        }
        return 0;
    }
    let Some(fidx) = q.rings.fill.reserve(avail) else {
        return 0;
    };
    let (n, idx) = q.rings.rx.peek(avail);
    let mut written = 0u32;
    for i in 0..n {
        let d = q.rings.rx.read(idx.wrapping_add(i));
        let Some((frame, off)) = q.umem.locate(d.addr, d.len) else {
            st.bad_descs += 1;
            // Give the frame back if at least the address is ours.
            if d.addr < q.umem.len() as u64 {
                q.rings.fill.write(
                    fidx.wrapping_add(written),
                    d.addr & !(u64::from(FRAME_SIZE) - 1),
                );
                written += 1;
            }
            continue;
        };
        // SAFETY: the frame came off this socket's rx ring: it is ours until it goes back
        // to the fill ring below, and nothing else refers to it.
        let data = unsafe { q.umem.frame_mut(frame) };
        let data = &data[off..off + d.len as usize];
        st.received += 1;
        st.bytes += u64::from(d.len);
        match checker.check(data) {
            Verdict::Ok(stamp) => {
                st.ok += 1;
                // The checker vouched for flow < flows.
                if let Some(w) = seen.get_mut((stamp.flow / 64) as usize) {
                    *w |= 1 << (stamp.flow % 64);
                }
            }
            Verdict::Bad(reason) => {
                st.bad += 1;
                st.bad_reasons.add(reason);
                if st.first_bad.is_none() {
                    st.first_bad = Some((reason, data.to_vec()));
                }
            }
            Verdict::Unknown => st.unknown += 1,
        }
        q.rings.fill.write(fidx.wrapping_add(written), frame);
        written += 1;
    }
    q.rings.rx.release(n);
    q.rings.fill.submit(written);
    q.rings.fill.cancel(avail - written);
    n
}
