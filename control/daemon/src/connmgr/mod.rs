//! The connection manager (OVS's ofproto/connmgr.c, lib/rconn.c, fail-open.c): every
//! bridge's OpenFlow connections.
//!
//! * A management socket per bridge, `punix:$OVS_RUNDIR/BRIDGE.mgmt`, made when the
//!   bridge appears and removed when it goes (and at exit), so `ovs-ofctl CMD BRIDGE`
//!   works with no address ([`listener`]).
//! * The bridge's `Controller` rows: active targets (`tcp:`, `unix:`) connected to
//!   and reconnected with backoff, probed when idle ([`controller`], [`rconn`]);
//!   passive ones (`ptcp:`, `punix:`) listened on. Their state goes back to the
//!   database through [`ConnMgr::status`] (`is_connected`, `role`, `status`).
//! * Versions from `Bridge.protocols` (empty: every version xvs speaks, 1.0, 1.3 and
//!   1.4, which is OVS's default less what xvs does not speak); a change closes every
//!   connection of the bridge, which then negotiates again.
//! * Fail modes as OVS: the flows are flushed when the bridge gets its first
//!   controller or loses its last, and when its fail mode changes while it has none;
//!   a standalone bridge without controllers then gets `priority=0 actions=NORMAL`.
//!   A standalone bridge whose controllers have all been unreachable (not admitted)
//!   for three times the longest probe interval fails open: its flows are flushed and
//!   a hidden rule, above every OpenFlow priority and never dumped, sends everything
//!   to NORMAL, until a controller is admitted again ([`ConnMgr::run`]). A secure
//!   bridge keeps its flows whatever happens to its controllers.
//! * While `flow-restore-wait` holds, controllers are not connected (the management
//!   socket works, so flows can be restored), as OVS. Unlike OVS, the controllers it
//!   withheld still count as configured: the end of the wait does not flush the
//!   flows just restored (in OVS it does, as a side effect of "controllers appeared").
//!
//! Each connection is a [`session::Session`] (sans I/O) served by a thread
//! ([`conn`]); see there for the bounds.

pub mod bridge;
mod conn;
mod controller;
mod listener;
pub mod model;
pub mod rconn;
pub mod session;
#[cfg(test)]
mod session_tests;
pub mod target;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use xvs_openflow::{Version, VersionBitmap};

use crate::Daemon;
use bridge::BridgeShared;
use controller::ActiveController;
use listener::{Listener, MAX_PASSIVE_CONNECTIONS, MGMT_PROBE};
pub use listener::{HELLO_TIMEOUT, MAX_LISTENER_CONNECTIONS};
use model::FlowModel;
use session::ConnKind;
use target::Target;

/// What every connection thread shares.
pub struct Ctx {
    daemon: Weak<Daemon>,
    model: Arc<dyn FlowModel>,
    stop: AtomicBool,
    passive: AtomicUsize,
    next_conn: AtomicU64,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Something the database shows changed (a controller connected, ...).
    wake: AtomicBool,
    /// The management sockets' probe interval (OVS: 60 s).
    mgmt_probe: Mutex<Duration>,
    /// Counters of the passive sockets, for `dp-show`.
    pub stats: PassiveStats,
}

/// What the passive sockets (management sockets, `ptcp:`/`punix:` controllers) have
/// done.
#[derive(Debug, Default)]
pub struct PassiveStats {
    pub accepted: AtomicU64,
    /// Closed at once: their listener (or every listener together) was full.
    pub refused: AtomicU64,
    /// Closed for not completing the HELLO exchange within [`HELLO_TIMEOUT`].
    pub hello_timeouts: AtomicU64,
    /// Closed for not answering an inactivity probe.
    pub probe_timeouts: AtomicU64,
}

