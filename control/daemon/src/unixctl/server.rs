//! The unixctl socket's I/O: one thread runs a `poll(2)` loop over every connection
//! (accept, read into a bounded decoder, write replies, close what stalls), a few
//! workers run the commands, so one slow client or one slow command holds up no other
//! connection. As OVS, a connection has one request at a time: it is not read while
//! its request runs or its reply is written (what it pipelines waits in the decoder
//! and the kernel's buffer).
//!
//! Bounds: a message may be [`UnixctlConfig::max_message`] (1 MiB: a packet to trace
//! is at most 128 KiB of hex); a longer one, or anything that is not a request, closes
//! the connection (OVS closes it on a protocol error too). Part of a message must be
//! completed within the request timeout, an idle connection goes after the idle
//! timeout, a reply that makes no progress for the request timeout drops its
//! connection. At most [`UnixctlConfig::max_clients`] connections: one more closes the
//! one idle longest (at least 1 s), or is closed itself.

use std::collections::HashMap;
use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::jsonrpc::{encode_reply, Decoder, Request};
use super::{check, Appctl};
use crate::pollserver::{
    earliest, eviction_victim, next_connection, poll_timeout, wake_channel, Flush, Outgoing,
    PollSet, ReadTimer, WakeReceiver, Waker,
};

/// The unixctl server's bounds.
#[derive(Clone, Debug)]
pub struct UnixctlConfig {
    /// Part of a message must be completed, and a reply must make progress, within this.
    pub request_timeout: Duration,
    /// A connection with nothing to do for this long is closed.
    pub idle_timeout: Duration,
    pub max_clients: usize,
    pub max_message: usize,
    pub workers: usize,
}

impl Default for UnixctlConfig {
    fn default() -> Self {
        UnixctlConfig {
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            max_clients: 64,
            max_message: 1 << 20,
            workers: 3,
        }
    }
}

const CHUNK: usize = 64 << 10;
/// A connection idle at least this long may be closed for a new one.
const EVICT_AFTER: Duration = Duration::from_secs(1);

/// Binds the socket at `path` (a stale one left by a crash is replaced; a live server
/// there is an error), readable and writable by owner and group, as OVS's `punix:`.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                ErrorKind::AddrInUse,
                format!("{}: a server already answers there", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o770))?;
    Ok(l)
}

struct Job {
    client: u64,
    request: Request,
}

struct Done {
    client: u64,
    reply: Vec<u8>,
}

/// A running server.
pub struct UnixctlServer {
    finish: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UnixctlServer {
    /// Serves `listener` until [`UnixctlServer::finish`].
    pub fn spawn(
        appctl: Arc<Appctl>,
        listener: UnixListener,
        cfg: UnixctlConfig,
    ) -> std::io::Result<UnixctlServer> {
        listener.set_nonblocking(true)?;
        let finish = Arc::new(AtomicBool::new(false));
        let f = finish.clone();
        let thread = std::thread::Builder::new()
            .name("xvs-unixctl".into())
            .spawn(move || serve(appctl, listener, cfg, &f))?;
        Ok(UnixctlServer {
            finish,
            thread: Some(thread),
        })
    }

    /// Stops: no more requests; replies on their way (`exit`'s) are written, for up to
    /// 2 s; then every connection is closed and the workers end.
    pub fn finish(mut self) {
        self.finish.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for UnixctlServer {
    fn drop(&mut self) {
        self.finish.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn worker(appctl: Arc<Appctl>, jobs: Receiver<Job>, done: Sender<Done>, wake: Waker) {
    for job in jobs {
        let r = job.request;
        appctl.received.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            "received request {}{}, id={}",
            r.method,
            serde_json::Value::Array(r.params.clone()),
            r.id
        );
        let outcome = check(&r.method, &r.params).and_then(|(spec, args)| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                appctl.run(spec.name, &args)
            }))
            .unwrap_or_else(|_| Err("the command failed inside xvsd (see its log)".into()))
        });
        tracing::debug!(
            "replying with {}, id={}: \"{}\"",
            if outcome.is_ok() { "success" } else { "error" },
            r.id,
            match &outcome {
                Ok(t) | Err(t) => t.as_str(),
            }
        );
        let reply = encode_reply(&r.id, outcome.as_deref().map_err(|e| e.as_str()));
        appctl.replied.fetch_add(1, Ordering::Relaxed);
        let _ = done.send(Done {
            client: job.client,
            reply,
        });
        wake.wake();
    }
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Reading,
    Running,
    Writing,
}

