//! The I/O of one OpenFlow connection: a thread runs [`serve`], which moves bytes
//! between a non-blocking socket and its [`Session`], waiting in `poll(2)` (at most
//! [`POLL`] at a time, so a stop is noticed), and sends inactivity probes.
//!
//! Why a thread per connection rather than one poll loop for all: serving a request
//! means waiting for the control thread (a change returns only once every worker has
//! applied it, up to its barrier timeout); in one loop, every connection would wait
//! behind every other's barrier. Here each connection waits on its own, and the
//! control thread's queue is shared fairly: a connection has at most one request in
//! it at a time. The bounds are the session's: no reading while its output is over
//! [`super::session::OUTPUT_LIMIT`] (a peer that does not read is throttled, and
//! blocks nobody), and at most [`super::session::MAX_BATCH`] flow mods per change.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::model::FlowModel;
use super::rconn::{Probe, ProbeSetting, Prober};
use super::session::{Session, SwitchAccess};

/// The longest wait in `poll(2)`: how soon a stop or a closed bridge is noticed.
pub const POLL: Duration = Duration::from_millis(100);

/// A connected socket.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(on),
            Stream::Unix(s) => s.set_nonblocking(on),
        }
    }

    /// For logs: the peer's address.
    pub fn peer(&self) -> String {
        match self {
            Stream::Tcp(s) => s
                .peer_addr()
                .map_or_else(|_| "tcp:?".into(), |a| format!("tcp:{a}")),
            Stream::Unix(_) => "unix".into(),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Waits until `fd` is readable (`read`) or writable (`write`), or `timeout` passes.
/// Returns (readable, writable, hung up or in error).
pub fn wait(fd: RawFd, read: bool, write: bool, timeout: Duration) -> (bool, bool, bool) {
    let mut events = 0;
    if read {
        events |= libc::POLLIN;
    }
    if write {
        events |= libc::POLLOUT;
    }
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd, for the duration of the call.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    if n <= 0 {
        return (false, false, false);
    }
    let r = p.revents;
    (
        r & libc::POLLIN != 0,
        r & libc::POLLOUT != 0,
        r & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0,
    )
}

/// Why [`serve`] ended when a probe went unanswered.
pub const PROBE_DEAD: &str = "no response to inactivity probe";

/// What the caller learns while a connection runs.
pub trait Observer {
    /// Called at least every [`POLL`], and at [`Observer::deadline`]: false closes the
    /// connection.
    fn keep_going(&mut self, session: &Session) -> bool;
    /// When [`Observer::keep_going`] should be asked next, if sooner than [`POLL`].
    fn deadline(&self, _session: &Session) -> Option<Instant> {
        None
    }
    /// A message arrived (the session's [`Session::received`] count moved).
    fn received(&mut self, _session: &Session, _now: Instant) {}
}

/// Serves `stream` until it closes; returns why it closed (OVS's wording where it
/// has one: "End of file", "Connection timed out", ...). The probe interval is read
/// from `probe` as it goes: a change applies to the open connection.
pub fn serve(
    mut stream: Stream,
    session: &mut Session,
    sw: &mut dyn SwitchAccess,
    model: &dyn FlowModel,
    probe: &ProbeSetting,
    observer: &mut dyn Observer,
) -> String {
    if let Err(e) = stream.set_nonblocking(true) {
        return e.to_string();
    }
    let fd = stream.as_raw_fd();
    let mut prober = Prober::new(probe.get(), Instant::now());
    let mut buf = vec![0u8; 64 << 10];
    let mut seen = session.received();
    loop {
        if !observer.keep_going(session) {
            return "closed by the switch".into();
        }
        // Write what can be written.
        while let Some(out) = session.output() {
            match stream.write(out) {
                Ok(0) => return "End of file".into(),
                Ok(n) => {
                    session.consume(n);
                    prober.sent(Instant::now());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return e.to_string(),
            }
        }
        if let Some(why) = session.closing() {
            if session.output().is_none() {
                return why.into();
            }
        }
        let now = Instant::now();
        if prober.interval() != probe.get() {
            prober.set_interval(probe.get());
        }
        if session.version().is_some() {
            match prober.poll(now) {
                Probe::Nothing => {}
                Probe::SendEcho => {
                    session.send_echo_request();
                    continue;
                }
                Probe::Dead => return PROBE_DEAD.into(),
            }
        }
        let timeout = [prober.deadline(), observer.deadline(session)]
            .into_iter()
            .flatten()
            .fold(POLL, |t, d| t.min(d.saturating_duration_since(now)));
        let reading = session.wants_input();
        let (readable, _, hangup) = wait(fd, reading, session.output().is_some(), timeout);
        if reading && (readable || hangup) {
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        // The peer is done sending: answer what it sent, if it still
                        // reads.
                        session.run(sw, model);
                        while let Some(out) = session.output() {
                            match stream.write(out) {
                                Ok(n) if n > 0 => session.consume(n),
                                _ => break,
                            }
                        }
                        return "End of file".into();
                    }
                    Ok(n) => {
                        session.receive(&buf[..n]);
                        if !session.wants_input() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return e.to_string(),
                }
            }
        } else if hangup {
            return "End of file".into();
        }
        session.run(sw, model);
        if session.received() != seen {
            seen = session.received();
            let now = Instant::now();
            prober.received(now);
            observer.received(session, now);
        }
    }
}
