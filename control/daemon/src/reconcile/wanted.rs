//! What the database asks for, read from the replica: bridges, their options, and each
//! interface in xvsctl's option spelling (OVS's names mapped onto xvs's), or the error
//! that interface gets. Pure: the replica in, plain values out.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use xvs_dataplane::MacAddr;
use xvs_pipeline::ofp::parse::parse_field_slice;
use xvs_pipeline::ofp::{N_TABLES, OFPP_LOCAL};
use xvs_pipeline::ofproto::limits::{OverflowPolicy, TableConfig};
use xvs_pipeline::{BridgeOptions, MirrorConfig, MirrorOutput};

use super::link_status::LinkColumns;
use super::{DATAPATH_TYPES, IFACE_TYPES};
use crate::connmgr::session::ConnKind;
use crate::connmgr::ControllerConfig;
use crate::ovsdb::datum::{self, Uuid};
use crate::ovsdb::replica::{Replica, Row};

/// One interface as the database describes it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct WantedIface {
    pub(super) uuid: Uuid,
    pub(super) name: String,
    /// The port configuration in xvsctl's option spelling, or why there is none.
    pub(super) options: Result<BTreeMap<String, String>, String>,
    /// Options xvs ignores, for the log.
    pub(super) ignored: Vec<String>,
    pub(super) ofport_request: Option<i64>,
    /// What the database says now (xvsd's own earlier writes).
    pub(super) ofport_column: Option<i64>,
    pub(super) error_column: Option<String>,
    pub(super) status_column: BTreeMap<String, String>,
    /// `link_state`, `mac_in_use`, `ifindex`, `mtu` as the database has them.
    pub(super) link_columns: LinkColumns,
}

/// One `Controller` row of a bridge, with what the database says of its state now.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct WantedController {
    pub(super) uuid: Uuid,
    pub(super) config: ControllerConfig,
    pub(super) is_connected_column: bool,
    pub(super) role_column: Option<String>,
    pub(super) status_column: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct WantedBridge {
    pub(super) uuid: Uuid,
    pub(super) name: String,
    pub(super) datapath_id_column: Option<String>,
    pub(super) datapath_id_request: Option<String>,
    /// `other_config:mac-table-size`, `mac-aging-time`, `forward-bpdu`.
    pub(super) options: BridgeOptions,
    /// `other_config:hwaddr`: the address, or why it cannot be one; None when absent
    /// or empty.
    pub(super) hwaddr: Option<Result<MacAddr, String>>,
    pub(super) secure: bool,
    pub(super) ifaces: Vec<WantedIface>,
    /// `protocols`.
    pub(super) protocols: Vec<String>,
    /// `other_config:dp-desc`.
    pub(super) dp_desc: Option<String>,
    pub(super) controllers: Vec<WantedController>,
    /// `flow_tables`: the `Flow_Table` rows, by table.
    pub(super) flow_tables: BTreeMap<u8, TableConfig>,
    /// `mirrors`: the `Mirror` rows, ports by name.
    pub(super) mirrors: Vec<WantedMirror>,
}

/// One `Mirror` row of a bridge.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct WantedMirror {
    pub(super) uuid: Uuid,
    pub(super) config: MirrorConfig,
    /// `statistics` as the database has it (xvsd's earlier writes).
    pub(super) statistics_column: BTreeMap<String, i64>,
}

impl WantedBridge {
    /// Whether a controller of the bridge is a primary one (OVS's
    /// `connmgr_has_controllers`: what decides flushes and the NORMAL flow).
    pub(super) fn has_primary_controller(&self) -> bool {
        self.controllers
            .iter()
            .any(|c| c.config.conn_kind() == ConnKind::Primary)
    }
}

fn controllers(db: &Replica, br: &Row) -> Vec<WantedController> {
    let mut out = Vec::new();
    for uuid in br
        .get("controller")
        .map(datum::uuid_set)
        .unwrap_or_default()
    {
        let Some(c) = db.row("Controller", &uuid) else {
            continue;
        };
        let Some(target) = string_col(c, "target") else {
            continue;
        };
        out.push(WantedController {
            config: ControllerConfig {
                target,
                inactivity_probe: c.get("inactivity_probe").and_then(datum::opt_integer),
                max_backoff: c.get("max_backoff").and_then(datum::opt_integer),
                kind: c.get("type").and_then(datum::opt_string),
            },
            is_connected_column: c
                .get("is_connected")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            role_column: c.get("role").and_then(datum::opt_string),
            status_column: c.get("status").map(datum::string_map).unwrap_or_default(),
            uuid,
        });
    }
    // The database's order is its UUIDs': by target, for stable logs.
    out.sort_by(|a, b| a.config.target.cmp(&b.config.target));
    out
}

