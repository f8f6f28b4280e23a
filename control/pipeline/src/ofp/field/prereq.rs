//! What a flow must be before a field means anything in it: OVS's `enum mf_prereqs`
//! and `mf_are_prereqs_ok()` (lib/meta-flow.c), checked on a flow's values (for a match,
//! the bits outside its mask are zero, so a wildcarded `nw_proto` is not 6).

use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::wire::ethertype;
use xvs_dataplane::FlowKey;

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_SCTP: u8 = 132;
const ND_NEIGHBOR_SOLICIT: u16 = 135;
const ND_NEIGHBOR_ADVERT: u16 = 136;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Prerequisite {
    /// OVS's MFP_NONE and MFP_ETHERNET (every xvs packet is Ethernet).
    None,
    /// ARP or RARP.
    Arp,
    Ipv4,
    Ipv6,
    /// IPv4 or IPv6.
    IpAny,
    /// The packet has a VLAN tag (the CFI/present bit of `vlan_tci`).
    VlanVid,
    /// IPv4 or IPv6, `nw_proto` 6.
    Tcp,
    /// IPv4 or IPv6, `nw_proto` 17.
    Udp,
    /// IPv4, `nw_proto` 1.
    Icmpv4,
    /// IPv6, `nw_proto` 58.
    Icmpv6,
    /// ICMPv6 neighbour solicitation or advertisement: type 135 or 136, code 0.
    Nd,
    /// ICMPv6 type 135, code 0.
    NdSolicit,
    /// ICMPv6 type 136, code 0.
    NdAdvert,
    /// What the match keys `nw_src`/`nw_dst` need: IPv4, or ARP/RARP where they are the
    /// ARP protocol addresses (one flow field in OVS).
    Ipv4OrArp,
    /// What the match key `nw_proto` needs: IPv4, IPv6, or ARP/RARP (the opcode).
    NwProtoOrArpOp,
    /// What the match keys `tp_src`/`tp_dst` need: the L4 ports of TCP, UDP or SCTP (or
    /// ICMP type and code) over IPv4 or IPv6, as ovs-ofctl's flow normalization allows.
    L4Ports,
    /// What the match keys `icmp_type`/`icmp_code` need: ICMP over IPv4, or ICMPv6 (they
    /// mean `icmpv6_type`/`icmpv6_code` there, as in ovs-ofctl).
    IcmpAny,
}

fn is_arp(dl_type: u16) -> bool {
    dl_type == ethertype::ARP || dl_type == ethertype::RARP
}

fn is_ip_any(dl_type: u16) -> bool {
    dl_type == ethertype::IPV4 || dl_type == ethertype::IPV6
}

impl Prerequisite {
    /// OVS's `mf_are_prereqs_ok()` on the values of `flow`.
    pub fn satisfied_by(self, flow: &FlowKey) -> bool {
        self.check(flow, &mut FlowKey::default())
    }

    /// [`Self::satisfied_by`], also marking in `consulted` every bit the answer looked at
    /// (as OVS's `mf_are_prereqs_ok()` with a `wc`).
    pub fn check(self, flow: &FlowKey, consulted: &mut FlowKey) -> bool {
        use Prerequisite as P;
        let t = flow.dl_type;
        if self != P::None {
            consulted.dl_type = u16::MAX;
        }
        let proto = |want: &[u8], consulted: &mut FlowKey| {
            consulted.nw_proto = u8::MAX;
            want.contains(&flow.nw_proto)
        };
        match self {
            P::None => true,
            P::Arp => is_arp(t),
            P::Ipv4 => t == ethertype::IPV4,
            P::Ipv6 => t == ethertype::IPV6,
            P::IpAny => is_ip_any(t),
            P::VlanVid => {
                consulted.vlan_tci |= VLAN_PRESENT;
                flow.vlan_tci & VLAN_PRESENT != 0
            }
            P::Tcp => is_ip_any(t) && proto(&[IPPROTO_TCP], consulted),
            P::Udp => is_ip_any(t) && proto(&[IPPROTO_UDP], consulted),
            P::Icmpv4 => t == ethertype::IPV4 && proto(&[IPPROTO_ICMP], consulted),
            P::Icmpv6 => t == ethertype::IPV6 && proto(&[IPPROTO_ICMPV6], consulted),
            P::Nd | P::NdSolicit | P::NdAdvert => {
                if !(t == ethertype::IPV6 && proto(&[IPPROTO_ICMPV6], consulted)) {
                    return false;
                }
                consulted.tp_dst = u16::MAX;
                if flow.tp_dst != 0 {
                    return false;
                }
                consulted.tp_src = u16::MAX;
                match self {
                    P::NdSolicit => flow.tp_src == ND_NEIGHBOR_SOLICIT,
                    P::NdAdvert => flow.tp_src == ND_NEIGHBOR_ADVERT,
                    _ => matches!(flow.tp_src, ND_NEIGHBOR_SOLICIT | ND_NEIGHBOR_ADVERT),
                }
            }
            P::Ipv4OrArp => t == ethertype::IPV4 || is_arp(t),
            P::NwProtoOrArpOp => is_ip_any(t) || is_arp(t),
            P::L4Ports => match t {
                ethertype::IPV4 => proto(
                    &[IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP],
                    consulted,
                ),
                ethertype::IPV6 => proto(
                    &[IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMPV6],
                    consulted,
                ),
                _ => false,
            },
            P::IcmpAny => match t {
                ethertype::IPV4 => proto(&[IPPROTO_ICMP], consulted),
                ethertype::IPV6 => proto(&[IPPROTO_ICMPV6], consulted),
                _ => false,
            },
        }
    }

    /// What a flow must match for it, in ovs-ofctl words.
    pub fn describe(self) -> &'static str {
        use Prerequisite as P;
        match self {
            P::None => "nothing",
            P::Arp => "arp (dl_type=0x0806)",
            P::Ipv4 => "ip (dl_type=0x0800)",
            P::Ipv6 => "ipv6 (dl_type=0x86dd)",
            P::IpAny => "ip or ipv6 (dl_type=0x0800 or 0x86dd)",
            P::VlanVid => "a VLAN tag (vlan_tci with 0x1000 set, e.g. dl_vlan=N)",
            P::Tcp => "tcp or tcp6 (ip or ipv6 with nw_proto=6)",
            P::Udp => "udp or udp6 (ip or ipv6 with nw_proto=17)",
            P::Icmpv4 => "icmp (ip with nw_proto=1)",
            P::Icmpv6 => "icmp6 (ipv6 with nw_proto=58)",
            P::Nd => "icmp6 with icmp_type=135 or 136 and icmp_code=0",
            P::NdSolicit => "icmp6 with icmp_type=135 and icmp_code=0",
            P::NdAdvert => "icmp6 with icmp_type=136 and icmp_code=0",
            P::Ipv4OrArp => "ip or arp (dl_type=0x0800 or 0x0806)",
            P::NwProtoOrArpOp => "ip, ipv6 or arp (dl_type=0x0800, 0x86dd or 0x0806)",
            P::L4Ports => "tcp, udp or sctp (or icmp, icmp6) over ip or ipv6",
            P::IcmpAny => "icmp or icmp6",
        }
    }
}
