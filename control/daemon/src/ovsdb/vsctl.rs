//! xvsctl's configuration commands (`add-br`, `del-br`, `add-port`, `del-port`) as
//! database transactions, the way ovs-vsctl writes them: the database stays the one
//! source of truth, and the bridge layer applies the change like any other. Pure: the
//! replica and a command in, operations (or the error that leaves everything as it
//! was) out.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use xvs_pipeline::topology::{valid_name, PriorityTags};

use super::datum::{self, Uuid};
use super::replica::Replica;
use crate::ports::port_config;
use crate::RequestError;

/// A configuration command from the control socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigCmd {
    AddBr {
        bridge: String,
    },
    DelBr {
        bridge: String,
    },
    AddPort {
        bridge: String,
        port: String,
        options: BTreeMap<String, String>,
    },
    DelPort {
        bridge: String,
        port: String,
    },
}

fn name_of(db: &Replica, table: &str, uuid: &str) -> Option<String> {
    db.row(table, uuid)?
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The bridge named `name`, through `Open_vSwitch.bridges`.
fn find_bridge(db: &Replica, name: &str) -> Option<Uuid> {
    let (_, ovs) = db.rows("Open_vSwitch").next()?;
    ovs.get("bridges")
        .map(datum::uuid_set)
        .unwrap_or_default()
        .into_iter()
        .find(|u| name_of(db, "Bridge", u).as_deref() == Some(name))
}

/// The port named `name` on bridge `bridge`.
fn find_port(db: &Replica, bridge: &Uuid, name: &str) -> Option<Uuid> {
    db.row("Bridge", bridge)?
        .get("ports")
        .map(datum::uuid_set)
        .unwrap_or_default()
        .into_iter()
        .find(|u| name_of(db, "Port", u).as_deref() == Some(name))
}

/// Whether any bridge has a port named `name` (names are switch-wide).
fn port_exists(db: &Replica, name: &str) -> bool {
    let Some((_, ovs)) = db.rows("Open_vSwitch").next() else {
        return false;
    };
    ovs.get("bridges")
        .map(datum::uuid_set)
        .unwrap_or_default()
        .iter()
        .any(|b| find_port(db, b, name).is_some())
}

/// The operations for `cmd`, or the error that leaves the database as it is.
pub fn ops_for(db: &Replica, cmd: &ConfigCmd) -> Result<Vec<Value>, RequestError> {
    let no_bridge =
        |b: &str| RequestError::new("no-such-bridge", format!("no bridge named \"{b}\""));
    match cmd {
        ConfigCmd::AddBr { bridge } => {
            if !valid_name(bridge) {
                return Err(RequestError::new(
                    "bad-name",
                    format!("bridge name \"{bridge}\" is not valid: use 1-15 characters, no '/', no whitespace"),
                ));
            }
            if find_bridge(db, bridge).is_some() {
                return Err(RequestError::new(
                    "bridge-exists",
                    format!("a bridge named \"{bridge}\" already exists"),
                ));
            }
            if port_exists(db, bridge) {
                return Err(RequestError::new(
                    "port-exists",
                    format!("a port named \"{bridge}\" already exists"),
                ));
            }
            Ok(vec![
                json!({"op": "insert", "table": "Interface", "uuid-name": "iface",
                       "row": {"name": bridge, "type": "internal"}}),
                json!({"op": "insert", "table": "Port", "uuid-name": "port",
                       "row": {"name": bridge, "interfaces": ["named-uuid", "iface"]}}),
                json!({"op": "insert", "table": "Bridge", "uuid-name": "bridge",
                       "row": {"name": bridge, "ports": ["named-uuid", "port"]}}),
                json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                       "mutations": [["bridges", "insert", ["set", [["named-uuid", "bridge"]]]]]}),
            ])
        }
        ConfigCmd::DelBr { bridge } => {
            let uuid = find_bridge(db, bridge).ok_or_else(|| no_bridge(bridge))?;
            // Bridge, Port and Interface rows go with the last reference to them.
            Ok(vec![
                json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                "mutations": [["bridges", "delete", datum::set_of(vec![datum::uuid_atom(&uuid)])]]}),
            ])
        }
        ConfigCmd::AddPort {
            bridge,
            port,
            options,
        } => {
            // The same checks and messages as without a database.
            let cfg =
                port_config(port, options).map_err(|e| RequestError::new("bad-port-option", e))?;
            if !valid_name(port) {
                return Err(RequestError::new(
                    "bad-port-option",
                    format!("port name \"{port}\" is not valid: use 1-15 characters, no '/', no whitespace"),
                ));
            }
            let br = find_bridge(db, bridge).ok_or_else(|| no_bridge(bridge))?;
            if port_exists(db, port) || find_bridge(db, port).is_some() {
                return Err(RequestError::new(
                    "port-exists",
                    format!("a port named \"{port}\" already exists"),
                ));
            }
            let mut iface = serde_json::Map::new();
            iface.insert("name".into(), json!(port));
            let kind = options.get("type").map(String::as_str).unwrap_or("");
            iface.insert(
                "type".into(),
                json!(if kind == "system" { "" } else { kind }),
            );
            let iface_options: Vec<(&str, &str)> = options
                .iter()
                .filter(|(k, _)| {
                    ["peer", "remote_ip", "local_ip", "key", "csum", "underlay"]
                        .contains(&k.as_str())
                })
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            if !iface_options.is_empty() {
                iface.insert("options".into(), datum::map_of(iface_options));
            }
            if let Some(n) = cfg.ofport {
                iface.insert("ofport_request".into(), json!(n));
            }
            let mut port_row = serde_json::Map::new();
            port_row.insert("name".into(), json!(port));
            port_row.insert("interfaces".into(), json!(["named-uuid", "iface"]));
            let vlan = &cfg.vlan;
            if let Some(t) = vlan.tag {
                port_row.insert("tag".into(), json!(t));
            }
            if !vlan.trunks.is_empty() {
                let trunks = vlan.trunks.iter().map(|t| json!(t)).collect();
                port_row.insert("trunks".into(), datum::set_of(trunks));
            }
            if options.contains_key("vlan_mode") {
                port_row.insert("vlan_mode".into(), json!(vlan.mode.name()));
            }
            let priority_tags = match vlan.priority_tags {
                PriorityTags::Never => None,
                PriorityTags::IfNonzero => Some("if-nonzero"),
                PriorityTags::Always => Some("always"),
            };
            if let Some(p) = priority_tags {
                port_row.insert("other_config".into(), datum::map_of([("priority-tags", p)]));
            }
            Ok(vec![
                json!({"op": "insert", "table": "Interface", "uuid-name": "iface", "row": iface}),
                json!({"op": "insert", "table": "Port", "uuid-name": "port", "row": port_row}),
                json!({"op": "mutate", "table": "Bridge",
                       "where": [["_uuid", "==", datum::uuid_atom(&br)]],
                       "mutations": [["ports", "insert", ["set", [["named-uuid", "port"]]]]]}),
            ])
        }
        ConfigCmd::DelPort { bridge, port } => {
            let br = find_bridge(db, bridge).ok_or_else(|| no_bridge(bridge))?;
            let p = find_port(db, &br, port).ok_or_else(|| {
                RequestError::new(
                    "no-such-port",
                    format!("no port named \"{port}\" on bridge \"{bridge}\""),
                )
            })?;
            Ok(vec![json!({"op": "mutate", "table": "Bridge",
                "where": [["_uuid", "==", datum::uuid_atom(&br)]],
                "mutations": [["ports", "delete", datum::set_of(vec![datum::uuid_atom(&p)])]]})])
        }
    }
}

