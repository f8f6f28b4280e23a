//! xvsd's OVSDB client thread: connects to the database (reconnecting with backoff),
//! runs the [`Session`], and after every change, and once a second, has the bridge
//! layer bring the switch in line and write back what ovs-vswitchd writes back. The
//! switch keeps forwarding while the database is away; after a reconnect the snapshot
//! is reconciled in full.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde_json::{json, Value};

use super::connection::{ConnError, Connection, Remote};
use super::session::{echo_request, Event, Session};
use super::vsctl::{bump_next_cfg, ops_for, selected_next_cfg, ConfigCmd};
use crate::connmgr::rconn::{Probe, Prober};
use crate::reconcile::{monitor_spec, BridgeLayer};
use crate::{Daemon, RequestError};

/// A configuration command from the control socket, to be written to the database and
/// answered once the switch has applied it.
pub struct ConfigRequest {
    pub cmd: ConfigCmd,
    pub reply: Sender<Result<Value, RequestError>>,
}

/// Where the one configuration request being served is.
enum Job {
    Idle,
    /// Its transaction is on its way.
    Submitted {
        txn: u64,
        req: ConfigRequest,
    },
    /// Written; waiting for `cur_cfg` to reach `cfg`.
    Applying {
        cfg: i64,
        req: ConfigRequest,
    },
    /// It failed in the switch (`error`): its rows are being removed again, so that a
    /// failed request changes nothing.
    RollingBack {
        txn: Option<u64>,
        cfg: i64,
        req: ConfigRequest,
        error: String,
    },
}

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
/// `probe`: the inactivity probe (OVS's: [`Remote::default_probe`]); after that long
/// with nothing received an echo request goes, and the connection is dropped and made
/// again if nothing comes within as long again.
pub fn run(
    remote: Remote,
    probe: Option<Duration>,
    daemon: Arc<Daemon>,
    requests: Receiver<ConfigRequest>,
    stop: Arc<AtomicBool>,
) -> Result<(), ClientError> {
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
                refuse_requests(&requests, "the database is not reachable");
                sleep_unless_stopped(backoff, &stop);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        tracing::info!(database = %remote, "connected to the database");
        warned = false;
        backoff = BACKOFF_MIN;
        match serve(
            &mut conn,
            probe,
            &mut session,
            &mut layer,
            &daemon,
            &requests,
            &stop,
            &remote,
        ) {
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

#[allow(clippy::too_many_arguments)]
fn serve(
    conn: &mut Connection,
    probe: Option<Duration>,
    session: &mut Session,
    layer: &mut BridgeLayer,
    daemon: &Daemon,
    requests: &Receiver<ConfigRequest>,
    stop: &AtomicBool,
    remote: &Remote,
) -> Result<(), Lost> {
    let mut job = Job::Idle;
    let result = serve_jobs(
        conn, probe, session, layer, daemon, requests, stop, remote, &mut job,
    );
    if let Job::Submitted { req, .. } | Job::Applying { req, .. } | Job::RollingBack { req, .. } =
        job
    {
        let _ = req.reply.send(Err(RequestError::new(
            "database",
            "the connection to the database was lost before the change was applied",
        )));
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn serve_jobs(
    conn: &mut Connection,
    probe: Option<Duration>,
    session: &mut Session,
    layer: &mut BridgeLayer,
    daemon: &Daemon,
    requests: &Receiver<ConfigRequest>,
    stop: &AtomicBool,
    remote: &Remote,
    job: &mut Job,
) -> Result<(), Lost> {
    for m in session.connected() {
        conn.send(&m)?;
    }
    let mut dirty = false;
    // The write-back in flight, and the configuration it makes current.
    let mut in_flight: Option<(u64, i64)> = None;
    let mut applied_cfg = i64::MIN;
    let mut next_pass = Instant::now() + RESYNC;
    let mut prober = Prober::new(probe, Instant::now());
    let mut received = conn.received_bytes();
    while !stop.load(Ordering::Relaxed) {
        let msg = conn.recv()?;
        // Inactivity probes as OVS's jsonrpc session: any byte received is life.
        let now = Instant::now();
        if conn.received_bytes() != received {
            received = conn.received_bytes();
            prober.received(now);
        }
        match prober.poll(now) {
            Probe::Nothing => {}
            Probe::SendEcho => {
                tracing::debug!(database = %remote, "idle; sending an inactivity probe");
                conn.send(&echo_request())?;
            }
            Probe::Dead => {
                return Err(Lost::Connection(format!(
                    "no response to inactivity probe after {} seconds, disconnecting",
                    probe.unwrap_or_default().as_secs_f64()
                )))
            }
        }
        if let Some(msg) = msg {
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
                        if let Some((txn, cfg)) = in_flight {
                            if txn == id {
                                in_flight = None;
                                match &result {
                                    Ok(_) => applied_cfg = applied_cfg.max(cfg),
                                    Err(e) => {
                                        tracing::warn!(error = %e, "writing back to the database failed; will retry")
                                    }
                                }
                            }
                        }
                        let taken = std::mem::replace(job, Job::Idle);
                        *job = job_transacted(taken, id, &result);
                        dirty = true;
                    }
                    Event::ProtocolError(e) => return Err(Lost::Connection(e)),
                }
            }
            continue;
        }
        let now = Instant::now();
        // A netdev appeared, changed or went: write back (and add a port that waited
        // for it) now rather than at the next second.
        // A controller connected or went: its row is written back now too.
        if daemon.take_netdev_wake() | daemon.take_connmgr_wake() {
            dirty = true;
        }
        if now >= next_pass {
            dirty = true;
            next_pass = now + RESYNC;
        }
        if !(session.synced() && session.has_lock()) {
            continue;
        }
        if dirty && in_flight.is_none() {
            dirty = false;
            let pass = layer.reconcile(daemon, session.replica());
            daemon.set_database_applied();
            if pass.ops.is_empty() {
                applied_cfg = applied_cfg.max(pass.next_cfg);
            } else {
                let (id, msg) = session.transact(pass.ops);
                conn.send(&msg)?;
                in_flight = Some((id, pass.next_cfg));
            }
        }
        let taken = std::mem::replace(job, Job::Idle);
        *job = advance_job(taken, applied_cfg, layer, session, conn, requests)?;
    }
    Ok(())
}

/// A transaction's outcome for the request being served.
fn job_transacted(job: Job, id: u64, result: &Result<Vec<Value>, String>) -> Job {
    match job {
        Job::Submitted { txn, req } if txn == id => match result {
            Ok(results) => match selected_next_cfg(results) {
                Some(cfg) => Job::Applying { cfg, req },
                None => {
                    let _ = req.reply.send(Ok(Value::Null));
                    Job::Idle
                }
            },
            Err(e) => {
                let _ = req.reply.send(Err(RequestError::new(
                    "database",
                    format!("the database refused the change: {e}"),
                )));
                Job::Idle
            }
        },
        Job::RollingBack {
            txn: Some(t),
            req,
            error,
            ..
        } if t == id => {
            let cfg = result
                .as_ref()
                .ok()
                .and_then(|r| selected_next_cfg(r))
                .unwrap_or(i64::MIN);
            Job::RollingBack {
                txn: None,
                cfg,
                req,
                error,
            }
        }
        other => other,
    }
}

/// Takes a new request when idle, and answers the one being served once applied.
fn advance_job(
    job: Job,
    applied_cfg: i64,
    layer: &BridgeLayer,
    session: &mut Session,
    conn: &mut Connection,
    requests: &Receiver<ConfigRequest>,
) -> Result<Job, Lost> {
    Ok(match job {
        Job::Idle => match requests.try_recv() {
            Ok(req) => match ops_for(session.replica(), &req.cmd) {
                Ok(mut ops) => {
                    ops.extend(bump_next_cfg());
                    let (txn, msg) = session.transact(ops);
                    conn.send(&msg)?;
                    Job::Submitted { txn, req }
                }
                Err(e) => {
                    let _ = req.reply.send(Err(e));
                    Job::Idle
                }
            },
            Err(_) => Job::Idle,
        },
        Job::Applying { cfg, req } if applied_cfg >= cfg => {
            let failed = match &req.cmd {
                ConfigCmd::AddPort { port, .. } => layer
                    .results
                    .get(port)
                    .and_then(|(ofport, e)| (*ofport < 0).then(|| e.clone().unwrap_or_default())),
                _ => None,
            };
            match (failed, &req.cmd) {
                (Some(error), ConfigCmd::AddPort { bridge, port, .. }) => {
                    let undo = ConfigCmd::DelPort {
                        bridge: bridge.clone(),
                        port: port.clone(),
                    };
                    match ops_for(session.replica(), &undo) {
                        Ok(mut ops) => {
                            ops.extend(bump_next_cfg());
                            let (txn, msg) = session.transact(ops);
                            conn.send(&msg)?;
                            Job::RollingBack {
                                txn: Some(txn),
                                cfg: i64::MAX,
                                req,
                                error,
                            }
                        }
                        Err(_) => {
                            let _ = req.reply.send(Err(datapath_error(port, &error)));
                            Job::Idle
                        }
                    }
                }
                _ => {
                    let result = match &req.cmd {
                        ConfigCmd::AddPort { port, .. } => {
                            json!({"ofport": layer.results.get(port).map_or(0, |r| r.0)})
                        }
                        _ => Value::Null,
                    };
                    let _ = req.reply.send(Ok(result));
                    Job::Idle
                }
            }
        }
        Job::RollingBack {
            txn: None,
            cfg,
            req,
            error,
        } if applied_cfg >= cfg => {
            if let ConfigCmd::AddPort { port, .. } = &req.cmd {
                let _ = req.reply.send(Err(datapath_error(port, &error)));
            }
            Job::Idle
        }
        other => other,
    })
}

fn datapath_error(port: &str, error: &str) -> RequestError {
    RequestError::new("datapath", format!("port \"{port}\": {error}"))
}

/// Answers waiting requests with `why` (nothing can be written now).
fn refuse_requests(requests: &Receiver<ConfigRequest>, why: &str) {
    while let Ok(req) = requests.try_recv() {
        let _ = req.reply.send(Err(RequestError::new("database", why)));
    }
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
}
