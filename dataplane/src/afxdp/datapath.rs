//! The AF_XDP runtime: one pinned thread per [`Worker`], each owning a UMEM and the
//! AF_XDP sockets of the rx queues it serves.
//!
//! # Ports, queues and workers
//! [`AfXdpDatapath::add_port`] attaches the XDP program to the netdev, opens one socket
//! per rx queue and gives queue `q` to worker `q % n_workers`; the XSKMAP sends the
//! frames of queue `q` to that socket. A worker transmits on a port through one of its
//! own sockets on that port (AF_XDP tx needs a socket of the worker's UMEM bound to the
//! netdev).
//!
//! **Constraint: a port needs at least as many rx queues as there are workers** for every
//! worker to be able to transmit on it. A second socket on a (netdev, queue) another
//! worker already uses is impossible: the kernel allows one buffer pool per queue, and
//! sharing that worker's pool would mean sharing its UMEM and completion ring across
//! threads. So a worker that owns no queue of a port drops what it would send there and
//! counts it as `tx_no_socket` (and `add_port` logs a warning). veth pairs get more
//! queues with `ip link add ... numrxqueues N numtxqueues N`, NICs with `ethtool -L`.
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
//! ([`WorkerStats`]): `dp-show`'s busy cycles per packet, as OVS's `pmd-stats-show`.
//!
//! No allocation, lock or syscall per packet: the kicks are per batch. When nothing
//! happened for `idle_spins` iterations, the worker sleeps in `poll()` on its sockets for
//! at most `idle_poll`: an idle daemon costs a wake-up per millisecond instead of a
//! core, at the price of up to `idle_poll` of latency for the first command after a quiet
//! spell (a frame wakes the poll at once) and a slower first packet (the wake-up).
//!
//! # Frames and aliasing
//! Each UMEM frame is at any time in exactly one place: the free list, a fill ring, an
//! rx ring, the worker's hands (being processed), a tx ring or a completion ring. The rx
//! frame being processed and the tx frames outputs are copied into are therefore
//! different frames, and the `&mut [u8]` built over each from the UMEM's base pointer
//! never overlap (see [`UmemArea::frame_mut`]). The kernel only touches frames that are
//! in its rings. Copying outputs (64 to 1500 bytes) keeps the rx frame usable for
//! several outputs (flooding, tunnel copies) and is not an allocation.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use smallvec::SmallVec;
use xvs_ebpf::{EbpfError, XdpMode, XdpProgram};

use super::netdev::{netdev_info, NetdevError};
use super::ring::{ConsRing, ProdRing};
use super::socket::{new_socket, BindMode, RingSizes, SocketError, XdpDesc, XskSocket};
use super::umem::{raise_memlock, FramePool, UmemArea, UmemError, FREE};
use crate::execute::FrameBuf;
use crate::flow_key::PortNo;
use crate::worker::{
    cycle_counter, cycle_counter_hz, Worker, WorkerStats, WorkerStatsSnapshot, BATCH, MAX_BATCH,
};

/// Frames the kernel's copy-mode transmit sends per `sendto` (TX_BATCH_SIZE).
const COPY_TX_PER_KICK: u32 = 32;

