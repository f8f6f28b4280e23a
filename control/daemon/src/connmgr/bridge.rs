//! A bridge as its OpenFlow connections see it: what they share (datapath id,
//! description, roles, allowed versions, an epoch that closes them all), and
//! [`DaemonBridge`], the [`SwitchAccess`] of one connection, going through the
//! daemon's control thread.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Weak};

use xvs_dataplane::MacAddr;
use xvs_openflow::port::{ofppc, ofpps, PortDesc, PortStats};
use xvs_openflow::stats::DescStats;
use xvs_openflow::{OfError, VersionBitmap};
use xvs_pipeline::ofp::{FlowMod, OFPP_NONE};
use xvs_pipeline::ofproto::flow_mods::{FlowModFailure, FlowTableMod};
use xvs_pipeline::ofproto::table::Rule;
use xvs_pipeline::topology::PortKind;
use xvs_pipeline::{SwitchError, Time};

use super::session::{Role, SwitchAccess};
use crate::ports::fnv1a;
use crate::Daemon;

/// What OVS 3.1 says in DESC replies (clients key OVS-specific behaviour on "Open
/// vSwitch"); the datapath description says xvs unless `other_config:dp-desc` does.
pub const SW_DESC: &str = "3.1.0";

#[derive(Default)]
struct Roles {
    by_conn: BTreeMap<u64, Role>,
    /// OVS's `primary_election_id` (OF1.2+ generation id).
    election_id: Option<u64>,
}

/// A bridge's state shared by its connections.
pub struct BridgeShared {
    pub name: String,
    datapath_id: AtomicU64,
    dp_desc: Mutex<String>,
    allowed: Mutex<VersionBitmap>,
    roles: Mutex<Roles>,
    /// Bumped to close every connection of the bridge (versions changed, bridge
    /// removed, daemon stopping).
    epoch: AtomicU64,
}

impl BridgeShared {
    pub fn new(name: &str, datapath_id: u64, allowed: VersionBitmap) -> BridgeShared {
        BridgeShared {
            name: name.to_string(),
            datapath_id: AtomicU64::new(datapath_id),
            dp_desc: Mutex::new(default_dp_desc()),
            allowed: Mutex::new(allowed),
            roles: Mutex::new(Roles::default()),
            epoch: AtomicU64::new(0),
        }
    }

    pub fn datapath_id(&self) -> u64 {
        self.datapath_id.load(Ordering::Relaxed)
    }

    /// A new datapath id: every connection is closed, as OVS's
    /// `ofproto_set_datapath_id` does (a controller cannot be told otherwise; it
    /// reconnects and reads the new id from FEATURES). Returns whether it changed.
    pub fn set_datapath_id(&self, dpid: u64) -> bool {
        if self.datapath_id.swap(dpid, Ordering::AcqRel) == dpid {
            return false;
        }
        self.close_all();
        true
    }

    pub fn set_dp_desc(&self, desc: Option<&str>) {
        *self.dp_desc.lock().expect("dp_desc lock") =
            desc.map_or_else(default_dp_desc, str::to_string);
    }

    pub fn allowed(&self) -> VersionBitmap {
        *self.allowed.lock().expect("allowed lock")
    }

    /// New allowed versions: every open connection is closed (its peer reconnects and
    /// negotiates again). Returns whether they changed.
    pub fn set_allowed(&self, allowed: VersionBitmap) -> bool {
        let mut a = self.allowed.lock().expect("allowed lock");
        if *a == allowed {
            return false;
        }
        *a = allowed;
        self.close_all();
        true
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Closes every connection (each notices within its poll interval).
    pub fn close_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Connection `conn`'s role (Equal until it asks).
    pub fn role(&self, conn: u64) -> Role {
        let r = self.roles.lock().expect("roles lock");
        r.by_conn.get(&conn).copied().unwrap_or(Role::Equal)
    }

    /// OVS's `handle_role_request`: a generation id older than the last one seen is
    /// stale; a new primary makes every other primary secondary.
    pub fn role_request(
        &self,
        conn: u64,
        role: Role,
        generation_id: Option<u64>,
    ) -> Result<(Role, Option<u64>), OfError> {
        let mut r = self.roles.lock().expect("roles lock");
        if role != Role::NoChange {
            if role != Role::Equal {
                if let Some(g) = generation_id {
                    if r.election_id
                        .is_some_and(|cur| (g.wrapping_sub(cur) as i64) < 0)
                    {
                        return Err(OfError::OFPRRFC_STALE);
                    }
                    r.election_id = Some(g);
                }
            }
            if role == Role::Primary {
                for (c, other) in r.by_conn.iter_mut() {
                    if *c != conn && *other == Role::Primary {
                        *other = Role::Secondary;
                    }
                }
            }
            r.by_conn.insert(conn, role);
        }
        let current = r.by_conn.get(&conn).copied().unwrap_or(Role::Equal);
        Ok((current, r.election_id))
    }

    /// Connection `conn` went.
    pub fn forget(&self, conn: u64) {
        self.roles.lock().expect("roles lock").by_conn.remove(&conn);
    }
}

fn default_dp_desc() -> String {
    format!("xvs {}", env!("CARGO_PKG_VERSION"))
}

/// What `Controller.role` says for a role (OVS's `ofp12_controller_role_to_str`).
pub fn role_name(role: Role) -> Option<&'static str> {
    match role {
        Role::Equal => Some("other"),
        Role::Primary => Some("master"),
        Role::Secondary => Some("slave"),
        Role::NoChange => None,
    }
}

