//! Reconnection and inactivity probes, sans I/O, as OVS's lib/rconn.c does them: the
//! caller reports what happened (connecting, connected, a message, a disconnection)
//! with the time, and asks what is due.
//!
//! * Backoff: the first attempt is immediate; after a failure the wait is 1 s, then
//!   doubles (2, 4, ...) up to `max_backoff`; a connection that lived longer than the
//!   backoff in force when it was made starts over at 1 s.
//! * A connection attempt (including the HELLO exchange) may take `max(1 s,
//!   backoff)`.
//! * Probes ([`Prober`]): after `probe_interval` with nothing sent or received, an
//!   ECHO_REQUEST goes out; if nothing at all comes back within another interval,
//!   the connection is dropped.
//! * Admission: a controller is taken to have accepted the switch once it sends
//!   something beyond the handshake (a flow mod, a barrier, a statistics request,
//!   ...), or has stayed connected 30 s; fail-open counts from the last time that
//!   held.

use std::time::{Duration, Instant};

/// The wait before the first retry.
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// How long a connection must have stayed up to count as admitted anyway.
const ADMITTED_AFTER: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting until the next attempt.
    Backoff,
    /// Connecting, or exchanging HELLOs.
    Connecting,
    /// Connected (HELLOs exchanged).
    Active,
}