struct Client {
    stream: UnixStream,
    decoder: Decoder,
    state: State,
    /// While reading: idle since when, and since when part of a message has been held.
    timer: ReadTimer,
    /// The reply being written; when it last moved.
    out: Outgoing,
    /// The peer is gone (end of file); what it sent is still answered.
    eof: bool,
    /// Closed: forgotten once its request (if any) is answered.
    dead: bool,
}

struct Loop {
    cfg: UnixctlConfig,
    clients: HashMap<u64, Client>,
    next_id: u64,
    jobs: Sender<Job>,
}

fn serve(appctl: Arc<Appctl>, listener: UnixListener, cfg: UnixctlConfig, finish: &AtomicBool) {
    let (wake_rx, wake_tx) = match wake_channel() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "unixctl: no socket pair to wake the loop");
            return;
        }
    };
    let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded::<Job>();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Done>();
    let mut threads = Vec::new();
    for i in 0..cfg.workers.max(1) {
        let (a, j, d, w) = (
            appctl.clone(),
            jobs_rx.clone(),
            done_tx.clone(),
            wake_tx.clone(),
        );
        match std::thread::Builder::new()
            .name(format!("xvs-unixctl-{i}"))
            .spawn(move || worker(a, j, d, w))
        {
            Ok(t) => threads.push(t),
            Err(e) => tracing::error!(error = %e, "unixctl: a worker thread"),
        }
    }
    drop((jobs_rx, done_tx, appctl));
    let mut l = Loop {
        cfg,
        clients: HashMap::new(),
        next_id: 0,
        jobs: jobs_tx,
    };
    l.run(&listener, &wake_rx, &done_rx, finish);
    // Closing the job queue ends the workers once their commands are answered.
    drop(l);
    for t in threads {
        let _ = t.join();
    }
}

