//! xvsd, the daemon around the pipeline: requests from the control socket, routed to
//! changes and reads on the control thread, the OVSDB database followed (bridges and
//! ports come from there, [`reconcile`]), ports opened through the datapath backend, and
//! tunnel underlays kept in line with the kernel; `ovs-appctl`'s commands ([`unixctl`]),
//! logging as OVS's vlog ([`vlog`]) and the pidfile ([`pidfile`]).
//! What the answers look like is the pipeline's [`xvs_pipeline::present`].

pub mod afxdp_backend;
pub mod connmgr;
pub mod links;
pub mod logging;
pub mod metrics;
pub mod netdevs;
pub mod netlink;
pub mod ovsdb;
pub mod pidfile;
pub mod pollserver;
pub mod ports;
pub mod protocol;
pub mod reconcile;
pub mod server;
pub mod service;
pub mod underlay;
pub mod unixctl;
pub mod vlog;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use xvs_dataplane::PortNo;
use xvs_pipeline::control_thread::ControlThread;
use xvs_pipeline::ofp::OfPort;
use xvs_pipeline::ofproto::flow_mods::FlowModFailure;
use xvs_pipeline::ofproto::limits::TableConfig;
use xvs_pipeline::present;
use xvs_pipeline::topology::{PortConfig, PortKind, PortVlan};
use xvs_pipeline::{BridgeOptions, Switch, SwitchError, Time, UnderlayRoute};

use netlink::Rtnl;
use ovsdb::vsctl::ConfigCmd;
use ports::{port_config, PortBackend, PortStatus};
use protocol::{parse_request, Command, Response};
use underlay::{TunnelSpec, TunnelStatus, UnderlayEnv, Underlays};

/// A failed request: a stable code for programs, a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub code: &'static str,
    pub message: String,
}

impl RequestError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        RequestError {
            code,
            message: message.into(),
        }
    }
}

impl From<SwitchError> for RequestError {
    fn from(e: SwitchError) -> Self {
        let code = match &e {
            SwitchError::NoSuchBridge(_) => "no-such-bridge",
            SwitchError::BridgeExists(_) => "bridge-exists",
            SwitchError::BadBridgeName(_) => "bad-name",
            SwitchError::NoSuchPort { .. } | SwitchError::NoSuchUnderlay(_) => "no-such-port",
            SwitchError::PortExists(_) => "port-exists",
            SwitchError::OfportInUse { .. } => "ofport-in-use",
            SwitchError::BadPortOption(_) => "bad-port-option",
            SwitchError::FlowLine { .. }
            | SwitchError::Flow(_)
            | SwitchError::MissingActions(_) => "bad-flow",
            SwitchError::FlowMod {
                error: FlowModFailure::TableFull(_),
                ..
            } => "table-full",
            SwitchError::FlowMod { .. } => "bad-flow",
            SwitchError::BadPacket(_) => "bad-request",
        };
        RequestError::new(code, e.to_string())
    }
}

type Outcome = Result<(Value, String), RequestError>;

struct Config {
    /// How each netdev port's datapath side is doing, by port name.
    status: BTreeMap<String, Result<PortStatus, String>>,
    underlays: Underlays,
    /// Opened at the first tunnel port (or bridge `hwaddr`); an error is retried at the
    /// next sync.
    rtnl: Option<Rtnl>,
    next_sync: Option<Instant>,
}

/// How often the tunnel underlays are checked against the kernel (next-hop MACs, MTUs,
/// routes), and how often while something is still unresolved.
const UNDERLAY_SYNC: Duration = Duration::from_secs(1);
const UNDERLAY_SYNC_PENDING: Duration = Duration::from_millis(200);

/// The daemon's side of [`UnderlayEnv`]: the switch through the control thread, the
/// datapath through the port backend.
struct DaemonEnv<'a> {
    control: &'a ControlThread,
    backend: &'a mut dyn PortBackend,
}

