//! One OVSDB client session, sans I/O: ovs-vswitchd's conversation with ovsdb-server.
//! On a new connection it asks for the lock named `ovs_vswitchd` and monitors the
//! columns xvsd reads; then it answers the server's `echo`, keeps the [`Replica`]
//! up to date from `update` notifications, and sends transactions. JSON values go in
//! (from [`super::framing::JsonStream`]); JSON values to send and [`Event`]s come out.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::replica::Replica;

/// The lock ovs-vswitchd takes (vswitchd/bridge.c): whoever holds it drives the database.
pub const LOCK_NAME: &str = "ovs_vswitchd";
/// The id xvsd gives its monitor.
const MONITOR_ID: &str = "xvsd";
/// The id of an inactivity probe (OVS's jsonrpc_create_request("echo", ...) uses "echo").
const ECHO_ID: &str = "echo";

/// An inactivity probe: an `echo` request, whose answer is ignored (any byte received
/// counts as life).
pub fn echo_request() -> Value {
    json!({"method": "echo", "params": [], "id": ECHO_ID})
}

/// What the session tells its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The monitor's first snapshot is in the replica: reconcile everything.
    Snapshot,
    /// The replica changed.
    Updated,
    /// Someone else (an ovs-vswitchd?) holds the lock.
    LockContended,
    /// The lock is ours: writes may go.
    LockAcquired,
    /// The lock was taken from us.
    LockStolen,
    /// A transaction's outcome: the per-operation results, or why it failed.
    Transacted {
        id: u64,
        result: Result<Vec<Value>, String>,
    },
    /// The server said something this session cannot use; the connection should go.
    ProtocolError(String),
}

/// Columns to monitor, per table.
pub type MonitorSpec = BTreeMap<&'static str, Vec<&'static str>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Lock,
    Monitor,
    Transact,
}

#[derive(Debug)]
pub struct Session {
    database: String,
    monitor: MonitorSpec,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    replica: Replica,
    has_lock: bool,
    synced: bool,
}

impl Session {
    pub fn new(database: &str, monitor: MonitorSpec) -> Self {
        Session {
            database: database.to_string(),
            monitor,
            next_id: 1,
            pending: BTreeMap::new(),
            replica: Replica::default(),
            has_lock: false,
            synced: false,
        }
    }

    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    pub fn has_lock(&self) -> bool {
        self.has_lock
    }

    /// Whether the monitor's snapshot has arrived on this connection.
    pub fn synced(&self) -> bool {
        self.synced
    }

