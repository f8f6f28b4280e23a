//! The traffic generator: one thread, one AF_XDP socket (copy mode) on one queue of an
//! interface, sending the frames of a [`FlowSet`] round robin over its flows, flat out
//! or at a given rate.
//!
//! The UMEM is filled once with frames of the set; before each send only what differs
//! between flows and the stamp are rewritten in place ([`FlowSet::restamp`]: a MAC or a
//! key and 12 stamp bytes), so any number of flows costs the same. The loop (per batch,
//! never per frame: no allocation, no syscall):
//! 1. completed frames back to the free list;
//! 2. reserve up to `batch` tx slots, restamp that many free frames, submit;
//! 3. kick the kernel with `sendto`: in copy mode each call transmits at most 32 frames
//!    (TX_BATCH_SIZE) and the transmit work runs inside the call, so a batch of 64
//!    takes two or three kicks.
//!
//! With a rate, frames leave in whole batches once the schedule allows a batch, so the
//! syscalls stay per batch; the average rate is the one asked, bursts are `batch` long.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use xvs_dataplane::afxdp::netdev::{netdev_info, NetdevError};
use xvs_dataplane::afxdp::ring::ProdRing;
use xvs_dataplane::afxdp::socket::{
    new_socket, BindMode, RingSizes, SocketError, XdpDesc, XskRings, XskSocket,
};
use xvs_dataplane::afxdp::sys::{raise_memlock, KickError};
use xvs_dataplane::afxdp::umem::{UmemArea, UmemError};

use xvs_ebpf::bench::LoopGenerator;

use super::frames::{FlowSet, FrameError};
use super::{enter_thread, ThreadSetupError};

