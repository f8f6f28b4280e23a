//! What a measurement offers and expects: the generator's flows, and what must reach the
//! sink after the switch.

use std::net::Ipv4Addr;

use crate::traffic::{Encap, Endpoints, Expectation, FlowSet, GreTunnel, TunnelKeys, VlanEdit};

use super::Topology;

/// The switch's local tunnel address (on `sw_out`) and the remote behind the sink.
pub const LOCAL_TUNNEL_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 254);
pub const REMOTE_TUNNEL_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 253);
/// The tenant network's tunnel id (the Folsom guide's network A) and its local VLAN.
pub const TUNNEL_ID: u32 = 0x3e7;
pub const LOCAL_VLAN: u16 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// br-int between two access ports (tag 1). One flow: NORMAL; more: one exact
    /// `in_port,dl_dst -> output` flow per destination MAC (as the OVS peer is set up).
    L2 { flows: u32 },
    /// VM port -> br-int (tag 1) -> patch -> br-tun (Folsom flows) -> GRE key 0x3e7 out
    /// of the underlay; the sink is the remote node.
    GreEncap { flows: u32 },
    /// GRE from the remote (key 0x3e7 + flow) into the underlay -> br-tun (one
    /// `tun_id -> mod_vlan_vid:1,output:patch-int` flow per key) -> br-int -> the VM port,
    /// untagged.
    GreDecap { flows: u32 },
    /// A flow-setup storm: as `L2` with many exact flows, but the switch's flow cache
    /// keeps its default size (200,000 entries, like OVS's flow limit), so with more
    /// flows than that nearly every packet is a miss.
    Miss { flows: u32 },
}

impl Scenario {
    pub fn name(&self) -> String {
        match self {
            Scenario::L2 { flows } => format!("l2-{flows}"),
            Scenario::GreEncap { flows } => format!("gre-encap-{flows}"),
            Scenario::GreDecap { flows } => format!("gre-decap-{flows}"),
            Scenario::Miss { flows } => format!("miss-{flows}"),
        }
    }

    pub fn flows(&self) -> u32 {
        match *self {
            Scenario::L2 { flows }
            | Scenario::GreEncap { flows }
            | Scenario::GreDecap { flows }
            | Scenario::Miss { flows } => flows,
        }
    }

    /// The generator's frames (64 bytes) from the generator's interface.
    pub fn flow_set(&self, topo: &Topology, frame_len: usize) -> Result<FlowSet, String> {
        let endpoints = Endpoints {
            src_mac: topo.gen_mac,
            ..Endpoints::default()
        };
        let encap = match self {
            Scenario::GreDecap { .. } => Encap::Gre(self.decap_tunnel(topo)),
            _ => Encap::Untagged,
        };
        // A GRE frame carries 42 bytes of outer headers around a minimum-size frame.
        let frame_len = match self {
            Scenario::GreDecap { .. } => frame_len.max(60 + 42),
            _ => frame_len,
        };
        FlowSet::with_endpoints(frame_len, self.flows(), encap, endpoints)
            .map_err(|e| e.to_string())
    }

    /// The remote node's GRE toward the switch's underlay (`sw_in`) in `GreDecap`.
    pub fn decap_tunnel(&self, topo: &Topology) -> GreTunnel {
        GreTunnel {
            src_mac: topo.gen_mac,
            dst_mac: topo.sw_in_mac,
            src_ip: REMOTE_TUNNEL_IP,
            dst_ip: LOCAL_TUNNEL_IP,
            key_base: TUNNEL_ID,
        }
    }

    /// What must reach the sink.
    pub fn expectation(&self, topo: &Topology) -> Expectation {
        match self {
            Scenario::L2 { .. } | Scenario::Miss { .. } => Expectation::Same,
            Scenario::GreDecap { .. } => Expectation::GreDecap {
                vlan: VlanEdit::Strip,
            },
            // The Folsom br-tun flows leave the local VLAN tag on the inner frame.
            Scenario::GreEncap { .. } => Expectation::GreEncap {
                tunnel: GreTunnel {
                    src_mac: topo.sw_out_mac,
                    dst_mac: topo.sink_mac,
                    src_ip: LOCAL_TUNNEL_IP,
                    dst_ip: REMOTE_TUNNEL_IP,
                    key_base: TUNNEL_ID,
                },
                keys: TunnelKeys::Fixed,
                vlan: VlanEdit::Set(LOCAL_VLAN),
            },
        }
    }

    /// The exact per-destination flows of an L2 scenario with many flows, in ovs-ofctl
    /// syntax, with the ports named.
    pub fn l2_exact_flows(&self, flows: &FlowSet, in_port: &str, out_port: &str) -> Vec<String> {
        (0..flows.flows())
            .map(|i| {
                let m = flows.dst_mac(i);
                format!(
                    "priority=10,in_port={in_port},dl_dst={:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} actions=output:{out_port}",
                    m[0], m[1], m[2], m[3], m[4], m[5]
                )
            })
            .collect()
    }
}

/// The Folsom guide's br-tun table 0 on the sending node, toward one GRE port.
pub fn folsom_brtun_flows(patch: &str, gre: &str) -> Vec<String> {
    vec![
        format!("priority=4,in_port={patch},dl_vlan={LOCAL_VLAN} actions=set_tunnel:{TUNNEL_ID:#x},output:{gre}"),
        "priority=1 actions=drop".to_string(),
    ]
}

/// br-tun flows on the receiving node of `GreDecap`: tunnel id `TUNNEL_ID + i` to the
/// local VLAN, toward br-int.
pub fn decap_brtun_flows(flows: u32, patch: &str) -> Vec<String> {
    let mut v: Vec<String> = (0..flows)
        .map(|i| {
            format!(
                "priority=3,tun_id={:#x} actions=mod_vlan_vid:{LOCAL_VLAN},output:{patch}",
                TUNNEL_ID + i
            )
        })
        .collect();
    v.push("priority=1 actions=drop".to_string());
    v
}
