//! xvsd: the xvs daemon, in ovs-vswitchd's place. Runs the workers and the control
//! thread, serves the control socket and ovs-appctl's (with ovs-vswitchd's pidfile and
//! log file), and follows the real ovsdb-server as its client: bridges and ports come
//! from the database, and what ovs-vswitchd writes back is written back.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use crossbeam_channel::bounded;
use xvs_daemon::afxdp_backend::AfXdpBackend;
use xvs_daemon::connmgr::model::OvsModel;
use xvs_daemon::connmgr::ConnMgr;
use xvs_daemon::logging::LogTarget;
use xvs_daemon::metrics::server::{MetricsConfig, MetricsServer};
use xvs_daemon::ovsdb::client;
use xvs_daemon::ovsdb::connection::{ovs_rundir, Remote};
use xvs_daemon::pidfile::Pidfile;
use xvs_daemon::ports::{NoDatapath, PortBackend};
use xvs_daemon::service::{self, Notifier};
use xvs_daemon::unixctl::server::{UnixctlConfig, UnixctlServer};
use xvs_daemon::unixctl::{self, Appctl};
use xvs_daemon::vlog::Vlog;
use xvs_daemon::{links, metrics, ports, server, Daemon};
use xvs_dataplane::afxdp::{AfXdpDatapath, BindMode, DatapathConfig, XdpMode};
use xvs_dataplane::worker::{Upcall, Worker};
use xvs_pipeline::control_thread::{Clock, ControlConfig, ControlThread};
use xvs_pipeline::revalidator::{Revalidator, WorkerHandle, DEFAULT_CACHE_CAPACITY};
use xvs_pipeline::Switch;

#[derive(Parser, Debug)]
#[command(
    name = "xvsd",
    version,
    about = "xvs: a userspace AF_XDP switch for OVS-style bridges and flows"
)]
pub(crate) struct Args {
    /// The OVSDB database to follow, as ovs-vswitchd's: unix:PATH or tcp:IP:PORT
    /// [default: unix:$OVS_RUNDIR/db.sock, OVS_RUNDIR being /var/run/openvswitch unless
    /// set]
    database: Option<String>,
    /// Control socket (owner-only).
    #[arg(long, default_value = "/run/xvs/xvsd.sock")]
    socket: PathBuf,
    /// Worker threads (each polls its own sockets and owns its flow cache).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Cores to pin the workers to, in order (e.g. 1,2); unpinned when omitted.
    #[arg(long, value_delimiter = ',')]
    cores: Vec<usize>,
    /// Flow cache entries per worker.
    #[arg(long, default_value_t = DEFAULT_CACHE_CAPACITY)]
    cache_size: usize,
    /// Misses waiting for the control thread; beyond this they are dropped as `lost`.
    #[arg(long, default_value_t = 4096)]
    upcall_queue: usize,
    /// `afxdp` moves packets through AF_XDP sockets; `none` runs the pipeline without
    /// moving packets (for trying flows out).
    #[arg(long, default_value = "afxdp", value_parser = ["afxdp", "none"])]
    datapath: String,
    /// XDP attach mode: native (driver) first with generic as a logged fallback, or one
    /// of them only.
    #[arg(long, default_value = "auto", value_parser = ["auto", "native", "generic"])]
    xdp_mode: String,
    /// The XDP tier: hot cache entries that the kernel can carry out (L2 matches; VLAN,
    /// MAC and tunnel-id changes; GRE/VXLAN encapsulation and decapsulation; one output
    /// to a port whose netdev takes XDP redirects) are done in the XDP program, before
    /// AF_XDP; the workers' caches stay the authority.
    /// On by default (`XVSD_XDP_TIER` changes the default); off where the kernel cannot
    /// wait for its grace periods (membarrier, logged).
    #[arg(long, env = "XVSD_XDP_TIER", default_value = "on", value_parser = ["on", "off"])]
    xdp_tier: String,
    /// Ask for zero-copy AF_XDP (falls back to copy mode where the driver cannot).
    #[arg(long)]
    zero_copy: bool,
    /// Frames of 4 KiB in each worker's UMEM (pinned memory). A quarter is kept for
    /// transmission; the rest is shared among the worker's sockets (one per port queue),
    /// up to 1024 and at least 64 each: the default, 16384 (64 MiB), gives 12 sockets
    /// full fill rings and fits 44 however idle they are (192 once traffic has
    /// evened their shares).
    #[arg(long, default_value_t = 16384, value_parser = clap::value_parser!(u32).range(1024..=1 << 20))]
    umem_frames: u32,
    /// Control socket: a request line begun must be complete, and a reply must be
    /// taken (make progress), within SECS; a client that stalls longer is closed.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    control_timeout: Duration,
    /// Control socket: a client that sends nothing for SECS is closed.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = seconds)]
    control_idle_timeout: Duration,
    /// OpenFlow management sockets (BRIDGE.mgmt): after SECS with no whole message an
    /// echo request is sent, and the connection is closed if nothing comes back within
    /// as long again (OVS: 60; at least 5).
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = seconds)]
    mgmt_inactivity_probe: Duration,
    /// The database connection: after SECS with nothing received an echo request is
    /// sent, and the connection is made again if nothing comes within as long again;
    /// 0: no probes [default: as ovs-vswitchd, 5 over tcp:, none over unix:]
    #[arg(long, value_name = "SECS", value_parser = probe_secs)]
    db_inactivity_probe: Option<f64>,
    /// Log level (error, warn, info, debug, trace) or a tracing filter, for the console
    /// (stderr) and the log file; `ovs-appctl vlog/set` changes it at run time.
    #[arg(long, default_value = "info")]
    log: String,
    /// Also log to FILE [default: $OVS_LOGDIR/ovs-vswitchd.log, OVS_LOGDIR being
    /// /var/log/openvswitch unless set]; `ovs-appctl vlog/reopen` opens it again.
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    log_file: Option<String>,
    /// Write the pid to FILE once xvsd is ready, held locked while it runs and removed
    /// at exit, as ovs-vswitchd's (`ovs-appctl -t ovs-vswitchd` finds xvsd through it)
    /// [default: $OVS_RUNDIR/ovs-vswitchd.pid; a relative FILE is in $OVS_RUNDIR].
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pidfile: Option<String>,
    /// The unixctl socket `ovs-appctl` talks to [default:
    /// $OVS_RUNDIR/ovs-vswitchd.PID.ctl; a relative SOCKET is in $OVS_RUNDIR; `none`
    /// for no socket].
    #[arg(long, value_name = "SOCKET")]
    unixctl: Option<String>,
    /// Where the --log levels go: stderr (the console, with timestamps); journald
    /// (stderr lines with sd-daemon priority prefixes and no timestamps, for systemd's
    /// journal); syslog (facility daemon, instead of the console); auto: journald when
    /// stderr is the journal ($JOURNAL_STREAM), else stderr.
    #[arg(long, value_enum, default_value = "auto")]
    log_target: LogTarget,
    /// Serve Prometheus metrics (GET /metrics, OpenMetrics text) on ADDR:PORT, a
    /// loopback address only: 127.0.0.1:9478, [::1]:9478, :9478 (127.0.0.1) or an
    /// address alone (port 9478). Off unless given.
    #[arg(long, value_name = "ADDR:PORT", value_parser = metrics_address)]
    metrics: Option<std::net::SocketAddr>,
}