/// A bridge's `Mirror` rows, their ports by name (a reference to a row that is gone,
/// which the database's weak references make rare, is left out), in the order of their
/// names (the database's is its UUIDs').
fn mirrors(db: &Replica, br: &Row) -> Vec<WantedMirror> {
    let port_name = |u: &Uuid| db.row("Port", u).and_then(|p| string_col(p, "name"));
    let port_names = |m: &Row, col: &str| -> Vec<String> {
        m.get(col)
            .map(datum::uuid_set)
            .unwrap_or_default()
            .iter()
            .filter_map(port_name)
            .collect()
    };
    let mut out = Vec::new();
    for uuid in br.get("mirrors").map(datum::uuid_set).unwrap_or_default() {
        let Some(m) = db.row("Mirror", &uuid) else {
            continue;
        };
        let output_port = m
            .get("output_port")
            .map(datum::uuid_set)
            .unwrap_or_default()
            .first()
            .map(|u| port_name(u).unwrap_or_else(|| format!("(port {u})")));
        let output_vlan = m.get("output_vlan").and_then(datum::opt_integer);
        // OVS takes the port when both are given (and logs it).
        let output = match (output_port, output_vlan) {
            (Some(p), _) => Some(MirrorOutput::Port(p)),
            (None, Some(v)) => u16::try_from(v).ok().map(MirrorOutput::Vlan),
            (None, None) => None,
        };
        out.push(WantedMirror {
            config: MirrorConfig {
                name: string_col(m, "name").unwrap_or_default(),
                select_all: m
                    .get("select_all")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                select_src: port_names(m, "select_src_port"),
                select_dst: port_names(m, "select_dst_port"),
                select_vlan: m
                    .get("select_vlan")
                    .map(datum::integer_set)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|v| u16::try_from(v).ok())
                    .collect(),
                output,
            },
            statistics_column: m
                .get("statistics")
                .map(datum::map_pairs)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_i64()?)))
                .collect(),
            uuid,
        });
    }
    out.sort_by(|a, b| a.config.name.cmp(&b.config.name));
    out
}

/// A bridge's `flow_tables` as OVS's `bridge_configure_tables` reads them: a table
/// number the switch does not have is skipped; `flow_limit` absent (or past what
/// fits) is no limit; `overflow_policy` is `evict` or else `refuse`; a `groups` element
/// that is not a field or subfield is logged and left out, as OVS does.
fn flow_tables(bridge: &str, db: &Replica, br: &Row) -> BTreeMap<u8, TableConfig> {
    let mut out = BTreeMap::new();
    let Some(col) = br.get("flow_tables") else {
        return out;
    };
    for (k, v) in datum::map_pairs(col) {
        let Some(table) = k
            .as_i64()
            .and_then(|t| u8::try_from(t).ok())
            .filter(|&t| t < N_TABLES)
        else {
            continue;
        };
        let Some(row) = datum::uuid(v).and_then(|u| db.row("Flow_Table", &u)) else {
            continue;
        };
        let overflow_policy = match row.get("overflow_policy").and_then(datum::opt_string) {
            Some(p) if p == "evict" => OverflowPolicy::Evict,
            _ => OverflowPolicy::Refuse,
        };
        let mut groups = Vec::new();
        for g in row.get("groups").map(datum::string_set).unwrap_or_default() {
            match parse_field_slice(g.trim()) {
                Ok(slice) => groups.push(slice),
                Err(e) => {
                    tracing::warn!(bridge, table, group = %g, error = %e, "error parsing 'groups'")
                }
            }
        }
        out.insert(
            table,
            TableConfig {
                name: row.get("name").and_then(datum::opt_string),
                flow_limit: row
                    .get("flow_limit")
                    .and_then(datum::opt_integer)
                    .and_then(|n| usize::try_from(n).ok()),
                overflow_policy,
                groups,
            },
        );
    }
    out
}

/// What the database asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Wanted {
    pub(super) ovs_uuid: Option<Uuid>,
    pub(super) next_cfg: i64,
    pub(super) cur_cfg: i64,
    pub(super) types_written: bool,
    /// `Open_vSwitch.other_config:flow-restore-wait` as written (None: absent).
    pub(super) flow_restore_wait: Option<String>,
    pub(super) bridges: Vec<WantedBridge>,
}

