//! An active controller (`Controller.target` `tcp:` or `unix:`): one thread connects,
//! serves the connection, and reconnects with [`Rconn`]'s backoff, until the
//! controller is removed (OVS's rconn under an ofservice of type primary).

use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::bridge::{BridgeShared, DaemonBridge};
use super::conn::{serve, Observer, Stream, POLL};
use super::rconn::{ProbeSetting, Rconn};
use super::session::{ConnKind, Role, Session};
use super::target::Target;
use super::Ctx;

/// The connection's state, shared with the connection manager (status, fail-open).
pub struct ControllerState {
    pub rconn: Rconn,
    /// The open connection's id (for its role), while there is one.
    pub conn: Option<u64>,
    max_backoff: Duration,
}

impl ControllerState {
    pub fn new(max_backoff: Duration, now: Instant) -> ControllerState {
        ControllerState {
            rconn: Rconn::new(max_backoff, now),
            conn: None,
            max_backoff,
        }
    }
}

pub struct ActiveController {
    pub state: Arc<Mutex<ControllerState>>,
    probe: Arc<ProbeSetting>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ActiveController {
    pub fn start(
        target: Target,
        probe: Option<Duration>,
        max_backoff: Duration,
        kind: ConnKind,
        shared: Arc<BridgeShared>,
        ctx: Arc<Ctx>,
    ) -> ActiveController {
        let state = Arc::new(Mutex::new(ControllerState::new(
            max_backoff,
            Instant::now(),
        )));
        let stop = Arc::new(AtomicBool::new(false));
        let probe = Arc::new(ProbeSetting::new(probe));
        let thread = {
            let (state, stop, probe) = (state.clone(), stop.clone(), probe.clone());
            std::thread::Builder::new()
                .name(format!("xvs-of-{}", shared.name))
                .spawn(move || run(target, probe, kind, shared, ctx, stop, state))
                .map_err(|e| tracing::warn!(error = %e, "could not start a controller thread"))
                .ok()
        };
        ActiveController {
            state,
            probe,
            stop,
            thread,
        }
    }

    /// `inactivity_probe` or `max_backoff` changed: the connection stays and goes on
    /// with them (OVS's ofconn_reconfigure).
    pub fn reconfigure(&self, probe: Option<Duration>, max_backoff: Duration) {
        self.probe.set(probe);
        let mut s = self.state.lock().expect("controller state lock");
        s.max_backoff = max_backoff;
        s.rconn.set_max_backoff(max_backoff, Instant::now());
    }

    /// The role of the open connection, if there is one.
    pub fn role(&self, shared: &BridgeShared) -> Option<Role> {
        let conn = self.state.lock().expect("controller state lock").conn?;
        Some(shared.role(conn))
    }

    /// Asks the thread to stop (see [`ActiveController::join`]).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    pub fn join(mut self) {
        self.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn connect(target: &Target, timeout: Duration) -> std::io::Result<Stream> {
    match target {
        Target::Tcp { host, port } => {
            let mut last =
                std::io::Error::new(std::io::ErrorKind::NotFound, format!("{host}: no address"));
            for addr in (host.as_str(), *port).to_socket_addrs()? {
                match TcpStream::connect_timeout(&addr, timeout) {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        return Ok(Stream::Tcp(s));
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
        Target::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "not an active target",
        )),
    }
}

fn run(
    target: Target,
    probe: Arc<ProbeSetting>,
    kind: ConnKind,
    shared: Arc<BridgeShared>,
    ctx: Arc<Ctx>,
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<ControllerState>>,
) {
    let name = format!("{}<->{}", shared.name, target);
    let stopped = || stop.load(Ordering::Acquire) || ctx.stopping();
    let mut logged_failure = false;
    while !stopped() {
        let now = Instant::now();
        let (due, next, timeout) = {
            let s = state.lock().expect("controller state lock");
            (
                s.rconn.attempt_due(now),
                s.rconn.next_attempt(),
                s.rconn.connect_timeout(),
            )
        };
        if !due {
            std::thread::sleep(next.saturating_duration_since(now).min(POLL));
            continue;
        }
        state
            .lock()
            .expect("controller state lock")
            .rconn
            .connecting(now);
        if !logged_failure {
            tracing::info!(controller = %name, "connecting...");
        }
        let stream = match connect(&target, timeout) {
            Ok(s) => s,
            Err(e) => {
                if !logged_failure {
                    tracing::warn!(controller = %name, error = %e, "connection failed; retrying with backoff");
                    logged_failure = true;
                }
                let mut s = state.lock().expect("controller state lock");
                s.rconn.connect_failed(Instant::now(), e.to_string());
                continue;
            }
        };
        let conn = ctx.next_conn_id();
        let mut session = Session::new(kind, shared.allowed());
        let mut sw = DaemonBridge {
            daemon: ctx.daemon.clone(),
            shared: shared.clone(),
            conn,
        };
        let mut obs = ActiveObserver {
            state: &state,
            stop: &stop,
            ctx: &ctx,
            shared: &shared,
            epoch: shared.epoch(),
            connect_deadline: now + timeout,
            connected: false,
            timed_out: false,
            reset: false,
            name: &name,
            conn,
        };
        let why = serve(
            &name,
            stream,
            &mut session,
            &mut sw,
            &*ctx.model,
            &probe,
            &mut obs,
        );
        let (connected, timed_out, reset) = (obs.connected, obs.timed_out, obs.reset);
        shared.forget(conn);
        let now = Instant::now();
        let mut s = state.lock().expect("controller state lock");
        s.conn = None;
        if reset {
            // The bridge's versions changed: a new connection at once, as OVS
            // re-creates the controller.
            s.rconn = Rconn::new(s.max_backoff, now);
        } else if timed_out {
            s.rconn.connect_timed_out(now);
        } else {
            s.rconn.disconnected(now, why.clone());
        }
        if connected {
            tracing::warn!(controller = %name, reason = %why, "connection dropped");
            logged_failure = false;
        } else if !logged_failure {
            tracing::warn!(controller = %name, reason = %why, "connection failed; retrying with backoff");
            logged_failure = true;
        }
        ctx.wake();
    }
}

struct ActiveObserver<'a> {
    state: &'a Mutex<ControllerState>,
    stop: &'a AtomicBool,
    ctx: &'a Ctx,
    shared: &'a BridgeShared,
    epoch: u64,
    connect_deadline: Instant,
    connected: bool,
    timed_out: bool,
    reset: bool,
    name: &'a str,
    conn: u64,
}

impl Observer for ActiveObserver<'_> {
    fn keep_going(&mut self, session: &Session) -> bool {
        if self.stop.load(Ordering::Acquire) || self.ctx.stopping() {
            return false;
        }
        if self.shared.epoch() != self.epoch {
            self.reset = true;
            return false;
        }
        let now = Instant::now();
        if !self.connected {
            if let Some(v) = session.version() {
                self.connected = true;
                let mut s = self.state.lock().expect("controller state lock");
                s.rconn.connected(now);
                s.conn = Some(self.conn);
                drop(s);
                tracing::info!(controller = %self.name, version = %v, "connected");
                self.ctx.wake();
            } else if now >= self.connect_deadline {
                self.timed_out = true;
                return false;
            }
        }
        true
    }

    fn received(&mut self, session: &Session, now: Instant) {
        let mut s = self.state.lock().expect("controller state lock");
        let was = s.rconn.is_admitted();
        s.rconn.received(now, session.admitted());
        if s.rconn.is_admitted() != was {
            self.ctx.wake();
        }
    }
}