    fn request(&mut self, method: &str, params: Value, kind: Pending) -> (u64, Value) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, kind);
        (id, json!({"method": method, "params": params, "id": id}))
    }

    /// A new connection: everything from the last one is forgotten (the snapshot will
    /// bring the replica back); returns what to send first.
    pub fn connected(&mut self) -> Vec<Value> {
        self.pending.clear();
        self.replica.clear();
        self.has_lock = false;
        self.synced = false;
        let (_, lock) = self.request("lock", json!([LOCK_NAME]), Pending::Lock);
        let requests: serde_json::Map<String, Value> = self
            .monitor
            .iter()
            .map(|(t, cols)| (t.to_string(), json!({ "columns": cols })))
            .collect();
        let params = json!([self.database, MONITOR_ID, requests]);
        let (_, monitor) = self.request("monitor", params, Pending::Monitor);
        vec![lock, monitor]
    }

    /// A transaction of `ops` on the database, guarded by the lock (so it fails rather
    /// than write if the lock was lost). Returns its id (see [`Event::Transacted`]) and
    /// the message to send.
    pub fn transact(&mut self, ops: Vec<Value>) -> (u64, Value) {
        let mut params = vec![
            json!(self.database),
            json!({"op": "assert", "lock": LOCK_NAME}),
        ];
        params.extend(ops);
        self.request("transact", Value::Array(params), Pending::Transact)
    }

    /// Handles one message from the server: replies to send, and events.
    pub fn received(&mut self, msg: Value) -> (Vec<Value>, Vec<Event>) {
        let mut out = Vec::new();
        let mut events = Vec::new();
        let Some(obj) = msg.as_object() else {
            events.push(Event::ProtocolError(format!(
                "not a JSON-RPC message: {msg}"
            )));
            return (out, events);
        };
        if let Some(method) = obj.get("method").and_then(Value::as_str) {
            let params = obj.get("params").cloned().unwrap_or(Value::Null);
            let id = obj.get("id").cloned().unwrap_or(Value::Null);
            match method {
                "echo" => out.push(json!({"result": params, "error": null, "id": id})),
                "update" => match params.as_array().map(Vec::as_slice) {
                    Some([_, updates]) => match self.replica.apply_update(updates) {
                        Ok(()) => events.push(Event::Updated),
                        Err(e) => events.push(Event::ProtocolError(e.to_string())),
                    },
                    _ => events.push(Event::ProtocolError(format!("bad update: {params}"))),
                },
                "locked" => {
                    self.has_lock = true;
                    events.push(Event::LockAcquired);
                }
                "stolen" => {
                    self.has_lock = false;
                    events.push(Event::LockStolen);
                }
                other if !id.is_null() => {
                    // A request we do not serve: say so, as RFC 7047 asks.
                    out.push(json!({"result": null, "error": format!("unknown method {other}"), "id": id}));
                }
                _ => {}
            }
            return (out, events);
        }
        if obj.get("id").and_then(Value::as_str) == Some(ECHO_ID) {
            // The answer to our inactivity probe: its arrival is all that counts.
            return (out, events);
        }
        let Some(id) = obj.get("id").and_then(Value::as_u64) else {
            events.push(Event::ProtocolError(format!(
                "response without a known id: {msg}"
            )));
            return (out, events);
        };
        let Some(kind) = self.pending.remove(&id) else {
            events.push(Event::ProtocolError(format!(
                "response to no request: {msg}"
            )));
            return (out, events);
        };
        let error = obj.get("error").filter(|e| !e.is_null());
        let result = obj.get("result").cloned().unwrap_or(Value::Null);
        match (kind, error) {
            (Pending::Lock, Some(e)) => events.push(Event::ProtocolError(format!("lock: {e}"))),
            (Pending::Lock, None) => {
                if result.get("locked").and_then(Value::as_bool) == Some(true) {
                    self.has_lock = true;
                    events.push(Event::LockAcquired);
                } else {
                    events.push(Event::LockContended);
                }
            }
            (Pending::Monitor, Some(e)) => {
                events.push(Event::ProtocolError(format!("monitor: {e}")))
            }
            (Pending::Monitor, None) => match self.replica.apply_update(&result) {
                Ok(()) => {
                    self.synced = true;
                    events.push(Event::Snapshot);
                }
                Err(e) => events.push(Event::ProtocolError(e.to_string())),
            },
            (Pending::Transact, Some(e)) => events.push(Event::Transacted {
                id,
                result: Err(e.to_string()),
            }),
            (Pending::Transact, None) => {
                let results = result.as_array().cloned().unwrap_or_default();
                // A failed operation's result holds "error"; the transaction as a whole
                // then did nothing.
                let failed = results
                    .iter()
                    .find_map(|r| r.get("error").filter(|e| !e.is_null()).map(|e| (e, r)));
                let result = match failed {
                    Some((e, r)) => Err(match r.get("details").and_then(Value::as_str) {
                        Some(d) => format!("{}: {d}", e.as_str().unwrap_or("error")),
                        None => e.to_string(),
                    }),
                    None => Ok(results),
                };
                events.push(Event::Transacted { id, result });
            }
        }
        (out, events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MonitorSpec {
        MonitorSpec::from([("Open_vSwitch", vec!["next_cfg", "bridges"])])
    }

    #[test]
    fn handshake_then_snapshot() {
        let mut s = Session::new("Open_vSwitch", spec());
        let first = s.connected();
        assert_eq!(
            first[0],
            json!({"method": "lock", "params": ["ovs_vswitchd"], "id": 1})
        );
        assert_eq!(
            first[1],
            json!({"method": "monitor", "params": ["Open_vSwitch", "xvsd",
                {"Open_vSwitch": {"columns": ["next_cfg", "bridges"]}}], "id": 2})
        );
        let (out, ev) = s.received(json!({"id": 1, "result": {"locked": true}, "error": null}));
        assert!(out.is_empty());
        assert_eq!(ev, vec![Event::LockAcquired]);
        let (_, ev) = s.received(json!({"id": 2, "error": null, "result":
            {"Open_vSwitch": {"u0": {"new": {"next_cfg": 3, "bridges": ["set", []]}}}}}));
        assert_eq!(ev, vec![Event::Snapshot]);
        assert!(s.synced());
        assert_eq!(
            s.replica().row("Open_vSwitch", "u0").unwrap()["next_cfg"],
            3
        );
    }

    #[test]
    fn the_answer_to_a_probe_is_no_error() {
        let mut s = Session::new("Open_vSwitch", spec());
        s.connected();
        assert_eq!(echo_request()["method"], "echo");
        let (out, events) = s.received(json!({"result": [], "error": null, "id": "echo"}));
        assert!(out.is_empty() && events.is_empty(), "{out:?} {events:?}");
    }

    #[test]
    fn echo_is_answered_and_updates_apply() {
        let mut s = Session::new("Open_vSwitch", spec());
        s.connected();
        let (out, _) = s.received(json!({"method": "echo", "params": [], "id": "echo"}));
        assert_eq!(
            out,
            vec![json!({"result": [], "error": null, "id": "echo"})]
        );
        let (_, ev) = s.received(json!({"method": "update", "id": null, "params": ["xvsd",
            {"Open_vSwitch": {"u0": {"new": {"next_cfg": 4}}}}]}));
        assert_eq!(ev, vec![Event::Updated]);
    }

    #[test]
    fn lock_held_elsewhere_then_granted_then_stolen() {
        let mut s = Session::new("Open_vSwitch", spec());
        s.connected();
        let (_, ev) = s.received(json!({"id": 1, "result": {"locked": false}, "error": null}));
        assert_eq!(ev, vec![Event::LockContended]);
        assert!(!s.has_lock());
        let (_, ev) =
            s.received(json!({"method": "locked", "params": ["ovs_vswitchd"], "id": null}));
        assert_eq!(ev, vec![Event::LockAcquired]);
        let (_, ev) =
            s.received(json!({"method": "stolen", "params": ["ovs_vswitchd"], "id": null}));
        assert_eq!(ev, vec![Event::LockStolen]);
        assert!(!s.has_lock());
    }

    #[test]
    fn transactions_are_guarded_by_the_lock_and_report_failures() {
        let mut s = Session::new("Open_vSwitch", spec());
        s.connected();
        let (id, msg) = s.transact(vec![json!({"op": "comment", "comment": "x"})]);
        assert_eq!(
            msg["params"],
            json!(["Open_vSwitch", {"op": "assert", "lock": "ovs_vswitchd"},
                   {"op": "comment", "comment": "x"}])
        );
        let (_, ev) = s.received(json!({"id": id, "error": null,
            "result": [{"error": "not owner", "details": "lock not held"}, null]}));
        assert_eq!(
            ev,
            vec![Event::Transacted {
                id,
                result: Err("not owner: lock not held".into())
            }]
        );
        let (id, _) = s.transact(vec![]);
        let (_, ev) = s.received(json!({"id": id, "error": null, "result": [{}]}));
        assert_eq!(
            ev,
            vec![Event::Transacted {
                id,
                result: Ok(vec![json!({})])
            }]
        );
    }

    #[test]
    fn nonsense_is_reported_not_fatal() {
        let mut s = Session::new("Open_vSwitch", spec());
        s.connected();
        for m in [
            json!(1),
            json!({"id": 99, "result": null}),
            json!({"method": "update", "params": 3}),
        ] {
            let (_, ev) = s.received(m);
            assert!(matches!(ev[..], [Event::ProtocolError(_)]));
        }
    }
}
