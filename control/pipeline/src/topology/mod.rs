//! The switch's shape: bridges and their ports, datapath port numbers, the port index by
//! name, the tunnel ports the workers decapsulate for, and the underlay routes tunnel
//! packets leave by. Translation reads this (as OVS's xlate reads its `xbridge`s and
//! `xport`s) next to the flow state in [`crate::ofproto`]; nothing here knows of flows.

mod bridge;
pub mod mirror;
mod vlan;

pub use bridge::{Bridge, BridgeId, Port, PortConfig, PortKind, TunnelConfig, TunnelKey};
pub use mirror::{BridgeMirrors, Mirror, MirrorConfig, MirrorError, MirrorOut, MirrorOutput};
pub use vlan::{PortVlan, PriorityTags, VlanMode};

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use hashbrown::HashMap;
use xvs_dataplane::tunnel::{TunnelKeyMatch, TunnelMap, TunnelPort};
use xvs_dataplane::{MacAddr, PortNo, TunnelType};

use crate::error::SwitchError;
use crate::ofp::{OfPort, OFPP_LOCAL, OFPP_MAX};

/// How tunnel packets toward one remote leave: the underlay port and its addresses.
/// Resolved by the daemon (routes and neighbours); set by hand in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnderlayRoute {
    pub port: PortNo,
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src_ip: Ipv4Addr,
    /// The underlay netdev's MTU: the largest outer IPv4 packet it carries.
    pub mtu: u16,
}

/// Where a datapath port belongs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DpPortOwner {
    Bridge {
        bridge: BridgeId,
        ofport: OfPort,
    },
    /// A netdev that carries tunnel packets; not part of any bridge.
    Underlay {
        name: String,
    },
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && !name.contains('/')
        && !name.chars().any(char::is_whitespace)
}

pub struct Topology {
    bridges: BTreeMap<BridgeId, Bridge>,
    bridge_by_name: HashMap<String, BridgeId>,
    next_bridge_id: BridgeId,
    dp_ports: HashMap<PortNo, DpPortOwner>,
    /// Port name -> (bridge, ofport), for patch peers and because names are switch-wide.
    port_index: HashMap<String, (BridgeId, OfPort)>,
    next_dp_port: PortNo,
    routes: HashMap<Ipv4Addr, UnderlayRoute>,
    /// Rebuilt on every change of ports, so that neither the slow path nor the workers
    /// build it per packet.
    tunnels: Arc<TunnelMap>,
}

impl Default for Topology {
    fn default() -> Self {
        Self::new()
    }
}

impl Topology {
    pub fn new() -> Self {
        Topology {
            bridges: BTreeMap::new(),
            bridge_by_name: HashMap::new(),
            next_bridge_id: 1,
            dp_ports: HashMap::new(),
            port_index: HashMap::new(),
            next_dp_port: 1,
            routes: HashMap::new(),
            tunnels: Arc::new(TunnelMap::default()),
        }
    }

    // ----- reading -----

    pub fn bridge(&self, name: &str) -> Result<&Bridge, SwitchError> {
        self.bridge_by_name
            .get(name)
            .and_then(|id| self.bridges.get(id))
            .ok_or_else(|| SwitchError::NoSuchBridge(name.to_string()))
    }

    pub fn bridge_by_id(&self, id: BridgeId) -> Option<&Bridge> {
        self.bridges.get(&id)
    }

    pub fn bridges(&self) -> impl Iterator<Item = &Bridge> {
        self.bridges.values()
    }

    /// The bridge and OpenFlow port of a datapath port, if it is a bridge port.
    pub fn dp_port_owner(&self, dp: PortNo) -> Option<(&Bridge, OfPort)> {
        match self.dp_ports.get(&dp)? {
            DpPortOwner::Bridge { bridge, ofport } => Some((self.bridges.get(bridge)?, *ofport)),
            DpPortOwner::Underlay { .. } => None,
        }
    }

    pub fn is_underlay(&self, dp: PortNo) -> bool {
        matches!(self.dp_ports.get(&dp), Some(DpPortOwner::Underlay { .. }))
    }

    pub fn port_by_name(&self, name: &str) -> Option<(&Bridge, OfPort)> {
        let (b, p) = self.port_index.get(name)?;
        Some((self.bridges.get(b)?, *p))
    }

