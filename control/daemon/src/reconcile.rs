//! The bridge layer (OVS's vswitchd/bridge.c): makes the switch what the database asks
//! for, and writes back what ovs-vswitchd writes back. One pass reads the replica of the
//! database, compares it with the switch (the switch is the applied state, so a pass
//! after a restart or a reconnect finds what is already there), adds, changes and
//! removes bridges and ports through the [`Daemon`], and returns one transaction:
//! every interface's `ofport` and `error`, every bridge's `datapath_id`, and
//! `Open_vSwitch.cur_cfg := next_cfg` (which is what `ovs-vsctl` and the Neutron agent
//! wait for).
//!
//! Also, as bridge.c: a bridge's `other_config:hwaddr` on its own interface
//! ([`bridge_id`]), internal ports' netdevs made again when they went, and
//! `Open_vSwitch.other_config:flow-restore-wait`: when xvsd starts with it true, the
//! bridges and ports are configured and written back but no packet moves until it is
//! false or removed (then it is not looked at again, as OVS only waits at its start).
//!
//! Nothing the database holds is fatal: a value xvs cannot use becomes that interface's
//! `error`, and the other ports go on.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use xvs_pipeline::ofp::{OfPort, OFPP_MAX};
use xvs_pipeline::ofproto::limits::TableConfig;
use xvs_pipeline::topology::{PortConfig, PortKind};
use xvs_pipeline::{BridgeOptions, MirrorConfig};

use crate::connmgr::BridgeConfig;
use crate::netdevs::no_such_device;
use crate::ovsdb::datum;
use crate::ovsdb::replica::Replica;
use crate::ovsdb::session::MonitorSpec;
use crate::ports::{link_exists, port_config};
use crate::Daemon;

mod bridge_id;
mod describe;
mod link_status;
mod wanted;

use bridge_id::BridgeMacs;
use link_status::LinkColumns;
use wanted::{ignored_note, wanted, WantedBridge, WantedIface};

/// What xvsd reads: the columns ovs-vswitchd's bridge layer needs for what xvs does.
pub fn monitor_spec() -> MonitorSpec {
    MonitorSpec::from([
        (
            "Open_vSwitch",
            vec![
                "bridges",
                "other_config",
                "next_cfg",
                "cur_cfg",
                "datapath_types",
                "iface_types",
            ],
        ),
        (
            "Bridge",
            vec![
                "name",
                "ports",
                "controller",
                "fail_mode",
                "protocols",
                "other_config",
                "datapath_type",
                "datapath_id",
                "flow_tables",
                "mirrors",
            ],
        ),
        (
            "Mirror",
            vec![
                "name",
                "select_all",
                "select_src_port",
                "select_dst_port",
                "select_vlan",
                "output_port",
                "output_vlan",
                "statistics",
            ],
        ),
        (
            "Flow_Table",
            vec!["name", "flow_limit", "overflow_policy", "groups"],
        ),
        (
            "Port",
            vec![
                "name",
                "interfaces",
                "tag",
                "trunks",
                "vlan_mode",
                "other_config",
            ],
        ),
        (
            "Interface",
            [
                "name",
                "type",
                "options",
                "ofport_request",
                "ofport",
                "error",
                "status",
            ]
            .into_iter()
            .chain(link_status::COLUMNS)
            .collect(),
        ),
        (
            "Controller",
            vec![
                "target",
                "type",
                "inactivity_probe",
                "max_backoff",
                "is_connected",
                "role",
                "status",
            ],
        ),
    ])
}

/// What the database in `db` asks of the switch (bridges, their options, each
/// interface's options or error), as text: the pure first step of a pass
/// ([`BridgeLayer::reconcile`]), public so that the fuzz target `ovsdb` (fuzz/) can hold
/// it to never panicking on whatever a server sends.
pub fn wanted_text(db: &Replica) -> String {
    format!("{:#?}", wanted(db))
}