impl Loop {
    fn run(
        &mut self,
        listener: &UnixListener,
        wake: &WakeReceiver,
        done: &Receiver<Done>,
        finish: &AtomicBool,
    ) {
        let mut set = PollSet::default();
        let mut finishing: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if finishing.is_none() && finish.load(Ordering::Relaxed) {
                finishing = Some(now);
            }
            if let Some(t) = finishing {
                // Answers on their way still go out; nothing new comes in.
                let busy = self
                    .clients
                    .values()
                    .any(|c| !c.dead && matches!(c.state, State::Running | State::Writing));
                if !busy || now.duration_since(t) > Duration::from_secs(2) {
                    return;
                }
            }
            let next = self.expire(now);
            let accepting = if finishing.is_none() { libc::POLLIN } else { 0 };
            set.start(&[
                (listener.as_raw_fd(), accepting),
                (wake.as_raw_fd(), libc::POLLIN),
            ]);
            for (&id, c) in &self.clients {
                if c.dead {
                    continue;
                }
                let events = match c.state {
                    State::Reading if !c.eof && finishing.is_none() => libc::POLLIN,
                    State::Writing => libc::POLLOUT,
                    _ => 0,
                };
                if events != 0 {
                    set.push_client(id, c.stream.as_raw_fd(), events);
                }
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
                if r & libc::POLLOUT != 0 {
                    self.write(id);
                } else if r & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    self.read(id);
                }
            }
            if set.own_revents(0) != 0 {
                self.accept(listener);
            }
            let ids: Vec<u64> = self.clients.keys().copied().collect();
            for id in ids {
                self.advance(id);
            }
        }
    }

    fn expire(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut expired = Vec::new();
        for (&id, c) in &self.clients {
            let deadline = match c.state {
                State::Reading => Some(
                    c.timer
                        .deadline(self.cfg.request_timeout, self.cfg.idle_timeout)
                        .0,
                ),
                State::Writing => Some(c.out.progress() + self.cfg.request_timeout),
                State::Running => None,
            };
            if let Some(t) = deadline {
                if now >= t {
                    expired.push(id);
                } else {
                    next = earliest(next, t);
                }
            }
        }
        for id in expired {
            tracing::debug!(client = id, "unixctl: connection stalled or idle; closed");
            self.close(id);
        }
        next
    }

    fn accept(&mut self, listener: &UnixListener) {
        loop {
            let stream = match next_connection(|| listener.accept().map(|(s, _)| s)) {
                Ok(Some(s)) => s,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "unixctl: accept failed");
                    return;
                }
            };
            let now = Instant::now();
            let live = self.clients.values().filter(|c| !c.dead).count();
            if live >= self.cfg.max_clients && !self.evict(now) {
                tracing::warn!(
                    "unixctl: {} connections already: a new one is closed",
                    self.cfg.max_clients
                );
                continue;
            }
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            self.clients.insert(
                id,
                Client {
                    stream,
                    decoder: Decoder::new(self.cfg.max_message),
                    state: State::Reading,
                    timer: ReadTimer::new(now),
                    out: Outgoing::empty(now),
                    eof: false,
                    dead: false,
                },
            );
        }
    }

    /// Closes the connection idle longest, if one has been idle [`EVICT_AFTER`].
    fn evict(&mut self, now: Instant) -> bool {
        let waiting = self
            .clients
            .iter()
            .filter(|(_, c)| !c.dead && c.state == State::Reading)
            .map(|(&id, c)| (id, c.timer.waiting_since()));
        match eviction_victim(waiting, now, EVICT_AFTER) {
            Some(id) => {
                self.close(id);
                true
            }
            None => false,
        }
    }

    fn read(&mut self, id: u64) {
        let max = self.cfg.max_message;
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.state != State::Reading || c.dead || c.eof {
            return;
        }
        // Never more than one message too many.
        let room = (max + 1).saturating_sub(c.decoder.pending()).min(CHUNK);
        if room == 0 {
            return;
        }
        let mut buf = vec![0u8; room];
        match c.stream.read(&mut buf) {
            Ok(0) => {
                c.eof = true;
                if c.decoder.pending() == 0 {
                    self.close(id);
                }
            }
            Ok(n) => {
                c.decoder.feed(&buf[..n]);
                c.timer.input_arrived(Instant::now());
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(_) => self.close(id),
        }
    }

    /// A reading connection's next whole request goes to the workers.
    fn advance(&mut self, id: u64) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.state != State::Reading || c.dead {
            return;
        }
        match c.decoder.next_request() {
            Ok(Some(request)) => {
                c.state = State::Running;
                c.timer
                    .set_partial((c.decoder.pending() > 0).then(Instant::now));
                if self
                    .jobs
                    .send(Job {
                        client: id,
                        request,
                    })
                    .is_err()
                {
                    self.close(id);
                }
            }
            Ok(None) => {
                if c.decoder.pending() == 0 {
                    c.timer.set_partial(None);
                    if c.eof {
                        self.close(id);
                    }
                } else if c.eof {
                    // Gone in the middle of a message.
                    self.close(id);
                }
            }
            Err(e) => {
                tracing::warn!(client = id, "unixctl: {e}; closing the connection");
                self.close(id);
            }
        }
    }

    fn finished(&mut self, d: Done) {
        let Some(c) = self.clients.get_mut(&d.client) else {
            return;
        };
        if c.dead {
            self.clients.remove(&d.client);
            return;
        }
        c.out = Outgoing::new(d.reply, Instant::now());
        c.state = State::Writing;
        self.write(d.client);
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
                self.close(id);
                return;
            }
        }
        let now = Instant::now();
        c.out = Outgoing::empty(now);
        c.state = State::Reading;
        // What it sent meanwhile has its whole time from now.
        c.timer.restart(now, c.decoder.pending() > 0);
    }

    /// Closes a connection; one whose request runs is forgotten when it is answered.
    fn close(&mut self, id: u64) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.state == State::Running {
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
            c.dead = true;
        } else {
            self.clients.remove(&id);
        }
    }
}