    /// The datapath port number of a bridge port or underlay, by name.
    pub fn dp_port_named(&self, name: &str) -> Option<PortNo> {
        if let Some((b, p)) = self.port_by_name(name) {
            return b.port(p)?.dp_port;
        }
        self.dp_ports.iter().find_map(|(dp, o)| match o {
            DpPortOwner::Underlay { name: n } if n == name => Some(*dp),
            _ => None,
        })
    }

    pub fn dp_port_name(&self, dp: PortNo) -> Option<&str> {
        match self.dp_ports.get(&dp)? {
            DpPortOwner::Bridge { bridge, ofport } => {
                Some(self.bridges.get(bridge)?.port(*ofport)?.name())
            }
            DpPortOwner::Underlay { name } => Some(name),
        }
    }

    /// Every datapath port (bridge ports and underlays) with its name.
    pub fn dp_port_names(&self) -> BTreeMap<PortNo, String> {
        self.dp_ports
            .keys()
            .filter_map(|&dp| Some((dp, self.dp_port_name(dp)?.to_string())))
            .collect()
    }

    pub fn underlay_route(&self, remote: Ipv4Addr) -> Option<&UnderlayRoute> {
        self.routes.get(&remote)
    }

    /// The underlay routes, by remote address.
    pub fn underlay_routes(&self) -> impl Iterator<Item = (Ipv4Addr, &UnderlayRoute)> {
        self.routes.iter().map(|(ip, r)| (*ip, r))
    }

    /// The underlay ports and tunnel ports, as the workers need them to decapsulate.
    pub fn tunnel_map(&self) -> &Arc<TunnelMap> {
        &self.tunnels
    }

    // ----- changing (each returns an error and changes nothing, or changes) -----

    pub fn add_bridge(&mut self, name: &str) -> Result<BridgeId, SwitchError> {
        if !valid_name(name) {
            return Err(SwitchError::BadBridgeName(name.to_string()));
        }
        if self.bridge_by_name.contains_key(name) {
            return Err(SwitchError::BridgeExists(name.to_string()));
        }
        let id = self.next_bridge_id;
        self.next_bridge_id += 1;
        self.bridges.insert(id, Bridge::new(id, name));
        self.bridge_by_name.insert(name.to_string(), id);
        Ok(id)
    }

    pub fn del_bridge(&mut self, name: &str) -> Result<Bridge, SwitchError> {
        let id = self
            .bridge_by_name
            .remove(name)
            .ok_or_else(|| SwitchError::NoSuchBridge(name.to_string()))?;
        let br = self.bridges.remove(&id).expect("index and map agree");
        for port in br.ports.values() {
            self.port_index.remove(port.name());
            if let Some(dp) = port.dp_port {
                self.dp_ports.remove(&dp);
            }
        }
        self.rebuild_tunnel_map();
        Ok(br)
    }

    fn alloc_dp_port(&mut self) -> PortNo {
        while self.dp_ports.contains_key(&self.next_dp_port) {
            self.next_dp_port += 1;
        }
        let dp = self.next_dp_port;
        self.next_dp_port += 1;
        dp
    }