#[derive(Debug, thiserror::Error)]
pub enum AfXdpError {
    #[error("no workers given")]
    NoWorkers,
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("port {0} already exists")]
    PortExists(PortNo),
    #[error("no port {0}")]
    NoSuchPort(PortNo),
    #[error(transparent)]
    Netdev(#[from] NetdevError),
    #[error(transparent)]
    Ebpf(#[from] EbpfError),
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error(transparent)]
    Umem(#[from] UmemError),
    #[error("worker {0} is gone (its thread ended) or did not answer in time")]
    WorkerGone(usize),
    #[error("spawning worker thread {0}: {1}")]
    Spawn(usize, std::io::Error),
    #[error("worker {worker}: no free UMEM frames for the fill ring of port {port} queue {queue}")]
    OutOfFrames {
        worker: usize,
        port: PortNo,
        queue: u32,
    },
    #[error("{0} slots in use: too many sockets for one worker")]
    TooManySockets(usize),
}

/// How the datapath is run.
#[derive(Debug, Clone)]
pub struct DatapathConfig {
    /// Core to pin worker `i` (in the order given to `start`) to; `None` or missing:
    /// not pinned.
    pub cores: Vec<Option<usize>>,
    /// Bytes per UMEM frame: 2048 or 4096 (frames up to this minus 256 bytes of
    /// headroom are received).
    pub frame_size: u32,
    /// Frames in each worker's UMEM (8192 frames of 4096 bytes: 32 MiB per worker).
    pub umem_frames: u32,
    pub rings: RingSizes,
    /// Frames kept in each socket's fill ring; at most half the fill ring (so that the
    /// frames of an rx batch always fit back).
    pub fill_frames: u32,
    /// Rx descriptors taken per socket per iteration: [`BATCH`] by default, at most
    /// [`MAX_BATCH`].
    pub batch: u32,
    /// Copy or zero-copy for a worker's first socket. The others share its UMEM and
    /// inherit the mode (the kernel takes no mode flags on a shared bind): once a
    /// worker's UMEM is zero-copy, a port whose driver cannot do zero-copy fails to bind
    /// on that worker. Keep `Copy` (the default) when ports mix drivers, e.g. a NIC and
    /// veths or taps.
    pub bind_mode: BindMode,
    pub xdp_mode: XdpMode,
    /// Empty iterations before a worker sleeps in poll().
    pub idle_spins: u32,
    /// Longest sleep of an idle worker.
    pub idle_poll: Duration,
    /// How long a control call waits for a worker's answer.
    pub reply_timeout: Duration,
}

impl Default for DatapathConfig {
    fn default() -> Self {
        DatapathConfig {
            cores: Vec::new(),
            frame_size: 4096,
            umem_frames: 8192,
            rings: RingSizes::default(),
            fill_frames: 1024,
            batch: BATCH as u32,
            bind_mode: BindMode::Copy,
            xdp_mode: XdpMode::Auto,
            idle_spins: 20_000,
            idle_poll: Duration::from_millis(1),
            reply_timeout: Duration::from_secs(5),
        }
    }
}

/// What the XDP program sends to the sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortMode {
    /// Every frame.
    All,
    /// Only GRE and VXLAN (UDP port 4789, unfragmented) for the addresses given with
    /// [`AfXdpDatapath::add_underlay_ip`]; the kernel keeps the rest (ARP, SSH, other
    /// UDP, ...).
    Underlay,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    pub port: PortNo,
    pub ifname: String,
    pub ifindex: u32,
    /// Rx queues, each with a socket.
    pub queues: u32,
    /// Native or Generic.
    pub xdp_mode: XdpMode,
    /// True when every socket of the port is in zero-copy mode.
    pub zero_copy: bool,
    pub mac: [u8; 6],
    pub mtu: u32,
    /// Workers that own no queue of this port and so cannot transmit on it.
    pub workers_without_tx: Vec<usize>,
}

/// Per-port counters, summed over workers. The `kernel_*` ones are the kernel's own
/// (`XDP_STATISTICS`) for the port's sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Rx descriptors outside the UMEM or a frame (dropped).
    pub rx_bad_desc: u64,
    /// Frames dropped by the kernel: no room in the rx ring.
    pub kernel_rx_ring_full: u64,
    /// Frames dropped by the kernel: the fill ring was empty.
    pub kernel_rx_fill_empty: u64,
    /// Frames dropped by the kernel for other reasons (too large for a frame, ...).
    pub kernel_rx_dropped: u64,
    pub kernel_rx_invalid_descs: u64,
    pub kernel_tx_invalid_descs: u64,
    /// Outputs dropped: the tx ring was full even after a kick.
    pub tx_ring_full: u64,
    /// Outputs dropped: this worker has no socket on the port (see the module doc).
    pub tx_no_socket: u64,
    /// Outputs dropped: no free UMEM frame.
    pub tx_no_frame: u64,
    /// Outputs dropped: larger than a UMEM frame.
    pub tx_too_big: u64,
    /// `sendto` kicks, and those that failed with an unexpected errno.
    pub tx_kicks: u64,
    pub tx_kick_errors: u64,
}

impl std::ops::AddAssign for PortStats {
    fn add_assign(&mut self, o: PortStats) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.rx_bad_desc += o.rx_bad_desc;
        self.kernel_rx_ring_full += o.kernel_rx_ring_full;
        self.kernel_rx_fill_empty += o.kernel_rx_fill_empty;
        self.kernel_rx_dropped += o.kernel_rx_dropped;
        self.kernel_rx_invalid_descs += o.kernel_rx_invalid_descs;
        self.kernel_tx_invalid_descs += o.kernel_tx_invalid_descs;
        self.tx_ring_full += o.tx_ring_full;
        self.tx_no_socket += o.tx_no_socket;
        self.tx_no_frame += o.tx_no_frame;
        self.tx_too_big += o.tx_too_big;
        self.tx_kicks += o.tx_kicks;
        self.tx_kick_errors += o.tx_kick_errors;
    }
}

