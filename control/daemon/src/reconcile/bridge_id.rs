//! A bridge's identity (vswitchd/bridge.c `bridge_configure_datapath_id`): the
//! Ethernet address of its own interface, from `other_config:hwaddr`, and its datapath
//! id, from `other_config:datapath-id`, the hwaddr, or what the database already says.

use std::collections::{BTreeMap, BTreeSet};

use xvs_dataplane::MacAddr;
use xvs_pipeline::ofp::OFPP_LOCAL;

use super::wanted::WantedBridge;
use super::IfaceResult;
use crate::ports::fnv1a;
use crate::Daemon;

/// A datapath id: 16 hex digits, not all zero (bridge.c's `dpid_from_string` takes 0
/// as no id).
pub(super) fn valid_dpid(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
}

/// A bridge's datapath id when the database names none: stable (from the name) and
/// shaped like OVS's (a locally administered MAC in the low 48 bits).
pub(super) fn derived_dpid(name: &str) -> String {
    let h = fnv1a(name);
    let mac = (h & 0x0000_feff_ffff_ffff) | 0x0000_0200_0000_0000;
    format!("{mac:016x}")
}

/// The datapath id of `br`, one not in `taken` (which it joins). In this order:
///
/// 1. `other_config:datapath-id`, as in OVS;
/// 2. `other_config:hwaddr` when it is a usable address: the 48-bit MAC as 16 hex
///    digits, as in OVS (bridge.c `bridge_pick_datapath_id`: the id is the bridge's
///    MAC, and the hwaddr is the bridge's MAC);
/// 3. the `datapath_id` column: what xvsd, or ovs-vswitchd before it, wrote last;
/// 4. derived from the bridge's name.
///
/// The id must above all be the same after every restart (a controller knows the
/// switch by it, and flows installed per switch follow it). The first two are settings
/// in the database, so they are, and changing one changes the id at once, as in OVS.
/// Without them OVS takes the lowest MAC among the bridge's ports, else a MAC from the
/// bridge row's UUID: an id that changes when ports come and go, which xvsd does not
/// follow; it keeps the column instead. So removing hwaddr or datapath-id keeps the id
/// they gave (OVS would go back to its fallback).
pub(super) fn datapath_id(br: &WantedBridge, taken: &mut BTreeSet<String>) -> String {
    let mut dpid = br
        .datapath_id_request
        .clone()
        .filter(|d| valid_dpid(d))
        .or_else(|| match br.hwaddr {
            Some(Ok(mac)) => Some(format!("{:016x}", mac.to_u64())),
            _ => None,
        })
        .or_else(|| br.datapath_id_column.clone().filter(|d| valid_dpid(d)))
        .unwrap_or_else(|| derived_dpid(&br.name))
        .to_ascii_lowercase();
    while !taken.insert(dpid.clone()) {
        // Two bridges may not share one: the next name-derived id.
        dpid = derived_dpid(&format!("{}{dpid}", br.name));
    }
    dpid
}

/// The bridges' requested Ethernet addresses made real, with what was last logged
/// about each bridge (a pass runs every second: a problem is logged when it changes,
/// not every time).
#[derive(Debug, Default)]
pub(super) struct BridgeMacs {
    logged: BTreeMap<String, String>,
}