/// UMEM frame size: holds the largest frame (1500 bytes) with room to spare.
const FRAME_SIZE: u32 = 2048;
/// Transmit ring slots.
const TX_RING: u32 = 2048;
/// Frames the kernel's copy-mode transmit sends per `sendto`.
const COPY_TX_PER_KICK: u32 = 32;
/// Frames circulating in the in-kernel generator's loop: each makes one frame per
/// round trip; fewer than a veth ring (256), so the loop itself never drops.
const LOOP_SEEDS: u32 = 128;
/// How often the generator thread reads the in-kernel generator's count.
const LOOP_POLL: Duration = Duration::from_millis(2);
/// No new frame for this long: the loop died and is seeded again.
const LOOP_STALL: Duration = Duration::from_millis(50);
/// How long a stopping generator waits for the kernel to complete what it submitted.
const DRAIN: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("bad generator configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Setup(#[from] ThreadSetupError),
    #[error(transparent)]
    Netdev(#[from] NetdevError),
    #[error(transparent)]
    Umem(#[from] UmemError),
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Ebpf(#[from] xvs_ebpf::EbpfError),
    #[error("spawning the generator thread: {0}")]
    Spawn(io::Error),
    #[error("the generator thread failed to set up (its error went to start())")]
    SetupFailed,
    #[error("the generator thread panicked")]
    Panicked,
}

/// What to send, where and how fast.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Network namespace (`/run/netns/NAME`) holding `ifname`; `None`: the caller's.
    pub netns: Option<String>,
    pub ifname: String,
    /// The tx queue the socket is bound to. On a veth, the peer receives on the rx
    /// queue of the same number.
    pub queue: u32,
    /// Core to pin the thread to.
    pub core: Option<usize>,
    pub flows: FlowSet,
    /// Frames per second; `None`: as fast as the kernel takes them.
    pub rate_pps: Option<u64>,
    /// Frames per ring submission (1..=1024).
    pub batch: u32,
    /// UMEM frames (in flight at most; at least 2 batches).
    pub umem_frames: u32,
    /// Stop by itself after this many frames.
    pub limit: Option<u64>,
    /// How frames are made and sent.
    pub engine: Engine,
}

/// How the generator makes and sends its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// An AF_XDP socket in copy mode: any rate, any batch; about 0.6 Mpps flat out on one
    /// core of this kind of machine, less than a userspace switch forwards.
    AfXdp,
    /// The in-kernel generator (`xvs_ebpf::bench::LoopGenerator`): frames circulating on
    /// a veth pair made in the generator's namespace make the offered frames in XDP and
    /// send them as XDP frames. Flat out only (no `rate_pps`), in the softirq of the
    /// generator's core; `batch` and `umem_frames` do not apply. `GenStats::kicks` counts
    /// the seeds sent, `tx_ring_full` the times the loop died and was seeded again,
    /// `bad_completions` foreign frames that reached the loop.
    XdpLoop,
}

impl GenConfig {
    /// Flat out on queue 0 of `ifname` in the caller's namespace, unpinned, batches of
    /// [`xvs_dataplane::BATCH`] (64, as xvs's workers), 4096 UMEM frames, no limit.
    pub fn new(ifname: impl Into<String>, flows: FlowSet) -> GenConfig {
        GenConfig {
            netns: None,
            ifname: ifname.into(),
            queue: 0,
            core: None,
            flows,
            rate_pps: None,
            batch: xvs_dataplane::BATCH as u32,
            umem_frames: 4096,
            limit: None,
            engine: Engine::AfXdp,
        }
    }

    fn validate(&self) -> Result<(), GenError> {
        if !(1..=1024).contains(&self.batch) {
            return Err(GenError::Config(format!(
                "batch {} not in 1..=1024",
                self.batch
            )));
        }
        if self.umem_frames < 2 * self.batch || self.umem_frames > 1 << 20 {
            return Err(GenError::Config(format!(
                "umem_frames {} not in {}..={} (two batches to 2^20)",
                self.umem_frames,
                2 * self.batch,
                1 << 20
            )));
        }
        if self.rate_pps == Some(0) {
            return Err(GenError::Config("rate_pps 0 would send nothing".into()));
        }
        if self.engine == Engine::XdpLoop && self.rate_pps.is_some() {
            return Err(GenError::Config(
                "the in-kernel generator (XdpLoop) sends flat out: no rate_pps".into(),
            ));
        }
        Ok(())
    }
}

/// What a generator did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenStats {
    /// Frames the kernel transmitted (completed); the offered load.
    pub sent: u64,
    /// Frames put on the tx ring (`sent` plus any the kernel had not completed when the
    /// generator stopped).
    pub submitted: u64,
    /// From the first submission to the last completion.
    pub duration: Duration,
    /// `sendto` calls; those answered EAGAIN, EBUSY or ENOBUFS (in copy mode EAGAIN
    /// mostly means "sent my 32, more remain"; the others a busy device); and those that
    /// failed otherwise.
    pub kicks: u64,
    pub kicks_again: u64,
    pub kick_errors: u64,
    /// Times the tx ring had less room than a batch.
    pub tx_ring_full: u64,
    /// Completions with an address outside the UMEM (never expected).
    pub bad_completions: u64,
    /// The kernel's count of tx descriptors it rejected (`XDP_STATISTICS`).
    pub kernel_tx_invalid: u64,
}

impl GenStats {
    /// Frames sent per second over `duration`.
    pub fn rate_pps(&self) -> f64 {
        let s = self.duration.as_secs_f64();
        if s > 0.0 {
            self.sent as f64 / s
        } else {
            0.0
        }
    }
}

/// A running generator. Stopped (and its thread joined) by [`stop`](Self::stop) or on
/// drop.
pub struct Generator {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<JoinHandle<Result<GenStats, GenError>>>,
}

impl Generator {
    /// Spawns the generator thread and returns once its socket is bound (or with the
    /// error that prevented it); sending starts right away.
    pub fn start(cfg: GenConfig) -> Result<Generator, GenError> {
        cfg.validate()?;
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (ready_tx, ready_rx) = sync_channel::<Result<(), GenError>>(1);
        let (stop2, sent2) = (stop.clone(), sent.clone());
        let thread = std::thread::Builder::new()
            .name(format!("xvs-gen-{}", cfg.ifname))
            .spawn(move || {
                let done = match cfg.engine {
                    Engine::AfXdp => ready_then(GenIo::open(&cfg), &ready_tx)
                        .map(|io| io.run(&cfg, &stop2, &sent2)),
                    Engine::XdpLoop => ready_then(LoopGen::open(&cfg), &ready_tx)
                        .map(|g| g.run(&cfg, &stop2, &sent2)),
                };
                done.unwrap_or(Err(GenError::SetupFailed))
            })
            .map_err(GenError::Spawn)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Generator {
                stop,
                sent,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(GenError::Panicked)
            }
        }
    }

    /// Frames transmitted so far (updated every batch).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Whether the thread has ended (its `limit` reached).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops sending, waits (briefly) for the kernel to complete what was submitted, and
    /// returns the totals.
    pub fn stop(mut self) -> Result<GenStats, GenError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| GenError::Panicked)?,
            None => Err(GenError::Panicked),
        }
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Tells `start()` how the thread's set-up went; the resources when it went well.
fn ready_then<T>(
    opened: Result<T, GenError>,
    ready: &std::sync::mpsc::SyncSender<Result<(), GenError>>,
) -> Option<T> {
    match opened {
        Ok(t) => {
            let _ = ready.send(Ok(()));
            Some(t)
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            None
        }
    }
}