/// A worker thread's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerIoStats {
    pub worker: usize,
    /// Loop iterations.
    pub iterations: u64,
    /// Times it slept in poll() for lack of work.
    pub idle_sleeps: u64,
    /// Times it yielded the core because the upcall queue was full.
    pub yields: u64,
    /// Outputs to a port the datapath does not have.
    pub tx_unknown_port: u64,
    pub free_frames: u64,
    pub sockets: u64,
}

struct NewSocket {
    queue: u32,
    fd: OwnedFd,
    spare: Option<OwnedFd>,
}

struct Bound {
    queue: u32,
    fd: RawFd,
    zero_copy: bool,
}

type StatsReply = (WorkerIoStats, Vec<(PortNo, PortStats)>);

enum DpCmd {
    AddPort {
        port: PortNo,
        ifindex: u32,
        sockets: Vec<NewSocket>,
        reply: Sender<Result<Vec<Bound>, AfXdpError>>,
    },
    RemovePort {
        port: PortNo,
        reply: Sender<()>,
    },
    Stats {
        reply: Sender<StatsReply>,
    },
}

struct WorkerHandle {
    id: usize,
    cmds: Sender<DpCmd>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<WorkerStats>,
}

struct PortEntry {
    info: PortInfo,
    program: XdpProgram,
}

/// The AF_XDP datapath. See the module documentation.
pub struct AfXdpDatapath {
    config: DatapathConfig,
    workers: Vec<WorkerHandle>,
    ports: Mutex<BTreeMap<PortNo, PortEntry>>,
    stop: Arc<AtomicBool>,
}

impl AfXdpDatapath {
    /// Starts one thread per worker (pinned as `config.cores` says), each with its own
    /// UMEM. The threads run in the calling thread's network namespace; call `add_port`
    /// from the same namespace. `clock` gives the `now` passed to [`Worker::process`].
    pub fn start<C>(
        config: DatapathConfig,
        workers: Vec<Worker>,
        clock: C,
    ) -> Result<AfXdpDatapath, AfXdpError>
    where
        C: Fn() -> u64 + Send + Clone + 'static,
    {
        if workers.is_empty() {
            return Err(AfXdpError::NoWorkers);
        }
        if config.batch == 0 || config.batch as usize > MAX_BATCH {
            return Err(AfXdpError::Config(format!(
                "batch {} not in 1..={MAX_BATCH}",
                config.batch
            )));
        }
        if config.fill_frames == 0 || config.fill_frames > config.rings.fill / 2 {
            return Err(AfXdpError::Config(format!(
                "fill_frames {} not in 1..={} (half the fill ring)",
                config.fill_frames,
                config.rings.fill / 2
            )));
        }
        raise_memlock();
        // Measured once per process (about 50 ms), before the workers count cycles.
        cycle_counter_hz();
        let stop = Arc::new(AtomicBool::new(false));
        let mut dp = AfXdpDatapath {
            config: config.clone(),
            workers: Vec::new(),
            ports: Mutex::new(BTreeMap::new()),
            stop: stop.clone(),
        };
        for (i, worker) in workers.into_iter().enumerate() {
            let umem = UmemArea::new(config.umem_frames, config.frame_size)?;
            let (tx, rx) = bounded(64);
            let stats = worker.stats().clone();
            let id = worker.id;
            let core = config.cores.get(i).copied().flatten();
            let io = WorkerIo::new(i, umem, &config);
            let stop = stop.clone();
            let clock = clock.clone();
            let lc = LoopConfig::from(&config);
            let thread = std::thread::Builder::new()
                .name(format!("xvs-worker-{i}"))
                .spawn(move || {
                    pin(i, id, core);
                    run(io, worker, rx, stop, clock, lc)
                })
                .map_err(|e| AfXdpError::Spawn(i, e))?;
            dp.workers.push(WorkerHandle {
                id,
                cmds: tx,
                thread: Some(thread),
                stats,
            });
        }
        Ok(dp)
    }

    pub fn config(&self) -> &DatapathConfig {
        &self.config
    }

    pub fn n_workers(&self) -> usize {
        self.workers.len()
    }

