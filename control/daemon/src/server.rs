//! The control socket: a unix stream socket, owner-only, one request per line.
//!
//! One thread runs an event loop over every client (`poll(2)`): it accepts, reads into
//! each client's bounded buffer, writes replies, and closes clients that stall; a small
//! pool of worker threads runs the requests (a request can wait for the control
//! thread's barrier, or up to 30 s for the database, so the loop never runs one
//! itself). No client can lock another out:
//!
//! * A request line, once begun, must arrive whole within the request timeout
//!   ([`ServerConfig::request_timeout`], 10 s; time spent not read for want of budget,
//!   see below, does not count); a client waiting that long in the middle of a line
//!   gets a `timeout` error and is closed. A client that sends nothing for the idle
//!   timeout (60 s) is closed.
//! * A line may be [`MAX_LINE`] (16 MiB) long; a longer one gets `line-too-long` and the
//!   connection is closed. Each client may hold [`FREE_BYTES`] (64 KiB) of input for
//!   nothing; beyond that, input (including a request being run) is charged to a budget
//!   shared by all clients ([`ServerConfig::line_budget`], 32 MiB), and a client is not
//!   read while the budget is spent. Input held is thus at most 128 x 64 KiB + 32 MiB,
//!   whatever the clients do.
//! * A client has one request at a time with the workers and one reply at a time to
//!   take; while it has either, it is not read (pipelined requests wait in the kernel's
//!   socket buffer). A reply that makes no progress for the request timeout (a client
//!   that does not read) drops the client.
//! * At most [`ServerConfig::max_clients`] (128) clients at once; one more evicts the
//!   client that has been waiting for input the longest (at least [`EVICT_AFTER`]), or,
//!   if every client is busy, is told `busy` and closed.
//! * Configuration commands (bridges and ports: database transactions) run on their own
//!   workers, so a database that is slow to answer delays no flow or dump request.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde_json::Value;

use crate::pollserver::{
    earliest, eviction_victim, next_connection, poll_timeout, wake_channel, Flush, Outgoing,
    PollSet, ReadExpiry, ReadTimer, WakeReceiver, Waker,
};
use crate::protocol::{parse_request, Command, Response, MAX_LINE};
use crate::Daemon;

/// Input a client may hold without drawing on the shared budget.
pub const FREE_BYTES: usize = 64 << 10;
/// A client waiting for input at least this long may be evicted for a new one.
pub const EVICT_AFTER: Duration = Duration::from_secs(1);
/// Bytes read at once from a client.
const CHUNK: usize = 64 << 10;

/// The control socket's bounds and timeouts (`xvsd --control-timeout`,
/// `--control-idle-timeout`).
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// A request line begun must be complete within this; a reply must make progress
    /// within this.
    pub request_timeout: Duration,
    /// A client that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Clients at once.
    pub max_clients: usize,
    /// The longest request line.
    pub max_line: usize,
    /// Input beyond [`FREE_BYTES`] per client, all clients together.
    pub line_budget: usize,
    /// Workers for flow and read requests.
    pub workers: usize,
    /// Workers for configuration requests (database transactions).
    pub config_workers: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_clients: 128,
            max_line: MAX_LINE,
            line_budget: 32 << 20,
            workers: 4,
            config_workers: 2,
        }
    }
}

/// What the control socket has done, for `dp-show`.
#[derive(Debug, Default)]
pub struct ControlStats {
    /// Clients connected now.
    pub clients: AtomicU64,
    pub accepted: AtomicU64,
    /// Told `busy` and closed: every client had a request running.
    pub refused: AtomicU64,
    /// Closed to make room for a new client.
    pub evicted: AtomicU64,
    /// Closed in the middle of a line after the request timeout.
    pub read_timeouts: AtomicU64,
    /// Closed after the idle timeout.
    pub idle_closed: AtomicU64,
    /// Closed for a line over the limit.
    pub too_long: AtomicU64,
    /// Closed for not taking a reply.
    pub slow_readers: AtomicU64,
}