/// The generator thread's socket and memory. Field order is drop order: the socket
/// (and its ring mappings) before the UMEM it uses.
struct GenIo {
    rings: XskRings,
    socket: XskSocket,
    umem: UmemArea,
}

impl GenIo {
    /// Runs on the generator thread: namespace, core, UMEM filled with the flows'
    /// frames, socket bound.
    fn open(cfg: &GenConfig) -> Result<GenIo, GenError> {
        enter_thread(cfg.netns.as_deref(), cfg.core)?;
        raise_memlock();
        let dev = netdev_info(&cfg.ifname)?;
        let umem = UmemArea::new(cfg.umem_frames, FRAME_SIZE)?;
        let flows = &cfg.flows;
        for k in 0..cfg.umem_frames {
            // SAFETY: a frame address of the area; no other reference exists (the socket
            // is not even bound yet).
            let f = unsafe { umem.frame_mut(u64::from(k) * u64::from(FRAME_SIZE)) };
            flows.frame(k % flows.flows(), 0, f)?;
        }
        let sizes = RingSizes {
            // Nothing is received on this socket (no XDP program points at it), but a
            // bound socket has all four rings.
            rx: 64,
            fill: 64,
            tx: TX_RING,
            // Room for every UMEM frame: the kernel never waits for completion space.
            comp: cfg.umem_frames.next_power_of_two(),
        };
        let (socket, rings) = XskSocket::bind(
            new_socket()?,
            None,
            &umem,
            None,
            dev.ifindex,
            cfg.queue,
            sizes,
            BindMode::Copy,
        )?;
        Ok(GenIo {
            rings,
            socket,
            umem,
        })
    }

