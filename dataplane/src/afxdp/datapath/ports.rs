//! The datapath as its owner sees it: [`AfXdpDatapath`] starts the worker threads, adds
//! and removes ports and gathers the counters; its configuration and its errors. How
//! ports, queues and workers relate is documented on [`AfXdpDatapath`], for its users.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender};
use xvs_ebpf::{XdpProgram, XdpSet};

use super::config::{
    largest_mtu, AfXdpError, DatapathConfig, PortInfo, PortMode, PortStats, WorkerIoStats,
};
use super::tier::TierControl;
use super::worker_loop::{pin, run, DpCmd, LoopConfig, NewSocket, WorkerIo};
use crate::afxdp::netdev::{netdev_info, NetdevInfo};
use crate::afxdp::socket::{new_socket, BindMode};
use crate::afxdp::sys::{packet_socket, raise_memlock};
use crate::afxdp::umem::UmemArea;
use crate::flow_key::PortNo;
use crate::worker::{cycle_counter_hz, Worker, WorkerStats, WorkerStatsSnapshot, MAX_BATCH};

struct WorkerHandle {
    id: usize,
    cmds: Sender<DpCmd>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<WorkerStats>,
}

struct PortEntry {
    info: PortInfo,
    /// None for a send-only port.
    program: Option<XdpProgram>,
    /// A send-only port's packet socket; the workers send on duplicates of it, and
    /// closing this last one (which waits for the kernel) is done here, not on them.
    kernel: Option<OwnedFd>,
    /// Whether the netdev has a carrier; the workers read it before each output.
    carrier: Arc<AtomicBool>,
}

/// The AF_XDP datapath: a pinned thread per worker (see the
/// [module documentation](super)), and the ports they serve.
///
/// # Ports, queues and workers
/// [`AfXdpDatapath::add_port`] attaches the XDP program to the netdev, opens one socket
/// per rx queue and gives queue `q` to worker `q % n_workers`; the XSKMAP sends the
/// frames of queue `q` to that socket. A worker transmits on a port through one of its
/// own sockets on that port (AF_XDP tx needs a socket of the worker's UMEM bound to the
/// netdev).
///
/// **Constraint: a port needs at least as many rx queues as there are workers** for every
/// worker to be able to transmit on it. A second socket on a (netdev, queue) another
/// worker already uses is impossible: the kernel allows one buffer pool per queue, and
/// sharing that worker's pool would mean sharing its UMEM and completion ring across
/// threads. So a worker that owns no queue of a port drops what it would send there and
/// counts it as `tx_no_socket` (and `add_port` logs a warning). veth pairs get more
/// queues with `ip link add ... numrxqueues N numtxqueues N`, NICs with `ethtool -L`.
pub struct AfXdpDatapath {
    config: DatapathConfig,
    workers: Vec<WorkerHandle>,
    ports: Mutex<BTreeMap<PortNo, PortEntry>>,
    /// The one XDP program of every port: loaded at the first, attached to each (the
    /// kernel's dispatcher waits for an RCU grace period on a new program, not on one
    /// more user of the same), unloaded with the last.
    xdp: XdpSet,
    /// The XDP tier's maps, when `config.xdp_tier`.
    tier: Option<TierControl>,
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
        // The tier's removals are safe only with a grace period to wait for.
        let with_tier = config.xdp_tier && super::tier::grace_periods_available();
        let xdp = if with_tier {
            XdpSet::with_tier()
        } else {
            XdpSet::new()
        };
        let mut dp = AfXdpDatapath {
            config: config.clone(),
            workers: Vec::new(),
            ports: Mutex::new(BTreeMap::new()),
            xdp: xdp.clone(),
            tier: with_tier.then(|| TierControl::new(xdp)),
            stop: stop.clone(),
        };
        for (i, worker) in workers.into_iter().enumerate() {
            let umem = UmemArea::new(config.umem_frames, config.frame_size)?;
            let (tx, rx) = bounded(64);
            let stats = worker.stats().clone();
            let id = worker.id;
            let core = config.cores.get(i).copied().flatten();
            let io = WorkerIo::new(i, umem, &config, tx.clone());
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
        if mode == PortMode::SendOnly {
            return self.add_send_only_port(&mut ports, port, ifname, nd);
        }
        // Refused here, with the numbers, rather than attached and then losing every
        // frame over the limit in the kernel.
        let (max_frame, max_mtu) = largest_mtu(self.config.frame_size);
        if nd.mtu > max_mtu {
            return Err(AfXdpError::MtuTooLarge {
                ifname: ifname.into(),
                mtu: nd.mtu,
                frame_size: self.config.frame_size,
                max_frame,
                max_mtu,
            });
        }
        let mut program = self
            .xdp
            .attach(ifname, self.config.xdp_mode, nd.rx_queues)?;
        match mode {
            PortMode::All => program.set_mode_all()?,
            PortMode::Underlay => program.set_mode_underlay()?,
            PortMode::SendOnly => unreachable!("handled above"),
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

        let carrier = Arc::new(AtomicBool::new(nd.carrier));
        let mut replies = Vec::new();
        for (w, sockets) in per_worker.into_iter().enumerate() {
            let (tx, rx) = bounded(1);
            let cmd = DpCmd::AddPort {
                port,
                ifindex: nd.ifindex,
                sockets,
                kernel: None,
                carrier: carrier.clone(),
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
            xdp_mode: Some(program.attached_mode()),
            zero_copy: !bound.is_empty() && bound.iter().all(|b| b.zero_copy),
            mac: nd.mac,
            mtu: nd.mtu,
            workers_without_tx,
        };
        if let Some(t) = &self.tier {
            t.add_port(
                port,
                nd.ifindex,
                program.netns(),
                mode == PortMode::Underlay,
                carrier.clone(),
            );
        }
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
                program: Some(program),
                kernel: None,
                carrier,
            },
        );
        Ok(info)
    }