/// A place among the passive connections, of every listener and of its own; freed
/// when dropped.
struct Slot(Arc<Ctx>, Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.passive.fetch_sub(1, Ordering::AcqRel);
        self.1.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Ctx {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// A place for a connection accepted by a listener whose connections `mine`
    /// counts, if neither it nor every listener together is full.
    fn passive_slot(self: &Arc<Self>, mine: &Arc<AtomicUsize>) -> Option<Slot> {
        if mine.fetch_add(1, Ordering::AcqRel) >= MAX_LISTENER_CONNECTIONS {
            mine.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        if self.passive.fetch_add(1, Ordering::AcqRel) >= MAX_PASSIVE_CONNECTIONS {
            self.passive.fetch_sub(1, Ordering::AcqRel);
            mine.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(self.clone(), mine.clone()))
    }

    fn keep_thread(&self, h: JoinHandle<()>) {
        let mut t = self.threads.lock().expect("threads lock");
        t.retain(|h| !h.is_finished());
        t.push(h);
    }

    fn wake(&self) {
        self.wake.store(true, Ordering::Release);
    }
}

/// One `Controller` row of a bridge, as the connection manager needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerConfig {
    pub target: String,
    /// `inactivity_probe` (ms).
    pub inactivity_probe: Option<i64>,
    /// `max_backoff` (ms).
    pub max_backoff: Option<i64>,
    /// `type`: "primary" or "service" (empty: from the target, as OVS).
    pub kind: Option<String>,
}

impl ControllerConfig {
    /// OVS's `get_controller_ofconn_type`: the `type` column, else primary for an
    /// active target (what OVS can connect to, ssl: included) and service otherwise.
    pub fn conn_kind(&self) -> ConnKind {
        match self.kind.as_deref() {
            Some("primary") => ConnKind::Primary,
            Some(_) => ConnKind::Service,
            None if self.target.starts_with("ssl:")
                || Target::parse(&self.target).is_ok_and(|t| t.is_active()) =>
            {
                ConnKind::Primary
            }
            None => ConnKind::Service,
        }
    }
}

/// A bridge as the connection manager needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeConfig {
    pub name: String,
    pub datapath_id: u64,
    /// `Bridge.protocols`.
    pub protocols: Vec<String>,
    /// `fail_mode` empty or standalone.
    pub standalone: bool,
    /// `other_config:dp-desc`.
    pub dp_desc: Option<String>,
    pub controllers: Vec<ControllerConfig>,
}

impl BridgeConfig {
    fn has_primary(&self) -> bool {
        self.controllers
            .iter()
            .any(|c| c.conn_kind() == ConnKind::Primary)
    }
}

/// What is written back to one `Controller` row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerStatus {
    pub is_connected: bool,
    pub role: Option<&'static str>,
    pub status: BTreeMap<String, String>,
}

/// The versions of `Bridge.protocols` that xvs speaks (1.0, 1.3, 1.4); an empty
/// column is all three (OVS's default is 1.0 to 1.5).
pub fn allowed_versions(protocols: &[String]) -> VersionBitmap {
    if protocols.is_empty() {
        return VersionBitmap::from_versions(&Version::ALL);
    }
    let versions: Vec<Version> = protocols
        .iter()
        .filter_map(|p| Version::ALL.into_iter().find(|v| v.ovsdb_name() == p))
        .collect();
    VersionBitmap::from_versions(&versions)
}

enum Service {
    Active(ActiveController),
    Passive(Listener),
    /// A target xvs cannot use: its error is its status.
    Broken {
        error: String,
        since: Instant,
    },
}

struct Running {
    config: ControllerConfig,
    kind: ConnKind,
    service: Service,
}

impl Running {
    /// New settings of the same kind: the connections stay.
    fn reconfigure(&mut self, c: &ControllerConfig) {
        let probe = rconn::probe_interval(c.inactivity_probe);
        match &self.service {
            Service::Active(a) => a.reconfigure(probe, rconn::max_backoff(c.max_backoff)),
            Service::Passive(l) => l.set_probe(probe),
            Service::Broken { .. } => {}
        }
        self.config = c.clone();
    }

    fn stop(self) {
        match self.service {
            Service::Active(c) => c.join(),
            Service::Passive(l) => l.close(),
            Service::Broken { .. } => {}
        }
    }
}

struct BridgeConns {
    shared: Arc<BridgeShared>,
    mgmt: Option<Listener>,
    mgmt_error: Option<String>,
    /// By target, as OVS keys them.
    services: BTreeMap<String, Running>,
    standalone: bool,
    has_primary: bool,
    withheld: bool,
    /// Longest probe interval among the primary controllers (fail-open's trigger is
    /// three times it).
    max_probe_secs: u64,
    fail_open: bool,
    fail_open_logged: u64,
}

/// Every bridge's OpenFlow connections. Made once by xvsd; [`ConnMgr::configure`] is
/// called by every pass of the bridge layer, [`ConnMgr::run`] often.
pub struct ConnMgr {
    ctx: Arc<Ctx>,
    rundir: PathBuf,
    bridges: Mutex<BTreeMap<String, BridgeConns>>,
}