/// What ovs-vsctl adds to every write: `next_cfg += 1`, and the new value read back, so
/// that the writer can wait for `cur_cfg` to reach it.
pub fn bump_next_cfg() -> [Value; 2] {
    [
        json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
               "mutations": [["next_cfg", "+=", 1]]}),
        json!({"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["next_cfg"]}),
    ]
}

/// The `next_cfg` a transaction built with [`bump_next_cfg`] read back (its last result).
pub fn selected_next_cfg(results: &[Value]) -> Option<i64> {
    results
        .last()?
        .get("rows")?
        .get(0)?
        .get("next_cfg")?
        .as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Replica {
        let mut r = Replica::default();
        r.apply_update(&json!({
            "Open_vSwitch": {"o": {"new": {"bridges": ["uuid", "b1"], "next_cfg": 1}}},
            "Bridge": {"b1": {"new": {"name": "br-int", "ports": ["set", [["uuid", "p1"]]]}}},
            "Port": {"p1": {"new": {"name": "tap1", "interfaces": ["uuid", "i1"]}}},
            "Interface": {"i1": {"new": {"name": "tap1", "type": ""}}},
        }))
        .unwrap();
        r
    }

    fn err(cmd: ConfigCmd) -> &'static str {
        ops_for(&db(), &cmd).unwrap_err().code
    }

    #[test]
    fn refusals_name_the_problem_and_write_nothing() {
        let s = |x: &str| x.to_string();
        assert_eq!(
            err(ConfigCmd::AddBr {
                bridge: s("br-int")
            }),
            "bridge-exists"
        );
        assert_eq!(err(ConfigCmd::AddBr { bridge: s("tap1") }), "port-exists");
        assert_eq!(err(ConfigCmd::AddBr { bridge: s("a/b") }), "bad-name");
        assert_eq!(
            err(ConfigCmd::DelBr { bridge: s("br-x") }),
            "no-such-bridge"
        );
        let add = |b: &str, p: &str, o: &[(&str, &str)]| ConfigCmd::AddPort {
            bridge: s(b),
            port: s(p),
            options: o.iter().map(|(k, v)| (s(k), s(v))).collect(),
        };
        assert_eq!(err(add("br-x", "tap2", &[])), "no-such-bridge");
        assert_eq!(err(add("br-int", "tap1", &[])), "port-exists");
        assert_eq!(
            err(add("br-int", "tap2", &[("colour", "red")])),
            "bad-port-option"
        );
        assert_eq!(
            err(ConfigCmd::DelPort {
                bridge: s("br-int"),
                port: s("ghost")
            }),
            "no-such-port"
        );
    }

    #[test]
    fn add_port_writes_ovs_columns() {
        let cmd = ConfigCmd::AddPort {
            bridge: "br-int".into(),
            port: "gre-1".into(),
            options: [
                ("type", "gre"),
                ("remote_ip", "1.2.3.4"),
                ("key", "flow"),
                ("ofport", "2"),
                ("tag", "3"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        };
        let ops = ops_for(&db(), &cmd).unwrap();
        assert_eq!(ops[0]["row"]["type"], "gre");
        assert_eq!(ops[0]["row"]["ofport_request"], 2);
        assert_eq!(
            ops[0]["row"]["options"],
            json!(["map", [["key", "flow"], ["remote_ip", "1.2.3.4"]]])
        );
        assert_eq!(ops[1]["row"]["tag"], 3);
        assert_eq!(ops[2]["where"], json!([["_uuid", "==", ["uuid", "b1"]]]));
    }

    #[test]
    fn next_cfg_read_back() {
        let results = vec![
            json!({}),
            json!({"count": 1}),
            json!({"rows": [{"next_cfg": 7}]}),
        ];
        assert_eq!(selected_next_cfg(&results), Some(7));
        assert_eq!(selected_next_cfg(&[]), None);
    }
}