    /// Makes `ifname` (in the calling thread's network namespace) port `port`: attaches
    /// the XDP program, opens one socket per rx queue, gives queue `q` to worker
    /// `q % n_workers`, and registers the sockets in the XSKMAP.
    pub fn add_port(
        &self,
        port: PortNo,
        ifname: &str,
        mode: PortMode,
    ) -> Result<PortInfo, AfXdpError> {
        let mut ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        if ports.contains_key(&port) {
            return Err(AfXdpError::PortExists(port));
        }
        let nd = netdev_info(ifname)?;
        let mut program = XdpProgram::attach(ifname, self.config.xdp_mode)?;
        match mode {
            PortMode::All => program.set_mode_all()?,
            PortMode::Underlay => program.set_mode_underlay()?,
        }
        let n = self.workers.len() as u32;
        // Sockets are created here, in the caller's namespace (where ifindex means
        // ifname); the workers set them up and bind them.
        let mut per_worker: Vec<Vec<NewSocket>> = (0..n).map(|_| Vec::new()).collect();
        for q in 0..nd.rx_queues {
            let spare = match self.config.bind_mode {
                BindMode::ZeroCopyThenCopy => Some(new_socket()?),
                _ => None,
            };
            per_worker[(q % n) as usize].push(NewSocket {
                queue: q,
                fd: new_socket()?,
                spare,
            });
        }
        let workers_without_tx: Vec<usize> = (0..n as usize)
            .filter(|&w| per_worker[w].is_empty())
            .collect();
        if !workers_without_tx.is_empty() {
            tracing::warn!(
                "port {port} ({ifname}) has {} rx queues for {n} workers: workers {workers_without_tx:?} \
                 cannot transmit on it (counted as tx_no_socket); give it at least {n} queues",
                nd.rx_queues
            );
        }

        let mut replies = Vec::new();
        for (w, sockets) in per_worker.into_iter().enumerate() {
            let (tx, rx) = bounded(1);
            let cmd = DpCmd::AddPort {
                port,
                ifindex: nd.ifindex,
                sockets,
                reply: tx,
            };
            if self.workers[w].cmds.send(cmd).is_err() {
                replies.push((w, None));
            } else {
                replies.push((w, Some(rx)));
            }
        }
        let mut bound = Vec::new();
        let mut failure = None;
        for (w, rx) in replies {
            match rx.map(|rx| rx.recv_timeout(self.config.reply_timeout)) {
                Some(Ok(Ok(b))) => bound.extend(b),
                Some(Ok(Err(e))) => failure = failure.or(Some(e)),
                _ => failure = failure.or(Some(AfXdpError::WorkerGone(w))),
            }
        }
        if let Some(e) = failure {
            drop(program);
            self.remove_from_workers(port);
            return Err(e);
        }
        for b in &bound {
            if let Err(e) = program.set_xsk(b.queue, b.fd) {
                drop(program);
                self.remove_from_workers(port);
                return Err(e.into());
            }
        }
        let info = PortInfo {
            port,
            ifname: ifname.into(),
            ifindex: nd.ifindex,
            queues: nd.rx_queues,
            xdp_mode: program.attached_mode(),
            zero_copy: !bound.is_empty() && bound.iter().all(|b| b.zero_copy),
            mac: nd.mac,
            mtu: nd.mtu,
            workers_without_tx,
        };
        tracing::info!(
            "port {port}: {ifname} ifindex {} queues {} xdp {:?} {}",
            info.ifindex,
            info.queues,
            info.xdp_mode,
            if info.zero_copy { "zero-copy" } else { "copy" }
        );
        ports.insert(
            port,
            PortEntry {
                info: info.clone(),
                program,
            },
        );
        Ok(info)
    }

    fn remove_from_workers(&self, port: PortNo) {
        let mut waits = Vec::new();
        for w in &self.workers {
            let (tx, rx) = bounded(1);
            if w.cmds.send(DpCmd::RemovePort { port, reply: tx }).is_ok() {
                waits.push(rx);
            }
        }
        for rx in waits {
            let _ = rx.recv_timeout(self.config.reply_timeout);
        }
    }

    /// Detaches the XDP program of `port` (its frames go to the kernel again), closes its
    /// sockets and takes their frames back. Other ports keep running.
    pub fn remove_port(&self, port: PortNo) -> Result<(), AfXdpError> {
        let mut ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        let entry = ports.remove(&port).ok_or(AfXdpError::NoSuchPort(port))?;
        // Detach first: no frame is steered to the sockets while they close.
        drop(entry.program);
        self.remove_from_workers(port);
        tracing::info!("port {port} ({}) removed", entry.info.ifname);
        Ok(())
    }

    /// The ports and what `add_port` reported for them.
    pub fn ports(&self) -> Vec<PortInfo> {
        let ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        ports.values().map(|e| e.info.clone()).collect()
    }

    /// Adds a local tunnel address to an underlay port's XDP program.
    pub fn add_underlay_ip(&self, port: PortNo, ip: Ipv4Addr) -> Result<(), AfXdpError> {
        let mut ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        let e = ports.get_mut(&port).ok_or(AfXdpError::NoSuchPort(port))?;
        Ok(e.program.add_local_ip(ip)?)
    }

    pub fn remove_underlay_ip(&self, port: PortNo, ip: Ipv4Addr) -> Result<(), AfXdpError> {
        let mut ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        let e = ports.get_mut(&port).ok_or(AfXdpError::NoSuchPort(port))?;
        Ok(e.program.remove_local_ip(ip)?)
    }

