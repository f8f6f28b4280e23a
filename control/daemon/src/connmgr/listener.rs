//! Passive OpenFlow sockets: a bridge's management socket (`punix:$OVS_RUNDIR/BRIDGE.mgmt`,
//! where `ovs-ofctl CMD BRIDGE` connects) and passive `Controller.target`s (`ptcp:`,
//! `punix:`). One thread accepts; each connection gets a thread of its own
//! ([`super::conn`]), up to [`MAX_PASSIVE_CONNECTIONS`] in all.

use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::bridge::{BridgeShared, DaemonBridge};
use super::conn::{serve, wait, Observer, Stream, POLL};
use super::session::{ConnKind, Session};
use super::target::Target;
use super::Ctx;

/// Connections accepted on passive sockets that may be open at once (every bridge
/// together); one more is closed at once.
pub const MAX_PASSIVE_CONNECTIONS: usize = 128;

/// The probe interval of management connections (OVS: 60 s).
pub const MGMT_PROBE: Duration = Duration::from_secs(60);

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
        let name = format!("{}<->{target}", shared.name);
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("xvs-listen-{}", shared.name))
                .spawn(move || accept_loop(socket, probe, kind, shared, ctx, stop, name))
                .map_err(|e| format!("{target}: no thread: {e}"))?
        };
        Ok(Listener {
            stop,
            thread: Some(thread),
            path,
        })
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
    probe: Option<Duration>,
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
    while !stop.load(Ordering::Acquire) && !ctx.stopping() {
        let (readable, _, _) = wait(socket.fd(), true, false, POLL);
        if !readable {
            continue;
        }
        let stream = match socket.accept() {
            Ok(s) => s,
            Err(_) => continue,
        };
        let Some(_slot) = ctx.passive_slot() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(listener = %name, refused, "too many OpenFlow connections: closing new ones");
            }
            continue;
        };
        let conn = ctx.next_conn_id();
        let (shared, ctx2, stop) = (shared.clone(), ctx.clone(), stop.clone());
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
                };
                let why = serve(stream, &mut session, &mut sw, &*ctx2.model, probe, &mut obs);
                shared.forget(conn);
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
}

impl Observer for PassiveObserver<'_> {
    fn keep_going(&mut self, _: &Session) -> bool {
        !self.stop.load(Ordering::Acquire)
            && !self.ctx.stopping()
            && self.shared.epoch() == self.epoch
    }
}