impl ControlStats {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn json(&self) -> Value {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "clients": g(&self.clients), "accepted": g(&self.accepted),
            "refused": g(&self.refused), "evicted": g(&self.evicted),
            "read_timeouts": g(&self.read_timeouts), "idle_closed": g(&self.idle_closed),
            "too_long": g(&self.too_long), "slow_readers": g(&self.slow_readers),
        })
    }

    pub fn text(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "clients:{} accepted:{} refused:{} evicted:{} read-timeouts:{} idle-closed:{} too-long:{} slow-readers:{}",
            g(&self.clients),
            g(&self.accepted),
            g(&self.refused),
            g(&self.evicted),
            g(&self.read_timeouts),
            g(&self.idle_closed),
            g(&self.too_long),
            g(&self.slow_readers)
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("another xvsd is already serving {0}")]
    InUse(PathBuf),
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Fails if a live daemon answers at `path`.
pub fn check_not_running(path: &Path) -> Result<(), ServerError> {
    if UnixStream::connect(path).is_ok() {
        return Err(ServerError::InUse(path.to_path_buf()));
    }
    Ok(())
}

/// Binds the socket at `path`: creates its directory (owner-only when we create it),
/// replaces a stale socket left by a crash, refuses if a live daemon answers there.
pub fn bind(path: &Path) -> Result<UnixListener, ServerError> {
    let io = |source| ServerError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(io)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(ServerError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(listener)
}

/// A request for the workers: the client it came from, and its line.
struct Job {
    client: u64,
    line: Vec<u8>,
}

/// A configuration request, parsed, for the configuration workers.
struct ConfigJob {
    client: u64,
    id: Option<Value>,
    cmd: Command,
}

/// A reply for the loop.
struct Done {
    client: u64,
    reply: Option<String>,
}

/// Where the workers' replies come back, and how they wake the loop.
#[derive(Clone)]
struct Replies {
    tx: Sender<Done>,
    wake: Waker,
}

impl Replies {
    fn send(&self, client: u64, reply: Option<Response>) {
        let _ = self.tx.send(Done {
            client,
            reply: reply.map(|r| r.to_line()),
        });
        self.wake.wake();
    }
}

fn run_guarded(f: impl FnOnce() -> Response) -> Response {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Response::err(
            None,
            "internal",
            "the request failed inside xvsd (see its log)",
        )
    })
}

fn worker(daemon: Arc<Daemon>, jobs: Receiver<Job>, config: Sender<ConfigJob>, replies: Replies) {
    for job in jobs {
        let reply = match std::str::from_utf8(&job.line) {
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => match parse_request(line.trim_end()) {
                Err(resp) => Some(*resp),
                Ok((id, cmd)) if cmd.is_configuration() => {
                    let _ = config.send(ConfigJob {
                        client: job.client,
                        id,
                        cmd,
                    });
                    continue;
                }
                Ok((id, cmd)) => Some(run_guarded(|| daemon.respond(id, cmd))),
            },
            Err(_) => Some(Response::err(None, "bad-request", "request is not UTF-8")),
        };
        drop(job.line);
        replies.send(job.client, reply);
    }
}

fn config_worker(daemon: Arc<Daemon>, jobs: Receiver<ConfigJob>, replies: Replies) {
    for job in jobs {
        let reply = run_guarded(|| daemon.respond(job.id, job.cmd));
        replies.send(job.client, Some(reply));
    }
}

/// Where a client is.
#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Waiting for its next request.
    Reading,
    /// A request is with the workers.
    Running,
    /// Its reply is being written.
    Writing,
    /// Closed by us (with `out` as last words) or gone, once a request running ends.
    Closing,
}