    /// Adds a port; returns its OpenFlow number.
    pub fn add_port(&mut self, bridge: &str, config: PortConfig) -> Result<OfPort, SwitchError> {
        if !valid_name(&config.name) {
            return Err(SwitchError::BadPortOption(format!(
                "port name \"{}\" is not valid: use 1-15 characters, no '/', no whitespace",
                config.name
            )));
        }
        if self.port_index.contains_key(&config.name) || self.dp_port_named(&config.name).is_some()
        {
            return Err(SwitchError::PortExists(config.name));
        }
        check_vlan(&config.vlan)?;
        if let PortKind::Patch { peer } = &config.kind {
            if peer == &config.name {
                return Err(SwitchError::BadPortOption(format!(
                    "patch port \"{peer}\" cannot be its own peer"
                )));
            }
        }
        let br = self.bridge(bridge)?;
        let ofport = match config.ofport {
            // The bridge's own internal port is its LOCAL port, as in OVS.
            Some(OFPP_LOCAL) if config.kind == PortKind::Internal => {
                if let Some(p) = br.port(OFPP_LOCAL) {
                    return Err(SwitchError::OfportInUse {
                        bridge: bridge.to_string(),
                        ofport: OFPP_LOCAL,
                        by: p.name().to_string(),
                    });
                }
                OFPP_LOCAL
            }
            Some(n) if n == 0 || n >= OFPP_MAX => {
                return Err(SwitchError::BadPortOption(format!(
                    "ofport={n}: must be 1..{}",
                    OFPP_MAX - 1
                )));
            }
            Some(n) => {
                if let Some(p) = br.port(n) {
                    return Err(SwitchError::OfportInUse {
                        bridge: bridge.to_string(),
                        ofport: n,
                        by: p.name().to_string(),
                    });
                }
                n
            }
            None => br.free_ofport(),
        };
        let bridge_id = br.id;
        let dp_port = match config.kind {
            PortKind::Patch { .. } => None,
            _ => Some(self.alloc_dp_port()),
        };
        if let Some(dp) = dp_port {
            self.dp_ports.insert(
                dp,
                DpPortOwner::Bridge {
                    bridge: bridge_id,
                    ofport,
                },
            );
        }
        self.port_index
            .insert(config.name.clone(), (bridge_id, ofport));
        let br = self.bridges.get_mut(&bridge_id).expect("just found");
        if ofport < OFPP_MAX {
            br.last_ofport = br.last_ofport.max(ofport);
        }
        br.port_by_name.insert(config.name.clone(), ofport);
        br.ports.insert(
            ofport,
            Port {
                config,
                ofport,
                dp_port,
            },
        );
        let br = self.bridges.get_mut(&bridge_id).expect("just found");
        resolve_mirrors_again(br);
        self.rebuild_tunnel_map();
        Ok(ofport)
    }

    /// Gives a port another VLAN configuration, in place (its OpenFlow and datapath
    /// numbers stay); returns its bridge and OpenFlow number, and whether it changed.
    pub fn set_port_vlan(
        &mut self,
        bridge: &str,
        name: &str,
        vlan: PortVlan,
    ) -> Result<(BridgeId, OfPort, bool), SwitchError> {
        check_vlan(&vlan)?;
        let id = self.bridge(bridge)?.id;
        let br = self.bridges.get_mut(&id).expect("just found");
        let port = br
            .port_by_name
            .get(name)
            .and_then(|of| br.ports.get_mut(of))
            .ok_or_else(|| SwitchError::NoSuchPort {
                bridge: bridge.to_string(),
                port: name.to_string(),
            })?;
        let changed = port.config.vlan != vlan;
        port.config.vlan = vlan;
        Ok((id, port.ofport, changed))
    }

    /// Removes a port; returns it and the bridge it was on.
    pub fn del_port(&mut self, bridge: &str, name: &str) -> Result<(BridgeId, Port), SwitchError> {
        let id = self.bridge(bridge)?.id;
        let br = self.bridges.get_mut(&id).expect("just found");
        let ofport = br
            .port_by_name
            .remove(name)
            .ok_or_else(|| SwitchError::NoSuchPort {
                bridge: bridge.to_string(),
                port: name.to_string(),
            })?;
        let port = br.ports.remove(&ofport).expect("index and map agree");
        self.port_index.remove(name);
        if let Some(dp) = port.dp_port {
            self.dp_ports.remove(&dp);
        }
        resolve_mirrors_again(self.bridges.get_mut(&id).expect("just found"));
        self.rebuild_tunnel_map();
        Ok((id, port))
    }

    /// Gives a bridge its mirrors, as OVS's bridge_configure_mirrors: each is resolved
    /// against the bridge's ports (and again whenever they change). Returns what was
    /// refused or skipped (for the log) and whether the mirrors in effect changed.
    pub fn set_mirrors(
        &mut self,
        bridge: &str,
        configs: Vec<MirrorConfig>,
    ) -> Result<(mirror::Resolved, bool), SwitchError> {
        let id = self.bridge(bridge)?.id;
        let br = self.bridges.get_mut(&id).expect("just found");
        let resolved = resolve_mirrors(br, &configs);
        let changed = br.mirrors.mirrors != resolved.mirrors;
        br.mirrors = BridgeMirrors {
            configs,
            mirrors: resolved.mirrors.clone(),
        };
        Ok((resolved, changed))
    }