impl UnderlayEnv for DaemonEnv<'_> {
    fn is_bridge_port(&mut self, name: &str) -> bool {
        let n = name.to_string();
        self.control.read(move |sw, _, _| {
            sw.topology().port_by_name(&n).is_some_and(|(b, of)| {
                b.port(of)
                    .is_some_and(|p| matches!(p.config.kind, PortKind::Netdev))
            })
        })
    }
    fn add_underlay(&mut self, name: &str) -> Result<PortNo, String> {
        let n = name.to_string();
        self.control
            .change(move |sw, _| sw.add_underlay(&n))
            .map_err(|e| e.to_string())
    }
    fn remove_underlay(&mut self, name: &str) {
        let n = name.to_string();
        let _ = self.control.change(move |sw, _| sw.remove_underlay(&n));
    }
    fn attach(&mut self, dp: PortNo, ifname: &str) -> Result<PortStatus, String> {
        self.backend.attach_underlay(dp, ifname)
    }
    fn detach(&mut self, dp: PortNo) {
        self.backend.detach(dp)
    }
    fn add_local_ip(&mut self, dp: PortNo, ip: Ipv4Addr) -> Result<(), String> {
        self.backend.add_underlay_ip(dp, ip)
    }
    fn remove_local_ip(&mut self, dp: PortNo, ip: Ipv4Addr) {
        self.backend.remove_underlay_ip(dp, ip)
    }
    fn set_route(&mut self, remote: Ipv4Addr, route: Option<UnderlayRoute>) {
        self.control.change(move |sw, _| match route {
            Some(r) => sw.set_underlay_route(remote, r),
            None => sw.remove_underlay_route(remote),
        })
    }
}

pub struct Daemon {
    control: ControlThread,
    /// With a database, xvsctl's configuration commands become its transactions, sent
    /// here (see [`ovsdb::client`]).
    database: Mutex<Option<crossbeam_channel::Sender<ovsdb::client::ConfigRequest>>>,
    /// The database's configuration has been applied once since the start.
    database_applied: std::sync::atomic::AtomicBool,
    backend: Mutex<Box<dyn PortBackend>>,
    /// Held for the whole of a configuration change, so the switch and the datapath
    /// change together.
    config: Mutex<Config>,
    /// The kernel's netdevs as link notifications describe them ([`netdevs`]).
    netdevs: netdevs::Netdevs,
    /// The bridges' OpenFlow connections, once xvsd has made it.
    connmgr: std::sync::OnceLock<std::sync::Arc<connmgr::ConnMgr>>,
    /// What the control socket has done (`dp-show`).
    control_stats: server::ControlStats,
    /// Every worker's totals at the last clear: what `dp-show` and `pmd-stats-show`
    /// count from.
    worker_base: Mutex<Vec<xvs_dataplane::worker::WorkerStatsSnapshot>>,
}

impl Daemon {
    pub fn new(control: ControlThread, backend: Box<dyn PortBackend>) -> Self {
        Daemon {
            control,
            database: Mutex::new(None),
            database_applied: std::sync::atomic::AtomicBool::new(false),
            backend: Mutex::new(backend),
            config: Mutex::new(Config {
                status: BTreeMap::new(),
                underlays: Underlays::default(),
                rtnl: None,
                next_sync: None,
            }),
            netdevs: netdevs::Netdevs::default(),
            connmgr: std::sync::OnceLock::new(),
            control_stats: server::ControlStats::default(),
            worker_base: Mutex::new(Vec::new()),
        }
    }