/// Each mirror's `statistics` (`tx_packets`, `tx_bytes`: what it copied), written
/// when they changed, as OVS's mirror_refresh_stats (every second here, at each pass).
fn mirror_statistics(daemon: &Daemon, br: &WantedBridge) -> Vec<Value> {
    if br.mirrors.is_empty() {
        return Vec::new();
    }
    let stats = daemon.mirror_stats(&br.name);
    let mut ops = Vec::new();
    for m in &br.mirrors {
        let Some((_, packets, bytes)) = stats.iter().find(|s| s.0 == m.config.name) else {
            continue;
        };
        let want = BTreeMap::from([
            ("tx_bytes".to_string(), *bytes as i64),
            ("tx_packets".to_string(), *packets as i64),
        ]);
        if m.statistics_column != want {
            ops.push(json!({
                "op": "update", "table": "Mirror",
                "where": [["_uuid", "==", datum::uuid_atom(&m.uuid)]],
                "row": {"statistics": ["map", [["tx_bytes", *bytes as i64], ["tx_packets", *packets as i64]]]},
            }));
        }
    }
    ops
}

/// The datapath types xvs runs (`datapath_type` "" means system, as in OVS).
pub const DATAPATH_TYPES: [&str; 2] = ["netdev", "system"];
/// The interface types xvs implements.
pub const IFACE_TYPES: [&str; 6] = ["", "gre", "internal", "patch", "system", "vxlan"];

/// The state of one interface after a pass, as written back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IfaceResult {
    ofport: i64,
    error: Option<String>,
    /// The netdev's columns to write, when it is known.
    link: Option<LinkColumns>,
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Pass {
    /// The write-back transaction's operations (none: the database says it all).
    pub ops: Vec<Value>,
    /// The `next_cfg` this pass applied: once `ops` are written, `cur_cfg` is this.
    pub next_cfg: i64,
}

/// The bridge layer's memory between passes.
#[derive(Debug, Default)]
pub struct BridgeLayer {
    /// Datapath ids handed out, by bridge name (kept for the OpenFlow side).
    pub datapath_ids: BTreeMap<String, String>,
    /// Every interface's outcome in the last pass: (ofport, error), by name.
    pub results: BTreeMap<String, (i64, Option<String>)>,
    /// The NORMAL options last given to each bridge: a change reaches the control thread
    /// (a barrier, and the caches' counters credited) only when they differ.
    bridge_options: BTreeMap<String, BridgeOptions>,
    /// The `Flow_Table` settings last given to each bridge, likewise.
    flow_tables: BTreeMap<String, BTreeMap<u8, TableConfig>>,
    /// The `Mirror` rows last given to each bridge, likewise.
    mirrors: BTreeMap<String, Vec<MirrorConfig>>,
    /// The bridges' `other_config:hwaddr` made real.
    macs: BridgeMacs,
    /// Upcalls are being dropped: xvsd started with `flow-restore-wait` true.
    flow_restore_waiting: bool,
    /// `flow-restore-wait` has been false (or absent) once: it is not looked at again.
    flow_restore_over: bool,
}