    /// Declares a netdev that carries tunnel packets (the underlay); returns its
    /// datapath port.
    pub fn add_underlay(&mut self, name: &str) -> Result<PortNo, SwitchError> {
        if self.dp_port_named(name).is_some() {
            return Err(SwitchError::PortExists(name.to_string()));
        }
        let dp = self.alloc_dp_port();
        self.dp_ports.insert(
            dp,
            DpPortOwner::Underlay {
                name: name.to_string(),
            },
        );
        self.rebuild_tunnel_map();
        Ok(dp)
    }

    /// Stops treating a netdev as an underlay. Routes that leave through it go with it.
    pub fn remove_underlay(&mut self, name: &str) -> Result<PortNo, SwitchError> {
        let dp = self
            .dp_ports
            .iter()
            .find(|(_, o)| matches!(o, DpPortOwner::Underlay { name: n } if n == name))
            .map(|(dp, _)| *dp)
            .ok_or_else(|| SwitchError::NoSuchUnderlay(name.to_string()))?;
        self.dp_ports.remove(&dp);
        self.routes.retain(|_, r| r.port != dp);
        self.rebuild_tunnel_map();
        Ok(dp)
    }

    /// Sets how tunnel packets toward `remote` leave; returns whether that changed
    /// anything (a periodic refresh that changes nothing must not flush the caches).
    pub fn set_underlay_route(&mut self, remote: Ipv4Addr, route: UnderlayRoute) -> bool {
        self.routes.insert(remote, route) != Some(route)
    }

    /// Forgets the route toward `remote`; returns whether there was one.
    pub fn remove_underlay_route(&mut self, remote: Ipv4Addr) -> bool {
        self.routes.remove(&remote).is_some()
    }

    fn rebuild_tunnel_map(&mut self) {
        let mut underlays: Vec<PortNo> = self
            .dp_ports
            .iter()
            .filter(|(_, o)| matches!(o, DpPortOwner::Underlay { .. }))
            .map(|(dp, _)| *dp)
            .collect();
        underlays.sort_unstable();
        let tunnels = self
            .bridges
            .values()
            .flat_map(|b| b.ports.values())
            .filter_map(|p| match (p.config.kind.tunnel(), p.dp_port) {
                (Some((kind, t)), Some(port)) => Some(TunnelPort {
                    kind,
                    remote: t.remote_ip,
                    local: t.local_ip,
                    key: match (t.key, kind) {
                        (TunnelKey::Flow, _) => TunnelKeyMatch::Any,
                        (TunnelKey::Fixed(k), _) => TunnelKeyMatch::Exactly(k),
                        (TunnelKey::None, TunnelType::Gre) => TunnelKeyMatch::NoKey,
                        // A VXLAN header always has a VNI: without a key it is 0.
                        (TunnelKey::None, TunnelType::Vxlan) => TunnelKeyMatch::Exactly(0),
                    },
                    port,
                }),
                _ => None,
            })
            .collect();
        self.tunnels = Arc::new(TunnelMap { underlays, tunnels });
    }
}

/// A port's `tag` and `trunks` are VLAN ids.
fn check_vlan(vlan: &PortVlan) -> Result<(), SwitchError> {
    if let Some(t) = vlan.tag {
        if t > 4095 {
            return Err(SwitchError::BadPortOption(format!(
                "tag={t}: a VLAN id is 0..4095"
            )));
        }
    }
    if let Some(&bad) = vlan.trunks.iter().find(|&&v| v > 4095) {
        return Err(SwitchError::BadPortOption(format!(
            "trunks: {bad} is not a VLAN id (0..4095)"
        )));
    }
    Ok(())
}

/// A bridge's mirrors resolved against its ports as they are now.
fn resolve_mirrors(br: &Bridge, configs: &[MirrorConfig]) -> mirror::Resolved {
    let all: Vec<OfPort> = br.ports.keys().copied().collect();
    mirror::resolve(&br.name, configs, |n| br.port_by_name.get(n).copied(), &all)
}

/// After a port came or went: the mirrors that name it follow (a mirror whose output
/// port went stops, as in OVS, and is back with the port; the bridge layer logs why).
fn resolve_mirrors_again(br: &mut Bridge) {
    if br.mirrors.configs.is_empty() {
        return;
    }
    br.mirrors.mirrors = resolve_mirrors(br, &br.mirrors.configs).mirrors;
}
