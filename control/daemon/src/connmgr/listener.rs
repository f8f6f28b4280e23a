//! Passive OpenFlow sockets: a bridge's management socket (`punix:$OVS_RUNDIR/BRIDGE.mgmt`,
//! where `ovs-ofctl CMD BRIDGE` connects) and passive `Controller.target`s (`ptcp:`,
//! `punix:`). One thread accepts; each connection gets a thread of its own
//! ([`super::conn`]), up to [`MAX_LISTENER_CONNECTIONS`] per listener and
//! [`MAX_PASSIVE_CONNECTIONS`] in all (one more is closed at once, logged and counted:
//! `dp-show`'s `refused`).
//!
//! A connection that stalls goes as in OVS (an accepted connection is an rconn made
//! "unreliably", its backoff 0): one that has not completed the HELLO exchange within
//! [`HELLO_TIMEOUT`] (rconn's CONNECTING timeout, `MAX(1 s, backoff)`) is closed; after
//! it, one that sends no whole message for the probe interval (60 s on the management
//! socket, `inactivity_probe` for a passive controller target) is sent an echo request,
//! and closed if no whole message comes within as long again. Part of a message is no
//! answer, and holds at most 64 KiB (the OpenFlow length field) plus what the session
//! reads ahead ([`super::session::INPUT_LIMIT`]).

use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::bridge::{BridgeShared, DaemonBridge};
use super::conn::{serve, wait, Observer, Stream, POLL, PROBE_DEAD};
use super::rconn::ProbeSetting;
use super::session::{ConnKind, Session};
use super::target::Target;
use super::Ctx;

/// Connections accepted on passive sockets that may be open at once (every bridge
/// together); one more is closed at once.
pub const MAX_PASSIVE_CONNECTIONS: usize = 512;

/// Connections one passive socket may have open at once; one more is closed at once.
pub const MAX_LISTENER_CONNECTIONS: usize = 128;

/// The probe interval of management connections (OVS: 60 s; `xvsd
/// --mgmt-inactivity-probe`).
pub const MGMT_PROBE: Duration = Duration::from_secs(60);

/// How long an accepted connection has to complete the HELLO exchange (OVS: rconn's
/// CONNECTING timeout, `MAX(1000 ms, backoff)` with a backoff of 0).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(1);

enum Socket {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Socket {
    fn fd(&self) -> RawFd {
        match self {
            Socket::Unix(l) => l.as_raw_fd(),
            Socket::Tcp(l) => l.as_raw_fd(),
        }
    }

    fn accept(&self) -> std::io::Result<Stream> {
        match self {
            Socket::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
            Socket::Tcp(l) => l.accept().map(|(s, _)| {
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }),
        }
    }
}

/// A listening socket and its thread; closing it closes the connections it accepted.
pub struct Listener {
    stop: Arc<AtomicBool>,
    /// Its connections' probe interval.
    probe: Arc<ProbeSetting>,
    thread: Option<JoinHandle<()>>,
    /// A unix socket's file, removed when the listener goes.
    path: Option<PathBuf>,
}

/// Binds a unix socket at `path`, replacing a stale one (a socket nobody answers on,
/// left by a crash); refuses one someone still listens on.
fn bind_unix(path: &Path) -> Result<UnixListener, String> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(format!("{}: another process listens there", path.display()));
        }
        std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
    }
    UnixListener::bind(path).map_err(|e| format!("{}: {e}", path.display()))
}