impl BridgeLayer {
    /// One pass: the switch made like the database; returns the write-back operations
    /// (empty when the database already says everything).
    pub fn reconcile(&mut self, daemon: &Daemon, db: &Replica) -> Pass {
        let w = wanted(db);
        let Some(ovs_uuid) = w.ovs_uuid.clone() else {
            return Pass::default();
        };
        // Before any port is attached, so that not one packet moves while waiting.
        self.flow_restore_wait(daemon, w.flow_restore_wait.as_deref());
        self.results.clear();
        let current = daemon.bridge_ports();
        let wanted_names: BTreeSet<&str> = w.bridges.iter().map(|b| b.name.as_str()).collect();
        for (name, ports) in &current {
            if !wanted_names.contains(name.as_str()) {
                tracing::info!(bridge = %name, ports = ports.len(), "bridge removed from the database");
                if let Err(e) = daemon.del_bridge(name) {
                    tracing::warn!(bridge = %name, error = %e.message, "deleting bridge");
                }
            }
        }
        let mut ops = Vec::new();
        // Every port name in the database, for patch peers.
        let all_ports: BTreeSet<&str> = w
            .bridges
            .iter()
            .flat_map(|b| b.ifaces.iter().map(|i| i.name.as_str()))
            .collect();
        let mut dpids_taken = BTreeSet::new();
        for br in &w.bridges {
            if !current.contains_key(&br.name) {
                tracing::info!(
                    bridge = %br.name,
                    fail_mode = %describe::fail_mode(br.secure),
                    ports = br.ifaces.len(),
                    controllers = br.controllers.len(),
                    "bridge added"
                );
                self.bridge_options.remove(&br.name);
                self.flow_tables.remove(&br.name);
                self.mirrors.remove(&br.name);
                // OVS's connmgr_flushed: NORMAL for a standalone bridge without
                // controllers.
                let normal = !br.secure && !br.has_primary_controller();
                if let Err(e) = daemon.add_bridge_from_db(&br.name, normal) {
                    tracing::warn!(bridge = %br.name, error = %e.message, "adding bridge");
                    continue;
                }
            }
            if self.bridge_options.get(&br.name) != Some(&br.options) {
                let old = self.bridge_options.get(&br.name).copied();
                match daemon.set_bridge_options(&br.name, br.options) {
                    Ok(()) => {
                        // A new bridge's options are news only when not the defaults.
                        let what = describe::bridge_options(&old.unwrap_or_default(), &br.options);
                        if !what.is_empty() {
                            tracing::info!(bridge = %br.name, changed = %what, "bridge options set (other_config)");
                        }
                        self.bridge_options.insert(br.name.clone(), br.options);
                    }
                    Err(e) => {
                        tracing::warn!(bridge = %br.name, error = %e.message, "setting bridge options")
                    }
                }
            }
            if self.flow_tables.get(&br.name).unwrap_or(&BTreeMap::new()) != &br.flow_tables {
                match daemon.configure_tables(&br.name, br.flow_tables.clone()) {
                    Ok(()) => {
                        let what = describe::flow_tables(
                            self.flow_tables.get(&br.name).unwrap_or(&BTreeMap::new()),
                            &br.flow_tables,
                        );
                        tracing::info!(bridge = %br.name, changed = %what, "flow table limits set (Flow_Table)");
                        self.flow_tables
                            .insert(br.name.clone(), br.flow_tables.clone());
                    }
                    Err(e) => {
                        tracing::warn!(bridge = %br.name, error = %e.message, "setting flow table limits")
                    }
                }
            }
            let have = current.get(&br.name).cloned().unwrap_or_default();
            let mut results = self.sync_ports(daemon, br, &have, &all_ports);
            // After the ports: a mirror names them; then its output port is attached
            // for what it is.
            self.sync_mirrors(daemon, br);
            daemon.sync_mirror_outputs();
            if let Some(mac) = self.macs.apply(daemon, br, results.get(&br.name)) {
                if let Some(r) = results.get_mut(&br.name) {
                    r.link.get_or_insert_with(LinkColumns::default).mac_in_use =
                        Some(mac.to_string());
                }
            }
            for iface in &br.ifaces {
                let r = &results[&iface.name];
                self.results
                    .insert(iface.name.clone(), (r.ofport, r.error.clone()));
                let mut row = serde_json::Map::new();
                if iface.ofport_column != Some(r.ofport) || iface.error_column != r.error {
                    row.insert("ofport".into(), json!(r.ofport));
                    row.insert("error".into(), datum::opt_string_value(r.error.as_deref()));
                }
                if let Some(link) = &r.link {
                    row.extend(link.changes(&iface.link_columns));
                }
                // Options xvs does not implement are not errors: a note in `status`.
                let status = ignored_note(&iface.ignored);
                if status != iface.status_column {
                    row.insert(
                        "status".into(),
                        datum::map_of(status.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                    );
                }
                if !row.is_empty() {
                    ops.push(json!({
                        "op": "update", "table": "Interface",
                        "where": [["_uuid", "==", datum::uuid_atom(&iface.uuid)]],
                        "row": row,
                    }));
                }
            }
            ops.extend(mirror_statistics(daemon, br));
            let dpid = bridge_id::datapath_id(br, &mut dpids_taken);
            if br.datapath_id_column.as_deref() != Some(dpid.as_str()) {
                ops.push(json!({
                    "op": "update", "table": "Bridge",
                    "where": [["_uuid", "==", datum::uuid_atom(&br.uuid)]],
                    "row": {"datapath_id": dpid},
                }));
            }
            self.datapath_ids.insert(br.name.clone(), dpid);
        }
        self.datapath_ids
            .retain(|name, _| wanted_names.contains(name.as_str()));
        ops.extend(self.openflow(daemon, &w.bridges));
        self.bridge_options
            .retain(|name, _| wanted_names.contains(name.as_str()));
        self.flow_tables
            .retain(|name, _| wanted_names.contains(name.as_str()));
        self.mirrors
            .retain(|name, _| wanted_names.contains(name.as_str()));
        self.macs.retain(&wanted_names);
        let mut row = serde_json::Map::new();
        if w.cur_cfg != w.next_cfg {
            row.insert("cur_cfg".into(), json!(w.next_cfg));
        }
        if !w.types_written {
            let set = |v: &[&str]| datum::set_of(v.iter().map(|s| json!(s)).collect());
            row.insert("datapath_types".into(), set(&DATAPATH_TYPES));
            row.insert("iface_types".into(), set(&IFACE_TYPES));
        }
        if !row.is_empty() {
            ops.push(json!({
                "op": "update", "table": "Open_vSwitch",
                "where": [["_uuid", "==", datum::uuid_atom(&ovs_uuid)]],
                "row": row,
            }));
        }
        Pass {
            ops,
            next_cfg: w.next_cfg,
        }
    }

    /// A bridge's mirrors made like its `Mirror` rows (bridge.c's
    /// bridge_configure_mirrors), when they changed: a mirror that cannot be (its output
    /// port is not on the bridge, it has no output) is logged and left out, as in OVS,
    /// and changes nothing else.
    fn sync_mirrors(&mut self, daemon: &Daemon, br: &WantedBridge) {
        let configs: Vec<MirrorConfig> = br.mirrors.iter().map(|m| m.config.clone()).collect();
        if self.mirrors.get(&br.name).unwrap_or(&Vec::new()) == &configs {
            return;
        }
        match daemon.set_mirrors(&br.name, configs.clone()) {
            Ok(r) => {
                for e in &r.errors {
                    tracing::error!(bridge = %br.name, "{e}");
                }
                for w in &r.warnings {
                    tracing::warn!(bridge = %br.name, "{w}");
                }
                let names: Vec<&str> = r.mirrors.iter().map(|m| m.name.as_str()).collect();
                tracing::info!(bridge = %br.name, mirrors = ?names, "mirrors set (Mirror)");
                self.mirrors.insert(br.name.clone(), configs);
            }
            Err(e) => tracing::warn!(bridge = %br.name, error = %e.message, "setting mirrors"),
        }
    }

    /// The bridges' OpenFlow connections made like the database (bridge.c's
    /// `bridge_configure_remotes`), and what ovs-vswitchd writes back of each
    /// controller (`refresh_controller_status`): `is_connected`, `role`, `status`.
    fn openflow(&self, daemon: &Daemon, bridges: &[WantedBridge]) -> Vec<Value> {
        let Some(connmgr) = daemon.connmgr() else {
            return Vec::new();
        };
        let configs: Vec<BridgeConfig> = bridges
            .iter()
            .filter(|b| self.datapath_ids.contains_key(&b.name))
            .map(|b| BridgeConfig {
                name: b.name.clone(),
                datapath_id: u64::from_str_radix(&self.datapath_ids[&b.name], 16).unwrap_or(0),
                protocols: b.protocols.clone(),
                standalone: !b.secure,
                dp_desc: b.dp_desc.clone(),
                controllers: b.controllers.iter().map(|c| c.config.clone()).collect(),
            })
            .collect();
        connmgr.configure(&configs, self.flow_restore_waiting);
        let mut ops = Vec::new();
        for b in bridges {
            let status = connmgr.status(&b.name);
            for c in &b.controllers {
                let s = status.get(&c.config.target).cloned().unwrap_or_default();
                let mut row = serde_json::Map::new();
                if s.is_connected != c.is_connected_column {
                    row.insert("is_connected".into(), json!(s.is_connected));
                }
                if s.role != c.role_column.as_deref() {
                    row.insert("role".into(), datum::opt_string_value(s.role));
                }
                if s.status != c.status_column {
                    row.insert(
                        "status".into(),
                        datum::map_of(s.status.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                    );
                }
                if !row.is_empty() {
                    ops.push(json!({
                        "op": "update", "table": "Controller",
                        "where": [["_uuid", "==", datum::uuid_atom(&c.uuid)]],
                        "row": row,
                    }));
                }
            }
        }
        ops
    }

    /// `Open_vSwitch.other_config:flow-restore-wait` (bridge.c, ofproto-dpif.c
    /// `type_run`): true when xvsd starts, upcalls are dropped until it is false or
    /// removed; from then on it is not looked at again, so setting it true later has no
    /// effect. As OVS's `smap_get_bool`, anything but "true" is false (logged when it is
    /// not "false" either).
    fn flow_restore_wait(&mut self, daemon: &Daemon, value: Option<&str>) {
        if self.flow_restore_over {
            return;
        }
        let wait = match value {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) => {
                if !v.eq_ignore_ascii_case("false") {
                    tracing::warn!(value = %v, "other_config:flow-restore-wait is not true or false: taken as false, as OVS does");
                }
                false
            }
        };
        if wait != self.flow_restore_waiting {
            daemon.set_flow_restore_wait(wait);
            self.flow_restore_waiting = wait;
            if wait {
                tracing::info!("flow-restore-wait: bridges and ports are configured, but no packet moves until it is false");
            } else {
                tracing::info!("flow-restore-wait is over: packets move");
            }
        }
        self.flow_restore_over = !wait;
    }

    /// Brings one bridge's ports in line; returns every wanted interface's outcome.
    fn sync_ports(
        &mut self,
        daemon: &Daemon,
        br: &WantedBridge,
        have: &BTreeMap<String, (PortConfig, OfPort)>,
        all_ports: &BTreeSet<&str>,
    ) -> BTreeMap<String, IfaceResult> {
        let wanted: BTreeSet<&str> = br.ifaces.iter().map(|i| i.name.as_str()).collect();
        for (name, (cfg, ofport)) in have {
            if !wanted.contains(name.as_str()) {
                tracing::info!(bridge = %br.name, port = %name, ofport = *ofport, kind = %describe::kind(&cfg.kind), "port removed");
                if let Err(e) = daemon.del_port(&br.name, name) {
                    tracing::warn!(port = %name, error = %e.message, "deleting port");
                }
            }
        }
        let mut out = BTreeMap::new();
        // A stable order, so that datapath port numbers come out the same after a
        // restart: the bridge's own interface first, then by OpenFlow number.
        let mut ifaces: Vec<&WantedIface> = br.ifaces.iter().collect();
        ifaces.sort_by_key(|i| {
            let number = i
                .ofport_request
                .or(i.ofport_column.filter(|&n| n > 0))
                .unwrap_or(i64::MAX);
            (i.name != br.name, number, i.name.clone())
        });
        for iface in ifaces {
            let result = self.sync_port(daemon, br, iface, have.get(&iface.name), all_ports);
            out.insert(iface.name.clone(), result);
        }
        out
    }

    fn sync_port(
        &mut self,
        daemon: &Daemon,
        br: &WantedBridge,
        iface: &WantedIface,
        have: Option<&(PortConfig, OfPort)>,
        all_ports: &BTreeSet<&str>,
    ) -> IfaceResult {
        let failed = |error: String| IfaceResult {
            ofport: -1,
            error: Some(error),
            link: None,
        };
        let mut options = match &iface.options {
            Ok(o) => o.clone(),
            Err(e) => {
                if have.is_some() {
                    let _ = daemon.del_port(&br.name, &iface.name);
                }
                return failed(e.clone());
            }
        };
        if !iface.ignored.is_empty() {
            tracing::debug!(port = %iface.name, ignored = ?iface.ignored, "options xvs does not use");
        }
        let requested = iface
            .ofport_request
            .filter(|&n| n >= 1 && n < i64::from(OFPP_MAX));
        let wanted_cfg = match port_config(&iface.name, &options) {
            Ok(c) => c,
            Err(e) => {
                if have.is_some() {
                    let _ = daemon.del_port(&br.name, &iface.name);
                }
                return failed(format!("{}: {e}", iface.name));
            }
        };
        // Same configuration: nothing to do, unless a new ofport_request moves it.
        if let Some((cfg, ofport)) = have {
            let same = cfg.kind == wanted_cfg.kind && cfg.vlan == wanted_cfg.vlan;
            let moved = requested.is_some_and(|r| r != i64::from(*ofport));
            if same && !moved {
                if wanted_cfg.kind == PortKind::Internal {
                    // Its netdev made again if it went; a failure is its status.
                    let _ = daemon.ensure_internal(&iface.name);
                }
                let warning = patch_peer_warning(&options, all_ports);
                return link_status::in_pipeline(daemon, &iface.name, i64::from(*ofport), warning);
            }
            // Only its VLANs changed (the agent binding or killing a port): in place,
            // the netdev left attached, as OVS reconfigures a bundle.
            if cfg.kind == wanted_cfg.kind && !moved {
                tracing::info!(bridge = %br.name, port = %iface.name, from = %describe::vlan(&cfg.vlan), to = %describe::vlan(&wanted_cfg.vlan), "port VLANs changed");
                if let Err(e) = daemon.set_port_vlan_from_db(&br.name, &iface.name, wanted_cfg.vlan)
                {
                    return failed(e);
                }
                let warning = patch_peer_warning(&options, all_ports);
                return link_status::in_pipeline(daemon, &iface.name, i64::from(*ofport), warning);
            }
            // Changed in place: the same OpenFlow number, as OVS keeps it.
            if !options.contains_key("ofport") {
                let keep = requested.unwrap_or(i64::from(*ofport));
                options.insert("ofport".into(), keep.to_string());
            }
            tracing::info!(
                bridge = %br.name,
                port = %iface.name,
                changed = %describe::port_change(cfg, &wanted_cfg, *ofport, requested),
                "port reconfigured"
            );
            if let Err(e) = daemon.del_port(&br.name, &iface.name) {
                return failed(e.message);
            }
        } else if !options.contains_key("ofport") {
            // The number asked for, else the one it had (xvsd restarted), else the next.
            let previous = iface
                .ofport_column
                .filter(|&n| n >= 1 && n < i64::from(OFPP_MAX));
            if let Some(n) = requested.or(previous) {
                options.insert("ofport".into(), n.to_string());
            }
        }
        if matches!(wanted_cfg.kind, PortKind::Netdev)
            && daemon.moves_packets()
            && !link_exists(&iface.name)
        {
            return failed(no_such_device(&iface.name));
        }
        let mut added = daemon.add_port_from_db(&br.name, &iface.name, options.clone());
        if added.is_err() && requested.is_none() && options.contains_key("ofport") && have.is_none()
        {
            // The number it had is taken now: any free one.
            options.remove("ofport");
            added = daemon.add_port_from_db(&br.name, &iface.name, options.clone());
        }
        match added {
            Ok(ofport) => {
                tracing::info!(bridge = %br.name, port = %iface.name, ofport, options = %describe::options(&options), vlan = %describe::vlan(&wanted_cfg.vlan), "port added");
                let warning = patch_peer_warning(&options, all_ports);
                link_status::in_pipeline(daemon, &iface.name, i64::from(ofport), warning)
            }
            Err(e) => failed(e),
        }
    }
}

/// A problem that leaves the port in place (with its number) but not working yet: a
/// patch port whose peer is not in the database (yet).
fn patch_peer_warning(
    options: &BTreeMap<String, String>,
    all_ports: &BTreeSet<&str>,
) -> Option<String> {
    match (options.get("type").map(String::as_str), options.get("peer")) {
        (Some("patch"), Some(peer)) if !all_ports.contains(peer.as_str()) => Some(format!(
            "No usable peer '{peer}' exists in 'system' datapath."
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pass sets the options on the switch, a pass with the same options changes
    /// nothing, and a bad value stops nothing.
    #[test]
    fn reconcile_sets_bridge_options() {
        use crate::ovsdb::replica::Replica;
        use crate::ports::NoDatapath;
        use xvs_pipeline::control_thread::{Clock, ControlConfig, ControlThread};
        use xvs_pipeline::revalidator::Revalidator;
        use xvs_pipeline::Switch;

        let (_up_tx, up_rx) = crossbeam_channel::bounded(1);
        let control = ControlThread::spawn(
            Switch::new(),
            Revalidator::new(Vec::new(), 16),
            up_rx,
            Clock::new(),
            ControlConfig::default(),
        );
        let daemon = Daemon::new(control, Box::new(NoDatapath));
        let mut db = Replica::default();
        let bridge = |other: Value| {
            json!({
                "Open_vSwitch": {"o1": {"new": {"bridges": ["uuid", "b1"], "next_cfg": 1, "cur_cfg": 0}}},
                "Bridge": {"b1": {"new": {"name": "br0", "ports": ["set", []], "other_config": other}}},
            })
        };
        let options = |d: &Daemon| {
            d.control()
                .read(|sw, _, _| sw.tables("br0").map(|t| t.options()))
                .unwrap()
        };
        let mut layer = BridgeLayer::default();

        db.apply_update(&bridge(json!([
            "map",
            [
                ["mac-table-size", "100"],
                ["mac-aging-time", "30"],
                ["forward-bpdu", "true"]
            ]
        ])))
        .unwrap();
        layer.reconcile(&daemon, &db);
        let want = BridgeOptions {
            mac_table_size: 100,
            mac_aging_ms: 30_000,
            forward_bpdu: true,
        };
        assert_eq!(options(&daemon), want);
        let flushes = |d: &Daemon| d.control().read(|_, reval, _| reval.stats.flushes);
        let before = flushes(&daemon);
        layer.reconcile(&daemon, &db);
        assert_eq!(options(&daemon), want);
        assert_eq!(flushes(&daemon), before, "the same options flush nothing");

        db.apply_update(&bridge(json!([
            "map",
            [["mac-table-size", "many"], ["mac-aging-time", "5"]]
        ])))
        .unwrap();
        layer.reconcile(&daemon, &db);
        assert_eq!(
            options(&daemon),
            BridgeOptions {
                mac_aging_ms: 15_000,
                ..BridgeOptions::default()
            },
            "a bad size keeps the default; 5 s is forced up to OVS's 15 s"
        );
    }

    /// flow-restore-wait true at the start holds upcalls back while the configuration
    /// is applied and written back; false ends it for good.
    #[test]
    fn flow_restore_wait_only_at_the_start() {
        use crate::ovsdb::replica::Replica;
        use crate::ports::NoDatapath;
        use xvs_pipeline::control_thread::{Clock, ControlConfig, ControlThread};
        use xvs_pipeline::revalidator::Revalidator;
        use xvs_pipeline::Switch;

        let (_up_tx, up_rx) = crossbeam_channel::bounded(1);
        let control = ControlThread::spawn(
            Switch::new(),
            Revalidator::new(Vec::new(), 16),
            up_rx,
            Clock::new(),
            ControlConfig::default(),
        );
        let daemon = Daemon::new(control, Box::new(NoDatapath));
        let waiting = |d: &Daemon| d.control().read(|_, r, _| r.stats.flow_restore_wait);
        let mut db = Replica::default();
        let mut set = |value: Option<&str>, cfg: i64| {
            let other: Vec<Value> = value
                .map(|v| json!(["flow-restore-wait", v]))
                .into_iter()
                .collect();
            db.apply_update(&json!({
                "Open_vSwitch": {"o1": {"new": {"bridges": ["uuid", "b1"], "next_cfg": cfg,
                    "cur_cfg": 0, "other_config": ["map", other]}}},
                "Bridge": {"b1": {"new": {"name": "br0", "ports": ["set", []]}}},
            }))
            .unwrap();
            db.clone()
        };
        let mut layer = BridgeLayer::default();
        let pass = layer.reconcile(&daemon, &set(Some("true"), 1));
        assert!(waiting(&daemon));
        // Configured and written back all the same: the bridge, its id, cur_cfg.
        assert!(daemon.bridge_ports().contains_key("br0"));
        let text = serde_json::to_string(&pass.ops).unwrap();
        assert!(
            text.contains("datapath_id") && text.contains("cur_cfg"),
            "{text}"
        );
        layer.reconcile(&daemon, &set(Some("TRUE"), 2));
        assert!(waiting(&daemon));
        layer.reconcile(&daemon, &set(None, 3));
        assert!(!waiting(&daemon), "removed: the wait is over");
        layer.reconcile(&daemon, &set(Some("true"), 4));
        assert!(!waiting(&daemon), "true again has no effect");

        // A value that is neither: false, as OVS's smap_get_bool.
        let mut layer = BridgeLayer::default();
        daemon.set_flow_restore_wait(false);
        layer.reconcile(&daemon, &set(Some("yes"), 5));
        assert!(!waiting(&daemon));
        layer.reconcile(&daemon, &set(Some("true"), 6));
        assert!(!waiting(&daemon));
    }
}