/// One connection's access to its bridge in the daemon.
pub struct DaemonBridge {
    pub daemon: Weak<Daemon>,
    pub shared: std::sync::Arc<BridgeShared>,
    pub conn: u64,
}

fn of_error(e: FlowModFailure) -> OfError {
    match e {
        FlowModFailure::BadTableId(_) => OfError::OFPBRC_BAD_TABLE_ID,
        // A table at its flow_limit (Flow_Table, overflow_policy=refuse or nothing to
        // evict): as OVS's add_flow_start; OpenFlow 1.0 spells it ALL_TABLES_FULL.
        FlowModFailure::TableFull(_) => OfError::OFPFMFC_TABLE_FULL,
    }
}

/// A stable, locally administered address for a port without a netdev of its own.
fn derived_mac(name: &str) -> [u8; 6] {
    let b = fnv1a(name).to_be_bytes();
    [(b[2] & 0xfe) | 0x02, b[3], b[4], b[5], b[6], b[7]]
}

impl DaemonBridge {
    fn with_daemon<T>(&self, f: impl FnOnce(&Daemon) -> T) -> Option<T> {
        self.daemon.upgrade().map(|d| f(&d))
    }
}

impl SwitchAccess for DaemonBridge {
    fn datapath_id(&mut self) -> u64 {
        self.shared.datapath_id()
    }

    fn desc(&mut self) -> DescStats {
        let mut d = DescStats::ovs_defaults(SW_DESC);
        d.dp_desc = self.shared.dp_desc.lock().expect("dp_desc lock").clone();
        d
    }