impl Listener {
    /// Listens on a passive `target` for `shared`'s bridge.
    pub fn start(
        target: &Target,
        probe: Option<Duration>,
        kind: ConnKind,
        shared: Arc<BridgeShared>,
        ctx: Arc<Ctx>,
    ) -> Result<Listener, String> {
        let (socket, path) = match target {
            Target::PUnix(p) => (Socket::Unix(bind_unix(p)?), Some(p.clone())),
            Target::PTcp(a) => (
                Socket::Tcp(TcpListener::bind(a).map_err(|e| format!("{target}: {e}"))?),
                None,
            ),
            _ => return Err(format!("{target}: not a passive target")),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let probe = Arc::new(ProbeSetting::new(probe));
        let name = format!("{}<->{target}", shared.name);
        let thread = {
            let (stop, probe) = (stop.clone(), probe.clone());
            std::thread::Builder::new()
                .name(format!("xvs-listen-{}", shared.name))
                .spawn(move || accept_loop(socket, probe, kind, shared, ctx, stop, name))
                .map_err(|e| format!("{target}: no thread: {e}"))?
        };
        Ok(Listener {
            stop,
            probe,
            thread: Some(thread),
            path,
        })
    }

    /// A new probe interval for the connections it accepted and will accept.
    pub fn set_probe(&self, probe: Option<Duration>) {
        self.probe.set(probe);
    }

    /// Stops accepting, closes the connections it accepted, removes its socket file.
    pub fn close(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn accept_loop(
    socket: Socket,
    probe: Arc<ProbeSetting>,
    kind: ConnKind,
    shared: Arc<BridgeShared>,
    ctx: Arc<Ctx>,
    stop: Arc<AtomicBool>,
    name: String,
) {
    if let Socket::Unix(l) = &socket {
        let _ = l.set_nonblocking(true);
    }
    if let Socket::Tcp(l) = &socket {
        let _ = l.set_nonblocking(true);
    }
    let mut refused = 0u64;
    let mine = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Acquire) && !ctx.stopping() {
        let (readable, _, _) = wait(socket.fd(), true, false, POLL);
        if !readable {
            continue;
        }
        let stream = match socket.accept() {
            Ok(s) => s,
            Err(_) => continue,
        };
        let Some(_slot) = ctx.passive_slot(&mine) else {
            refused += 1;
            ctx.stats.refused.fetch_add(1, Ordering::Relaxed);
            // The first, then every power of two: a flood does not flood the log.
            if refused.is_power_of_two() {
                tracing::warn!(
                    listener = %name,
                    open = mine.load(Ordering::Relaxed),
                    refused,
                    "too many OpenFlow connections (at most {MAX_LISTENER_CONNECTIONS} per socket, {MAX_PASSIVE_CONNECTIONS} in all): closing new ones"
                );
            }
            continue;
        };
        ctx.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let conn = ctx.next_conn_id();
        let (shared, ctx2, stop, probe) =
            (shared.clone(), ctx.clone(), stop.clone(), probe.clone());
        let peer = stream.peer();
        let spawned = std::thread::Builder::new()
            .name(format!("xvs-ofconn-{}", shared.name))
            .spawn(move || {
                let _slot = _slot;
                let mut session = Session::new(kind, shared.allowed());
                let mut sw = DaemonBridge {
                    daemon: ctx2.daemon.clone(),
                    shared: shared.clone(),
                    conn,
                };
                let mut obs = PassiveObserver {
                    stop: &stop,
                    ctx: &ctx2,
                    shared: &shared,
                    epoch: shared.epoch(),
                    hello_deadline: Instant::now() + HELLO_TIMEOUT,
                    hello_timed_out: false,
                };
                let name = format!("{}<->{peer}#{conn}", shared.name);
                let mut why = serve(&name, stream, &mut session, &mut sw, &*ctx2.model, &probe, &mut obs);
                shared.forget(conn);
                if obs.hello_timed_out {
                    ctx2.stats.hello_timeouts.fetch_add(1, Ordering::Relaxed);
                    why = "Connection timed out (no HELLO exchange within 1 s)".into();
                } else if why == PROBE_DEAD {
                    ctx2.stats.probe_timeouts.fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!(bridge = %shared.name, %peer, reason = %why, messages = session.stats.messages, "OpenFlow connection closed");
            });
        match spawned {
            Ok(h) => ctx.keep_thread(h),
            Err(e) => tracing::warn!(error = %e, "could not start a connection thread"),
        }
    }
}

struct PassiveObserver<'a> {
    stop: &'a AtomicBool,
    ctx: &'a Ctx,
    shared: &'a BridgeShared,
    epoch: u64,
    /// The HELLO exchange must be over by then.
    hello_deadline: Instant,
    hello_timed_out: bool,
}

impl Observer for PassiveObserver<'_> {
    fn keep_going(&mut self, session: &Session) -> bool {
        if session.version().is_none() && Instant::now() >= self.hello_deadline {
            self.hello_timed_out = true;
            return false;
        }
        !self.stop.load(Ordering::Acquire)
            && !self.ctx.stopping()
            && self.shared.epoch() == self.epoch
    }

    fn deadline(&self, session: &Session) -> Option<Instant> {
        session.version().is_none().then_some(self.hello_deadline)
    }
}
