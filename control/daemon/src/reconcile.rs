//! The bridge layer (OVS's vswitchd/bridge.c): makes the switch what the database asks
//! for, and writes back what ovs-vswitchd writes back. One pass reads the replica of the
//! database, compares it with the switch (the switch is the applied state, so a pass
//! after a restart or a reconnect finds what is already there), adds, changes and
//! removes bridges and ports through the [`Daemon`], and returns one transaction:
//! every interface's `ofport` and `error`, every bridge's `datapath_id`, and
//! `Open_vSwitch.cur_cfg := next_cfg` (which is what `ovs-vsctl` and the Neutron agent
//! wait for).
//!
//! Nothing the database holds is fatal: a value xvs cannot use becomes that interface's
//! `error`, and the other ports go on.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use xvs_pipeline::ofp::{OfPort, OFPP_LOCAL, OFPP_MAX};
use xvs_pipeline::topology::{PortConfig, PortKind};
use xvs_pipeline::BridgeOptions;

use crate::ovsdb::datum::{self, Uuid};
use crate::ovsdb::replica::{Replica, Row};
use crate::ovsdb::session::MonitorSpec;
use crate::ports::port_config;
use crate::Daemon;

mod link_status;
use link_status::LinkColumns;

/// What xvsd reads: the columns ovs-vswitchd's bridge layer needs for what xvs does.
pub fn monitor_spec() -> MonitorSpec {
    MonitorSpec::from([
        (
            "Open_vSwitch",
            vec![
                "bridges",
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
            ],
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
            vec!["target", "inactivity_probe", "max_backoff", "is_connected"],
        ),
    ])
}

/// The datapath types xvs runs (`datapath_type` "" means system, as in OVS).
pub const DATAPATH_TYPES: [&str; 2] = ["netdev", "system"];
/// The interface types xvs implements.
pub const IFACE_TYPES: [&str; 6] = ["", "gre", "internal", "patch", "system", "vxlan"];

/// One interface as the database describes it.
#[derive(Debug, Clone, PartialEq)]
struct WantedIface {
    uuid: Uuid,
    name: String,
    /// The port configuration in xvsctl's option spelling, or why there is none.
    options: Result<BTreeMap<String, String>, String>,
    /// Options xvs ignores, for the log.
    ignored: Vec<String>,
    ofport_request: Option<i64>,
    /// What the database says now (xvsd's own earlier writes).
    ofport_column: Option<i64>,
    error_column: Option<String>,
    status_column: BTreeMap<String, String>,
    /// `link_state`, `mac_in_use`, `ifindex`, `mtu` as the database has them.
    link_columns: LinkColumns,
}

#[derive(Debug, Clone, PartialEq)]
struct WantedBridge {
    uuid: Uuid,
    name: String,
    datapath_id_column: Option<String>,
    datapath_id_request: Option<String>,
    /// `other_config:mac-table-size`, `mac-aging-time`, `forward-bpdu`.
    options: BridgeOptions,
    secure: bool,
    ifaces: Vec<WantedIface>,
}

/// What the database asks for.
#[derive(Debug, Clone, PartialEq, Default)]
struct Wanted {
    ovs_uuid: Option<Uuid>,
    next_cfg: i64,
    cur_cfg: i64,
    types_written: bool,
    bridges: Vec<WantedBridge>,
}

fn string_col(row: &Row, col: &str) -> Option<String> {
    row.get(col).and_then(Value::as_str).map(str::to_string)
}

