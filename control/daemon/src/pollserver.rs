//! The pieces of a `poll(2)` server that the control socket (`server.rs`), the unixctl
//! socket (`unixctl/server.rs`) and the metrics endpoint (`metrics/server.rs`) share:
//! the set of descriptors polled (with which client each belongs to), the wake-up
//! channel from workers to the loop, accepting what waits on the listener, a reading
//! client's deadlines, the choice of a client to evict, a reply written as the socket
//! allows, and the loop's wait until its next deadline.
//!
//! The loops themselves stay with each server: their clients' states, what counts as
//! a request, what a deadline closes and what it says, and their counters differ in
//! ways (a shared input budget and last words for the control socket, a draining stop
//! for unixctl, one deadline per connection and no workers for metrics) that one
//! generic loop would have to carry as options each used once.

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest wait in `poll(2)`: how soon a stop is noticed.
pub const TICK: Duration = Duration::from_millis(100);

/// How long to wait in `poll(2)`: until the `next` deadline, but at most [`TICK`], and
/// at least a millisecond (so that a deadline less than one away is not polled for in
/// a busy loop).
pub fn poll_timeout(now: Instant, next: Option<Instant>) -> Duration {
    next.map_or(TICK, |t| t.saturating_duration_since(now).min(TICK))
        .max(Duration::from_millis(1))
}

/// Folds deadline `t` into the earliest one so far.
pub fn earliest(next: Option<Instant>, t: Instant) -> Option<Instant> {
    Some(next.map_or(t, |n| n.min(t)))
}

/// The client to evict for a new one: of `waiting` (a client, and since when it has
/// waited for input), the one waiting longest, if it has waited at least `at_least`.
pub fn eviction_victim(
    waiting: impl IntoIterator<Item = (u64, Instant)>,
    now: Instant,
    at_least: Duration,
) -> Option<u64> {
    waiting
        .into_iter()
        .filter(|&(_, since)| now.duration_since(since) >= at_least)
        .min_by_key(|&(_, since)| since)
        .map(|(id, _)| id)
}

/// Why a reading client's time ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadExpiry {
    /// Part of a request was held for the request timeout.
    Partial,
    /// Nothing came for the idle timeout.
    Idle,
}

/// A reading client's clocks: idle since it last had nothing to do and, once part of a
/// request is held, that request's own clock, which runs for the request timeout
/// instead of the idle one.
#[derive(Clone, Copy, Debug)]
pub struct ReadTimer {
    idle_since: Instant,
    partial_since: Option<Instant>,
}

impl ReadTimer {
    pub fn new(now: Instant) -> ReadTimer {
        ReadTimer {
            idle_since: now,
            partial_since: None,
        }
    }

    /// Input came: a request's clock starts, unless one runs already.
    pub fn input_arrived(&mut self, now: Instant) {
        self.partial_since.get_or_insert(now);
    }

    /// Part of a request is held from `since` (its clock starts again), or none is.
    pub fn set_partial(&mut self, since: Option<Instant>) {
        self.partial_since = since;
    }

    /// Part of a request is held.
    pub fn partial(&self) -> bool {
        self.partial_since.is_some()
    }

    /// Reading again (its reply written): idle from `now`, and what it sent meanwhile
    /// (`holding`) has its whole time from `now`.
    pub fn restart(&mut self, now: Instant, holding: bool) {
        self.idle_since = now;
        self.partial_since = holding.then_some(now);
    }

    /// When the client's time runs out, and why.
    pub fn deadline(
        &self,
        request_timeout: Duration,
        idle_timeout: Duration,
    ) -> (Instant, ReadExpiry) {
        match self.partial_since {
            Some(t) => (t + request_timeout, ReadExpiry::Partial),
            None => (self.idle_since + idle_timeout, ReadExpiry::Idle),
        }
    }

    /// Since when the client has waited for a request (part of one held counts from
    /// when it began): the longest waiting is evicted first.
    pub fn waiting_since(&self) -> Instant {
        self.partial_since.unwrap_or(self.idle_since)
    }
}

