//! xvsd's OVSDB client thread: connects to the database (reconnecting with backoff),
//! runs the [`Session`], and after every change, and once a second, has the bridge
//! layer bring the switch in line and write back what ovs-vswitchd writes back. The
//! switch keeps forwarding while the database is away; after a reconnect the snapshot
//! is reconciled in full.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connection::{ConnError, Connection, Remote};
use super::session::{Event, Session};
use crate::reconcile::{monitor_spec, BridgeLayer};
use crate::Daemon;

/// Backoff between connection attempts: doubling from the first to the last.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// A full pass even without a change: netdevs that appeared, retried ports.
const RESYNC: Duration = Duration::from_secs(1);
/// How long a read waits, so that `stop` is noticed.
const POLL: Duration = Duration::from_millis(50);

/// Why the client gave up for good.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("another process (a running ovs-vswitchd?) holds the database lock \"ovs_vswitchd\" on {0}: xvsd does not drive a database someone else drives")]
    LockHeld(String),
    #[error("the database lock \"ovs_vswitchd\" on {0} was taken by another process")]
    LockStolen(String),
}

/// Runs until `stop` is set (Ok) or the lock is somebody else's (Err: xvsd must exit).
pub fn run(remote: Remote, daemon: Arc<Daemon>, stop: Arc<AtomicBool>) -> Result<(), ClientError> {
    let mut session = Session::new("Open_vSwitch", monitor_spec());
    let mut layer = BridgeLayer::default();
    let mut backoff = BACKOFF_MIN;
    let mut warned = false;
    while !stop.load(Ordering::Relaxed) {
        let mut conn = match Connection::open(&remote, POLL) {
            Ok(c) => c,
            Err(e) => {
                if !warned {
                    tracing::warn!(database = %remote, error = %e, "cannot reach the database; retrying");
                    warned = true;
                }
                sleep_unless_stopped(backoff, &stop);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        tracing::info!(database = %remote, "connected to the database");
        warned = false;
        backoff = BACKOFF_MIN;
        match serve(&mut conn, &mut session, &mut layer, &daemon, &stop, &remote) {
            Ok(()) => return Ok(()),
            Err(Lost::Fatal(e)) => return Err(e),
            Err(Lost::Connection(e)) => {
                tracing::warn!(database = %remote, error = %e, "database connection lost; reconnecting (forwarding goes on)");
            }
        }
        sleep_unless_stopped(BACKOFF_MIN, &stop);
    }
    Ok(())
}

enum Lost {
    Connection(String),
    Fatal(ClientError),
}

impl From<ConnError> for Lost {
    fn from(e: ConnError) -> Self {
        Lost::Connection(e.to_string())
    }
}

fn serve(
    conn: &mut Connection,
    session: &mut Session,
    layer: &mut BridgeLayer,
    daemon: &Daemon,
    stop: &AtomicBool,
    remote: &Remote,
) -> Result<(), Lost> {
    for m in session.connected() {
        conn.send(&m)?;
    }
    let mut dirty = false;
    let mut in_flight: Option<u64> = None;
    let mut next_pass = Instant::now() + RESYNC;
    while !stop.load(Ordering::Relaxed) {
        if let Some(msg) = conn.recv()? {
            let (replies, events) = session.received(msg);
            for r in replies {
                conn.send(&r)?;
            }
            for ev in events {
                match ev {
                    Event::Snapshot | Event::Updated | Event::LockAcquired => dirty = true,
                    Event::LockContended => {
                        return Err(Lost::Fatal(ClientError::LockHeld(remote.to_string())))
                    }
                    Event::LockStolen => {
                        return Err(Lost::Fatal(ClientError::LockStolen(remote.to_string())))
                    }
                    Event::Transacted { id, result } => {
                        if in_flight == Some(id) {
                            in_flight = None;
                        }
                        if let Err(e) = result {
                            tracing::warn!(error = %e, "writing back to the database failed; will retry");
                            dirty = true;
                        }
                    }
                    Event::ProtocolError(e) => return Err(Lost::Connection(e)),
                }
            }
            continue;
        }
        let now = Instant::now();
        // A netdev appeared, changed or went: write back (and add a port that waited
        // for it) now rather than at the next second.
        if daemon.take_netdev_wake() {
            dirty = true;
        }
        if now >= next_pass {
            dirty = true;
            next_pass = now + RESYNC;
        }
        if dirty && in_flight.is_none() && session.synced() && session.has_lock() {
            dirty = false;
            let ops = layer.reconcile(daemon, session.replica());
            if !ops.is_empty() {
                let (id, msg) = session.transact(ops);
                conn.send(&msg)?;
                in_flight = Some(id);
            }
        }
    }
    Ok(())
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
}