fn wanted(db: &Replica) -> Wanted {
    let mut w = Wanted::default();
    let Some((ovs_uuid, ovs)) = db.rows("Open_vSwitch").next() else {
        return w;
    };
    w.ovs_uuid = Some(ovs_uuid.clone());
    let int = |v: Option<&Value>| v.and_then(Value::as_i64).unwrap_or(0);
    w.next_cfg = int(ovs.get("next_cfg"));
    w.cur_cfg = int(ovs.get("cur_cfg"));
    let set = |col: &str| -> BTreeSet<String> {
        ovs.get(col)
            .map(datum::string_set)
            .unwrap_or_default()
            .into_iter()
            .collect()
    };
    w.types_written = set("datapath_types")
        == DATAPATH_TYPES.iter().map(|s| s.to_string()).collect()
        && set("iface_types") == IFACE_TYPES.iter().map(|s| s.to_string()).collect();
    let mut names = BTreeSet::new();
    for br_uuid in ovs.get("bridges").map(datum::uuid_set).unwrap_or_default() {
        let Some(br) = db.row("Bridge", &br_uuid) else {
            continue;
        };
        let Some(name) = string_col(br, "name") else {
            continue;
        };
        if !names.insert(name.clone()) {
            continue;
        }
        let other = br
            .get("other_config")
            .map(datum::string_map)
            .unwrap_or_default();
        let mut ifaces = Vec::new();
        for port_uuid in br.get("ports").map(datum::uuid_set).unwrap_or_default() {
            let Some(port) = db.row("Port", &port_uuid) else {
                continue;
            };
            let iface_uuids = port
                .get("interfaces")
                .map(datum::uuid_set)
                .unwrap_or_default();
            for iface_uuid in &iface_uuids {
                let Some(iface) = db.row("Interface", iface_uuid) else {
                    continue;
                };
                let Some(iface_name) = string_col(iface, "name") else {
                    continue;
                };
                let (options, ignored) = if iface_uuids.len() != 1 {
                    (
                        Err(format!(
                            "port {}: bonds (several interfaces) are not supported by xvs",
                            string_col(port, "name").unwrap_or_default()
                        )),
                        Vec::new(),
                    )
                } else {
                    iface_options(&name, port, iface)
                };
                ifaces.push(WantedIface {
                    uuid: iface_uuid.clone(),
                    name: iface_name,
                    options,
                    ignored,
                    ofport_request: iface.get("ofport_request").and_then(datum::opt_integer),
                    ofport_column: iface.get("ofport").and_then(datum::opt_integer),
                    error_column: iface.get("error").and_then(datum::opt_string),
                    status_column: iface
                        .get("status")
                        .map(datum::string_map)
                        .unwrap_or_default(),
                    link_columns: LinkColumns::from_row(iface),
                });
            }
        }
        w.bridges.push(WantedBridge {
            uuid: br_uuid.clone(),
            options: bridge_options(&name, &other),
            name,
            datapath_id_column: br.get("datapath_id").and_then(datum::opt_string),
            datapath_id_request: other.get("datapath-id").cloned(),
            secure: br.get("fail_mode").and_then(datum::opt_string).as_deref() == Some("secure"),
            ifaces,
        });
    }
    w
}