impl BridgeMacs {
    /// Gives bridge `br`'s own interface (its LOCAL port, whose outcome in this pass is
    /// `local`) the address of `other_config:hwaddr`, unless it has it already. Returns
    /// the address when the netdev has it now, for `mac_in_use`. A value that is no
    /// usable address is logged and ignored, as in OVS; so is a failure to set it. The
    /// kernel is asked every pass, so a MAC changed from outside, or a bridge interface
    /// made again, gets the hwaddr back within a second (OVS: at its next
    /// reconfiguration). Without hwaddr the address is left as it is (OVS would set its
    /// fallback, the lowest MAC among the ports, or one from the bridge's UUID).
    pub(super) fn apply(
        &mut self,
        daemon: &Daemon,
        br: &WantedBridge,
        local: Option<&IfaceResult>,
    ) -> Option<MacAddr> {
        let mac = match &br.hwaddr {
            None => {
                self.logged.remove(&br.name);
                return None;
            }
            Some(Err(e)) => {
                if self.first_time(&br.name, e) {
                    tracing::warn!(bridge = %br.name, "{e}: other_config:hwaddr is ignored");
                }
                return None;
            }
            Some(Ok(mac)) => *mac,
        };
        // OVS sets it on the LOCAL port only (a bridge whose own interface failed has
        // none); without a datapath there is no netdev to set.
        let local = local.is_some_and(|r| r.ofport == i64::from(OFPP_LOCAL));
        if !local || !daemon.moves_packets() {
            return None;
        }
        match daemon.set_netdev_mac(&br.name, mac) {
            Ok(changed) => {
                if changed {
                    tracing::info!(bridge = %br.name, %mac, "bridge Ethernet address set (other_config:hwaddr)");
                }
                self.logged.remove(&br.name);
                Some(mac)
            }
            Err(e) => {
                let e = format!("failed to set bridge Ethernet address {mac}: {e}");
                if self.first_time(&br.name, &e) {
                    tracing::warn!(bridge = %br.name, "{e}");
                }
                None
            }
        }
    }

    /// Forgets the bridges that are gone.
    pub(super) fn retain(&mut self, bridges: &BTreeSet<&str>) {
        self.logged.retain(|b, _| bridges.contains(b.as_str()));
    }

    /// Whether `problem` is news for `bridge` (and remembers it).
    fn first_time(&mut self, bridge: &str, problem: &str) -> bool {
        if self.logged.get(bridge).map(String::as_str) == Some(problem) {
            return false;
        }
        self.logged.insert(bridge.to_string(), problem.to_string());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::datum::Uuid;
    use xvs_pipeline::BridgeOptions;

    fn bridge(name: &str) -> WantedBridge {
        WantedBridge {
            uuid: Uuid::default(),
            name: name.into(),
            datapath_id_column: None,
            datapath_id_request: None,
            options: BridgeOptions::default(),
            hwaddr: None,
            secure: false,
            ifaces: Vec::new(),
            protocols: Vec::new(),
            dp_desc: None,
            controllers: Vec::new(),
            flow_tables: Default::default(),
            mirrors: Vec::new(),
        }
    }

    #[test]
    fn derived_ids() {
        let a = derived_dpid("br-int");
        assert!(valid_dpid(&a));
        assert_eq!(a, derived_dpid("br-int"));
        assert_ne!(a, derived_dpid("br-tun"));
        assert!(!valid_dpid("00001"));
        assert!(!valid_dpid("000000000000000g"));
        assert!(!valid_dpid("0000000000000000"));
    }

    #[test]
    fn the_id_is_the_request_then_the_hwaddr_then_the_column_then_the_name() {
        let pick = |b: &WantedBridge| datapath_id(b, &mut BTreeSet::new());
        let mut b = bridge("br-int");
        assert_eq!(pick(&b), derived_dpid("br-int"));
        b.datapath_id_column = Some("00000000000000AA".into());
        assert_eq!(pick(&b), "00000000000000aa", "the column is kept");
        b.hwaddr = Some(Ok(MacAddr([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01])));
        assert_eq!(pick(&b), "000002aabbccdd01", "as OVS: the MAC as 16 digits");
        b.hwaddr = Some(Err("cannot set MAC address to zero".into()));
        assert_eq!(pick(&b), "00000000000000aa", "a bad hwaddr is ignored");
        b.hwaddr = Some(Ok(MacAddr([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01])));
        b.datapath_id_request = Some("0000000000000042".into());
        assert_eq!(pick(&b), "0000000000000042", "datapath-id wins");
        b.datapath_id_request = Some("0000000000000000".into());
        assert_eq!(pick(&b), "000002aabbccdd01", "a zero datapath-id is none");
        // Two bridges with one hwaddr: the second gets another id.
        let mut taken = BTreeSet::new();
        let mut c = bridge("br-tun");
        c.hwaddr = b.hwaddr.clone();
        b.datapath_id_request = None;
        let first = datapath_id(&b, &mut taken);
        let second = datapath_id(&c, &mut taken);
        assert_eq!(first, "000002aabbccdd01");
        assert_ne!(second, first);
        assert!(valid_dpid(&second));
    }
}
