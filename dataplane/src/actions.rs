//! Datapath actions: what a translation compiles a packet's fate into.
//!
//! The list is applied in order to one frame. Field writes change the frame for the
//! actions that follow; `Output` and `TunnelOutput` send the frame as it is at that point,
//! so one list can send differently modified copies to several ports (flooding to two
//! tunnels, say) without cloning the frame. The executor lives in [`crate::execute`](mod@crate::execute).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::flow_key::PortNo;
use crate::mac::MacAddr;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DpAction {
    /// Send the frame as it is now out of a port.
    Output(PortNo),
    /// Insert a VLAN tag right after the MAC addresses. `tci` is a
    /// [`FlowKey::vlan_tci`](crate::FlowKey::vlan_tci): PCP and VID; the present bit is
    /// not written (the wire's DEI bit is 0).
    PushVlan {
        tpid: Tpid,
        tci: u16,
    },
    /// Remove the outer VLAN tag, whatever its TPID (0x8100 or 0x88a8).
    PopVlan,
    /// Rewrite PCP and VID of the tag the frame already has, in place: the tag keeps its
    /// TPID (cheaper than pop + push, and the TPID need not be known).
    SetVlan(u16),
    SetEthSrc(MacAddr),
    SetEthDst(MacAddr),
    SetArpOp(u16),
    SetArpSha(MacAddr),
    SetArpTha(MacAddr),
    SetArpSpa(Ipv4Addr),
    SetArpTpa(Ipv4Addr),
    /// Rewrite the IPv4 source address, keeping the header checksum and the TCP or UDP
    /// checksum (whose pseudo-header holds the address) right.
    SetIpv4Src(Ipv4Addr),
    /// Rewrite the IPv4 destination address, as `SetIpv4Src`.
    SetIpv4Dst(Ipv4Addr),
    /// Rewrite the IPv4 DSCP/ECN byte, keeping the header checksum right.
    SetIpv4Tos(u8),
    /// Rewrite the IPv4 TTL, keeping the header checksum right.
    SetIpv4Ttl(u8),
    /// Rewrite the IPv6 source address, keeping the TCP, UDP or ICMPv6 checksum right.
    /// (Addresses are `Ipv6Addr`, alignment 1, so the enum's alignment and size stay
    /// what the cache entries were laid out for.)
    SetIpv6Src(Ipv6Addr),
    /// Rewrite the IPv6 destination address, as `SetIpv6Src` (but, as OVS, without
    /// touching the upper-layer checksum when a routing header with segments left says
    /// this is not the final destination).
    SetIpv6Dst(Ipv6Addr),
    /// Rewrite the IPv6 traffic class (no checksum covers it).
    SetIpv6Tclass(u8),
    /// Rewrite the IPv6 hop limit (no checksum covers it).
    SetIpv6HopLimit(u8),
    /// Rewrite the TCP source or destination port, keeping the TCP checksum right.
    SetTcpSrc(u16),
    SetTcpDst(u16),
    /// Rewrite the UDP source or destination port, keeping a UDP checksum right (a zero
    /// checksum, none, stays zero).
    SetUdpSrc(u16),
    SetUdpDst(u16),
    /// Rewrite the ICMP type or code, keeping the ICMP checksum right.
    SetIcmpType(u8),
    SetIcmpCode(u8),
    /// Rewrite the ICMPv6 type or code, keeping the ICMPv6 checksum right.
    SetIcmpv6Type(u8),
    SetIcmpv6Code(u8),
    /// Rewrite the target of a Neighbour Solicitation or Advertisement, keeping the
    /// ICMPv6 checksum right.
    SetNdTarget(Ipv6Addr),
    /// Rewrite the source link-layer address option of a Neighbour Solicitation or
    /// Advertisement if it is the message's first link-layer address option (OVS's
    /// `packet_set_nd` rewrites only that one), keeping the ICMPv6 checksum right.
    SetNdSll(MacAddr),
    /// The same for the target link-layer address option.
    SetNdTll(MacAddr),
    /// Send a copy of the frame, as it is now, encapsulated in `header`, out of `port`
    /// (the underlay). The frame itself is left as it was for the actions that follow.
    TunnelOutput {
        port: PortNo,
        header: TunnelHeader,
    },
}

/// The TPID of a tag [`DpAction::PushVlan`] inserts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Tpid {
    /// This TPID: 0x8100 (802.1Q) or 0x88a8 (802.1ad).
    Is(u16),
    /// The TPID of the outer tag the frame was received with, which an earlier
    /// [`DpAction::PopVlan`] of the same list removed: the frame leaves again as it came
    /// (NORMAL flooding a tagged frame to an access port, popped, then to a trunk). The
    /// flow key does not hold the TPID, so only the executor knows it; 0x8100 if no pop
    /// came first.
    Received,
}

/// Everything needed to write the outer headers of a tunnel packet, resolved by the
/// control plane (addresses, next-hop MAC) so that the fast path only copies.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TunnelHeader {
    pub kind: TunnelKind,
    /// The underlay netdev's MAC.
    pub eth_src: MacAddr,
    /// The next hop's MAC on the underlay.
    pub eth_dst: MacAddr,
    pub ip_src: Ipv4Addr,
    pub ip_dst: Ipv4Addr,
    pub ttl: u8,
    pub tos: u8,
    pub dont_fragment: bool,
    /// The underlay's MTU: the largest outer IPv4 packet it carries. A tunnel packet
    /// that would be longer is dropped and counted, never truncated or fragmented
    /// (fragmenting in the fast path would cost every packet; OVS drops too).
    pub mtu: u16,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum TunnelKind {
    /// GRE (RFC 2784/2890) carrying Ethernet (protocol 0x6558). `key: Some(k)` sets the K
    /// bit and the 32-bit key field; `csum` sets the C bit and fills in the checksum.
    Gre { key: Option<u32>, csum: bool },
    /// VXLAN (RFC 7348) over UDP to destination port 4789, with the I flag and this
    /// 24-bit `vni` (higher bits are dropped). `src_port` is the UDP source port: it
    /// should vary per inner flow so that ECMP and RSS on the underlay spread the tunnel's
    /// traffic (RFC 7348 suggests a hash of the inner headers, in 49152..=65535); the
    /// control plane chooses it, the fast path only copies it. The UDP checksum is sent
    /// as 0, which RFC 7348 allows over IPv4.
    Vxlan { vni: u32, src_port: u16 },
}

impl TunnelKind {
    /// The encapsulation without its parameters.
    pub const fn tunnel_type(&self) -> TunnelType {
        match self {
            TunnelKind::Gre { .. } => TunnelType::Gre,
            TunnelKind::Vxlan { .. } => TunnelType::Vxlan,
        }
    }
}

/// Which encapsulation a tunnel packet or port uses: GRE-TEB or VXLAN.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum TunnelType {
    #[default]
    Gre,
    Vxlan,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cache entries hold up to four actions inline, next to their counters, in the
    /// lines a hit touches: the L3/L4 rewrites must not make the enum bigger or more
    /// aligned than the tunnel output already makes it.
    #[test]
    fn size_and_alignment() {
        eprintln!(
            "DpAction: {} bytes, align {}; CachedFlow: {} bytes",
            std::mem::size_of::<DpAction>(),
            std::mem::align_of::<DpAction>(),
            std::mem::size_of::<crate::cache::CachedFlow>()
        );
        assert_eq!(std::mem::size_of::<DpAction>(), 44);
        assert_eq!(std::mem::align_of::<DpAction>(), 4);
    }
}