    fn ports(&mut self) -> Vec<PortDesc> {
        let bridge = self.shared.name.clone();
        self.with_daemon(|d| {
            let ports: Vec<(u32, String, bool)> = d.control().read(move |sw, _, _| {
                sw.bridge(&bridge)
                    .map(|b| {
                        b.ports
                            .values()
                            .map(|p| {
                                let netdev =
                                    matches!(p.config.kind, PortKind::Netdev | PortKind::Internal);
                                (p.ofport, p.name().to_string(), netdev)
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            });
            let mut out: Vec<PortDesc> = ports
                .into_iter()
                .map(|(ofport, name, netdev)| {
                    let link = if netdev {
                        d.netdev_status(&name).and_then(Result::ok).flatten()
                    } else {
                        None
                    };
                    let (mac, config, state) = match &link {
                        Some(l) => (
                            l.mac.map_or_else(|| derived_mac(&name), |m: MacAddr| m.0),
                            if l.admin_up { 0 } else { ofppc::PORT_DOWN },
                            if l.carrier {
                                ofpps::LIVE
                            } else {
                                ofpps::LINK_DOWN
                            },
                        ),
                        None => (derived_mac(&name), 0, ofpps::LIVE),
                    };
                    PortDesc {
                        port_no: ofport as u16,
                        hw_addr: mac,
                        name,
                        config,
                        state,
                        curr: 0,
                        advertised: 0,
                        supported: 0,
                        peer: 0,
                        curr_speed: 0,
                        max_speed: 0,
                    }
                })
                .collect();
            out.sort_by_key(|p| p.port_no);
            out
        })
        .unwrap_or_default()
    }

    fn port_stats(&mut self, port_no: u16) -> Vec<PortStats> {
        let bridge = self.shared.name.clone();
        self.with_daemon(|d| {
            let ports = d.bridge_port_counters(Some(&bridge)).unwrap_or_default();
            let mut out: Vec<PortStats> = ports
                .into_iter()
                .filter(|p| port_no == OFPP_NONE as u16 || p.ofport == u32::from(port_no))
                .map(|p| {
                    let c = p.counters;
                    let mut s = PortStats::unknown(p.ofport as u16);
                    s.duration_sec = u32::MAX;
                    s.duration_nsec = u32::MAX;
                    s.rx_packets = c.rx_packets;
                    s.rx_bytes = c.rx_bytes;
                    s.tx_packets = c.tx_packets;
                    s.tx_bytes = c.tx_bytes;
                    // As OVS's vports, a patch port counts packets and bytes only; a
                    // tunnel port also the frames decapsulated from it that the flows
                    // dropped (xvs's addition), but knows no transmit drops.
                    match p.kind.as_str() {
                        "patch" => {}
                        "gre" | "vxlan" => s.rx_dropped = c.rx_dropped,
                        _ => {
                            s.rx_dropped = c.rx_dropped;
                            s.tx_dropped = c.tx_dropped;
                        }
                    }
                    s
                })
                .collect();
            out.sort_by_key(|p| p.port_no);
            out
        })
        .unwrap_or_default()
    }

    fn flow_counts(&mut self) -> Vec<u32> {
        let bridge = self.shared.name.clone();
        self.with_daemon(|d| {
            d.control().read(move |sw, _, _| {
                sw.tables(&bridge)
                    .map(|t| t.tables.iter().map(|t| t.len() as u32).collect())
                    .unwrap_or_default()
            })
        })
        .unwrap_or_default()
    }

    fn table_settings(&mut self) -> Vec<(u8, Option<String>, Option<usize>)> {
        let bridge = self.shared.name.clone();
        self.with_daemon(|d| {
            d.control().read(move |sw, _, _| {
                sw.tables(&bridge)
                    .map(|t| {
                        t.limits
                            .configs
                            .iter()
                            .map(|(&n, c)| (n, c.name.clone(), c.flow_limit))
                            .collect()
                    })
                    .unwrap_or_default()
            })
        })
        .unwrap_or_default()
    }

    fn flow_mods(&mut self, mods: Vec<FlowTableMod>) -> Vec<Result<usize, OfError>> {
        let n = mods.len();
        let bridge = self.shared.name.clone();
        self.with_daemon(|d| {
            d.control().change(move |sw, now| {
                mods.into_iter()
                    .map(|m| match sw.flow_mod(&bridge, m, now) {
                        Ok(r) => r.map_err(of_error),
                        Err(_) => Err(OfError::OFPBRC_EPERM),
                    })
                    .collect()
            })
        })
        .unwrap_or_else(|| vec![Err(OfError::OFPBRC_EPERM); n])
    }

    fn commit(&mut self, mods: Vec<FlowTableMod>) -> Result<(), (usize, OfError)> {
        let bridge = self.shared.name.clone();
        self.with_daemon(|d| {
            d.control().change(
                move |sw, now| match sw.flow_mods_atomic(&bridge, mods, now) {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((i, e))) => Err((i, of_error(e))),
                    Err(SwitchError::NoSuchBridge(_)) | Err(_) => Err((0, OfError::OFPBRC_EPERM)),
                },
            )
        })
        .unwrap_or(Err((0, OfError::OFPBRC_EPERM)))
    }

    fn flows(&mut self, filter: FlowMod) -> (Vec<Rule>, Time) {
        let bridge = self.shared.name.clone();
        self.with_daemon(|d| {
            d.control().read(move |sw, _, now| {
                let rules = sw
                    .tables(&bridge)
                    .map(|t| t.dump_rules(&filter).into_iter().cloned().collect())
                    .unwrap_or_default();
                (rules, now)
            })
        })
        .unwrap_or_default()
    }

    fn role_request(
        &mut self,
        role: Role,
        generation_id: Option<u64>,
    ) -> Result<(Role, Option<u64>), OfError> {
        let r = self.shared.role_request(self.conn, role, generation_id);
        if role != Role::NoChange && r.is_ok() {
            // Controller.role is due for a write-back.
            self.with_daemon(|d| d.connmgr().map(|c| c.wake()));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_as_ovs() {
        let b = BridgeShared::new("br0", 1, VersionBitmap::EMPTY);
        assert_eq!(
            b.role_request(1, Role::NoChange, None),
            Ok((Role::Equal, None))
        );
        assert_eq!(
            b.role_request(1, Role::Primary, Some(5)),
            Ok((Role::Primary, Some(5)))
        );
        // Another primary demotes the first; an older generation id is stale.
        assert_eq!(
            b.role_request(2, Role::Primary, Some(4)),
            Err(OfError::OFPRRFC_STALE)
        );
        assert_eq!(
            b.role_request(2, Role::Primary, Some(6)),
            Ok((Role::Primary, Some(6)))
        );
        assert_eq!(b.role(1), Role::Secondary);
        // Equal needs no generation id and keeps it.
        assert_eq!(
            b.role_request(1, Role::Equal, Some(1)),
            Ok((Role::Equal, Some(6)))
        );
        b.forget(2);
        assert_eq!(b.role(2), Role::Equal);
        assert_eq!(role_name(Role::Primary), Some("master"));
    }
}