impl State {
    /// The name OVS writes in `Controller.status:state`.
    pub fn name(self) -> &'static str {
        match self {
            State::Backoff => "BACKOFF",
            State::Connecting => "CONNECTING",
            State::Active => "ACTIVE",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deadline {
    /// Always passed (OVS's LLONG_MIN).
    Past,
    At(Instant),
    /// Never passed (OVS's LLONG_MAX: the backoff is not reset).
    Never,
}

#[derive(Clone, Debug)]
pub struct Rconn {
    state: State,
    state_entered: Instant,
    backoff: Duration,
    max_backoff: Duration,
    backoff_deadline: Deadline,
    last_connected: Option<Instant>,
    last_disconnected: Option<Instant>,
    last_admitted: Instant,
    admitted: bool,
    last_error: Option<String>,
}

impl Rconn {
    /// A connection to be made at once (`max_backoff` at least 1 s).
    pub fn new(max_backoff: Duration, now: Instant) -> Rconn {
        Rconn {
            state: State::Backoff,
            state_entered: now,
            backoff: Duration::ZERO,
            max_backoff: max_backoff.max(MIN_BACKOFF),
            backoff_deadline: Deadline::Past,
            last_connected: None,
            last_disconnected: None,
            last_admitted: now,
            admitted: false,
            last_error: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// When the next attempt is due (in the backoff state).
    pub fn next_attempt(&self) -> Instant {
        self.state_entered + self.backoff
    }

    /// Whether an attempt is due now.
    pub fn attempt_due(&self, now: Instant) -> bool {
        self.state == State::Backoff && now >= self.next_attempt()
    }

    /// How long the attempt starting now may take.
    pub fn connect_timeout(&self) -> Duration {
        self.backoff.max(MIN_BACKOFF)
    }

    /// An attempt starts.
    pub fn connecting(&mut self, now: Instant) {
        self.backoff_deadline = Deadline::At(now + self.backoff);
        self.enter(State::Connecting, now);
    }

    /// The attempt failed before a connection existed (refused, unreachable, no
    /// such socket): the backoff grows whatever the deadline.
    pub fn connect_failed(&mut self, now: Instant, error: String) {
        self.backoff_deadline = Deadline::Never;
        self.disconnected(now, error);
    }

    /// The attempt took too long.
    pub fn connect_timed_out(&mut self, now: Instant) {
        self.backoff_deadline = Deadline::Never;
        self.disconnected(now, "Connection timed out".into());
    }

    /// HELLOs exchanged: the connection is up.
    pub fn connected(&mut self, now: Instant) {
        self.enter(State::Active, now);
        self.last_connected = Some(now);
        self.admitted = false;
    }

    /// A message came; `admits`: one that shows the peer accepted us.
    pub fn received(&mut self, now: Instant, admits: bool) {
        if self.state != State::Active {
            return;
        }
        let long_enough = self
            .last_connected
            .is_some_and(|t| now.duration_since(t) >= ADMITTED_AFTER);
        if self.admitted || admits || long_enough {
            self.admitted = true;
            self.last_admitted = now;
        }
    }

    /// The connection (or the attempt) ended, with `error` (for `status:last_error`).
    pub fn disconnected(&mut self, now: Instant, error: String) {
        if matches!(self.state, State::Connecting | State::Active) {
            self.last_disconnected = Some(now);
        }
        self.last_error = Some(error);
        let deadline_passed = match self.backoff_deadline {
            Deadline::Past => true,
            Deadline::At(t) => now >= t,
            Deadline::Never => false,
        };
        self.backoff = if deadline_passed {
            MIN_BACKOFF
        } else if self.backoff < self.max_backoff / 2 {
            (self.backoff * 2).max(MIN_BACKOFF)
        } else {
            self.max_backoff
        };
        self.backoff_deadline = Deadline::At(now + self.backoff);
        self.admitted = false;
        self.enter(State::Backoff, now);
    }

    fn enter(&mut self, s: State, now: Instant) {
        self.state = s;
        self.state_entered = now;
    }

    pub fn is_connected(&self) -> bool {
        self.state == State::Active
    }

    pub fn is_admitted(&self) -> bool {
        self.state == State::Active && self.admitted
    }

    /// How long no connection has been admitted (zero while one is): what fail-open
    /// compares with its trigger.
    pub fn failure_duration(&self, now: Instant) -> Duration {
        if self.is_admitted() {
            Duration::ZERO
        } else {
            now.saturating_duration_since(self.last_admitted)
        }
    }

    /// The current backoff (the wait after the last failure).
    pub fn backoff(&self) -> Duration {
        self.backoff
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

/// Inactivity probes on one open connection.
#[derive(Clone, Copy, Debug)]
pub struct Prober {
    interval: Option<Duration>,
    last_activity: Instant,
    probe_sent: Option<Instant>,
}

/// What a [`Prober`] wants done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    Nothing,
    SendEcho,
    /// No answer to the probe: disconnect.
    Dead,
}

impl Prober {
    /// `interval` `None`: no probes.
    pub fn new(interval: Option<Duration>, now: Instant) -> Prober {
        Prober {
            interval,
            last_activity: now,
            probe_sent: None,
        }
    }

    /// Something was sent.
    pub fn sent(&mut self, now: Instant) {
        self.last_activity = now;
    }

    /// Something was received: the connection is alive.
    pub fn received(&mut self, now: Instant) {
        self.last_activity = now;
        self.probe_sent = None;
    }

    pub fn poll(&mut self, now: Instant) -> Probe {
        let Some(p) = self.interval else {
            return Probe::Nothing;
        };
        match self.probe_sent {
            Some(t) if now.duration_since(t) >= p => Probe::Dead,
            Some(_) => Probe::Nothing,
            None if now.duration_since(self.last_activity) >= p => {
                self.probe_sent = Some(now);
                Probe::SendEcho
            }
            None => Probe::Nothing,
        }
    }

    /// When [`Prober::poll`] next has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        let p = self.interval?;
        Some(match self.probe_sent {
            Some(t) => t + p,
            None => self.last_activity + p,
        })
    }

    /// Whether a probe is out, unanswered (OVS's IDLE state).
    pub fn idle(&self) -> bool {
        self.probe_sent.is_some()
    }
}

/// OVS's probe interval from `Controller.inactivity_probe` (ms): absent 5 s, 0 none,
/// otherwise at least 5 s (rconn's minimum).
pub fn probe_interval(inactivity_probe_ms: Option<i64>) -> Option<Duration> {
    match inactivity_probe_ms {
        None => Some(Duration::from_secs(5)),
        Some(0) => None,
        Some(ms) => Some(Duration::from_secs((ms.max(1000) / 1000).max(5) as u64)),
    }
}

/// OVS's max backoff from `Controller.max_backoff` (ms): absent 8 s, otherwise whole
/// seconds, at least 1.
pub fn max_backoff(max_backoff_ms: Option<i64>) -> Duration {
    match max_backoff_ms {
        None => Duration::from_secs(8),
        Some(ms) => Duration::from_secs((ms / 1000).max(1) as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn backoff_doubles_to_the_max_and_resets_after_a_lasting_connection() {
        let t0 = Instant::now();
        let mut r = Rconn::new(secs(8), t0);
        assert!(r.attempt_due(t0), "the first attempt is immediate");
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..6 {
            assert!(r.attempt_due(now));
            r.connecting(now);
            r.connect_failed(now, "Connection refused".into());
            waits.push(r.backoff().as_secs());
            assert!(!r.attempt_due(now));
            now = r.next_attempt();
        }
        assert_eq!(waits, [1, 2, 4, 8, 8, 8]);
        assert_eq!(r.last_error(), Some("Connection refused"));

        // A connection that lasts longer than the backoff: back to 1 s.
        r.connecting(now);
        r.connected(now);
        assert!(r.is_connected() && !r.is_admitted());
        now += secs(60);
        r.disconnected(now, "End of file".into());
        assert_eq!(r.backoff(), secs(1));
        // One that drops at once: doubles.
        now = r.next_attempt();
        r.connecting(now);
        r.connected(now);
        r.disconnected(now, "End of file".into());
        assert_eq!(r.backoff(), secs(2));
        assert_eq!(r.connect_timeout(), secs(2));
    }

    #[test]
    fn admission_and_failure_duration() {
        let t0 = Instant::now();
        let mut r = Rconn::new(secs(8), t0);
        assert_eq!(r.failure_duration(t0 + secs(3)), secs(3));
        r.connecting(t0 + secs(3));
        r.connected(t0 + secs(3));
        r.received(t0 + secs(4), false); // a FEATURES_REQUEST: not yet
        assert!(!r.is_admitted());
        assert_eq!(r.failure_duration(t0 + secs(4)), secs(4));
        r.received(t0 + secs(5), true); // a FLOW_MOD
        assert!(r.is_admitted());
        assert_eq!(r.failure_duration(t0 + secs(6)), Duration::ZERO);
        // Counted from the last message of the admitted connection, as OVS.
        r.disconnected(t0 + secs(10), "End of file".into());
        assert_eq!(r.failure_duration(t0 + secs(25)), secs(20));
        // Staying connected 30 s admits anyway.
        r.connecting(t0 + secs(30));
        r.connected(t0 + secs(30));
        r.received(t0 + secs(61), false);
        assert!(r.is_admitted());
    }

    #[test]
    fn probes_after_an_idle_interval_and_death_after_another() {
        let t0 = Instant::now();
        let mut p = Prober::new(Some(secs(5)), t0);
        assert_eq!(p.poll(t0 + secs(4)), Probe::Nothing);
        p.sent(t0 + secs(3));
        assert_eq!(p.poll(t0 + secs(7)), Probe::Nothing, "sending is activity");
        assert_eq!(p.poll(t0 + secs(8)), Probe::SendEcho);
        assert!(p.idle());
        assert_eq!(p.poll(t0 + secs(12)), Probe::Nothing);
        p.received(t0 + secs(12));
        assert!(!p.idle());
        assert_eq!(p.poll(t0 + secs(17)), Probe::SendEcho);
        assert_eq!(p.deadline(), Some(t0 + secs(22)));
        assert_eq!(p.poll(t0 + secs(22)), Probe::Dead);
        let mut off = Prober::new(None, t0);
        assert_eq!(off.poll(t0 + secs(1000)), Probe::Nothing);
    }

    #[test]
    fn settings_from_the_database_as_bridge_c() {
        assert_eq!(probe_interval(None), Some(secs(5)));
        assert_eq!(probe_interval(Some(0)), None);
        assert_eq!(probe_interval(Some(500)), Some(secs(5)));
        assert_eq!(probe_interval(Some(10_000)), Some(secs(10)));
        assert_eq!(probe_interval(Some(7_500)), Some(secs(7)));
        assert_eq!(max_backoff(None), secs(8));
        assert_eq!(max_backoff(Some(500)), secs(1));
        assert_eq!(max_backoff(Some(2000)), secs(2));
    }
}
