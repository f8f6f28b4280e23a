//! What ovs-vswitchd writes back about the netdev behind an interface it has open
//! (vswitchd/bridge.c `iface_refresh_netdev_status`): `link_state` (the carrier: "up"
//! or "down"), `mac_in_use`, `ifindex` and `mtu`, from the kernel's link notifications
//! ([`crate::links`]); and, for a netdev port whose netdev went, `ofport` -1 with OVS's
//! error while the port waits for it in the pipeline ([`crate::netdevs`]).

use serde_json::{json, Map, Value};

use super::IfaceResult;
use crate::links::Link;
use crate::ovsdb::datum;
use crate::ovsdb::replica::Row;
use crate::Daemon;

/// The Interface columns xvsd reads to compare, and writes.
pub(super) const COLUMNS: [&str; 4] = ["link_state", "mac_in_use", "ifindex", "mtu"];

/// Those columns' values; None: empty (in the database) or not to be written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct LinkColumns {
    link_state: Option<String>,
    pub(super) mac_in_use: Option<String>,
    ifindex: Option<i64>,
    mtu: Option<i64>,
}

impl LinkColumns {
    /// What the database holds now.
    pub(super) fn from_row(row: &Row) -> Self {
        LinkColumns {
            link_state: row.get("link_state").and_then(datum::opt_string),
            mac_in_use: row.get("mac_in_use").and_then(datum::opt_string),
            ifindex: row.get("ifindex").and_then(datum::opt_integer),
            mtu: row.get("mtu").and_then(datum::opt_integer),
        }
    }

    /// What the kernel says of a netdev, in OVS's spellings.
    pub(super) fn from_link(l: &Link) -> Self {
        LinkColumns {
            link_state: Some(if l.carrier { "up" } else { "down" }.to_string()),
            mac_in_use: l.mac.map(|m| m.to_string()),
            ifindex: Some(i64::from(l.index)),
            mtu: l.mtu.map(i64::from),
        }
    }

    /// The row entries that bring `db` to these values: only known values that differ,
    /// so the write-back settles.
    pub(super) fn changes(&self, db: &LinkColumns) -> Map<String, Value> {
        let mut row = Map::new();
        if self.link_state.is_some() && self.link_state != db.link_state {
            row.insert("link_state".into(), json!(self.link_state));
        }
        if self.mac_in_use.is_some() && self.mac_in_use != db.mac_in_use {
            row.insert("mac_in_use".into(), json!(self.mac_in_use));
        }
        if self.ifindex.is_some() && self.ifindex != db.ifindex {
            row.insert("ifindex".into(), json!(self.ifindex));
        }
        if self.mtu.is_some() && self.mtu != db.mtu {
            row.insert("mtu".into(), json!(self.mtu));
        }
        row
    }
}

/// The outcome of an interface that is in the pipeline as `ofport`, with its netdev's
/// state: detached (its netdev went) is -1 and the error, as ovs-vswitchd reports an
/// interface it cannot open; attached carries the netdev's columns.
pub(super) fn in_pipeline(
    daemon: &Daemon,
    name: &str,
    ofport: i64,
    error: Option<String>,
) -> IfaceResult {
    match daemon.netdev_status(name) {
        Some(Err(e)) => IfaceResult {
            ofport: -1,
            error: Some(e),
            link: None,
        },
        Some(Ok(link)) => IfaceResult {
            ofport,
            error,
            link: link.as_ref().map(LinkColumns::from_link),
        },
        None => IfaceResult {
            ofport,
            error,
            link: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xvs_dataplane::MacAddr;

    #[test]
    fn only_known_values_that_differ_are_written() {
        let link = Link {
            index: 12,
            name: "tap1".into(),
            mac: Some(MacAddr([0xfe, 0x16, 0x3e, 0, 0, 1])),
            mtu: Some(1450),
            admin_up: true,
            carrier: true,
            lower_up: true,
        };
        let want = LinkColumns::from_link(&link);
        let empty = LinkColumns::from_row(&Row::new());
        assert_eq!(empty, LinkColumns::default());
        assert_eq!(
            Value::Object(want.changes(&empty)),
            json!({"link_state": "up", "mac_in_use": "fe:16:3e:00:00:01", "ifindex": 12, "mtu": 1450})
        );
        // The database as the write left it (optional columns as plain atoms or as
        // one-element sets): nothing more to write.
        let row = json!({"link_state": "up", "mac_in_use": ["set", ["fe:16:3e:00:00:01"]],
                         "ifindex": 12, "mtu": 1450});
        let db = LinkColumns::from_row(row.as_object().unwrap());
        assert!(want.changes(&db).is_empty(), "{:?}", want.changes(&db));
        // The carrier dropped: only link_state.
        let down = LinkColumns::from_link(&Link {
            carrier: false,
            ..link.clone()
        });
        assert_eq!(
            Value::Object(down.changes(&db)),
            json!({"link_state": "down"})
        );
        // A device without an Ethernet address leaves mac_in_use alone.
        let no_mac = LinkColumns::from_link(&Link { mac: None, ..link });
        assert!(!no_mac.changes(&empty).contains_key("mac_in_use"));
    }
}
