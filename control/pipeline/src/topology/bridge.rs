//! A bridge's shape: its ports, as `ovs-vsctl` configures them. Its flow tables and MAC
//! table are flow state, kept apart in [`crate::ofproto`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use hashbrown::HashMap;
use xvs_dataplane::{PortNo, TunnelType};

use super::mirror::BridgeMirrors;
use super::vlan::PortVlan;
use crate::ofp::{OfPort, PortNames, OFPP_MAX};

/// A switch-wide bridge handle (bridge names can be reused after `del-br`; ids are not).
pub type BridgeId = u32;

/// What a tunnel port puts in the key field of the packets it sends, and accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelKey {
    /// `key=flow`: the flow's `tun_id` (set by `set_tunnel`) goes out; any key comes in
    /// and becomes `tun_id`.
    Flow,
    /// `key=N`: always N out; only N comes in.
    Fixed(u32),
    /// No `key` option: packets carry no key field, and only keyless ones come in.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TunnelConfig {
    pub remote_ip: Ipv4Addr,
    /// The local address (`local_ip=`); `None` lets the route to the remote decide.
    pub local_ip: Option<Ipv4Addr>,
    pub key: TunnelKey,
    /// `csum=true`: send GRE checksums.
    pub csum: bool,
}

impl TunnelConfig {
    /// What the OVS agent creates: `key=flow` between two addresses, no checksums.
    pub fn gre_key_flow(local_ip: Ipv4Addr, remote_ip: Ipv4Addr) -> Self {
        TunnelConfig {
            remote_ip,
            local_ip: Some(local_ip),
            key: TunnelKey::Flow,
            csum: false,
        }
    }

    /// What today's Neutron agent creates for VXLAN: the same, the key being the VNI.
    pub fn vxlan_key_flow(local_ip: Ipv4Addr, remote_ip: Ipv4Addr) -> Self {
        Self::gre_key_flow(local_ip, remote_ip)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// A netdev of that name (a NIC, a veth, a tap).
    Netdev,
    /// A port backed by a device the switch creates (the bridge's own interface).
    Internal,
    /// One end of a patch pair; `peer` names the port at the other end (in another bridge).
    Patch { peer: String },
    /// GRE carrying Ethernet (`type=gre`), the Folsom-era OVS agent's tunnels.
    Gre(TunnelConfig),
    /// VXLAN over UDP port 4789 (`type=vxlan`), today's Neutron default; the key is the VNI.
    Vxlan(TunnelConfig),
}

impl PortKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            PortKind::Netdev => "system",
            PortKind::Internal => "internal",
            PortKind::Patch { .. } => "patch",
            PortKind::Gre(_) => "gre",
            PortKind::Vxlan(_) => "vxlan",
        }
    }

    /// The encapsulation and configuration of a tunnel port.
    pub fn tunnel(&self) -> Option<(TunnelType, &TunnelConfig)> {
        match self {
            PortKind::Gre(t) => Some((TunnelType::Gre, t)),
            PortKind::Vxlan(t) => Some((TunnelType::Vxlan, t)),
            _ => None,
        }
    }
}

/// A port as `add-port` asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    pub name: String,
    pub kind: PortKind,
    /// What NORMAL does with VLANs here (`tag`, `trunks`, `vlan_mode`, `priority-tags`).
    pub vlan: PortVlan,
    /// `ofport=N` (`ofport_request` in OVS): the OpenFlow number to use.
    pub ofport: Option<OfPort>,
}

impl PortConfig {
    pub fn new(name: &str, kind: PortKind) -> Self {
        PortConfig {
            name: name.to_string(),
            kind,
            vlan: PortVlan::default(),
            ofport: None,
        }
    }

    /// An access port in `vlan`.
    pub fn tag(mut self, vlan: u16) -> Self {
        self.vlan = PortVlan::access(vlan);
        self
    }

    pub fn ofport(mut self, n: OfPort) -> Self {
        self.ofport = Some(n);
        self
    }
}

#[derive(Clone, Debug)]
pub struct Port {
    pub config: PortConfig,
    pub ofport: OfPort,
    /// The datapath port; patch ports have none.
    pub dp_port: Option<PortNo>,
}

impl Port {
    pub fn name(&self) -> &str {
        &self.config.name
    }
}

pub struct Bridge {
    pub id: BridgeId,
    pub name: String,
    pub ports: BTreeMap<OfPort, Port>,
    pub port_by_name: HashMap<String, OfPort>,
    /// The highest OpenFlow number handed out: new ports get the next one, so a number
    /// a flow may still name is not given to another port soon (as OVS does).
    pub last_ofport: OfPort,
    /// Its mirrors (the `Mirror` rows of `Bridge.mirrors`), resolved against its ports.
    pub mirrors: BridgeMirrors,
}

impl Bridge {
    pub fn new(id: BridgeId, name: &str) -> Self {
        Bridge {
            id,
            name: name.to_string(),
            ports: BTreeMap::new(),
            port_by_name: HashMap::new(),
            last_ofport: 0,
            mirrors: BridgeMirrors::default(),
        }
    }

    pub fn port(&self, ofport: OfPort) -> Option<&Port> {
        self.ports.get(&ofport)
    }

    pub fn port_named(&self, name: &str) -> Option<&Port> {
        self.port_by_name.get(name).and_then(|n| self.ports.get(n))
    }

    /// The OpenFlow number for a new port: the one after the highest handed out, or,
    /// once numbers run out, the lowest free one.
    pub fn free_ofport(&self) -> OfPort {
        (self.last_ofport + 1..OFPP_MAX)
            .chain(1..OFPP_MAX)
            .find(|n| !self.ports.contains_key(n))
            .expect("fewer ports than OpenFlow numbers")
    }
}

impl PortNames for Bridge {
    fn port_no(&self, name: &str) -> Option<OfPort> {
        self.port_by_name.get(name).copied()
    }

    fn port_name(&self, no: OfPort) -> Option<&str> {
        self.ports.get(&no).map(|p| p.name())
    }
}