    /// Each worker's figures since the last clear (`dp-show --clear`, `ovs-appctl
    /// dpif-netdev/pmd-stats-clear`), from its totals `now`; with `clear`, the workers it
    /// picks start from zero again. The totals themselves never go back (the metrics
    /// are counters), nor do the ports' counters (as OVS's).
    pub fn workers_since_clear(
        &self,
        now: &[xvs_dataplane::worker::WorkerStatsSnapshot],
        clear: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<xvs_dataplane::worker::WorkerStatsSnapshot> {
        let mut base = self.worker_base.lock().unwrap_or_else(|e| e.into_inner());
        base.resize(now.len(), Default::default());
        let since: Vec<_> = now
            .iter()
            .zip(base.iter())
            .map(|(n, b)| present::appctl::worker_delta(n, b))
            .collect();
        if let Some(chosen) = clear {
            for (w, st) in now.iter().enumerate() {
                if chosen(w) {
                    base[w] = *st;
                }
            }
        }
        since
    }

    /// From now on the bridge layer configures `c` (OpenFlow connections).
    pub fn set_connmgr(&self, c: std::sync::Arc<connmgr::ConnMgr>) {
        let _ = self.connmgr.set(c);
    }

    /// The OpenFlow connection manager, if xvsd made one.
    pub fn connmgr(&self) -> Option<&std::sync::Arc<connmgr::ConnMgr>> {
        self.connmgr.get()
    }

    /// Whether a controller connected or went since the last call (its row is due
    /// for a write-back).
    pub fn take_connmgr_wake(&self) -> bool {
        self.connmgr.get().is_some_and(|c| c.take_wake())
    }

    /// A datapath port's counters.
    pub fn port_counters(&self, dp: PortNo) -> present::show::PortCounters {
        self.backend.lock().expect("backend lock").counters(dp)
    }

    /// Bridges and ports are the database's from now on (see [`reconcile`]): xvsctl's
    /// configuration commands go to it through `requests`.
    pub fn set_database(&self, requests: crossbeam_channel::Sender<ovsdb::client::ConfigRequest>) {
        *self.database.lock().expect("database lock") = Some(requests);
    }

    /// Whether the database's bridges and ports have been applied since the start.
    pub fn database_applied(&self) -> bool {
        self.database_applied
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Called by the database client after a full pass.
    pub fn set_database_applied(&self) {
        self.database_applied
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Runs a configuration command as a database transaction (bridges and ports live
    /// in the database only); answers once the switch has applied it (or undone it, when
    /// it failed there).
    fn configure(&self, cmd: ConfigCmd) -> Outcome {
        let Some(tx) = self.database.lock().expect("database lock").clone() else {
            return Err(RequestError::new(
                "database",
                "xvsd has no database to write the change to",
            ));
        };
        let (reply, answer) = crossbeam_channel::bounded(1);
        let req = ovsdb::client::ConfigRequest {
            cmd: cmd.clone(),
            reply,
        };
        if tx.send(req).is_err() {
            return Err(RequestError::new(
                "database",
                "the database client has stopped",
            ));
        }
        match answer.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(v)) => Ok((v, String::new())),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(RequestError::new(
                "database",
                "the database did not take the change within 30 s",
            )),
        }
    }

    pub fn control(&self) -> &ControlThread {
        &self.control
    }

    /// Keeps the tunnel underlays in line with the kernel; call it often (it decides
    /// itself when a sync is due).
    pub fn tick(&self, now: Instant) {
        if let Some(c) = self.connmgr.get() {
            c.run(now);
        }
        let mut cfg = self.config.lock().expect("config lock");
        if cfg.next_sync.is_some_and(|t| now >= t) {
            self.sync_underlays(&mut cfg, now);
        }
    }

    fn sync_underlays(&self, cfg: &mut Config, now: Instant) {
        let Config {
            underlays,
            rtnl,
            next_sync,
            ..
        } = cfg;
        if !self.backend.lock().expect("backend lock").moves_packets() {
            underlays.without_datapath();
            *next_sync = None;
            return;
        }
        if rtnl.is_none() {
            match Rtnl::open() {
                Ok(r) => *rtnl = Some(r),
                Err(e) => tracing::warn!(error = %e, "opening rtnetlink"),
            }
        }
        if let Some(net) = rtnl.as_mut() {
            let mut backend = self.backend.lock().expect("backend lock");
            let mut env = DaemonEnv {
                control: &self.control,
                backend: &mut **backend,
            };
            underlays.sync(net, &mut env, now);
        }
        *next_sync = Some(
            now + if underlays.pending() || rtnl.is_none() {
                UNDERLAY_SYNC_PENDING
            } else {
                UNDERLAY_SYNC
            },
        );
    }

    /// Handles one request line; never panics on its content.
    pub fn handle_line(&self, line: &str) -> Response {
        let (id, cmd) = match parse_request(line) {
            Ok(r) => r,
            Err(resp) => return *resp,
        };
        self.respond(id, cmd)
    }

    /// The response to one parsed request (`id` echoed).
    pub fn respond(&self, id: Option<serde_json::Value>, cmd: Command) -> Response {
        match self.handle(cmd) {
            Ok((result, text)) => Response::ok(id, result, text),
            Err(e) => Response::err(id, e.code, e.message),
        }
    }

    /// The control socket's and the OpenFlow sockets' counters, for `dp-show`.
    fn socket_stats(&self) -> (Value, String) {
        let c = &self.control_stats;
        let mut text = format!("xvs@sockets:\n  control: {}\n", c.text());
        let mut json = json!({"control": c.json()});
        if let Some(m) = self.connmgr.get() {
            let (j, t) = m.socket_stats();
            json["openflow"] = j;
            text.push_str(&format!("  openflow: {t}\n"));
        }
        (json, text)
    }

    /// The control socket's counters.
    pub fn control_stats(&self) -> &server::ControlStats {
        &self.control_stats
    }

    pub fn handle(&self, cmd: Command) -> Outcome {
        match cmd {
            Command::AddBr { bridge } => self.configure(ConfigCmd::AddBr { bridge }),
            Command::DelBr { bridge } => self.configure(ConfigCmd::DelBr { bridge }),
            Command::AddPort {
                bridge,
                port,
                options,
            } => self.configure(ConfigCmd::AddPort {
                bridge,
                port,
                options,
            }),
            Command::DelPort { bridge, port } => {
                self.configure(ConfigCmd::DelPort { bridge, port })
            }
            Command::Show => self.show(),
            // Flow table changes through the control socket are logged at info, as
            // the OpenFlow connections' are (connmgr's flow_mods report).
            Command::AddFlow { bridge, flow } => {
                let br = bridge.clone();
                let r = self.change(move |sw, now| sw.add_flow(&bridge, &flow, now))?;
                tracing::info!(bridge = %br, "xvsctl add-flow: 1 flow added");
                Ok(r)
            }
            Command::AddFlows { bridge, flows } => {
                let (br, n) = (bridge.clone(), flows.len());
                let r = self.change(move |sw, now| {
                    let lines: Vec<&str> = flows.iter().map(String::as_str).collect();
                    sw.add_flows(&bridge, &lines, now)
                })?;
                tracing::info!(bridge = %br, "xvsctl add-flows: {n} flows added");
                Ok(r)
            }
            Command::ModFlows {
                bridge,
                flow,
                strict,
            } => {
                let br = bridge.clone();
                let r =
                    self.count_change(move |sw, now| sw.mod_flows(&bridge, &flow, strict, now))?;
                tracing::info!(bridge = %br, strict, "xvsctl mod-flows: {} flows modified", r.0["flows"]);
                Ok(r)
            }
            Command::DelFlows {
                bridge,
                matcher,
                strict,
            } => {
                let br = bridge.clone();
                let r = self
                    .count_change(move |sw, _| sw.del_flows(&bridge, matcher.as_deref(), strict))?;
                tracing::info!(bridge = %br, strict, "xvsctl del-flows: {} flows deleted", r.0["flows"]);
                Ok(r)
            }
            Command::ReplaceFlows { bridge, flows } => {
                let br = bridge.clone();
                let s = self.control.change(move |sw, now| {
                    let lines: Vec<&str> = flows.iter().map(String::as_str).collect();
                    sw.replace_flows(&bridge, &lines, now)
                })?;
                tracing::info!(
                    bridge = %br,
                    added = s.added,
                    removed = s.removed,
                    modified = s.modified,
                    kept = s.kept,
                    "flow table replaced (xvsctl replace-flows)"
                );
                Ok((Value::Null, String::new()))
            }
            Command::DumpFlows {
                bridge,
                matcher,
                names,
            } => self.control.read(move |sw, _, now| {
                let rules = sw.dump_rules(&bridge, matcher.as_deref())?;
                Ok(present::flows::dump_flows(
                    &rules,
                    sw.bridge(&bridge)?,
                    names,
                    now,
                ))
            }),
            Command::DumpPorts { bridge } => self.dump_ports(&bridge),
            Command::FdbShow { bridge } => self.control.read(move |sw, _, now| {
                Ok(present::flows::fdb_show(
                    sw.bridge(&bridge)?,
                    &sw.tables(&bridge)?.mac_table,
                    now,
                ))
            }),
            Command::DpShow { clear } => {
                let now = self.control.read(|_, reval, _| reval.worker_stats());
                let all = |_: usize| true;
                let workers =
                    self.workers_since_clear(&now, clear.then_some(&all as &dyn Fn(usize) -> bool));
                let (mut json, mut text) = self.control.read(move |sw, reval, _| {
                    let mut json = present::datapath::dp_show_json(&workers, &reval.stats);
                    json["pipeline"] = present::datapath::pipeline_counters_json(sw);
                    let mut text = present::datapath::dp_show_text(&workers, &reval.stats);
                    text.push_str(&present::datapath::pipeline_counters_text(sw));
                    if let Some(t) = reval.tier_stats() {
                        json["xdp_tier"] = present::datapath::tier_json(&t);
                        text.push_str(&present::datapath::tier_text(&t));
                    }
                    (json, text)
                });
                // The sockets' counters: clients closed for stalling, refused, ...
                let (sj, st) = self.socket_stats();
                if let Value::Object(o) = &mut json {
                    o.insert("sockets".into(), sj);
                }
                text.push_str(&st);
                Ok((json, text))
            }
            Command::Trace { bridge, packet } => self.control.read(move |sw, _, now| {
                let text = sw.trace(&bridge, &packet, now)?;
                Ok((Value::String(text.clone()), text))
            }),
        }
    }

    fn change(
        &self,
        f: impl FnOnce(&mut Switch, Time) -> Result<(), SwitchError> + Send + 'static,
    ) -> Outcome {
        self.control.change(f)?;
        Ok((Value::Null, String::new()))
    }

    fn count_change(
        &self,
        f: impl FnOnce(&mut Switch, Time) -> Result<usize, SwitchError> + Send + 'static,
    ) -> Outcome {
        let n = self.control.change(f)?;
        Ok((json!({ "flows": n }), String::new()))
    }

    /// Starts or ends the wait for flows to be restored (the database's
    /// `Open_vSwitch.other_config:flow-restore-wait`): while it lasts, every upcall is
    /// dropped (counted in dp-show), so no packet moves before the flows are back.
    pub fn set_flow_restore_wait(&self, wait: bool) {
        self.control
            .revalidator(move |reval| reval.set_flow_restore_wait(wait));
    }

    /// The internal ports whose netdevs xvsd made (none without a datapath): what
    /// `ovs-appctl exit --cleanup` removes once the datapath has let go of them, as OVS
    /// removes its datapath and the internal devices with it (without `--cleanup` they
    /// stay for the next start, as OVS's do).
    pub fn internal_ports(&self) -> Vec<String> {
        if !self.moves_packets() {
            return Vec::new();
        }
        self.control.read(|sw, _, _| {
            sw.topology()
                .bridges()
                .flat_map(|b| b.ports.values())
                .filter(|p| p.config.kind == PortKind::Internal)
                .map(|p| p.name().to_string())
                .collect()
        })
    }

    /// Whether packets really move (not `--datapath none`).
    pub fn moves_packets(&self) -> bool {
        self.backend.lock().expect("backend lock").moves_packets()
    }

    /// Every bridge's ports as the switch has them: (configuration, OpenFlow number) by
    /// port name, by bridge name.
    pub fn bridge_ports(&self) -> BTreeMap<String, BTreeMap<String, (PortConfig, OfPort)>> {
        self.control.read(|sw, _, _| {
            sw.topology()
                .bridges()
                .map(|b| {
                    let ports = b
                        .ports
                        .values()
                        .map(|p| (p.name().to_string(), (p.config.clone(), p.ofport)))
                        .collect();
                    (b.name.clone(), ports)
                })
                .collect()
        })
    }

    /// A bridge the database asks for; `normal`: with OVS's `priority=0 actions=NORMAL`
    /// (fail_mode standalone), else empty (secure).
    pub fn add_bridge_from_db(&self, bridge: &str, normal: bool) -> Result<(), RequestError> {
        let _cfg = self.config.lock().expect("config lock");
        let b = bridge.to_string();
        self.control
            .change(move |sw, _| sw.add_bridge_with(&b, normal))?;
        Ok(())
    }

    /// A bridge's NORMAL options from the database's `other_config`. Setting the
    /// options the bridge already has changes nothing (no cache invalidation).
    pub fn set_bridge_options(
        &self,
        bridge: &str,
        opts: BridgeOptions,
    ) -> Result<(), RequestError> {
        let b = bridge.to_string();
        self.control
            .change(move |sw, _| sw.set_bridge_options(&b, opts))?;
        Ok(())
    }

    /// A bridge's `Flow_Table` rows (limits, overflow policies, eviction groups), by
    /// table.
    pub fn configure_tables(
        &self,
        bridge: &str,
        tables: BTreeMap<u8, TableConfig>,
    ) -> Result<(), RequestError> {
        let b = bridge.to_string();
        self.control
            .change(move |sw, _| sw.configure_tables(&b, &tables))?;
        Ok(())
    }

    /// A bridge's `Mirror` rows: returns the mirrors refused and the selected ports
    /// skipped, for the log (the others are in effect once this returns: the caches'
    /// entries they change are gone).
    pub fn set_mirrors(
        &self,
        bridge: &str,
        mirrors: Vec<xvs_pipeline::MirrorConfig>,
    ) -> Result<xvs_pipeline::topology::mirror::Resolved, RequestError> {
        let b = bridge.to_string();
        Ok(self
            .control
            .change(move |sw, _| sw.set_mirrors(&b, mirrors))?)
    }

    /// What each mirror in effect on `bridge` copied: (name, packets, bytes).
    pub fn mirror_stats(&self, bridge: &str) -> Vec<(String, u64, u64)> {
        let b = bridge.to_string();
        self.control
            .read(move |sw, _, _| sw.mirror_stats(&b))
            .unwrap_or_default()
    }

    /// A port whose `tag`, `trunks`, `vlan_mode` or `priority-tags` changed in the
    /// database: changed in place, its netdev left attached (OVS's bundle_set).
    pub fn set_port_vlan_from_db(
        &self,
        bridge: &str,
        port: &str,
        vlan: PortVlan,
    ) -> Result<(), String> {
        let (b, p) = (bridge.to_string(), port.to_string());
        self.control
            .change(move |sw, _| sw.set_port_vlan(&b, &p, vlan))
            .map_err(|e| RequestError::from(e).message)
    }

    /// A port the database asks for: its OpenFlow number, or the error for
    /// `Interface.error`.
    pub fn add_port_from_db(
        &self,
        bridge: &str,
        port: &str,
        options: BTreeMap<String, String>,
    ) -> Result<OfPort, String> {
        self.add_port(bridge, port, options).map_err(|e| e.message)
    }

    pub fn del_bridge(&self, bridge: &str) -> Outcome {
        let mut cfg = self.config.lock().expect("config lock");
        let b = bridge.to_string();
        let ports: Vec<(String, Option<PortNo>, bool)> = self.control.read(move |sw, _, _| {
            sw.bridge(&b).map(|br| {
                br.ports
                    .values()
                    .map(|p| {
                        (
                            p.name().to_string(),
                            p.dp_port,
                            p.config.kind == PortKind::Internal,
                        )
                    })
                    .collect()
            })
        })?;
        {
            let mut backend = self.backend.lock().expect("backend lock");
            let moves = backend.moves_packets();
            for (name, dp, internal) in &ports {
                if let Some(dp) = dp {
                    backend.detach(*dp);
                }
                if *internal && moves {
                    ports::delete_internal(name);
                }
                cfg.status.remove(name);
            }
        }
        let b = bridge.to_string();
        self.control.change(move |sw, _| sw.del_bridge(&b))?;
        let mut tunnels = false;
        for (name, _, _) in &ports {
            if cfg.underlays.status(name).is_some() {
                cfg.underlays.remove_tunnel(name);
                tunnels = true;
            }
        }
        if tunnels {
            self.sync_underlays(&mut cfg, Instant::now());
        }
        Ok((Value::Null, String::new()))
    }

    fn add_port(
        &self,
        bridge: &str,
        port: &str,
        options: BTreeMap<String, String>,
    ) -> Result<OfPort, RequestError> {
        let mut cfg = self.config.lock().expect("config lock");
        let pc =
            port_config(port, &options).map_err(|e| RequestError::new("bad-port-option", e))?;
        let internal = pc.kind == PortKind::Internal;
        let is_netdev = matches!(pc.kind, PortKind::Netdev | PortKind::Internal);
        let tunnel = pc.kind.tunnel().map(|(kind, config)| TunnelSpec {
            kind,
            config: *config,
            underlay: options.get("underlay").cloned(),
        });
        let b = bridge.to_string();
        let (ofport, dp) = self.control.change(move |sw, _| {
            let of = sw.add_port(&b, pc)?;
            let dp = sw.bridge(&b)?.port(of).and_then(|p| p.dp_port);
            Ok::<_, SwitchError>((of, dp))
        })?;
        if is_netdev {
            let dp = dp.expect("netdev ports have datapath ports");
            // Without a datapath, nothing is made on the host: the port is the pipeline's.
            let moves = self.moves_packets();
            let ifname = if internal && moves {
                // The bridge's own interface starts down, as in OVS (nothing of the
                // host's reaches the bridge until someone configures it); other
                // internal ports start up.
                ports::create_internal(port, port != bridge)
            } else {
                Ok(port.to_string())
            };
            let attached = ifname.and_then(|ifname| {
                self.backend
                    .lock()
                    .expect("backend lock")
                    .attach(dp, &ifname)
            });
            match attached {
                Ok(status) => {
                    cfg.status.insert(port.to_string(), Ok(status));
                }
                Err(e) => {
                    let (b, p) = (bridge.to_string(), port.to_string());
                    self.control.change(move |sw, _| sw.del_port(&b, &p))?;
                    if internal && moves {
                        ports::delete_internal(port);
                    }
                    return Err(RequestError::new(
                        "datapath",
                        format!("port \"{port}\": {e}"),
                    ));
                }
            }
        }
        if let Some(spec) = tunnel {
            cfg.underlays.add_tunnel(port, spec);
            self.sync_underlays(&mut cfg, Instant::now());
        }
        Ok(ofport)
    }

    pub fn del_port(&self, bridge: &str, port: &str) -> Outcome {
        let mut cfg = self.config.lock().expect("config lock");
        let (b, p) = (bridge.to_string(), port.to_string());
        let (dp, internal) = self.control.read(move |sw, _, _| {
            let br = sw.bridge(&b)?;
            br.port_named(&p)
                .map(|port| (port.dp_port, port.config.kind == PortKind::Internal))
                .ok_or(SwitchError::NoSuchPort {
                    bridge: b.clone(),
                    port: p.clone(),
                })
        })?;
        if let Some(dp) = dp {
            self.backend.lock().expect("backend lock").detach(dp);
        }
        let (b, p) = (bridge.to_string(), port.to_string());
        self.control.change(move |sw, _| sw.del_port(&b, &p))?;
        if internal && self.moves_packets() {
            ports::delete_internal(port);
        }
        cfg.status.remove(port);
        if cfg.underlays.status(port).is_some() {
            cfg.underlays.remove_tunnel(port);
            self.sync_underlays(&mut cfg, Instant::now());
        }
        Ok((Value::Null, String::new()))
    }

    fn show(&self) -> Outcome {
        let cfg = self.config.lock().expect("config lock");
        let ports = cfg.status.clone();
        let underlays = cfg.underlays.underlays();
        let tunnels: BTreeMap<String, TunnelStatus> = cfg.underlays.statuses();
        drop(cfg);
        Ok(self.control.read(move |sw, _, _| {
            let dp = present::show::DatapathState {
                ports: &ports,
                tunnels: &tunnels,
                underlays: &underlays,
            };
            present::show::show(sw.topology(), &dp)
        }))
    }

    fn dump_ports(&self, bridge: &str) -> Outcome {
        let samples = self.bridge_port_counters(Some(bridge))?;
        let counted: Vec<_> = samples
            .into_iter()
            .map(|p| (p.ofport, p.port, p.counters))
            .collect();
        Ok(present::show::dump_ports(bridge, &counted))
    }

    /// Every port's counters (of one bridge, or of all), as `dump-ports`, OpenFlow's
    /// port statistics and the metrics show them: a netdev's are its datapath port's
    /// (the AF_XDP sockets' and the kernel's), a patch or tunnel port's what the
    /// pipeline credited to it (see `xvs_pipeline::port_traffic`); every port's
    /// `rx_dropped` adds the frames that entered by it and that the flows dropped.
    pub fn bridge_port_counters(
        &self,
        bridge: Option<&str>,
    ) -> Result<Vec<metrics::exposition::PortSample>, SwitchError> {
        type Row = (
            String,
            OfPort,
            String,
            &'static str,
            Option<PortNo>,
            xvs_pipeline::port_traffic::PortTraffic,
        );
        let wanted = bridge.map(str::to_string);
        let rows: Vec<Row> = self.control.read(move |sw, _, _| {
            if let Some(b) = &wanted {
                sw.bridge(b)?;
            }
            let topo = sw.topology();
            Ok::<_, SwitchError>(
                topo.bridges()
                    .filter(|b| wanted.as_ref().is_none_or(|w| *w == b.name))
                    .flat_map(|b| {
                        b.ports.values().map(|p| {
                            let datapath_counted =
                                matches!(p.config.kind, PortKind::Netdev | PortKind::Internal);
                            (
                                b.name.clone(),
                                p.ofport,
                                p.name().to_string(),
                                p.config.kind.type_name(),
                                p.dp_port.filter(|_| datapath_counted),
                                sw.port_traffic.get(b.id, p.ofport),
                            )
                        })
                    })
                    .collect(),
            )
        })?;
        let datapath = self.backend.lock().expect("backend lock").all_counters();
        Ok(rows
            .into_iter()
            .map(|(bridge, ofport, port, kind, dp, traffic)| {
                let counters = match dp {
                    Some(dp) => {
                        let mut c = datapath.get(&dp).copied().unwrap_or_default();
                        c.rx_dropped += traffic.rx_dropped;
                        c
                    }
                    None => present::show::PortCounters {
                        rx_packets: traffic.rx_packets,
                        rx_bytes: traffic.rx_bytes,
                        rx_dropped: traffic.rx_dropped,
                        tx_packets: traffic.tx_packets,
                        tx_bytes: traffic.tx_bytes,
                        ..Default::default()
                    },
                };
                metrics::exposition::PortSample {
                    bridge,
                    port,
                    ofport,
                    kind: kind.to_string(),
                    counters,
                }
            })
            .collect())
    }

    /// One scrape of the metrics endpoint: every port's counters, the workers', the
    /// upcall handler's, every coverage counter, the rules per table.
    pub fn metrics_snapshot(&self) -> metrics::exposition::Snapshot {
        let ports = self.bridge_port_counters(None).unwrap_or_default();
        let mut snap = self.control.read(|sw, reval, _| {
            let workers = reval.worker_stats();
            let coverage = present::appctl::coverage_counters(sw, &workers, &reval.stats)
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect();
            let flows = sw
                .topology()
                .bridges()
                .filter_map(|b| Some((b.name.clone(), sw.tables(&b.name).ok()?)))
                .flat_map(|(name, t)| {
                    t.tables
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| !t.is_empty())
                        .map(|(i, t)| (name.clone(), i as u8, t.len() as u64))
                        .collect::<Vec<_>>()
                })
                .collect();
            metrics::exposition::Snapshot {
                ports: Vec::new(),
                dp_flows: reval.n_entries() as u64,
                dp_flows_limit: reval.capacity() as u64,
                workers,
                upcalls: reval.stats,
                coverage,
                flows,
            }
        });
        snap.ports = ports;
        snap
    }
}