pub(super) fn string_col(row: &Row, col: &str) -> Option<String> {
    row.get(col).and_then(Value::as_str).map(str::to_string)
}

pub(super) fn wanted(db: &Replica) -> Wanted {
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
    w.flow_restore_wait = ovs
        .get("other_config")
        .map(datum::string_map)
        .unwrap_or_default()
        .remove("flow-restore-wait");
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
        let name_for_tables = name.clone();
        w.bridges.push(WantedBridge {
            uuid: br_uuid.clone(),
            options: bridge_options(&name, &other),
            hwaddr: other
                .get("hwaddr")
                .filter(|v| !v.trim().is_empty())
                .map(|v| bridge_hwaddr(v)),
            name,
            datapath_id_column: br.get("datapath_id").and_then(datum::opt_string),
            datapath_id_request: other.get("datapath-id").cloned(),
            secure: br.get("fail_mode").and_then(datum::opt_string).as_deref() == Some("secure"),
            ifaces,
            protocols: br
                .get("protocols")
                .map(datum::string_set)
                .unwrap_or_default(),
            dp_desc: other.get("dp-desc").cloned(),
            controllers: controllers(db, br),
            flow_tables: flow_tables(&name_for_tables, db, br),
            mirrors: mirrors(db, br),
        });
    }
    // A stable order (the database's is its UUIDs'): bridges are created, and numbered
    // in the switch, alike after every restart.
    w.bridges.sort_by(|a, b| a.name.cmp(&b.name));
    w
}