struct Client {
    stream: UnixStream,
    state: State,
    /// Input not yet handed to the workers (at most one whole line is looked at).
    input: Vec<u8>,
    /// Bytes at the front of `input` known to hold no newline.
    scanned: usize,
    /// The size of the line with the workers (charged until its reply comes).
    running: usize,
    /// Charged to the shared budget.
    charged: usize,
    /// While reading: idle since when, and since when a line has been coming (part of
    /// it held).
    timer: ReadTimer,
    /// The reply (or last words) being written; when it last moved.
    out: Outgoing,
    /// The peer sent its last byte (end of file) or hung up.
    eof: bool,
    /// Gone: nothing more to read or write; kept until a running request ends.
    dead: bool,
}

impl Client {
    fn new(stream: UnixStream, now: Instant) -> Client {
        Client {
            stream,
            state: State::Reading,
            input: Vec::new(),
            scanned: 0,
            running: 0,
            charged: 0,
            timer: ReadTimer::new(now),
            out: Outgoing::empty(now),
            eof: false,
            dead: false,
        }
    }

    /// The end of the first whole line held, if any.
    fn line_end(&mut self) -> Option<usize> {
        match self.input[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(i) => Some(self.scanned + i + 1),
            None => {
                self.scanned = self.input.len();
                None
            }
        }
    }

    fn held(&self) -> usize {
        self.input.len() + self.running
    }
}

struct Loop<'a> {
    cfg: ServerConfig,
    stats: &'a ControlStats,
    clients: HashMap<u64, Client>,
    next_id: u64,
    /// Bytes charged to the shared budget, all clients together.
    charged: usize,
    jobs: Sender<Job>,
}

/// Serves clients until `stop` is set, with the default bounds.
pub fn serve(daemon: Arc<Daemon>, listener: UnixListener, stop: Arc<AtomicBool>) {
    serve_with(daemon, listener, stop, ServerConfig::default())
}

/// Serves clients until `stop` is set.
pub fn serve_with(
    daemon: Arc<Daemon>,
    listener: UnixListener,
    stop: Arc<AtomicBool>,
    cfg: ServerConfig,
) {
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let (wake_rx, waker) = wake_channel().expect("a socket pair to wake the loop");
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Done>();
    let replies = Replies {
        tx: done_tx,
        wake: waker,
    };
    // Every client has at most one request queued or running: the queues are bounded
    // by the number of clients.
    let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded::<Job>();
    let (config_tx, config_rx) = crossbeam_channel::unbounded::<ConfigJob>();
    let mut threads = Vec::new();
    for i in 0..cfg.workers.max(1) {
        let (d, j, c, r) = (
            daemon.clone(),
            jobs_rx.clone(),
            config_tx.clone(),
            replies.clone(),
        );
        threads.push(
            std::thread::Builder::new()
                .name(format!("xvs-ctl-{i}"))
                .spawn(move || worker(d, j, c, r))
                .expect("a control socket worker"),
        );
    }
    for i in 0..cfg.config_workers.max(1) {
        let (d, j, r) = (daemon.clone(), config_rx.clone(), replies.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("xvs-ctl-cfg-{i}"))
                .spawn(move || config_worker(d, j, r))
                .expect("a control socket worker"),
        );
    }
    drop((jobs_rx, config_rx, config_tx, replies));
    {
        let mut l = Loop {
            cfg,
            stats: daemon.control_stats(),
            clients: HashMap::new(),
            next_id: 0,
            charged: 0,
            jobs: jobs_tx,
        };
        l.run(&listener, &wake_rx, &done_rx, &stop);
        l.stats.clients.store(0, Ordering::Relaxed);
        // Dropping the loop closes every client and the job queue: the workers end
        // once the requests they run are answered.
    }
    drop(listener);
    for t in threads {
        let _ = t.join();
    }
}