    /// What the XDP program of `port` decided so far (to sockets / to the kernel).
    pub fn xdp_counters(&self, port: PortNo) -> Result<xvs_ebpf::XdpCounters, AfXdpError> {
        let ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        let e = ports.get(&port).ok_or(AfXdpError::NoSuchPort(port))?;
        Ok(e.program.counters()?)
    }

    /// Per-port counters summed over workers, for the ports that exist now.
    pub fn port_stats(&self) -> Result<BTreeMap<PortNo, PortStats>, AfXdpError> {
        let (_, ports) = self.collect_stats()?;
        Ok(ports)
    }

    /// Each worker thread's own counters.
    pub fn worker_io_stats(&self) -> Result<Vec<WorkerIoStats>, AfXdpError> {
        Ok(self.collect_stats()?.0)
    }

    /// The [`WorkerStats`] of each worker (hits, misses, malformed..., busy and idle
    /// cycles).
    pub fn worker_stats(&self) -> Vec<WorkerStatsSnapshot> {
        self.workers.iter().map(|w| w.stats.snapshot()).collect()
    }

    /// The rate of the cycles in [`WorkerStats::busy_cycles`] and `idle_cycles`, per
    /// second (the TSC's, estimated at start, on x86_64).
    pub fn cycles_per_second(&self) -> u64 {
        cycle_counter_hz()
    }

    /// The worker ids, in worker order.
    pub fn worker_ids(&self) -> Vec<usize> {
        self.workers.iter().map(|w| w.id).collect()
    }

    fn collect_stats(
        &self,
    ) -> Result<(Vec<WorkerIoStats>, BTreeMap<PortNo, PortStats>), AfXdpError> {
        let mut out: BTreeMap<PortNo, PortStats> = {
            let ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
            ports.keys().map(|&p| (p, PortStats::default())).collect()
        };
        let mut ws = Vec::new();
        for (i, w) in self.workers.iter().enumerate() {
            let (tx, rx) = bounded(1);
            w.cmds
                .send(DpCmd::Stats { reply: tx })
                .map_err(|_| AfXdpError::WorkerGone(i))?;
            let (wio, per_port) = rx
                .recv_timeout(self.config.reply_timeout)
                .map_err(|_| AfXdpError::WorkerGone(i))?;
            ws.push(wio);
            for (p, s) in per_port {
                if let Some(t) = out.get_mut(&p) {
                    *t += s;
                }
            }
        }
        Ok((ws, out))
    }

    /// Detaches every port and joins the worker threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let ports = std::mem::take(&mut *self.ports.lock().unwrap_or_else(|p| p.into_inner()));
        drop(ports); // detaches the XDP programs
        self.stop.store(true, Ordering::Release);
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                if t.join().is_err() {
                    tracing::error!("worker thread {} panicked", w.id);
                }
            }
        }
    }
}