/// The next connection waiting on a non-blocking listener (`accept` is its accept,
/// the stream only): `Ok(None)` once none waits. Another error (out of descriptors,
/// most likely) is the caller's to report; the connections still waiting are taken
/// at the next poll.
pub fn next_connection<S>(mut accept: impl FnMut() -> io::Result<S>) -> io::Result<Option<S>> {
    loop {
        match accept() {
            Ok(stream) => return Ok(Some(stream)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The descriptors of one `poll(2)` call: first the server's own (listener, wake-up),
/// then one per client, each with its id.
#[derive(Default)]
pub struct PollSet {
    fds: Vec<libc::pollfd>,
    /// The clients' ids, in the order of their descriptors after the server's own.
    ids: Vec<u64>,
    /// How many of `fds` are the server's own.
    own: usize,
}

impl PollSet {
    /// Starts a new round with the server's own descriptors.
    pub fn start(&mut self, own: &[(RawFd, libc::c_short)]) {
        self.fds.clear();
        self.ids.clear();
        self.own = own.len();
        self.fds
            .extend(own.iter().map(|&(fd, events)| pollfd(fd, events)));
    }

    pub fn push_client(&mut self, id: u64, fd: RawFd, events: libc::c_short) {
        self.fds.push(pollfd(fd, events));
        self.ids.push(id);
    }

    /// Waits for an event or `timeout`; the number of descriptors with events, or the
    /// error (`EINTR` among them).
    pub fn poll(&mut self, timeout: Duration) -> io::Result<usize> {
        let millis = timeout.as_millis().min(libc::c_int::MAX as u128) as libc::c_int;
        // SAFETY: `fds` is a valid array of pollfds for the duration of the call.
        let n = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                millis,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// What happened to the server's own descriptor `i` (in the order given to
    /// [`PollSet::start`]).
    pub fn own_revents(&self, i: usize) -> libc::c_short {
        self.fds[i].revents
    }

    /// Every client polled with something that happened to it.
    pub fn client_events(&self) -> impl Iterator<Item = (u64, libc::c_short)> + '_ {
        self.ids
            .iter()
            .zip(&self.fds[self.own..])
            .filter(|(_, p)| p.revents != 0)
            .map(|(&id, p)| (id, p.revents))
    }
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// How workers wake the loop: one end of a socket pair, non-blocking (a full pipe
/// already wakes the loop, so a write that would block is not needed).
#[derive(Clone)]
pub struct Waker(Arc<UnixStream>);

impl Waker {
    pub fn wake(&self) {
        let _ = (&*self.0).write(&[1]);
    }
}

/// The loop's end of the wake-up channel.
pub struct WakeReceiver(UnixStream);

impl WakeReceiver {
    /// Empties the channel (once it has been polled readable).
    pub fn drain(&self) {
        let mut sink = [0u8; 256];
        while matches!((&self.0).read(&mut sink), Ok(n) if n > 0) {}
    }
}

impl AsRawFd for WakeReceiver {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// A wake-up channel, both ends non-blocking.
pub fn wake_channel() -> io::Result<(WakeReceiver, Waker)> {
    let (rx, tx) = UnixStream::pair()?;
    rx.set_nonblocking(true)?;
    tx.set_nonblocking(true)?;
    Ok((WakeReceiver(rx), Waker(Arc::new(tx))))
}

/// Where writing a reply has got to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// All of it is written.
    Done,
    /// The socket takes no more for now.
    Blocked,
    /// The socket took nothing (a write of 0 bytes).
    Stalled,
    /// The write failed: the peer is gone.
    Failed,
}

/// A reply being written, as far as the socket takes it.
#[derive(Debug)]
pub struct Outgoing {
    bytes: Vec<u8>,
    written: usize,
    /// When bytes last went (or the reply was queued).
    progress: Instant,
}

impl Outgoing {
    pub fn new(bytes: Vec<u8>, now: Instant) -> Outgoing {
        Outgoing {
            bytes,
            written: 0,
            progress: now,
        }
    }

    /// Nothing to write (as [`Outgoing::new`] with no bytes).
    pub fn empty(now: Instant) -> Outgoing {
        Outgoing::new(Vec::new(), now)
    }

    /// Bytes not yet written.
    pub fn pending(&self) -> bool {
        self.written < self.bytes.len()
    }

    pub fn progress(&self) -> Instant {
        self.progress
    }

    /// Writes what `to` takes now.
    pub fn write_to(&mut self, mut to: impl Write) -> Flush {
        while self.written < self.bytes.len() {
            match to.write(&self.bytes[self.written..]) {
                Ok(0) => return Flush::Stalled,
                Ok(n) => {
                    self.written += n;
                    self.progress = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Flush::Blocked,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Flush::Failed,
            }
        }
        Flush::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes `room` bytes, then would block (or fails, or takes nothing).
    struct FakeSocket {
        got: Vec<u8>,
        room: usize,
        then: Option<ErrorKind>,
        interrupted_once: bool,
    }

    impl Write for FakeSocket {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.interrupted_once {
                self.interrupted_once = false;
                return Err(ErrorKind::Interrupted.into());
            }
            if self.room == 0 {
                return match self.then {
                    Some(kind) => Err(kind.into()),
                    None => Ok(0),
                };
            }
            let n = buf.len().min(self.room).min(3);
            self.got.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn socket(room: usize, then: Option<ErrorKind>) -> FakeSocket {
        FakeSocket {
            got: Vec::new(),
            room,
            then,
            interrupted_once: true,
        }
    }

    #[test]
    fn a_reply_is_written_across_partial_writes_and_blocks() {
        let t0 = Instant::now();
        let mut out = Outgoing::new(b"hello, world\n".to_vec(), t0);
        let mut s = socket(5, Some(ErrorKind::WouldBlock));
        assert_eq!(out.write_to(&mut s), Flush::Blocked);
        assert_eq!(s.got, b"hello");
        assert!(out.pending());
        assert!(out.progress() >= t0);
        s.room = 100;
        assert_eq!(out.write_to(&mut s), Flush::Done);
        assert_eq!(s.got, b"hello, world\n");
        assert!(!out.pending());
        assert_eq!(out.write_to(&mut s), Flush::Done);
    }

    #[test]
    fn a_write_that_fails_or_takes_nothing_is_told_apart() {
        let now = Instant::now();
        let mut out = Outgoing::new(b"abc".to_vec(), now);
        assert_eq!(
            out.write_to(socket(0, Some(ErrorKind::BrokenPipe))),
            Flush::Failed
        );
        assert_eq!(out.write_to(socket(0, None)), Flush::Stalled);
        assert_eq!(out.progress(), now, "nothing moved");
        assert!(!Outgoing::empty(now).pending());
    }

    #[test]
    fn connections_are_taken_until_none_waits_and_errors_are_told() {
        let mut tries = vec![
            Ok(1),
            Err(io::Error::from(ErrorKind::Interrupted)),
            Ok(2),
            Err(ErrorKind::WouldBlock.into()),
        ]
        .into_iter();
        let mut next = || tries.next().unwrap();
        assert_eq!(next_connection(&mut next).unwrap(), Some(1));
        assert_eq!(next_connection(&mut next).unwrap(), Some(2));
        assert_eq!(next_connection(&mut next).unwrap(), None);
        let emfile = next_connection(|| Err::<u8, _>(io::Error::from_raw_os_error(libc::EMFILE)));
        assert_eq!(emfile.unwrap_err().raw_os_error(), Some(libc::EMFILE));
    }

    #[test]
    fn a_partial_request_has_the_request_timeout_and_nothing_held_the_idle_one() {
        let t0 = Instant::now();
        let (request, idle) = (Duration::from_secs(10), Duration::from_secs(60));
        let s = Duration::from_secs;
        let mut timer = ReadTimer::new(t0);
        assert_eq!(timer.deadline(request, idle), (t0 + idle, ReadExpiry::Idle));
        assert_eq!(timer.waiting_since(), t0);
        timer.input_arrived(t0 + s(5));
        timer.input_arrived(t0 + s(7));
        assert!(timer.partial());
        assert_eq!(
            timer.deadline(request, idle),
            (t0 + s(15), ReadExpiry::Partial),
            "the first byte of a request starts its clock"
        );
        assert_eq!(timer.waiting_since(), t0 + s(5));
        timer.set_partial(Some(t0 + s(20)));
        assert_eq!(timer.deadline(request, idle).0, t0 + s(30));
        timer.set_partial(None);
        assert_eq!(timer.deadline(request, idle), (t0 + idle, ReadExpiry::Idle));
        timer.restart(t0 + s(40), true);
        assert_eq!(
            timer.deadline(request, idle),
            (t0 + s(50), ReadExpiry::Partial)
        );
        timer.restart(t0 + s(40), false);
        assert_eq!(
            timer.deadline(request, idle),
            (t0 + s(100), ReadExpiry::Idle)
        );
        assert_eq!(timer.waiting_since(), t0 + s(40));
    }

    #[test]
    fn the_client_waiting_longest_is_evicted_once_it_has_waited_enough() {
        let now = Instant::now() + Duration::from_secs(10);
        let ago = |ms| now - Duration::from_millis(ms);
        let second = Duration::from_secs(1);
        let waiting = [(1, ago(1500)), (2, ago(4000)), (3, ago(200))];
        assert_eq!(eviction_victim(waiting, now, second), Some(2));
        assert_eq!(eviction_victim([(3, ago(999))], now, second), None);
        assert_eq!(eviction_victim([(3, ago(1000))], now, second), Some(3));
        assert_eq!(eviction_victim([], now, second), None);
    }

    #[test]
    fn the_wait_runs_to_the_next_deadline_within_bounds() {
        let now = Instant::now();
        assert_eq!(poll_timeout(now, None), TICK);
        let soon = now + Duration::from_millis(30);
        assert_eq!(poll_timeout(now, Some(soon)), Duration::from_millis(30));
        assert_eq!(poll_timeout(now, Some(now + Duration::from_secs(9))), TICK);
        assert_eq!(poll_timeout(now, Some(now)), Duration::from_millis(1));
        let later = now + Duration::from_secs(1);
        assert_eq!(earliest(None, later), Some(later));
        assert_eq!(earliest(Some(later), soon), Some(soon));
        assert_eq!(earliest(Some(soon), later), Some(soon));
    }

    #[test]
    fn poll_reports_the_clients_with_events_by_id() {
        let (a, b) = UnixStream::pair().unwrap();
        let (c, _d) = UnixStream::pair().unwrap();
        let (wake_rx, waker) = wake_channel().unwrap();
        let mut set = PollSet::default();
        set.start(&[(wake_rx.as_raw_fd(), libc::POLLIN)]);
        set.push_client(7, a.as_raw_fd(), libc::POLLIN);
        set.push_client(9, c.as_raw_fd(), libc::POLLIN);
        assert_eq!(set.poll(Duration::from_millis(1)).unwrap(), 0);
        (&b).write_all(b"x").unwrap();
        waker.wake();
        set.start(&[(wake_rx.as_raw_fd(), libc::POLLIN)]);
        set.push_client(7, a.as_raw_fd(), libc::POLLIN);
        set.push_client(9, c.as_raw_fd(), libc::POLLIN);
        assert_eq!(set.poll(Duration::from_millis(100)).unwrap(), 2);
        assert_ne!(set.own_revents(0) & libc::POLLIN, 0);
        let ready: Vec<u64> = set.client_events().map(|(id, _)| id).collect();
        assert_eq!(ready, [7]);
        wake_rx.drain();
        set.start(&[(wake_rx.as_raw_fd(), libc::POLLIN)]);
        assert_eq!(set.poll(Duration::from_millis(1)).unwrap(), 0, "drained");
    }
}