impl ConnMgr {
    /// Management sockets go in `rundir` (OVS_RUNDIR).
    pub fn new(daemon: Weak<Daemon>, model: Arc<dyn FlowModel>, rundir: PathBuf) -> ConnMgr {
        ConnMgr {
            ctx: Arc::new(Ctx {
                daemon,
                model,
                stop: AtomicBool::new(false),
                passive: AtomicUsize::new(0),
                next_conn: AtomicU64::new(1),
                threads: Mutex::new(Vec::new()),
                wake: AtomicBool::new(false),
                mgmt_probe: Mutex::new(MGMT_PROBE),
                stats: PassiveStats::default(),
            }),
            rundir,
            bridges: Mutex::new(BTreeMap::new()),
        }
    }

    /// The management sockets' inactivity probe (OVS: 60 s; at least 5 s, as rconn's);
    /// for the sockets made from now on.
    pub fn set_mgmt_probe(&self, probe: Duration) {
        *self.ctx.mgmt_probe.lock().expect("mgmt probe lock") = probe.max(Duration::from_secs(5));
    }

    /// The passive sockets' counters, for `dp-show`: JSON and a line of text.
    pub fn socket_stats(&self) -> (serde_json::Value, String) {
        let s = &self.ctx.stats;
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let open = self.ctx.passive.load(Ordering::Relaxed);
        (
            serde_json::json!({
                "open": open, "accepted": g(&s.accepted), "refused": g(&s.refused),
                "hello_timeouts": g(&s.hello_timeouts), "probe_timeouts": g(&s.probe_timeouts),
            }),
            format!(
                "passive connections:{} accepted:{} refused:{} hello-timeouts:{} probe-timeouts:{}",
                open,
                g(&s.accepted),
                g(&s.refused),
                g(&s.hello_timeouts),
                g(&s.probe_timeouts)
            ),
        )
    }

    /// The management socket of `bridge`.
    pub fn mgmt_path(&self, bridge: &str) -> PathBuf {
        self.rundir.join(format!("{bridge}.mgmt"))
    }

    /// Something the database shows changed (a role): the bridge layer's next pass
    /// comes at once.
    pub fn wake(&self) {
        self.ctx.wake();
    }

    /// Whether something the database shows changed since the last call.
    pub fn take_wake(&self) -> bool {
        self.ctx.wake.swap(false, Ordering::AcqRel)
    }

    /// Makes the connections what `bridges` asks; `withhold`: flow-restore-wait holds,
    /// controllers are not connected.
    pub fn configure(&self, bridges: &[BridgeConfig], withhold: bool) {
        let mut map = self.bridges.lock().expect("bridges lock");
        if self.ctx.stopping() {
            return;
        }
        let gone: Vec<String> = map
            .keys()
            .filter(|n| !bridges.iter().any(|b| &b.name == *n))
            .cloned()
            .collect();
        for name in gone {
            let b = map.remove(&name).expect("listed");
            tracing::info!(bridge = %name, "OpenFlow connections closed: bridge removed");
            close_bridge(b);
        }
        for cfg in bridges {
            let conns = map.entry(cfg.name.clone()).or_insert_with(|| BridgeConns {
                shared: Arc::new(BridgeShared::new(
                    &cfg.name,
                    cfg.datapath_id,
                    allowed_versions(&cfg.protocols),
                )),
                mgmt: None,
                mgmt_error: None,
                services: BTreeMap::new(),
                standalone: cfg.standalone,
                has_primary: cfg.has_primary(),
                withheld: withhold,
                max_probe_secs: 0,
                fail_open: false,
                fail_open_logged: 0,
            });
            self.configure_bridge(conns, cfg, withhold);
        }
    }