impl Drop for AfXdpDatapath {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn pin(index: usize, id: usize, core: Option<usize>) {
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

#[derive(Clone, Copy)]
struct LoopConfig {
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

#[derive(Default, Clone, Copy)]
struct RxCounters {
    packets: u64,
    bytes: u64,
    bad_desc: u64,
}

#[derive(Default, Clone, Copy)]
struct TxCounters {
    packets: u64,
    bytes: u64,
    ring_full: u64,
    no_socket: u64,
    no_frame: u64,
    too_big: u64,
    kicks: u64,
    kick_errors: u64,
}

/// The receive half of a socket.
struct RxSide {
    slot: u16,
    port: PortNo,
    fd: RawFd,
    rx: ConsRing<XdpDesc>,
    fill: ProdRing<u64>,
    /// Frames this socket holds (fill ring, rx ring, being processed).
    owned: u32,
    counters: RxCounters,
}

/// The transmit half of a socket.
struct TxSide {
    slot: u16,
    port: PortNo,
    fd: RawFd,
    tx: ProdRing<XdpDesc>,
    comp: ConsRing<u64>,
    /// Descriptors written, not yet submitted.
    unsubmitted: u32,
    /// Frames submitted and not yet completed.
    in_flight: u32,
}

/// A port as the tx path sees it.
struct PortTx {
    port: PortNo,
    /// Index in `TxPath::txs` of the socket this worker transmits on.
    tx: Option<usize>,
    counters: TxCounters,
}

/// Everything `tx(out_port, bytes)` needs, apart from the rx side.
struct TxPath {
    base: *mut u8,
    frame_size: u32,
    umem_len: u64,
    pool: FramePool,
    txs: Vec<TxSide>,
    ports: Vec<PortTx>,
    unknown_port: u64,
}

impl TxPath {
    /// Copies `bytes` into a free frame and queues it on this worker's socket of `port`.
    #[inline]
    fn send(&mut self, port: PortNo, bytes: &[u8]) {
        // A handful of ports: a scan is cheaper than hashing.
        let Some(p) = self.ports.iter_mut().find(|p| p.port == port) else {
            self.unknown_port += 1;
            return;
        };
        let Some(ti) = p.tx else {
            p.counters.no_socket += 1;
            return;
        };
        if bytes.len() > self.frame_size as usize {
            p.counters.too_big += 1;
            return;
        }
        let t = &mut self.txs[ti];
        let idx = match t.tx.reserve(1) {
            Some(i) => i,
            None => {
                // Full: hand what is there to the kernel and let it drain, once.
                flush_one(t, &mut p.counters);
                match t.tx.reserve(1) {
                    Some(i) => i,
                    None => {
                        p.counters.ring_full += 1;
                        return;
                    }
                }
            }
        };
        let frame = match self.pool.alloc(t.slot) {
            Some(f) => f,
            None => {
                complete_one(t, &mut self.pool, self.frame_size, self.umem_len);
                match self.pool.alloc(t.slot) {
                    Some(f) => f,
                    None => {
                        t.tx.cancel(1);
                        p.counters.no_frame += 1;
                        return;
                    }
                }
            }
        };
        // SAFETY: `frame` came off the free list: no ring and no other slice holds it
        // (module doc), and it is frame_size >= bytes.len() bytes long inside the UMEM.
        // `bytes` may be the rx frame being processed: another frame, so no overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.base.add(frame as usize),
                bytes.len(),
            );
        }
        t.tx.write(
            idx,
            XdpDesc {
                addr: frame,
                len: bytes.len() as u32,
                options: 0,
            },
        );
        t.unsubmitted += 1;
        p.counters.packets += 1;
        p.counters.bytes += bytes.len() as u64;
    }

    /// Takes completed tx frames back. Returns how many.
    fn complete(&mut self) -> u32 {
        let mut n = 0;
        for t in &mut self.txs {
            if t.in_flight > 0 {
                n += complete_one(t, &mut self.pool, self.frame_size, self.umem_len);
            }
        }
        n
    }

