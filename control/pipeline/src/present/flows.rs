//! Flow tables and MAC tables as `ovs-ofctl dump-flows` and `ovs-appctl fdb/show`
//! print them.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::ofp::format::{format_actions, format_flags, format_match};
use crate::ofp::version::{wire_actions, wire_match};
use crate::ofp::{OfVersion, PortNames};
use crate::ofproto::mac_learning::MacTable;
use crate::ofproto::table::{Rule, Time};
use crate::topology::Bridge;

/// One line of `ovs-ofctl dump-flows`, with the flow as it was given (xvs's own dump,
/// OpenFlow 1.0's layout).
pub fn format_rule(r: &Rule, ports: &dyn PortNames, names: bool, now: Time) -> String {
    format_rule_as(r, ports, names, now, None)
}

/// One line of `ovs-ofctl dump-flows` as ovs-ofctl prints what OVS sends it over
/// `version` (`None`: the flow as given, in 1.0's layout): over OpenFlow 1.0 (NXST_FLOW)
/// `idle_age` and `hard_age` and no flags, over 1.3 the flags and no ages; the match and
/// actions as that version carries them ([`crate::ofp::version`]).
pub fn format_rule_as(
    r: &Rule,
    ports: &dyn PortNames,
    names: bool,
    now: Time,
    version: Option<OfVersion>,
) -> String {
    let age = |t: Time| now.saturating_sub(t);
    let dur = age(r.created);
    let mut s = format!(
        " cookie={:#x}, duration={}.{:03}s, table={}, n_packets={}, n_bytes={}, ",
        r.cookie,
        dur / 1000,
        dur % 1000,
        r.table,
        r.n_packets,
        r.n_bytes
    );
    if r.idle_timeout != 0 {
        let _ = write!(s, "idle_timeout={}, ", r.idle_timeout);
    }
    if r.hard_timeout != 0 {
        let _ = write!(s, "hard_timeout={}, ", r.hard_timeout);
    }
    if version == Some(OfVersion::Of13) {
        s.push_str(&format_flags(r.flags));
    } else {
        let _ = write!(s, "idle_age={}, ", age(r.last_used) / 1000);
        if r.modified != r.created {
            let _ = write!(s, "hard_age={}, ", age(r.modified) / 1000);
        }
    }
    let (matcher, actions) = match version {
        Some(v) => (
            wire_match(&r.matcher, v),
            wire_actions(&r.actions, &r.matcher, v),
        ),
        None => (r.matcher, r.actions.clone()),
    };
    let m = format_match(&matcher, Some(r.priority), ports, names);
    if !m.is_empty() {
        s.push_str(&m);
        s.push(' ');
    }
    s.push_str("actions=");
    s.push_str(&format_actions(&actions, ports, names));
    s
}

/// `dump-flows`: one line per rule, each ending in a newline.
pub fn dump_flows_text(rules: &[&Rule], ports: &dyn PortNames, names: bool, now: Time) -> String {
    let mut s = String::new();
    for r in rules {
        s.push_str(&format_rule(r, ports, names, now));
        s.push('\n');
    }
    s
}

/// One rule of `dump-flows --json`.
pub fn rule_json(r: &Rule, ports: &dyn PortNames, names: bool, now: Time) -> Value {
    json!({
        "cookie": format!("{:#x}", r.cookie),
        "duration": now.saturating_sub(r.created) as f64 / 1000.0,
        "table": r.table,
        "n_packets": r.n_packets,
        "n_bytes": r.n_bytes,
        "idle_timeout": r.idle_timeout,
        "hard_timeout": r.hard_timeout,
        "idle_age": now.saturating_sub(r.last_used) / 1000,
        "priority": r.priority,
        "match": format_match(&r.matcher, None, ports, names),
        "actions": format_actions(&r.actions, ports, names),
    })
}

/// `dump-flows` as (JSON, text).
pub fn dump_flows(
    rules: &[&Rule],
    ports: &dyn PortNames,
    names: bool,
    now: Time,
) -> (Value, String) {
    let json = Value::Array(
        rules
            .iter()
            .map(|r| rule_json(r, ports, names, now))
            .collect(),
    );
    (json, dump_flows_text(rules, ports, names, now))
}

/// `fdb-show` as (JSON, text): the MAC table with each port's number and name.
pub fn fdb_show(bridge: &Bridge, macs: &MacTable, now: Time) -> (Value, String) {
    let mut text = String::from(" port  VLAN  MAC                Age\n");
    let mut out = Vec::new();
    for (vlan, mac, port, age) in macs.dump(now) {
        let name = bridge
            .port(port)
            .map(|p| p.name().to_string())
            .unwrap_or_else(|| port.to_string());
        let _ = writeln!(text, "{port:>5}  {vlan:>4}  {mac}  {age:>3}");
        out.push(json!({"port": port, "port_name": name, "vlan": vlan, "mac": mac.to_string(), "age": age}));
    }
    (Value::Array(out), text)
}