/// A bridge's NORMAL options from its `other_config`, as OVS's bridge.c reads them: an
/// absent key or 0 is the default, and the pipeline forces numbers into OVS's ranges. A
/// value that is not a non-negative number (or `true`/`false`) is logged and the
/// default kept (OVS silently takes any forward-bpdu but "true" as false, and wraps a
/// negative number to the top of the range).
pub(super) fn bridge_options(bridge: &str, other: &BTreeMap<String, String>) -> BridgeOptions {
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

/// A bridge's `other_config:hwaddr`, as bridge.c's `bridge_pick_local_hw_addr` takes
/// it: an Ethernet address that is neither multicast nor zero (the errors in OVS's
/// words), else the reason it is ignored.
pub(super) fn bridge_hwaddr(value: &str) -> Result<MacAddr, String> {
    let mac: MacAddr = value
        .trim()
        .parse()
        .map_err(|_| format!("hwaddr={value:?} is not an Ethernet address"))?;
    if mac.is_multicast() {
        Err(format!("cannot set MAC address to multicast address {mac}"))
    } else if mac.is_zero() {
        Err("cannot set MAC address to zero".to_string())
    } else {
        Ok(mac)
    }
}

/// An interface (with its port's VLAN settings) in xvsctl's option spelling; OVS's
/// option names map onto xvs's (`in_key`/`out_key` onto `key`). Returns the options and
/// the ones xvs ignores.
pub(super) fn iface_options(
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
        // access with a tag (trunks ignored), trunk without one; a trunk has no tag and an
        // access port no trunks. Out-of-range values are dropped, as OVS does.
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
        let mode = match port.get("vlan_mode").and_then(datum::opt_string) {
            Some(m) => m,
            None if tag.is_some() => "access".to_string(),
            None => "trunk".to_string(),
        };
        if !["access", "trunk", "native-tagged", "native-untagged"].contains(&mode.as_str()) {
            return Err(format!(
                "{name}: vlan_mode={mode} is not supported by xvs (access, trunk, native-tagged, native-untagged)"
            ));
        }
        if mode != "trunk" {
            if let Some(t) = tag {
                o.insert("tag".into(), t.to_string());
            }
        }
        if mode != "access" && !trunks.is_empty() {
            let list: Vec<String> = trunks.iter().map(i64::to_string).collect();
            o.insert("trunks".into(), list.join(","));
        }
        o.insert("vlan_mode".into(), mode);
        let port_other = port
            .get("other_config")
            .map(datum::string_map)
            .unwrap_or_default();
        match port_other.get("priority-tags").map(String::as_str) {
            Some("true" | "if-nonzero") => {
                o.insert("priority_tags".into(), "if-nonzero".into());
            }
            Some("always") => {
                o.insert("priority_tags".into(), "always".into());
            }
            _ => {}
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
pub(super) fn ignored_note(ignored: &[String]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if !ignored.is_empty() {
        m.insert("xvs_ignored_options".to_string(), ignored.join(","));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    /// `flow_tables` as OVS's bridge_configure_tables reads it: policies, limits, groups
    /// (a bad one left out), and keys or rows that cannot be used skipped.
    #[test]
    fn flow_tables_as_ovs_reads_them() {
        use xvs_pipeline::ofp::{Field, FieldSlice};
        let mut db = Replica::default();
        db.apply_update(&json!({
            "Flow_Table": {
                "f1": {"new": {"name": "t0", "flow_limit": 10, "overflow_policy": "evict",
                               "groups": ["set", ["NXM_OF_IN_PORT[]", "nonsense[]", "eth_src[0..7]"]]}},
                "f2": {"new": {"flow_limit": ["set", []], "overflow_policy": "other"}},
                "f3": {"new": {"flow_limit": -1}},
            },
        }))
        .unwrap();
        let br = row(json!({"name": "br0", "flow_tables": ["map", [
            [0, ["uuid", "f1"]], [3, ["uuid", "f2"]], [4, ["uuid", "f3"]],
            [255, ["uuid", "f1"]], [7, ["uuid", "missing"]]]]}));
        let t = flow_tables("br0", &db, &br);
        assert_eq!(t.keys().copied().collect::<Vec<u8>>(), [0, 3, 4]);
        assert_eq!(t[&0].name.as_deref(), Some("t0"));
        assert_eq!(t[&0].flow_limit, Some(10));
        assert_eq!(t[&0].overflow_policy, OverflowPolicy::Evict);
        assert_eq!(
            t[&0].groups,
            [
                FieldSlice::whole(Field::InPort),
                FieldSlice {
                    field: Field::DlSrc,
                    ofs: 0,
                    n_bits: 8
                }
            ]
        );
        assert_eq!(
            (t[&3].flow_limit, t[&3].overflow_policy),
            (None, OverflowPolicy::Refuse)
        );
        assert_eq!(t[&4].flow_limit, None, "a negative limit is none");
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
        assert_eq!(dead["vlan_mode"], "trunk");
        // An implicit access port ignores its trunks.
        let access = opts(json!({"tag": 5, "trunks": ["set", [6, 7]]})).unwrap();
        assert_eq!(
            (access["vlan_mode"].as_str(), access.get("trunks")),
            ("access", None)
        );
        let native = opts(
            json!({"tag": 5, "vlan_mode": "native-untagged", "trunks": ["set", [6, 7]],
                                 "other_config": ["map", [["priority-tags", "true"]]]}),
        )
        .unwrap();
        assert_eq!(native["tag"], "5");
        assert_eq!(native["trunks"], "6,7");
        assert_eq!(native["vlan_mode"], "native-untagged");
        assert_eq!(native["priority_tags"], "if-nonzero");
        let err = opts(json!({"tag": 5, "vlan_mode": "dot1q-tunnel"})).unwrap_err();
        assert!(err.contains("vlan_mode=dot1q-tunnel"), "{err}");
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
    fn hwaddr_as_bridge_c_takes_it() {
        assert_eq!(
            bridge_hwaddr("02:AA:bb:0c:d:01"),
            Ok(MacAddr([2, 0xaa, 0xbb, 0x0c, 0x0d, 1]))
        );
        assert_eq!(
            bridge_hwaddr("01:00:5e:00:00:01"),
            Err("cannot set MAC address to multicast address 01:00:5e:00:00:01".into())
        );
        assert_eq!(
            bridge_hwaddr("00:00:00:00:00:00"),
            Err("cannot set MAC address to zero".into())
        );
        assert!(bridge_hwaddr("bogus").unwrap_err().contains("bogus"));
        // Absent and empty are the same: nothing asked.
        let db = |other: Value| {
            let mut r = Replica::default();
            r.apply_update(&serde_json::json!({
                "Open_vSwitch": {"o1": {"new": {"bridges": ["uuid", "b1"],
                    "other_config": ["map", [["flow-restore-wait", "true"]]]}}},
                "Bridge": {"b1": {"new": {"name": "br0", "ports": ["set", []], "other_config": other}}},
            }))
            .unwrap();
            wanted(&r)
        };
        let w = db(serde_json::json!(["map", [["hwaddr", ""]]]));
        assert_eq!(w.bridges[0].hwaddr, None);
        assert_eq!(w.flow_restore_wait.as_deref(), Some("true"));
        let w = db(serde_json::json!([
            "map",
            [["hwaddr", "fa:16:3e:00:00:01"]]
        ]));
        assert_eq!(
            w.bridges[0].hwaddr,
            Some(Ok(MacAddr([0xfa, 0x16, 0x3e, 0, 0, 1])))
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
}