    /// Submits what was queued and kicks where the kernel asks for it.
    fn flush(&mut self) {
        for t in &mut self.txs {
            if t.unsubmitted == 0 && t.in_flight == 0 {
                continue;
            }
            let Some(p) = self.ports.iter_mut().find(|p| p.port == t.port) else {
                continue;
            };
            flush_one(t, &mut p.counters);
        }
    }
}

/// Submits the queued descriptors of one socket; kicks while the kernel wants it and
/// descriptors are left (copy mode sends 32 per kick).
#[inline]
fn flush_one(t: &mut TxSide, c: &mut TxCounters) {
    if t.unsubmitted > 0 {
        t.tx.submit(t.unsubmitted);
        t.in_flight += t.unsubmitted;
        t.unsubmitted = 0;
    }
    let mut left = t.tx.outstanding();
    if left == 0 || !t.tx.needs_wakeup() {
        return;
    }
    let mut kicks = left.div_ceil(COPY_TX_PER_KICK) + 1;
    while left > 0 && kicks > 0 {
        kicks -= 1;
        c.kicks += 1;
        // SAFETY: plain non-blocking sendto on our socket's fd (see XskSocket::kick_tx).
        let r = unsafe {
            libc::sendto(
                t.fd,
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if r < 0 {
            match std::io::Error::last_os_error().raw_os_error() {
                // More to send, or the device is busy: try again (now or next round).
                Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENOBUFS) => {}
                _ => {
                    c.kick_errors += 1;
                    return;
                }
            }
        }
        let now_left = t.tx.outstanding();
        if now_left == left && r < 0 {
            return; // no progress: leave it to the next iteration
        }
        left = now_left;
    }
}

/// Takes the completed frames of one socket back to the free list.
#[inline]
fn complete_one(t: &mut TxSide, pool: &mut FramePool, frame_size: u32, umem_len: u64) -> u32 {
    let (n, idx) = t.comp.peek(t.comp.size());
    for i in 0..n {
        let addr = t.comp.read(idx.wrapping_add(i));
        if addr < umem_len {
            let f = addr & !(frame_size as u64 - 1);
            if pool.owner(f) == t.slot {
                pool.free(f);
            }
        }
    }
    t.comp.release(n);
    t.in_flight = t.in_flight.saturating_sub(n);
    n
}

/// A worker thread's sockets, UMEM and tx path.
struct WorkerIo {
    index: usize,
    /// Sockets by slot (the frame owner id). Dropped before the UMEM.
    sockets: Vec<Option<(PortNo, XskSocket)>>,
    rxs: Vec<RxSide>,
    tx: TxPath,
    pollfds: Vec<libc::pollfd>,
    fill_frames: u32,
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
    fn new(index: usize, umem: UmemArea, c: &DatapathConfig) -> WorkerIo {
        let pool = FramePool::new(umem.frames(), umem.frame_size());
        WorkerIo {
            index,
            sockets: Vec::new(),
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
                reply,
            } => {
                let r = self.add_port(port, ifindex, sockets);
                if r.is_err() {
                    self.remove_port(port);
                }
                let _ = reply.send(r);
            }
            DpCmd::RemovePort { port, reply } => {
                self.remove_port(port);
                let _ = reply.send(());
            }
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
    ) -> Result<Vec<Bound>, AfXdpError> {
        if !self.tx.ports.iter().any(|p| p.port == port) {
            self.tx.ports.push(PortTx {
                port,
                tx: None,
                counters: TxCounters::default(),
            });
        }
        let mut bound = Vec::new();
        for ns in sockets {
            let slot = match self.sockets.iter().position(|s| s.is_none()) {
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
            let r = self.rxs.last_mut().unwrap();
            top_up(r, &mut self.tx.pool, self.fill_frames, self.tx_reserve);
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

    fn remove_port(&mut self, port: PortNo) {
        // Anything queued for the port is dropped with its socket.
        self.rxs.retain(|r| r.port != port);
        self.tx.txs.retain(|t| t.port != port);
        for slot in 0..self.sockets.len() {
            if matches!(&self.sockets[slot], Some((p, _)) if *p == port) {
                // Closing the socket (munmap, close) unbinds it; after that the kernel
                // touches none of its frames, and they can go back to the free list.
                self.sockets[slot] = None;
                let n = self.tx.pool.reclaim(slot as u16);
                tracing::debug!(
                    "worker {}: port {port} slot {slot} closed, {n} frames back",
                    self.index
                );
            }
        }
        self.tx.ports.retain(|p| p.port != port);
        self.rebuild();
    }

    /// Recomputes which socket each port transmits on, and the poll set.
    fn rebuild(&mut self) {
        for p in &mut self.tx.ports {
            p.tx = self.tx.txs.iter().position(|t| t.port == p.port);
        }
        self.pollfds = self
            .rxs
            .iter()
            .map(|r| libc::pollfd {
                fd: r.fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
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

/// Puts free frames into a socket's fill ring until it holds `target`, keeping
/// `reserve` frames for transmission.
fn top_up(r: &mut RxSide, pool: &mut FramePool, target: u32, reserve: usize) {
    if r.owned >= target {
        return;
    }
    let avail = pool.n_free().saturating_sub(reserve) as u32;
    let want = (target - r.owned).min(avail);
    let k = want.min(r.fill.nb_free(want));
    if k == 0 {
        return;
    }
    let idx = r.fill.reserve(k).expect("nb_free said there was room");
    for i in 0..k {
        let f = pool.alloc(r.slot).expect("counted free frames");
        r.fill.write(idx.wrapping_add(i), f);
    }
    r.fill.submit(k);
    r.owned += k;
}

/// Receives and processes up to `batch` frames of one socket. Returns how many; adds
/// those handed to the pipeline to `packets`.
#[inline]
fn service_rx<C: Fn() -> u64>(
    r: &mut RxSide,
    tx: &mut TxPath,
    umem: &UmemArea,
    worker: &mut Worker,
    clock: &C,
    batch: u32,
    packets: &mut u64,
) -> u32 {
    let (n, idx) = r.rx.peek(batch);
    if n == 0 {
        if r.fill.needs_wakeup() {
            // SAFETY: zero-length non-blocking recvfrom on our socket (af_xdp.rst).
            unsafe {
                libc::recvfrom(
                    r.fd,
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                );
            }
        }
        return 0;
    }
    let now = clock();
    // The frames go back to the fill ring once the batch is done. There is room: the
    // socket holds at most half a fill ring of frames (DatapathConfig::fill_frames).
    let fidx = r.fill.reserve(n);
    let mut written = 0u32;
    let mut to_pool: u32 = 0;
    let mut addrs: SmallVec<[u64; MAX_BATCH]> = SmallVec::new();
    let mut frames: SmallVec<[FrameBuf<&mut [u8]>; MAX_BATCH]> = SmallVec::new();
    for i in 0..n {
        let d = r.rx.read(idx.wrapping_add(i));
        let Some((frame, off)) = umem.locate(d.addr, d.len) else {
            r.counters.bad_desc += 1;
            // Give the frame back if at least the address is ours.
            if d.addr < umem.len() as u64 {
                let f = d.addr & !(umem.frame_size() as u64 - 1);
                if let Some(fi) = fidx {
                    r.fill.write(fi.wrapping_add(written), f);
                    written += 1;
                }
            }
            continue;
        };
        r.counters.packets += 1;
        r.counters.bytes += d.len as u64;
        // SAFETY: the frame came off this socket's rx ring: it is ours until it goes back
        // to the fill ring below, and it is on no list the tx path allocates from (its
        // owner is this socket's slot), so no other slice of it exists (module doc); the
        // frames of one batch are distinct frames, so their slices are disjoint.
        let chunk = unsafe { umem.frame_mut(frame) };
        if let Ok(f) = FrameBuf::from_parts(chunk, off, d.len as usize) {
            frames.push(f);
        }
        addrs.push(frame);
    }
    *packets += frames.len() as u64;
    // One batch: the worker overlaps the batch's cache misses (Worker::process_batch).
    worker.process_batch(r.port, &mut frames, now, &mut |p, b: &[u8]| tx.send(p, b));
    drop(frames);
    for frame in addrs {
        match fidx {
            Some(fi) => {
                r.fill.write(fi.wrapping_add(written), frame);
                written += 1;
            }
            None => {
                // Cannot happen with fill_frames <= fill ring / 2; stay correct anyway.
                tx.pool.free(frame);
                to_pool += 1;
            }
        }
    }
    r.rx.release(n);
    if let Some(_fi) = fidx {
        r.fill.submit(written);
        r.fill.cancel(n - written);
        r.owned -= n - written;
    } else {
        r.owned -= to_pool;
    }
    n
}

fn run<C: Fn() -> u64>(
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
                fill_frames,
                tx_reserve,
                ..
            } = &mut io;
            for r in rxs.iter_mut() {
                if r.owned < *fill_frames {
                    top_up(r, &mut tx.pool, *fill_frames, *tx_reserve);
                    fill_short |= r.owned < *fill_frames;
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
                sleep_until_rx(&mut io.pollfds, lc.idle_poll);
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

/// Sleeps until one of the sockets has rx data or `max` passed.
fn sleep_until_rx(fds: &mut [libc::pollfd], max: Duration) {
    if fds.is_empty() {
        std::thread::sleep(max);
        return;
    }
    let ts = libc::timespec {
        tv_sec: max.as_secs() as libc::time_t,
        tv_nsec: max.subsec_nanos() as libc::c_long,
    };
    // SAFETY: fds is a valid array of pollfd; ts a valid timespec; no signal mask.
    unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datapath without ports (no root needed): its loop's cycles add up to the time it
    /// ran, stats requests count as work, and no packet was counted.
    #[test]
    fn busy_and_idle_cycles_add_up_to_the_loop_time() {
        let (_cmd_tx, cmd_rx) = bounded(16);
        let (up_tx, _up_rx) = bounded(16);
        let worker = Worker::new(0, 16, cmd_rx, up_tx);
        let config = DatapathConfig {
            idle_spins: 100,
            ..Default::default()
        };
        let c0 = cycle_counter();
        let dp = AfXdpDatapath::start(config, vec![worker], || 0).expect("start");
        let hz = dp.cycles_per_second();
        assert!((10_000_000..100_000_000_000).contains(&hz), "{hz} Hz");
        let (c1, t1) = (cycle_counter(), Instant::now());
        for _ in 0..20 {
            dp.worker_io_stats().expect("stats");
            std::thread::sleep(Duration::from_millis(10));
        }
        let spent = t1.elapsed();
        let mid = dp.worker_stats()[0];
        let c2 = cycle_counter();
        assert!(mid.busy_cycles + mid.idle_cycles <= c2 - c0, "{mid:?}");
        let stats = dp.workers[0].stats.clone();
        dp.stop();
        let c3 = cycle_counter();
        let s = stats.snapshot();
        let total = s.busy_cycles + s.idle_cycles;
        // The loop ran from after c0 to before c3, and (nearly) all the time from c1
        // (the thread may take a moment to start; allow half of the window).
        assert!(total <= c3 - c0, "{s:?}: {total} > {}", c3 - c0);
        assert!(total >= (c2 - c1) / 2, "{s:?}: {total} for {spent:?}");
        assert!(s.busy_cycles > 0, "the 20 stats requests were work: {s:?}");
        assert!(s.idle_cycles > 0, "{s:?}");
        assert!(s.busy_cycles >= mid.busy_cycles && s.idle_cycles >= mid.idle_cycles);
        assert_eq!(s.polled_packets, 0);
        assert_eq!(s.cycles_per_packet(), None);
        assert!((0.0..=100.0).contains(&s.busy_percent()));
    }
}