fn metrics_address(s: &str) -> Result<std::net::SocketAddr, String> {
    metrics::parse_address(s).map_err(|e| e.to_string())
}

/// A positive number of seconds (fractions allowed).
fn seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("\"{s}\" is not a positive number of seconds")),
    }
}

/// 0 (off), or at least 1 second (OVS's reconnect.c minimum).
fn probe_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v == 0.0 || (v.is_finite() && (1.0..1e9).contains(&v)) => Ok(v),
        _ => Err(format!("\"{s}\": 0 (no probes) or at least 1 second")),
    }
}

/// `path` as OVS's `abs_file_name(dir, path)`: absolute as it is, relative under `dir`.
fn under(dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let log_file = args.log_file.as_deref().map(|f| match f {
        "" => {
            let dir = std::env::var_os("OVS_LOGDIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/log/openvswitch"));
            dir.join("ovs-vswitchd.log")
        }
        f => PathBuf::from(f),
    });
    let vlog = match Vlog::init(&args.log, log_file, args.log_target) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("xvsd: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match run(args, vlog) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args, vlog: Arc<Vlog>) -> Result<(), String> {
    if args.workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    // systemd's Type=notify (sd_notify(3)): READY=1 once the database is applied.
    let notifier = Notifier::from_env();
    let database: Remote = match args.database.as_deref() {
        Some(d) => d.parse()?,
        None => Remote::default_from_env(),
    };
    // Refuse early if a daemon already serves this socket (before touching any port);
    // the socket itself appears only once the saved ports are back, so a client that
    // can connect finds the daemon ready.
    server::check_not_running(&args.socket).map_err(|e| e.to_string())?;

    let clock = Clock::new();
    let (up_tx, up_rx) = bounded::<Upcall>(args.upcall_queue.max(1));
    let mut workers = Vec::new();
    let mut handles = Vec::new();
    for id in 0..args.workers {
        let (cmd_tx, cmd_rx) = bounded(1 << 16);
        let w = Worker::new(id, args.cache_size, cmd_rx, up_tx.clone());
        handles.push(WorkerHandle {
            cmds: cmd_tx,
            stats: w.stats().clone(),
        });
        workers.push(w);
    }
    drop(up_tx);
    let mut fp = Revalidator::new(handles, args.cache_size);

    let stop = Arc::new(AtomicBool::new(false));
    let (backend, worker_threads): (Box<dyn PortBackend>, Vec<std::thread::JoinHandle<()>>) =
        match args.datapath.as_str() {
            "afxdp" => {
                let config = DatapathConfig {
                    cores: (0..args.workers)
                        .map(|i| args.cores.get(i).copied())
                        .collect(),
                    xdp_mode: match args.xdp_mode.as_str() {
                        "native" => XdpMode::Native,
                        "generic" => XdpMode::Generic,
                        _ => XdpMode::Auto,
                    },
                    bind_mode: if args.zero_copy {
                        BindMode::ZeroCopyThenCopy
                    } else {
                        BindMode::Copy
                    },
                    umem_frames: args.umem_frames,
                    xdp_tier: args.xdp_tier == "on",
                    ..DatapathConfig::default()
                };
                let dp = AfXdpDatapath::start(config, workers, move || clock.now_ms())
                    .map_err(|e| format!("starting the AF_XDP datapath: {e}"))?;
                if let Some(tier) = dp.tier() {
                    fp.set_tier(Box::new(tier));
                }
                (Box::new(AfXdpBackend::new(dp)), Vec::new())
            }
            _ => {
                // Without a datapath the workers only answer the control thread.
                let threads = workers
                    .into_iter()
                    .map(|mut w| {
                        let stop = stop.clone();
                        std::thread::spawn(move || {
                            while !stop.load(Ordering::Relaxed) {
                                w.poll_commands(&mut |_, _| {});
                                std::thread::sleep(Duration::from_millis(1));
                            }
                        })
                    })
                    .collect();
                (Box::new(NoDatapath), threads)
            }
        };

    let control = ControlThread::spawn(Switch::new(), fp, up_rx, clock, ControlConfig::default());
    let daemon = Arc::new(Daemon::new(control, backend));
    // OpenFlow: every bridge's management socket and controllers, configured by the
    // bridge layer from the database.
    let connmgr = Arc::new(ConnMgr::new(
        Arc::downgrade(&daemon),
        Arc::new(OvsModel),
        ovs_rundir(),
    ));
    connmgr.set_mgmt_probe(args.mgmt_inactivity_probe);
    daemon.set_connmgr(connmgr.clone());
    let (db_tx, db_rx) = bounded(64);
    daemon.set_database(db_tx);
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    // Ports follow their netdevs from now on (the first dump attaches a restored port
    // whose netdev appeared meanwhile).
    let links = {
        let d = daemon.clone();
        links::spawn(stop.clone(), move |ev| d.link_event(ev))
            .map_err(|e| tracing::warn!(error = %e, "no link notifications: ports will not follow their netdevs"))
            .ok()
    };
    let db_probe = match args.db_inactivity_probe {
        None => database.default_probe(),
        Some(0.0) => None,
        Some(s) => Some(Duration::from_secs_f64(s)),
    };
    let database_name = database.to_string();
    let ovsdb = {
        let (daemon, stop) = (daemon.clone(), stop.clone());
        std::thread::spawn(move || {
            let r = client::run(database, db_probe, daemon, db_rx, stop.clone());
            // Whatever ended the client ends the daemon.
            stop.store(true, Ordering::Relaxed);
            r
        })
    };
    // The control socket appears once the database's bridges and ports are in place,
    // so a client that can connect finds the daemon ready; a database that does not
    // answer does not keep the daemon from serving (it is followed when it comes).
    notifier.status(&format!("waiting for the database ({database_name})"));
    let waiting = std::time::Instant::now();
    while !daemon.database_applied()
        && !stop.load(Ordering::Relaxed)
        && waiting.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    if !daemon.database_applied() && !stop.load(Ordering::Relaxed) {
        tracing::warn!("the database is not applied yet; serving the control socket anyway");
    }
    // The metrics endpoint, if asked for: bound before ovs-appctl's socket, the
    // pidfile and the control socket, so that a port in use stops xvsd before any of them
    // says it is there.
    let metrics_server = match args.metrics {
        None => None,
        Some(addr) => {
            let l = metrics::server::bind(addr)
                .map_err(|e| format!("--metrics {addr}: could not listen ({e})"))?;
            let weak = Arc::downgrade(&daemon);
            let source = Box::new(move || match weak.upgrade() {
                Some(d) => metrics::exposition::encode_snapshot(&d.metrics_snapshot()),
                None => String::from("# EOF\n"),
            });
            let m = MetricsServer::spawn(l, source, MetricsConfig::default())
                .map_err(|e| format!("metrics thread: {e}"))?;
            tracing::info!(address = %m.local_addr, "serving metrics on http://{}/metrics", m.local_addr);
            Some(m)
        }
    };
    // ovs-appctl's socket, then the pidfile that leads to it, then the control socket:
    // whoever finds one of them finds the ones before it.
    let cores: Vec<Option<usize>> = (0..args.workers)
        .map(|i| args.cores.get(i).copied())
        .collect();
    let appctl = Arc::new(Appctl::new(
        Arc::downgrade(&daemon),
        Some(vlog),
        stop.clone(),
        &cores,
    ));
    let rundir = ovs_rundir();
    let unixctl_path = match args.unixctl.as_deref() {
        Some("none") => None,
        Some(p) => Some(under(&rundir, p)),
        None => Some(rundir.join(format!("ovs-vswitchd.{}.ctl", std::process::id()))),
    };
    let unixctl = match &unixctl_path {
        Some(p) => {
            let l = unixctl::server::bind(p).map_err(|e| {
                format!("{}: could not initialize control socket ({e})", p.display())
            })?;
            let cfg = UnixctlConfig {
                request_timeout: args.control_timeout,
                ..UnixctlConfig::default()
            };
            Some(
                UnixctlServer::spawn(appctl.clone(), l, cfg)
                    .map_err(|e| format!("unixctl thread: {e}"))?,
            )
        }
        None => None,
    };
    let pidfile = match args.pidfile.as_deref() {
        None => None,
        Some(f) => {
            let path = if f.is_empty() {
                rundir.join("ovs-vswitchd.pid")
            } else {
                under(&rundir, f)
            };
            match Pidfile::create(&path) {
                Ok(p) => Some(p),
                Err(e) => {
                    if let Some(p) = &unixctl_path {
                        let _ = std::fs::remove_file(p);
                    }
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
    };
    let listener = server::bind(&args.socket).map_err(|e| e.to_string())?;
    tracing::info!(socket = %args.socket.display(), workers = args.workers, datapath = %args.datapath, "xvsd ready");
    let server = {
        let (daemon, stop) = (daemon.clone(), stop.clone());
        let cfg = server::ServerConfig {
            request_timeout: args.control_timeout,
            idle_timeout: args.control_idle_timeout,
            ..server::ServerConfig::default()
        };
        std::thread::Builder::new()
            .name("xvs-control-socket".into())
            .spawn(move || server::serve_with(daemon, listener, stop, cfg))
            .map_err(|e| format!("control socket thread: {e}"))?
    };
    let mut ready = false;
    while !stop.load(Ordering::Relaxed) {
        if !ready && daemon.database_applied() {
            ready = true;
            notifier.ready(&service::ready_status(&daemon, &database_name));
        }
        let now = std::time::Instant::now();
        daemon.tick(now);
        appctl.tick(now);
        std::thread::sleep(Duration::from_millis(50));
    }
    let cleanup = appctl.exit_requested();
    tracing::info!(
        "stopping{}",
        match cleanup {
            Some(true) => " (ovs-appctl exit --cleanup)",
            Some(false) => " (ovs-appctl exit)",
            None => "",
        }
    );
    notifier.stopping("stopping: detaching ports");
    if let Some(m) = metrics_server {
        let c = &m.counters;
        tracing::info!(
            served = c.served.load(Ordering::Relaxed),
            refused = c.refused.load(Ordering::Relaxed),
            timed_out = c.timed_out.load(Ordering::Relaxed),
            "metrics endpoint closed"
        );
    }
    // OpenFlow connections first (they use the control thread); their sockets go.
    connmgr.shutdown();
    let _ = server.join();
    let failed = match ovsdb.join() {
        Ok(Err(e)) => Some(e.to_string()),
        _ => None,
    };
    let _ = std::fs::remove_file(&args.socket);
    if let Some(t) = links {
        let _ = t.join();
    }
    let internal = match cleanup {
        Some(true) => daemon.internal_ports(),
        _ => Vec::new(),
    };
    // Dropping the daemon detaches every port and stops the control thread (a command
    // still running holds it a moment longer: waited for).
    let weak = Arc::downgrade(&daemon);
    drop(daemon);
    let waiting = std::time::Instant::now();
    while weak.strong_count() > 0 && waiting.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    for t in worker_threads {
        let _ = t.join();
    }
    for name in internal {
        ports::delete_internal(&name);
    }
    // What leads ovs-appctl here goes, then `exit` is answered: when it returns, xvsd
    // has stopped.
    drop(pidfile);
    if let Some(p) = &unixctl_path {
        let _ = std::fs::remove_file(p);
    }
    appctl.exit_done();
    if let Some(u) = unixctl {
        u.finish();
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