/// A bridge's NORMAL options from its `other_config`, as OVS's bridge.c reads them: an
/// absent key or 0 is the default, and the pipeline forces numbers into OVS's ranges. A
/// value that is not a non-negative number (or `true`/`false`) is logged and the
/// default kept (OVS silently takes any forward-bpdu but "true" as false, and wraps a
/// negative number to the top of the range).
fn bridge_options(bridge: &str, other: &BTreeMap<String, String>) -> BridgeOptions {
    let mut opts = BridgeOptions::default();
    let number = |key: &str| -> Option<u64> {
        let v = other.get(key)?;
        match v.trim().parse::<u64>() {
            Ok(0) => None,
            Ok(n) => Some(n),
            Err(_) => {
                tracing::warn!(bridge, key, value = %v, "not a number: the default is kept");
                None
            }
        }
    };
    if let Some(n) = number("mac-table-size") {
        opts.mac_table_size = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(secs) = number("mac-aging-time") {
        opts.mac_aging_ms = secs.saturating_mul(1000);
    }
    if let Some(v) = other.get("forward-bpdu") {
        if v.eq_ignore_ascii_case("true") {
            opts.forward_bpdu = true;
        } else if !v.eq_ignore_ascii_case("false") {
            tracing::warn!(bridge, key = "forward-bpdu", value = %v, "not true or false: the default (false) is kept");
        }
    }
    opts
}

/// An interface (with its port's VLAN settings) in xvsctl's option spelling; OVS's
/// option names map onto xvs's (`in_key`/`out_key` onto `key`). Returns the options and
/// the ones xvs ignores.
fn iface_options(
    bridge: &str,
    port: &Row,
    iface: &Row,
) -> (Result<BTreeMap<String, String>, String>, Vec<String>) {
    let mut ignored = Vec::new();
    let r = (|| {
        let mut o = BTreeMap::new();
        let kind = string_col(iface, "type").unwrap_or_default();
        let name = string_col(iface, "name").unwrap_or_default();
        let opts = iface
            .get("options")
            .map(datum::string_map)
            .unwrap_or_default();
        let xvs_type = match kind.as_str() {
            "" | "system" => "system",
            "internal" => "internal",
            "patch" => "patch",
            "gre" => "gre",
            "vxlan" => "vxlan",
            other => {
                return Err(format!(
                    "{name}: {other} type is not supported by xvs (system, internal, patch, gre, vxlan)"
                ))
            }
        };
        o.insert("type".to_string(), xvs_type.to_string());
        match xvs_type {
            "patch" => {
                let peer = opts
                    .get("peer")
                    .ok_or_else(|| format!("{name}: patch type requires valid 'peer' argument"))?;
                o.insert("peer".into(), peer.clone());
                ignored.extend(opts.keys().filter(|k| *k != "peer").cloned());
            }
            "gre" | "vxlan" => {
                let remote = opts.get("remote_ip").ok_or_else(|| {
                    format!("{name}: {xvs_type} type requires valid 'remote_ip' argument")
                })?;
                o.insert("remote_ip".into(), remote.clone());
                if let Some(l) = opts.get("local_ip") {
                    o.insert("local_ip".into(), l.clone());
                }
                let key = opts.get("key");
                let (ik, ok) = (opts.get("in_key").or(key), opts.get("out_key").or(key));
                match (ik, ok) {
                    (None, None) => {}
                    (Some(i), Some(out)) if i == out => {
                        o.insert("key".into(), i.clone());
                    }
                    _ => {
                        return Err(format!(
                            "{name}: xvs needs in_key and out_key to be the same (or key=)"
                        ))
                    }
                }
                if let Some(c) = opts.get("csum") {
                    o.insert("csum".into(), c.clone());
                }
                if let Some(p) = opts.get("dst_port") {
                    if xvs_type != "vxlan" || p != "4789" {
                        return Err(format!(
                            "{name}: dst_port={p}: xvs sends VXLAN to UDP port 4789 only"
                        ));
                    }
                }
                const KNOWN: [&str; 8] = [
                    "remote_ip",
                    "local_ip",
                    "key",
                    "in_key",
                    "out_key",
                    "csum",
                    "dst_port",
                    "underlay",
                ];
                if let Some(u) = opts.get("underlay") {
                    o.insert("underlay".into(), u.clone());
                }
                ignored.extend(
                    opts.keys()
                        .filter(|k| !KNOWN.contains(&k.as_str()))
                        .cloned(),
                );
            }
            _ => ignored.extend(opts.keys().cloned()),
        }
        // VLANs: OVS's rules (vswitchd/bridge.c port_configure): an empty vlan_mode is
        // access with a tag, trunk without one.
        let tag = port
            .get("tag")
            .and_then(datum::opt_integer)
            .filter(|t| (0..=4095).contains(t));
        let trunks: Vec<i64> = port
            .get("trunks")
            .map(datum::integer_set)
            .unwrap_or_default()
            .into_iter()
            .filter(|t| (0..=4095).contains(t))
            .collect();
        let mode = port.get("vlan_mode").and_then(datum::opt_string);
        match (mode.as_deref(), tag) {
            (None | Some("access"), Some(t)) => {
                o.insert("tag".into(), t.to_string());
            }
            (Some("access"), None) => {
                o.insert("tag".into(), "0".into());
            }
            (None | Some("trunk"), _) => {
                if !trunks.is_empty() {
                    let list: Vec<String> = trunks.iter().map(i64::to_string).collect();
                    o.insert("trunks".into(), list.join(","));
                }
            }
            (Some(other), _) => {
                return Err(format!(
                    "{name}: vlan_mode={other} is not supported by xvs (access, trunk)"
                ))
            }
        }
        // The bridge's own interface is its LOCAL port, as in OVS.
        if name == bridge && xvs_type == "internal" {
            o.insert("ofport".into(), OFPP_LOCAL.to_string());
        }
        Ok(o)
    })();
    (r, ignored)
}

/// `Interface.status` for options xvs ignores: `{xvs_ignored_options: "a,b"}`, or empty.
fn ignored_note(ignored: &[String]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if !ignored.is_empty() {
        m.insert("xvs_ignored_options".to_string(), ignored.join(","));
    }
    m
}

/// A datapath id: 16 hex digits.
fn valid_dpid(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A bridge's datapath id when the database names none: stable (from the name) and
/// shaped like OVS's (a locally administered MAC in the low 48 bits).
fn derived_dpid(name: &str) -> String {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mac = (h & 0x0000_feff_ffff_ffff) | 0x0000_0200_0000_0000;
    format!("{mac:016x}")
}

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
}

impl BridgeLayer {
    /// One pass: the switch made like the database; returns the write-back operations
    /// (empty when the database already says everything).
    pub fn reconcile(&mut self, daemon: &Daemon, db: &Replica) -> Pass {
        let w = wanted(db);
        let Some(ovs_uuid) = w.ovs_uuid.clone() else {
            return Pass::default();
        };
        self.results.clear();
        let current = daemon.bridge_ports();
        let wanted_names: BTreeSet<&str> = w.bridges.iter().map(|b| b.name.as_str()).collect();
        for name in current.keys() {
            if !wanted_names.contains(name.as_str()) {
                tracing::info!(bridge = %name, "bridge removed from the database");
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
                tracing::info!(bridge = %br.name, secure = br.secure, "bridge added");
                if let Err(e) = daemon.add_bridge_from_db(&br.name, !br.secure) {
                    tracing::warn!(bridge = %br.name, error = %e.message, "adding bridge");
                    continue;
                }
            }
            if let Err(e) = daemon.set_bridge_options(&br.name, br.options) {
                tracing::warn!(bridge = %br.name, error = %e.message, "setting bridge options");
            }
            let have = current.get(&br.name).cloned().unwrap_or_default();
            let results = self.sync_ports(daemon, br, &have, &all_ports);
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
            let mut dpid = br
                .datapath_id_request
                .clone()
                .filter(|d| valid_dpid(d))
                .or_else(|| br.datapath_id_column.clone().filter(|d| valid_dpid(d)))
                .unwrap_or_else(|| derived_dpid(&br.name))
                .to_ascii_lowercase();
            while !dpids_taken.insert(dpid.clone()) {
                // Two bridges may not share one: the next name-derived id.
                dpid = derived_dpid(&format!("{}{dpid}", br.name));
            }
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

    /// Brings one bridge's ports in line; returns every wanted interface's outcome.
    fn sync_ports(
        &mut self,
        daemon: &Daemon,
        br: &WantedBridge,
        have: &BTreeMap<String, (PortConfig, OfPort)>,
        all_ports: &BTreeSet<&str>,
    ) -> BTreeMap<String, IfaceResult> {
        let wanted: BTreeSet<&str> = br.ifaces.iter().map(|i| i.name.as_str()).collect();
        for name in have.keys() {
            if !wanted.contains(name.as_str()) {
                tracing::info!(bridge = %br.name, port = %name, "port removed");
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
            let same = cfg.kind == wanted_cfg.kind
                && cfg.tag == wanted_cfg.tag
                && cfg.trunks == wanted_cfg.trunks;
            let moved = requested.is_some_and(|r| r != i64::from(*ofport));
            if same && !moved {
                let warning = self.port_warning(daemon, iface, &options, all_ports);
                return link_status::in_pipeline(daemon, &iface.name, i64::from(*ofport), warning);
            }
            // Changed in place: the same OpenFlow number, as OVS keeps it.
            if !options.contains_key("ofport") {
                let keep = requested.unwrap_or(i64::from(*ofport));
                options.insert("ofport".into(), keep.to_string());
            }
            tracing::info!(bridge = %br.name, port = %iface.name, "port reconfigured");
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
            && !netdev_exists(&iface.name)
        {
            return failed(format!(
                "could not open network device {} (No such device)",
                iface.name
            ));
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
                tracing::info!(bridge = %br.name, port = %iface.name, ofport, "port added");
                let warning = self.port_warning(daemon, iface, &options, all_ports);
                link_status::in_pipeline(daemon, &iface.name, i64::from(ofport), warning)
            }
            Err(e) => failed(e),
        }
    }

    /// A problem that leaves the port in place (with its number) but not working yet.
    fn port_warning(
        &self,
        _daemon: &Daemon,
        _iface: &WantedIface,
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
}

fn netdev_exists(name: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated string; if_nametoindex only reads it.
    unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn ovs_spellings_map_onto_xvs_options() {
        let port = row(
            json!({"name": "gre-1", "tag": ["set", []], "vlan_mode": ["set", []], "trunks": ["set", []]}),
        );
        let iface = row(json!({"name": "gre-1", "type": "gre", "options": ["map", [
            ["remote_ip", "192.168.1.253"], ["local_ip", "192.168.1.254"],
            ["in_key", "flow"], ["out_key", "flow"], ["df_default", "true"], ["egress_pkt_mark", "0"]]]}));
        let (o, ignored) = iface_options("br-tun", &port, &iface);
        let o = o.unwrap();
        assert_eq!(o["type"], "gre");
        assert_eq!(o["key"], "flow");
        assert_eq!(o["remote_ip"], "192.168.1.253");
        assert_eq!(
            ignored,
            vec!["df_default".to_string(), "egress_pkt_mark".to_string()]
        );
    }

    #[test]
    fn vlan_modes_as_ovs() {
        let iface = row(json!({"name": "tap1", "type": ""}));
        let opts = |port: Value| iface_options("br-int", &row(port), &iface).0;
        assert_eq!(opts(json!({"tag": 5})).unwrap()["tag"], "5");
        assert!(!opts(json!({"tag": ["set", []]}))
            .unwrap()
            .contains_key("tag"));
        // Neutron's dead port: trunk of VLAN 4095 only.
        let dead = opts(json!({"tag": 4095, "vlan_mode": "trunk", "trunks": 4095})).unwrap();
        assert_eq!(dead.get("tag"), None);
        assert_eq!(dead["trunks"], "4095");
        assert!(opts(json!({"vlan_mode": "native-untagged"})).is_err());
    }

    #[test]
    fn bad_values_become_errors_naming_the_interface() {
        let port = row(json!({}));
        let gre = row(json!({"name": "gre-2", "type": "gre", "options": ["map", []]}));
        assert_eq!(
            iface_options("br", &port, &gre).0,
            Err("gre-2: gre type requires valid 'remote_ip' argument".into())
        );
        let geneve = row(json!({"name": "g", "type": "geneve"}));
        assert!(iface_options("br", &port, &geneve)
            .0
            .unwrap_err()
            .contains("geneve"));
    }

    #[test]
    fn the_bridge_interface_is_local() {
        let port = row(json!({}));
        let iface = row(json!({"name": "br-int", "type": "internal"}));
        assert_eq!(
            iface_options("br-int", &port, &iface).0.unwrap()["ofport"],
            OFPP_LOCAL.to_string()
        );
    }

    #[test]
    fn bridge_options_from_other_config() {
        let opts = |pairs: &[(&str, &str)]| {
            let m = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            bridge_options("br0", &m)
        };
        assert_eq!(opts(&[]), BridgeOptions::default());
        assert_eq!(
            opts(&[
                ("mac-table-size", "50000"),
                ("mac-aging-time", "60"),
                ("forward-bpdu", "true"),
                ("datapath-id", "0000000000000001"),
            ]),
            BridgeOptions {
                mac_table_size: 50_000,
                mac_aging_ms: 60_000,
                forward_bpdu: true,
            }
        );
        assert!(opts(&[("forward-bpdu", "TRUE")]).forward_bpdu);
        assert!(!opts(&[("forward-bpdu", "false")]).forward_bpdu);
        // 0 is the default, as in OVS; bad values keep the default.
        assert_eq!(
            opts(&[("mac-table-size", "0"), ("mac-aging-time", "0")]),
            BridgeOptions::default()
        );
        assert_eq!(
            opts(&[
                ("mac-table-size", "lots"),
                ("mac-aging-time", "-5"),
                ("forward-bpdu", "yes"),
            ]),
            BridgeOptions::default()
        );
        // Out of range: left to the pipeline, which forces it into OVS's range.
        assert_eq!(opts(&[("mac-aging-time", "1")]).mac_aging_ms, 1000);
    }

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

    #[test]
    fn datapath_ids() {
        let a = derived_dpid("br-int");
        assert!(valid_dpid(&a));
        assert_eq!(a, derived_dpid("br-int"));
        assert_ne!(a, derived_dpid("br-tun"));
        assert!(!valid_dpid("00001"));
        assert!(!valid_dpid("000000000000000g"));
    }
}