    fn configure_bridge(&self, b: &mut BridgeConns, cfg: &BridgeConfig, withhold: bool) {
        let shared = &b.shared;
        if shared.set_datapath_id(cfg.datapath_id) {
            tracing::info!(bridge = %cfg.name, datapath_id = %format!("{:016x}", cfg.datapath_id), "datapath id changed: connections closed");
        }
        shared.set_dp_desc(cfg.dp_desc.as_deref());
        let allowed = allowed_versions(&cfg.protocols);
        if shared.set_allowed(allowed) {
            tracing::info!(bridge = %cfg.name, versions = %allowed.describe(), "OpenFlow versions changed: connections renegotiate");
        }
        if b.mgmt.is_none() {
            let t = Target::PUnix(self.mgmt_path(&cfg.name));
            match Listener::start(
                &t,
                Some(*self.ctx.mgmt_probe.lock().expect("mgmt probe lock")),
                ConnKind::Service,
                shared.clone(),
                self.ctx.clone(),
            ) {
                Ok(l) => {
                    tracing::info!(bridge = %cfg.name, socket = %t, "management socket");
                    b.mgmt = Some(l);
                    b.mgmt_error = None;
                }
                Err(e) => {
                    if b.mgmt_error.as_ref() != Some(&e) {
                        tracing::warn!(bridge = %cfg.name, error = %e, "no management socket");
                    }
                    b.mgmt_error = Some(e);
                }
            }
        }
        // Controllers, by target (a duplicate is ignored, as OVS).
        let mut wanted: BTreeMap<&str, &ControllerConfig> = BTreeMap::new();
        if !withhold {
            for c in &cfg.controllers {
                if wanted.insert(c.target.as_str(), c).is_some() {
                    tracing::warn!(bridge = %cfg.name, target = %c.target, "duplicate controller");
                }
            }
        }
        // OVS's connmgr_set_controllers: a controller no longer there goes, one whose
        // type changed starts over; any other change (inactivity_probe, max_backoff)
        // applies to the open connection, which stays (ofservice_reconfigure). A
        // target that could not be used is tried again.
        let stale: Vec<String> = b
            .services
            .iter()
            .filter(|(t, r)| {
                wanted.get(t.as_str()).is_none_or(|c| {
                    c.conn_kind() != r.kind
                        || (matches!(r.service, Service::Broken { .. }) && **c != r.config)
                })
            })
            .map(|(t, _)| t.clone())
            .collect();
        for t in stale {
            let r = b.services.remove(&t).expect("listed");
            match wanted.get(t.as_str()) {
                None if withhold => {
                    tracing::info!(bridge = %cfg.name, target = %t, "controller disconnected: flow-restore-wait")
                }
                None => tracing::info!(bridge = %cfg.name, target = %t, "controller removed"),
                Some(c) => tracing::info!(
                    bridge = %cfg.name,
                    target = %t,
                    changed = %controller_change(&r.config, c),
                    "controller changed: connecting again"
                ),
            }
            r.stop();
        }
        for (t, r) in b.services.iter_mut() {
            let c = wanted.get(t.as_str()).expect("not stale");
            if **c != r.config {
                tracing::info!(bridge = %cfg.name, target = %t, changed = %controller_change(&r.config, c), "controller reconfigured");
                r.reconfigure(c);
            }
        }
        for (t, c) in wanted {
            if !b.services.contains_key(t) {
                tracing::info!(bridge = %cfg.name, target = %t, settings = %controller_settings(c), "controller added");
                let r = self.start_service(c, shared.clone());
                b.services.insert(t.to_string(), r);
            }
        }
        b.max_probe_secs = cfg
            .controllers
            .iter()
            .filter(|c| c.conn_kind() == ConnKind::Primary)
            .filter_map(|c| rconn::probe_interval(c.inactivity_probe))
            .map(|d| d.as_secs())
            .max()
            .unwrap_or(0);
        // OVS's connmgr_set_controllers / connmgr_set_fail_mode.
        let has = cfg.has_primary();
        let flush = has != b.has_primary || (cfg.standalone != b.standalone && !has);
        if cfg.standalone != b.standalone {
            let mode = |standalone| if standalone { "standalone" } else { "secure" };
            tracing::info!(bridge = %cfg.name, from = %mode(b.standalone), to = %mode(cfg.standalone), "fail mode changed");
        }
        b.has_primary = has;
        b.standalone = cfg.standalone;
        b.withheld = withhold;
        if b.fail_open && !(has && cfg.standalone && !withhold) {
            self.set_fail_open(b, false);
        }
        if flush {
            let normal = cfg.standalone && !has;
            tracing::info!(bridge = %cfg.name, normal, "flows flushed: controllers or fail mode changed");
            self.flush(&cfg.name, normal);
        }
    }

