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
use super::session::{FlowModCounts, Session, SwitchAccess};

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

/// How long after a burst of flow table changes begins its report is logged.
const REPORT_AFTER: Duration = Duration::from_secs(10);
/// The least time between two reports while changes go on.
const REPORT_BACKOFF: Duration = Duration::from_secs(60);

/// OVS's report of what a connection did to the flow tables (connmgr.c
/// `ofconn_report_flow_mod`, `ofconn_log_flow_mods`): logged at info 10 s after the
/// first change of a burst (then at most once a minute while changes go on), and when
/// the connection closes, as `br-int<->unix#3: 12 flow_mods in the last 0 s (10 adds,
/// 2 deletes)`. So `ovs-ofctl replace-flows` (which sends the adds, deletes and
/// modifications that make the table the file) is one line, with the counts.
#[derive(Debug, Default)]
pub struct FlowModReport {
    counts: FlowModCounts,
    first: Option<Instant>,
    last: Option<Instant>,
    next: Option<Instant>,
    backoff: Option<Instant>,
}

impl FlowModReport {
    /// Commands applied at `now`.
    pub fn add(&mut self, c: FlowModCounts, now: Instant) {
        if c.total() == 0 {
            return;
        }
        if self.next.is_none() {
            self.first = Some(now);
            let next = (now + REPORT_AFTER).max(self.backoff.unwrap_or(now));
            self.next = Some(next);
            self.backoff = Some(next + REPORT_BACKOFF);
        }
        self.last = Some(now);
        self.counts.adds += c.adds;
        self.counts.deletes += c.deletes;
        self.counts.modifications += c.modifications;
    }

    /// Whether the report is due.
    pub fn due(&self, now: Instant) -> bool {
        self.next.is_some_and(|n| now >= n)
    }

    /// The report's text (none when nothing was changed); the counts start over.
    pub fn take(&mut self, now: Instant) -> Option<String> {
        self.next = None;
        let c = std::mem::take(&mut self.counts);
        let (first, last) = (self.first.take()?, self.last.take()?);
        if c.total() == 0 {
            return None;
        }
        let ago = now.saturating_duration_since(first).as_secs();
        let interval = last.saturating_duration_since(first).as_secs();
        let when = if interval == ago {
            format!("in the last {ago} s")
        } else if interval > 0 {
            format!("in the {interval} s starting {ago} s ago")
        } else {
            format!("{ago} s ago")
        };
        let mut kinds = Vec::new();
        if c.adds > 0 {
            kinds.push(format!("{} adds", c.adds));
        }
        if c.deletes > 0 {
            kinds.push(format!("{} deletes", c.deletes));
        }
        if c.modifications > 0 {
            kinds.push(format!("{} modifications", c.modifications));
        }
        Some(format!(
            "{} flow_mods {when} ({})",
            c.total(),
            kinds.join(", ")
        ))
    }
}

/// Serves `stream` until it closes; returns why it closed (OVS's wording where it
/// has one: "End of file", "Connection timed out", ...). The probe interval is read
/// from `probe` as it goes: a change applies to the open connection. What it did to
/// the flow tables is logged under `name` ([`FlowModReport`]).
pub fn serve(
    name: &str,
    stream: Stream,
    session: &mut Session,
    sw: &mut dyn SwitchAccess,
    model: &dyn FlowModel,
    probe: &ProbeSetting,
    observer: &mut dyn Observer,
) -> String {
    let mut report = FlowModReport::default();
    let why = serve_reporting(
        name,
        stream,
        session,
        sw,
        model,
        probe,
        observer,
        &mut report,
    );
    let now = Instant::now();
    report.add(session.take_flow_mod_counts(), now);
    if let Some(r) = report.take(now) {
        tracing::info!("{name}: {r}");
    }
    why
}

#[allow(clippy::too_many_arguments)]
fn serve_reporting(
    name: &str,
    mut stream: Stream,
    session: &mut Session,
    sw: &mut dyn SwitchAccess,
    model: &dyn FlowModel,
    probe: &ProbeSetting,
    observer: &mut dyn Observer,
    report: &mut FlowModReport,
) -> String {
    if let Err(e) = stream.set_nonblocking(true) {
        return e.to_string();
    }
    let fd = stream.as_raw_fd();
    let mut prober = Prober::new(probe.get(), Instant::now());
    let mut buf = vec![0u8; 64 << 10];
    let mut seen = session.received();
    loop {
        let now = Instant::now();
        report.add(session.take_flow_mod_counts(), now);
        if report.due(now) {
            if let Some(r) = report.take(now) {
                tracing::info!("{name}: {r}");
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_mod_reports_read_as_ovs_ones() {
        let t0 = Instant::now();
        let mut r = FlowModReport::default();
        assert!(!r.due(t0));
        assert_eq!(r.take(t0), None);
        let c = |adds, deletes, modifications| FlowModCounts {
            adds,
            deletes,
            modifications,
        };
        r.add(c(0, 0, 0), t0);
        assert!(!r.due(t0 + Duration::from_secs(11)));
        r.add(c(10, 2, 0), t0);
        assert!(!r.due(t0 + Duration::from_secs(9)));
        assert!(r.due(t0 + Duration::from_secs(10)));
        assert_eq!(
            r.take(t0).as_deref(),
            Some("12 flow_mods in the last 0 s (10 adds, 2 deletes)")
        );
        assert!(!r.due(t0 + Duration::from_secs(100)));
        // The next burst is reported no sooner than a minute after the last report
        // was due.
        let t1 = t0 + Duration::from_secs(20);
        r.add(c(0, 0, 1), t1);
        r.add(c(1, 0, 0), t1 + Duration::from_secs(3));
        assert!(!r.due(t1 + Duration::from_secs(30)));
        assert!(r.due(t0 + Duration::from_secs(70)));
        assert_eq!(
            r.take(t1 + Duration::from_secs(5)).as_deref(),
            Some("2 flow_mods in the 3 s starting 5 s ago (1 adds, 1 modifications)")
        );
    }
}