    /// A [`PortMode::SendOnly`] port: one packet socket on the netdev, a duplicate for
    /// each worker; no XDP program, no AF_XDP socket.
    fn add_send_only_port(
        &self,
        ports: &mut BTreeMap<PortNo, PortEntry>,
        port: PortNo,
        ifname: &str,
        nd: NetdevInfo,
    ) -> Result<PortInfo, AfXdpError> {
        let socket = packet_socket(nd.ifindex).map_err(|e| AfXdpError::Syscall {
            what: "packet socket for a send-only port",
            error: e,
        })?;
        let carrier = Arc::new(AtomicBool::new(nd.carrier));
        let mut replies = Vec::new();
        for w in &self.workers {
            let dup = socket.try_clone().map_err(|e| AfXdpError::Syscall {
                what: "duplicating a send-only port's packet socket",
                error: e,
            })?;
            let (tx, rx) = bounded(1);
            let cmd = DpCmd::AddPort {
                port,
                ifindex: nd.ifindex,
                sockets: Vec::new(),
                kernel: Some(dup),
                carrier: carrier.clone(),
                reply: tx,
            };
            replies.push((w.id, w.cmds.send(cmd).ok().map(|_| rx)));
        }
        for (w, rx) in replies {
            match rx.map(|rx| rx.recv_timeout(self.config.reply_timeout)) {
                Some(Ok(Ok(_))) => {}
                Some(Ok(Err(e))) => {
                    self.remove_from_workers(port);
                    return Err(e);
                }
                _ => {
                    self.remove_from_workers(port);
                    return Err(AfXdpError::WorkerGone(w));
                }
            }
        }
        let info = PortInfo {
            port,
            ifname: ifname.into(),
            ifindex: nd.ifindex,
            queues: 0,
            xdp_mode: None,
            zero_copy: false,
            mac: nd.mac,
            mtu: nd.mtu,
            workers_without_tx: Vec::new(),
        };
        tracing::info!(
            "port {port}: {ifname} ifindex {} send-only, through the kernel",
            info.ifindex
        );
        ports.insert(
            port,
            PortEntry {
                info: info.clone(),
                program: None,
                kernel: Some(socket),
                carrier,
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
        // The sockets come back to be closed here, not on the workers (which would
        // stop forwarding for as long as the kernel takes); each worker then reclaims
        // their frames.
        for rx in waits {
            let closing = rx.recv_timeout(self.config.reply_timeout);
            drop(closing);
        }
    }

    /// Detaches the XDP program of `port` (its frames go to the kernel again), closes its
    /// sockets and takes their frames back. Other ports keep running.
    pub fn remove_port(&self, port: PortNo) -> Result<(), AfXdpError> {
        let mut ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        let entry = ports.remove(&port).ok_or(AfXdpError::NoSuchPort(port))?;
        // Detach first: no frame is steered to the sockets while they close.
        drop(entry.program);
        if let Some(t) = &self.tier {
            t.remove_port(port);
        }
        self.remove_from_workers(port);
        drop(entry.kernel);
        tracing::info!("port {port} ({}) removed", entry.info.ifname);
        Ok(())
    }

    /// Tells the datapath whether netdev `ifindex` has a carrier now (its link
    /// notifications: IFF_LOWER_UP); nothing when no port is attached to it. Without
    /// one, outputs to the port are dropped before they reach the kernel (counted as
    /// `tx_link_down`), and the XDP tier leaves them out of its entries until it comes
    /// back.
    pub fn set_carrier(&self, ifindex: u32, up: bool) {
        let ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        let Some((&port, e)) = ports.iter().find(|(_, e)| e.info.ifindex == ifindex) else {
            return;
        };
        let was = e.carrier.swap(up, Ordering::Relaxed);
        if was != up {
            tracing::info!(
                "port {port} ({}): carrier {}",
                e.info.ifname,
                if up { "on" } else { "off" }
            );
            if let Some(t) = &self.tier {
                t.carrier_changed(port);
            }
        }
    }

    /// The XDP tier's handle, for the revalidator (None without the tier).
    pub fn tier(&self) -> Option<TierControl> {
        self.tier.clone()
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
        Ok(e.program
            .as_mut()
            .ok_or(AfXdpError::SendOnly(port))?
            .add_local_ip(ip)?)
    }

    pub fn remove_underlay_ip(&self, port: PortNo, ip: Ipv4Addr) -> Result<(), AfXdpError> {
        let mut ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        let e = ports.get_mut(&port).ok_or(AfXdpError::NoSuchPort(port))?;
        Ok(e.program
            .as_mut()
            .ok_or(AfXdpError::SendOnly(port))?
            .remove_local_ip(ip)?)
    }

    /// What the XDP program of `port` decided so far (to sockets / to the kernel).
    pub fn xdp_counters(&self, port: PortNo) -> Result<xvs_ebpf::XdpCounters, AfXdpError> {
        let ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        let e = ports.get(&port).ok_or(AfXdpError::NoSuchPort(port))?;
        Ok(e.program
            .as_ref()
            .ok_or(AfXdpError::SendOnly(port))?
            .counters()?)
    }

    /// The kernel's ids of the XDP program attached to every (receiving) port: one per
    /// network namespace with ports (one for a datapath in one namespace, as xvsd's);
    /// none without ports.
    pub fn xdp_program_ids(&self) -> Vec<u32> {
        self.xdp.program_ids()
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
        // What the XDP tier forwarded never reached a worker.
        if let Some(tier) = &self.tier {
            for (p, s) in tier.port_traffic() {
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::worker::cycle_counter;

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
            std::thread::sleep(std::time::Duration::from_millis(10));
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