    fn start_service(&self, c: &ControllerConfig, shared: Arc<BridgeShared>) -> Running {
        let kind = c.conn_kind();
        let probe = rconn::probe_interval(c.inactivity_probe);
        let service = match Target::parse(&c.target) {
            Ok(t) if t.is_active() => {
                let backoff = rconn::max_backoff(c.max_backoff);
                Service::Active(ActiveController::start(
                    t,
                    probe,
                    backoff,
                    kind,
                    shared,
                    self.ctx.clone(),
                ))
            }
            Ok(t) => match Listener::start(&t, probe, kind, shared, self.ctx.clone()) {
                Ok(l) => Service::Passive(l),
                Err(error) => Service::Broken {
                    error,
                    since: Instant::now(),
                },
            },
            Err(error) => Service::Broken {
                error,
                since: Instant::now(),
            },
        };
        if let Service::Broken { error, .. } = &service {
            tracing::warn!(target = %c.target, %error, "controller not usable");
        }
        Running {
            config: c.clone(),
            kind,
            service,
        }
    }

    /// Removes every flow of `bridge`, then gives it NORMAL when asked.
    fn flush(&self, bridge: &str, normal: bool) {
        let Some(d) = self.ctx.daemon.upgrade() else {
            return;
        };
        let b = bridge.to_string();
        let r = d.control().change(move |sw, now| {
            sw.flush_flows(&b)?;
            if normal {
                sw.add_flow(&b, "priority=0 actions=NORMAL", now)?;
            }
            Ok::<(), xvs_pipeline::SwitchError>(())
        });
        if let Err(e) = r {
            tracing::warn!(bridge, error = %e, "flushing flows");
        }
    }

    fn set_fail_open(&self, b: &mut BridgeConns, on: bool) {
        let Some(d) = self.ctx.daemon.upgrade() else {
            return;
        };
        let name = b.shared.name.clone();
        let r = d.control().change(move |sw, _| {
            if on {
                sw.flush_flows(&name)?;
            }
            sw.set_fail_open(&name, on)
        });
        match r {
            Ok(_) => b.fail_open = on,
            Err(e) => tracing::warn!(bridge = %b.shared.name, error = %e, "fail-open"),
        }
    }

    /// Fail-open (OVS's `fail_open_run` and `fail_open_maybe_recover`); call it often.
    pub fn run(&self, now: Instant) {
        let mut map = self.bridges.lock().expect("bridges lock");
        for b in map.values_mut() {
            if !(b.standalone && b.has_primary && !b.withheld) {
                continue;
            }
            let mut admitted = false;
            let mut failure: Option<Duration> = None;
            for r in b.services.values() {
                if r.kind != ConnKind::Primary {
                    continue;
                }
                let d = match &r.service {
                    Service::Active(c) => {
                        let s = c.state.lock().expect("controller state lock");
                        admitted |= s.rconn.is_admitted();
                        s.rconn.failure_duration(now)
                    }
                    Service::Broken { since, .. } => now.saturating_duration_since(*since),
                    Service::Passive(_) => continue,
                };
                failure = Some(failure.map_or(d, |f| f.min(d)));
            }
            if b.fail_open && admitted {
                tracing::warn!(bridge = %b.shared.name, "no longer in fail-open mode");
                self.set_fail_open(b, false);
                continue;
            }
            let secs = failure.map_or(0, |f| f.as_secs());
            let trigger = b.max_probe_secs * 3;
            if secs > 0 && secs >= trigger && !b.fail_open {
                tracing::warn!(bridge = %b.shared.name, seconds = secs, "could not connect to controller (or switch failed controller's post-connection admission control policy) for {secs} seconds, failing open");
                self.set_fail_open(b, true);
                b.fail_open_logged = secs;
            } else if b.fail_open && secs > b.fail_open_logged + 60 {
                tracing::info!(bridge = %b.shared.name, seconds = secs, "still in fail-open mode");
                b.fail_open_logged = secs;
            }
        }
    }

    /// Whether `bridge` is in fail-open mode.
    pub fn is_fail_open(&self, bridge: &str) -> bool {
        let map = self.bridges.lock().expect("bridges lock");
        map.get(bridge).is_some_and(|b| b.fail_open)
    }