    fn run(
        mut self,
        cfg: &GenConfig,
        stop: &AtomicBool,
        sent_live: &AtomicU64,
    ) -> Result<GenStats, GenError> {
        let flows = &cfg.flows;
        let n_flows = flows.flows();
        let frame_len = flows.frame_len() as u32;
        let umem_len = self.umem.len() as u64;
        let frame_mask = !(u64::from(FRAME_SIZE) - 1);
        // Popped from the end: low addresses first.
        let mut free: Vec<u64> = (0..u64::from(cfg.umem_frames))
            .rev()
            .map(|k| k * u64::from(FRAME_SIZE))
            .collect();
        let limit = cfg.limit.unwrap_or(u64::MAX);
        let batch = cfg.batch;
        let mut st = GenStats::default();
        let mut flow = 0u32;
        let mut seq = 0u64;
        let t0 = Instant::now();
        let mut last_completion = t0;
        let mut drain_until: Option<Instant> = None;

        loop {
            // 1. Completions.
            let (n, idx) = self.rings.comp.peek(self.rings.comp.size());
            for i in 0..n {
                let addr = self.rings.comp.read(idx.wrapping_add(i));
                if addr < umem_len {
                    free.push(addr & frame_mask);
                } else {
                    st.bad_completions += 1;
                }
            }
            if n > 0 {
                self.rings.comp.release(n);
                st.sent += u64::from(n);
                last_completion = Instant::now();
                sent_live.store(st.sent, Ordering::Relaxed);
            }

            if drain_until.is_none() && (stop.load(Ordering::Relaxed) || st.submitted >= limit) {
                drain_until = Some(Instant::now() + DRAIN);
            }
            if let Some(until) = drain_until {
                let done = st.sent + st.bad_completions >= st.submitted;
                if done || Instant::now() >= until {
                    break;
                }
                kick(&self.socket, &mut self.rings.tx, &mut st);
                std::hint::spin_loop();
                continue;
            }

            // 2. A batch, if frames, the limit and the schedule allow.
            let mut want = (batch as usize).min(free.len()) as u64;
            want = want.min(limit - st.submitted);
            if let Some(rate) = cfg.rate_pps {
                let due = (u128::from(rate) * t0.elapsed().as_nanos() / 1_000_000_000) as u64;
                let allowed = due.saturating_sub(st.submitted);
                if allowed < want {
                    want = 0;
                    // Sleep through most of a long wait; spin through the last bit.
                    let next = (st.submitted + u64::from(batch)) as f64 / rate as f64;
                    let wait = next - t0.elapsed().as_secs_f64();
                    if wait > 200e-6 && self.rings.tx.outstanding() == 0 {
                        std::thread::sleep(Duration::from_secs_f64(wait - 100e-6));
                    }
                }
            }
            let want = want as u32;
            if want > 0 {
                let k = self.rings.tx.nb_free(want).min(want);
                if k < want {
                    st.tx_ring_full += 1;
                }
                if let Some(idx) = self.rings.tx.reserve(k).filter(|_| k > 0) {
                    let base = free.len() - k as usize;
                    for (j, &addr) in free[base..].iter().enumerate() {
                        // SAFETY: a frame from the free list: neither in a ring nor
                        // referenced anywhere else until it is submitted below.
                        let f = unsafe { self.umem.frame_mut(addr) };
                        flows.restamp(flow, seq, f)?;
                        self.rings.tx.write(
                            idx.wrapping_add(j as u32),
                            XdpDesc {
                                addr,
                                len: frame_len,
                                options: 0,
                            },
                        );
                        flow += 1;
                        if flow == n_flows {
                            flow = 0;
                        }
                        seq += 1;
                    }
                    free.truncate(base);
                    self.rings.tx.submit(k);
                    st.submitted += u64::from(k);
                }
            }

            // 3. Kick.
            kick(&self.socket, &mut self.rings.tx, &mut st);
            if n == 0 && want == 0 {
                std::hint::spin_loop();
            }
        }
        st.duration = last_completion.saturating_duration_since(t0);
        if let Ok(k) = self.socket.statistics() {
            st.kernel_tx_invalid = k.tx_invalid_descs;
        }
        sent_live.store(st.sent, Ordering::Relaxed);
        Ok(st)
    }
}

/// The in-kernel generator on the generator thread: the loop pair, the programs, and a
/// packet socket to send the seeds. Field order is drop order: programs before the pair.
struct LoopGen {
    prog: LoopGenerator,
    seeder: SeedSocket,
    _pair: LoopPair,
    seed: Vec<u8>,
}

/// The veth pair the seed frames circulate on, named after the process and a counter,
/// removed on drop (from the thread that made it, so in its namespace).
struct LoopPair {
    loop_if: String,
    bounce_if: String,
}

impl LoopPair {
    fn create() -> Result<LoopPair, GenError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "{:x}{}",
            std::process::id() % 0x10_0000,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let pair = LoopPair {
            loop_if: format!("xgl{id}"),
            bounce_if: format!("xgb{id}"),
        };
        let ip = |args: &[&str]| -> Result<(), GenError> {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .map_err(|e| GenError::Config(format!("running ip: {e}")))?;
            if !out.status.success() {
                return Err(GenError::Config(format!(
                    "ip {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Ok(())
        };
        ip(&[
            "link",
            "add",
            &pair.loop_if,
            "type",
            "veth",
            "peer",
            "name",
            &pair.bounce_if,
        ])?;
        for name in [&pair.loop_if, &pair.bounce_if] {
            // No IPv6 neighbour discovery or MLD frames into the loop.
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
            ip(&["link", "set", name, "up"])?;
        }
        Ok(pair)
    }
}

impl Drop for LoopPair {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.loop_if])
            .output();
    }
}

/// An AF_PACKET socket that sends whole frames out of one interface.
struct SeedSocket {
    fd: i32,
    ifindex: u32,
}