impl Loop<'_> {
    fn run(
        &mut self,
        listener: &UnixListener,
        wake: &WakeReceiver,
        done: &Receiver<Done>,
        stop: &AtomicBool,
    ) {
        let mut set = PollSet::default();
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let next = self.expire(now);
            set.start(&[
                (listener.as_raw_fd(), libc::POLLIN),
                (wake.as_raw_fd(), libc::POLLIN),
            ]);
            let budget_left = self.charged < self.cfg.line_budget;
            for (&id, c) in &self.clients {
                let mut events = 0;
                match c.state {
                    State::Reading if !c.eof && (budget_left || c.held() < FREE_BYTES) => {
                        events |= libc::POLLIN
                    }
                    State::Writing | State::Closing if c.out.pending() && !c.dead => {
                        events |= libc::POLLOUT
                    }
                    _ => {}
                }
                // A client that hung up would be reported at every poll: it is not
                // polled until there is something to do for it.
                if events == 0 && (c.eof || c.dead) {
                    continue;
                }
                set.push_client(id, c.stream.as_raw_fd(), events);
            }
            if set.poll(poll_timeout(now, next)).is_err() {
                continue;
            }
            if set.own_revents(1) != 0 {
                wake.drain();
            }
            while let Ok(d) = done.try_recv() {
                self.finished(d);
            }
            for (id, r) in set.client_events() {
                let readable = self
                    .clients
                    .get(&id)
                    .is_some_and(|c| c.state == State::Reading && !c.eof && !c.dead);
                let hangup = r & (libc::POLLHUP | libc::POLLERR) != 0;
                if readable && (r & libc::POLLIN != 0 || hangup) {
                    self.read(id, hangup);
                } else if hangup {
                    // Gone: what it sent is still answered, if it can take the answer
                    // (a write tells); it is not polled again until then.
                    if let Some(c) = self.clients.get_mut(&id) {
                        c.eof = true;
                    }
                }
                if r & libc::POLLOUT != 0 {
                    self.write(id);
                }
            }
            if set.own_revents(0) != 0 {
                self.accept(listener);
            }
            self.advance_all();
        }
    }

    /// Closes the clients whose time is up; returns the next deadline.
    fn expire(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut expired = Vec::new();
        let budget_spent = self.charged >= self.cfg.line_budget;
        for (&id, c) in &mut self.clients {
            // Not read for want of budget, holding none: its time does not run (those
            // holding the budget are timed, and free it).
            if budget_spent && c.timer.partial() && c.charged == 0 && c.held() >= FREE_BYTES {
                c.timer.set_partial(Some(now));
            }
            let deadline = match c.state {
                State::Reading => {
                    let (t, why) = c
                        .timer
                        .deadline(self.cfg.request_timeout, self.cfg.idle_timeout);
                    let why = match why {
                        ReadExpiry::Partial => Expiry::Line,
                        ReadExpiry::Idle => Expiry::Idle,
                    };
                    Some((t, why))
                }
                State::Writing | State::Closing if !c.dead => {
                    Some((c.out.progress() + self.cfg.request_timeout, Expiry::Reply))
                }
                _ => None,
            };
            if let Some((t, why)) = deadline {
                if now >= t {
                    expired.push((id, why));
                } else {
                    next = earliest(next, t);
                }
            }
        }
        for (id, why) in expired {
            let secs = |d: Duration| d.as_secs_f64();
            match why {
                Expiry::Line => {
                    ControlStats::bump(&self.stats.read_timeouts);
                    let msg = format!(
                        "request line not completed within {} s: closing the connection",
                        secs(self.cfg.request_timeout)
                    );
                    tracing::debug!(client = id, "control socket: {msg}");
                    self.close_with(id, Response::err(None, "timeout", msg));
                }
                Expiry::Idle => {
                    ControlStats::bump(&self.stats.idle_closed);
                    tracing::debug!(client = id, "control socket: idle client closed");
                    self.drop_client(id);
                }
                Expiry::Reply => {
                    ControlStats::bump(&self.stats.slow_readers);
                    tracing::debug!(
                        client = id,
                        "control socket: client does not take its reply; closed"
                    );
                    self.drop_client(id);
                }
            }
        }
        next
    }

    fn accept(&mut self, listener: &UnixListener) {
        loop {
            let stream = match next_connection(|| listener.accept().map(|(s, _)| s)) {
                Ok(Some(s)) => s,
                Ok(None) => return,
                Err(e) => {
                    // Out of descriptors, most likely: the clients we have go on.
                    tracing::warn!(error = %e, "control socket: accept failed");
                    return;
                }
            };
            let now = Instant::now();
            if self.live() >= self.cfg.max_clients && !self.evict(now) {
                ControlStats::bump(&self.stats.refused);
                let msg = format!(
                    "too many clients ({} at once, each with a request running): try again",
                    self.cfg.max_clients
                );
                let _ = stream.set_nonblocking(true);
                let _ = (&stream).write(Response::err(None, "busy", msg).to_line().as_bytes());
                continue;
            }
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            ControlStats::bump(&self.stats.accepted);
            let id = self.next_id;
            self.next_id += 1;
            self.clients.insert(id, Client::new(stream, now));
            self.stats
                .clients
                .store(self.live() as u64, Ordering::Relaxed);
        }
    }

    fn live(&self) -> usize {
        self.clients.values().filter(|c| !c.dead).count()
    }

    /// Closes the client that has waited for input the longest, if one has waited at
    /// least [`EVICT_AFTER`].
    fn evict(&mut self, now: Instant) -> bool {
        let waiting = self
            .clients
            .iter()
            .filter(|(_, c)| !c.dead && c.state == State::Reading)
            .map(|(&id, c)| (id, c.timer.waiting_since()));
        let Some(id) = eviction_victim(waiting, now, EVICT_AFTER) else {
            return false;
        };
        ControlStats::bump(&self.stats.evicted);
        tracing::debug!(
            client = id,
            "control socket: too many clients, closing the one waiting longest"
        );
        self.close_with(
            id,
            Response::err(
                None,
                "busy",
                "too many clients: closing this connection, which waited longest",
            ),
        );
        true
    }

    fn read(&mut self, id: u64, hangup: bool) {
        let budget = self.cfg.line_budget;
        let max_line = self.cfg.max_line;
        let charged_total = self.charged;
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        // Room: free bytes first, then the shared budget; never past one line too many.
        let free = FREE_BYTES.saturating_sub(c.held());
        let shared = budget.saturating_sub(charged_total);
        let room = (free + shared)
            .min(CHUNK)
            .min((max_line + 1).saturating_sub(c.input.len()));
        if room == 0 {
            if hangup {
                // Gone in the middle of a line it cannot finish.
                self.drop_client(id);
            }
            return;
        }
        let old = c.input.len();
        c.input.resize(old + room, 0);
        let got = match c.stream.read(&mut c.input[old..]) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => 0,
            Err(_) => {
                c.input.truncate(old);
                self.drop_client(id);
                return;
            }
        };
        c.input.truncate(old + got);
        if got == 0 {
            // End of file (or nothing after all): a last line without its newline
            // still counts.
            if c.input.is_empty() {
                self.drop_client(id);
                return;
            }
            c.eof = true;
        } else {
            c.timer.input_arrived(Instant::now());
        }
        self.recharge(id);
    }

    fn write(&mut self, id: u64) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        match c.out.write_to(&c.stream) {
            Flush::Done => {}
            // Written again when the socket says it takes more (or at its deadline).
            Flush::Blocked | Flush::Stalled => return,
            Flush::Failed => {
                self.drop_client(id);
                return;
            }
        }
        let now = Instant::now();
        c.out = Outgoing::empty(now);
        match c.state {
            State::Writing => {
                c.state = State::Reading;
                c.timer.restart(now, !c.input.is_empty());
            }
            State::Closing => self.drop_client(id),
            _ => {}
        }
    }

    /// Moves every client on as far as it can go without waiting: whole lines to the
    /// workers, lines too long refused, finished clients closed.
    fn advance_all(&mut self) {
        let ids: Vec<u64> = self.clients.keys().copied().collect();
        for id in ids {
            self.advance(id);
        }
    }

    fn advance(&mut self, id: u64) {
        let max_line = self.cfg.max_line;
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.state != State::Reading || c.dead {
            return;
        }
        let end = match c.line_end() {
            Some(end) if end - 1 > max_line => None,
            Some(end) => Some(end),
            // The last line, without its newline.
            None if c.eof && !c.input.is_empty() && c.input.len() <= max_line => {
                Some(c.input.len())
            }
            None if c.eof && c.input.is_empty() => {
                self.drop_client(id);
                return;
            }
            None if c.input.len() > max_line => None,
            None => return,
        };
        let Some(end) = end else {
            ControlStats::bump(&self.stats.too_long);
            let msg = format!("request line longer than {max_line} bytes: closing the connection");
            tracing::debug!(client = id, "control socket: {msg}");
            self.close_with(id, Response::err(None, "line-too-long", msg));
            return;
        };
        let rest = c.input.split_off(end);
        let line = std::mem::replace(&mut c.input, rest);
        c.scanned = 0;
        c.running = line.len();
        c.state = State::Running;
        c.timer.set_partial(None);
        if self.jobs.send(Job { client: id, line }).is_err() {
            self.drop_client(id);
            return;
        }
        self.recharge(id);
    }

    /// A worker's reply.
    fn finished(&mut self, d: Done) {
        let Some(c) = self.clients.get_mut(&d.client) else {
            return;
        };
        c.running = 0;
        if c.dead {
            self.remove(d.client);
            return;
        }
        self.recharge(d.client);
        let Some(c) = self.clients.get_mut(&d.client) else {
            return;
        };
        match d.reply {
            Some(line) => {
                c.out = Outgoing::new(line.into_bytes(), Instant::now());
                c.state = State::Writing;
                self.write(d.client);
            }
            None => {
                // An empty line: nothing to answer.
                c.state = State::Reading;
                c.timer.restart(Instant::now(), !c.input.is_empty());
            }
        }
    }

    /// Sends `resp` as the client's last words, then closes it (at once if it cannot
    /// take them now).
    fn close_with(&mut self, id: u64, resp: Response) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        c.input = Vec::new();
        c.scanned = 0;
        c.timer.set_partial(None);
        let running = c.state == State::Running;
        c.out = Outgoing::new(resp.to_line().into_bytes(), Instant::now());
        c.state = State::Closing;
        if running {
            // Cannot happen (a running client is not read) but the reply must not be
            // mixed with this: the client just goes.
            self.drop_client(id);
            return;
        }
        self.recharge(id);
        self.write(id);
        // What does not fit in the socket buffer now is not waited for long.
        if let Some(c) = self.clients.get_mut(&id) {
            if c.out.pending() {
                self.drop_client(id);
            }
        }
    }

    /// Closes the client's socket; forgets it once no request of its runs.
    fn drop_client(&mut self, id: u64) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.running > 0 {
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
            c.dead = true;
            c.input = Vec::new();
            c.out = Outgoing::empty(Instant::now());
            self.recharge(id);
            self.stats
                .clients
                .store(self.live() as u64, Ordering::Relaxed);
            return;
        }
        self.remove(id);
    }

    fn remove(&mut self, id: u64) {
        if let Some(c) = self.clients.remove(&id) {
            self.charged -= c.charged;
        }
        self.stats
            .clients
            .store(self.live() as u64, Ordering::Relaxed);
    }

    /// Charges what the client holds beyond its free bytes to the shared budget.
    fn recharge(&mut self, id: u64) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let want = c.held().saturating_sub(FREE_BYTES);
        self.charged = self.charged - c.charged + want;
        c.charged = want;
        if c.input.capacity() > 2 * c.input.len().max(CHUNK) {
            c.input.shrink_to(c.input.len().max(CHUNK));
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Expiry {
    Line,
    Idle,
    Reply,
}