    /// What to write to each `Controller` row of `bridge`, by target.
    pub fn status(&self, bridge: &str) -> BTreeMap<String, ControllerStatus> {
        let map = self.bridges.lock().expect("bridges lock");
        let Some(b) = map.get(bridge) else {
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for (t, r) in &b.services {
            let st = match &r.service {
                // OVS reports nothing of passive targets.
                Service::Passive(_) => ControllerStatus::default(),
                Service::Broken { error, .. } => ControllerStatus {
                    is_connected: false,
                    role: None,
                    status: BTreeMap::from([
                        ("last_error".to_string(), error.clone()),
                        ("state".to_string(), "BACKOFF".to_string()),
                    ]),
                },
                Service::Active(c) => {
                    let role = c.role(&b.shared);
                    let s = c.state.lock().expect("controller state lock");
                    let mut status = BTreeMap::new();
                    if let Some(e) = s.rconn.last_error() {
                        status.insert("last_error".to_string(), e.to_string());
                    }
                    status.insert("state".to_string(), s.rconn.state().name().to_string());
                    ControllerStatus {
                        is_connected: s.rconn.is_connected(),
                        role: role.and_then(bridge::role_name),
                        status,
                    }
                }
            };
            out.insert(t.clone(), st);
        }
        out
    }

    /// Closes everything: listeners (their sockets removed), controllers, connections.
    pub fn shutdown(&self) {
        self.ctx.stop.store(true, Ordering::Release);
        let bridges = std::mem::take(&mut *self.bridges.lock().expect("bridges lock"));
        for (_, b) in bridges {
            close_bridge(b);
        }
        let threads = std::mem::take(&mut *self.ctx.threads.lock().expect("threads lock"));
        for t in threads {
            let _ = t.join();
        }
    }
}

fn close_bridge(b: BridgeConns) {
    b.shared.close_all();
    if let Some(l) = b.mgmt {
        l.close();
    }
    for (_, r) in b.services {
        r.stop();
    }
}

/// A controller's settings for the log: `type`, `inactivity_probe`, `max_backoff`
/// (ms), as the database has them (`default` when unset).
fn controller_settings(c: &ControllerConfig) -> String {
    let ms = |v: Option<i64>| v.map_or_else(|| "default".to_string(), |v| format!("{v}ms"));
    format!(
        "type={} inactivity_probe={} max_backoff={}",
        match c.conn_kind() {
            ConnKind::Primary => "primary",
            ConnKind::Service => "service",
        },
        ms(c.inactivity_probe),
        ms(c.max_backoff)
    )
}

/// What differs between two settings of one controller, `old -> new`.
fn controller_change(old: &ControllerConfig, new: &ControllerConfig) -> String {
    let (a, b) = (controller_settings(old), controller_settings(new));
    let changed: Vec<String> = a
        .split(' ')
        .zip(b.split(' '))
        .filter(|(x, y)| x != y)
        .map(|(x, y)| format!("{x} -> {}", y.split_once('=').map_or(y, |(_, v)| v)))
        .collect();
    if changed.is_empty() {
        "nothing the switch uses".into()
    } else {
        changed.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_bridge_protocols() {
        let v = |p: &[&str]| {
            let p: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            allowed_versions(&p).describe()
        };
        assert_eq!(
            v(&[]),
            VersionBitmap::from_versions(&Version::ALL).describe()
        );
        assert_eq!(
            v(&["OpenFlow10", "OpenFlow13", "OpenFlow14"]),
            VersionBitmap::from_versions(&Version::ALL).describe()
        );
        assert_eq!(
            v(&["OpenFlow13", "OpenFlow15"]),
            VersionBitmap::from_versions(&[Version::Of13]).describe()
        );
        assert!(allowed_versions(&["OpenFlow12".to_string()]).is_empty());
    }

    #[test]
    fn controller_kinds_as_ovs() {
        let c = |target: &str, kind: Option<&str>| {
            ControllerConfig {
                target: target.into(),
                inactivity_probe: None,
                max_backoff: None,
                kind: kind.map(str::to_string),
            }
            .conn_kind()
        };
        assert_eq!(c("tcp:127.0.0.1:6633", None), ConnKind::Primary);
        assert_eq!(c("unix:/x", None), ConnKind::Primary);
        assert_eq!(c("ssl:1.2.3.4", None), ConnKind::Primary);
        assert_eq!(c("ptcp:6633", None), ConnKind::Service);
        assert_eq!(c("punix:/x", None), ConnKind::Service);
        assert_eq!(c("bogus", None), ConnKind::Service);
        assert_eq!(c("ptcp:6633", Some("primary")), ConnKind::Primary);
        assert_eq!(c("tcp:1.2.3.4", Some("service")), ConnKind::Service);
    }
}