impl SeedSocket {
    fn open(ifname: &str) -> Result<SeedSocket, GenError> {
        let dev = netdev_info(ifname)?;
        // SAFETY: plain socket(2); the result is checked.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(GenError::Spawn(io::Error::last_os_error()));
        }
        Ok(SeedSocket {
            fd,
            ifindex: dev.ifindex,
        })
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: zeroed sockaddr_ll is valid; the fields set below are all it needs.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = self.ifindex as i32;
        addr.sll_halen = 6;
        // SAFETY: frame and addr are valid for the lengths given.
        let r = unsafe {
            libc::sendto(
                self.fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for SeedSocket {
    fn drop(&mut self) {
        // SAFETY: ours, closed once.
        unsafe { libc::close(self.fd) };
    }
}

impl LoopGen {
    fn open(cfg: &GenConfig) -> Result<LoopGen, GenError> {
        enter_thread(cfg.netns.as_deref(), cfg.core)?;
        raise_memlock();
        // The output must exist before anything is made.
        netdev_info(&cfg.ifname)?;
        let pair = LoopPair::create()?;
        let template = cfg.flows.gen_template();
        let prog = LoopGenerator::attach(
            &pair.loop_if,
            &pair.bounce_if,
            &cfg.ifname,
            &template,
            cfg.limit.unwrap_or(u64::MAX),
        )?;
        let seeder = SeedSocket::open(&pair.bounce_if)?;
        Ok(LoopGen {
            prog,
            seeder,
            _pair: pair,
            seed: template.frame,
        })
    }

    /// Sends seeds until `LOOP_SEEDS` circulate. A seed lost on the way (a full ring) is
    /// made up for when the rate stalls.
    fn seed(&self, n: u32, st: &mut GenStats) {
        for _ in 0..n {
            st.kicks += 1;
            if self.seeder.send(&self.seed).is_err() {
                st.kick_errors += 1;
            }
        }
    }

    fn run(
        mut self,
        cfg: &GenConfig,
        stop: &AtomicBool,
        sent_live: &AtomicU64,
    ) -> Result<GenStats, GenError> {
        let limit = cfg.limit.unwrap_or(u64::MAX);
        let mut st = GenStats::default();
        self.prog.start()?;
        let t0 = Instant::now();
        self.seed(LOOP_SEEDS, &mut st);
        let mut last = (0u64, Instant::now());
        while !stop.load(Ordering::Relaxed) && st.sent < limit {
            std::thread::sleep(LOOP_POLL);
            st.sent = self.prog.made()?;
            sent_live.store(st.sent, Ordering::Relaxed);
            if st.sent != last.0 {
                last = (st.sent, Instant::now());
            } else if st.sent < limit && last.1.elapsed() >= LOOP_STALL {
                // The loop died (its frames were dropped): start it again.
                st.tx_ring_full += 1;
                self.seed(LOOP_SEEDS, &mut st);
                last.1 = Instant::now();
            }
        }
        self.prog.stop()?;
        st.duration = t0.elapsed();
        // Frames still circulating may make a few more before they meet the stop.
        std::thread::sleep(LOOP_POLL);
        st.sent = self.prog.made()?;
        st.submitted = st.sent;
        st.bad_completions = self.prog.foreign()?;
        sent_live.store(st.sent, Ordering::Relaxed);
        Ok(st)
    }
}

/// Lets the kernel transmit what the tx ring holds: one `sendto` per 32 frames, until
/// the ring is empty or the kernel makes no progress (the device is busy: the next
/// iteration tries again).
#[inline]
fn kick(socket: &XskSocket, tx: &mut ProdRing<XdpDesc>, st: &mut GenStats) {
    let mut left = tx.outstanding();
    if left == 0 || !tx.needs_wakeup() {
        return;
    }
    let mut tries = left.div_ceil(COPY_TX_PER_KICK) + 1;
    while left > 0 && tries > 0 {
        tries -= 1;
        st.kicks += 1;
        match socket.kick_tx() {
            Ok(()) => {}
            Err(KickError::Again(_)) => st.kicks_again += 1,
            Err(KickError::Failed(_)) => {
                st.kick_errors += 1;
                return;
            }
        }
        let now = tx.outstanding();
        if now == left {
            return;
        }
        left = now;
    }
}
