//! What OVS's meta-flow says about each field (`include/openvswitch/meta-flow.h`,
//! `lib/meta-flow.xml`): its names, its NXM and OXM headers, its width, whether it may
//! be masked and written, what it needs matched first, and how its values are written.

use super::{Field, Prerequisite};

/// How a field's values are written (OVS's `enum mf_string`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ValueFormat {
    Decimal,
    Hexadecimal,
    Ethernet,
    Ipv4,
    Ipv6,
    /// An OpenFlow 1.0 port: a number or a port name.
    OfpPort,
    /// An OpenFlow 1.1+ port number (`in_port_oxm`), shown as the 1.0 port it maps to.
    OfpPortOxm,
}

/// One field's facts, as in OVS's `struct mf_field` (and `struct nxm_field`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FieldInfo {
    /// OVS's `mf->name`: what `set_field:V->NAME` and `learn(NAME=V)` print.
    pub name: &'static str,
    /// Other names a flow may use (OVS's "aka"): `dl_src` for `eth_src`.
    pub aliases: &'static [&'static str],
    /// Nicira extension header (class 0x0000 or 0x0001) and its name, if any.
    pub nxm: Option<(&'static str, u32)>,
    /// OpenFlow 1.2+ header (class 0x8000) and its name, if any.
    pub oxm: Option<(&'static str, u32)>,
    /// Width in bits, as slices (`NAME[a..b]`) count them (OVS's `n_bits`).
    pub n_bits: u32,
    /// Size of a value in bytes, as set_field and the wire carry it (OVS's `n_bytes`).
    pub n_bytes: u32,
    /// The bits a valid value may have (OVS's `mf_is_value_valid`).
    pub valid: u128,
    /// May be matched with an arbitrary bit mask (OVS's `MFM_FULLY`).
    pub maskable: bool,
    /// May be the destination of set_field, load and move (OVS's `mf->writable`).
    pub writable: bool,
    pub prereq: Prerequisite,
    pub format: ValueFormat,
}

const REG_NAMES: [&str; 16] = [
    "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "reg8", "reg9", "reg10",
    "reg11", "reg12", "reg13", "reg14", "reg15",
];
const NXM_REG_NAMES: [&str; 16] = [
    "NXM_NX_REG0",
    "NXM_NX_REG1",
    "NXM_NX_REG2",
    "NXM_NX_REG3",
    "NXM_NX_REG4",
    "NXM_NX_REG5",
    "NXM_NX_REG6",
    "NXM_NX_REG7",
    "NXM_NX_REG8",
    "NXM_NX_REG9",
    "NXM_NX_REG10",
    "NXM_NX_REG11",
    "NXM_NX_REG12",
    "NXM_NX_REG13",
    "NXM_NX_REG14",
    "NXM_NX_REG15",
];

/// An NXM/OXM header without mask: class, field number, payload length in bytes.
pub const fn header(class: u32, field: u32, len: u32) -> u32 {
    (class << 16) | (field << 9) | len
}

const OF: u32 = 0x0000;
const NX: u32 = 0x0001;
const OXM: u32 = 0x8000;

pub const NXM_OF_IN_PORT: u32 = header(OF, 0, 2);
pub const NXM_OF_ETH_DST: u32 = header(OF, 1, 6);
pub const NXM_OF_ETH_SRC: u32 = header(OF, 2, 6);
pub const NXM_OF_ETH_TYPE: u32 = header(OF, 3, 2);
pub const NXM_OF_VLAN_TCI: u32 = header(OF, 4, 2);
pub const NXM_OF_IP_TOS: u32 = header(OF, 5, 1);
pub const NXM_OF_IP_PROTO: u32 = header(OF, 6, 1);
pub const NXM_OF_IP_SRC: u32 = header(OF, 7, 4);
pub const NXM_OF_IP_DST: u32 = header(OF, 8, 4);
pub const NXM_OF_TCP_SRC: u32 = header(OF, 9, 2);
pub const NXM_OF_TCP_DST: u32 = header(OF, 10, 2);
pub const NXM_OF_UDP_SRC: u32 = header(OF, 11, 2);
pub const NXM_OF_UDP_DST: u32 = header(OF, 12, 2);
pub const NXM_OF_ICMP_TYPE: u32 = header(OF, 13, 1);
pub const NXM_OF_ICMP_CODE: u32 = header(OF, 14, 1);
pub const NXM_OF_ARP_OP: u32 = header(OF, 15, 2);
pub const NXM_OF_ARP_SPA: u32 = header(OF, 16, 4);
pub const NXM_OF_ARP_TPA: u32 = header(OF, 17, 4);
/// `NXM_NX_REG0` .. `NXM_NX_REG15`.
pub const fn nxm_nx_reg(n: u32) -> u32 {
    header(NX, n, 4)
}
pub const NXM_NX_TUN_ID: u32 = header(NX, 16, 8);
pub const NXM_NX_ARP_SHA: u32 = header(NX, 17, 6);
pub const NXM_NX_ARP_THA: u32 = header(NX, 18, 6);
pub const NXM_NX_IPV6_SRC: u32 = header(NX, 19, 16);
pub const NXM_NX_IPV6_DST: u32 = header(NX, 20, 16);
pub const NXM_NX_ICMPV6_TYPE: u32 = header(NX, 21, 1);
pub const NXM_NX_ICMPV6_CODE: u32 = header(NX, 22, 1);
pub const NXM_NX_ND_TARGET: u32 = header(NX, 23, 16);
pub const NXM_NX_ND_SLL: u32 = header(NX, 24, 6);
pub const NXM_NX_ND_TLL: u32 = header(NX, 25, 6);
pub const NXM_NX_IP_ECN: u32 = header(NX, 28, 1);
pub const NXM_NX_IP_TTL: u32 = header(NX, 29, 1);

pub const OXM_OF_IN_PORT: u32 = header(OXM, 0, 4);
pub const OXM_OF_METADATA: u32 = header(OXM, 2, 8);
pub const OXM_OF_ETH_DST: u32 = header(OXM, 3, 6);
pub const OXM_OF_ETH_SRC: u32 = header(OXM, 4, 6);
pub const OXM_OF_ETH_TYPE: u32 = header(OXM, 5, 2);
pub const OXM_OF_VLAN_VID: u32 = header(OXM, 6, 2);
pub const OXM_OF_VLAN_PCP: u32 = header(OXM, 7, 1);
pub const OXM_OF_IP_DSCP: u32 = header(OXM, 8, 1);
pub const OXM_OF_IP_ECN: u32 = header(OXM, 9, 1);
pub const OXM_OF_IP_PROTO: u32 = header(OXM, 10, 1);
pub const OXM_OF_IPV4_SRC: u32 = header(OXM, 11, 4);
pub const OXM_OF_IPV4_DST: u32 = header(OXM, 12, 4);
pub const OXM_OF_TCP_SRC: u32 = header(OXM, 13, 2);
pub const OXM_OF_TCP_DST: u32 = header(OXM, 14, 2);
pub const OXM_OF_UDP_SRC: u32 = header(OXM, 15, 2);
pub const OXM_OF_UDP_DST: u32 = header(OXM, 16, 2);
pub const OXM_OF_ICMPV4_TYPE: u32 = header(OXM, 19, 1);
pub const OXM_OF_ICMPV4_CODE: u32 = header(OXM, 20, 1);
pub const OXM_OF_ARP_OP: u32 = header(OXM, 21, 2);
pub const OXM_OF_ARP_SPA: u32 = header(OXM, 22, 4);
pub const OXM_OF_ARP_TPA: u32 = header(OXM, 23, 4);
pub const OXM_OF_ARP_SHA: u32 = header(OXM, 24, 6);
pub const OXM_OF_ARP_THA: u32 = header(OXM, 25, 6);
pub const OXM_OF_IPV6_SRC: u32 = header(OXM, 26, 16);
pub const OXM_OF_IPV6_DST: u32 = header(OXM, 27, 16);
pub const OXM_OF_ICMPV6_TYPE: u32 = header(OXM, 29, 1);
pub const OXM_OF_ICMPV6_CODE: u32 = header(OXM, 30, 1);
pub const OXM_OF_IPV6_ND_TARGET: u32 = header(OXM, 31, 16);
pub const OXM_OF_IPV6_ND_SLL: u32 = header(OXM, 32, 6);
pub const OXM_OF_IPV6_ND_TLL: u32 = header(OXM, 33, 6);
pub const OXM_OF_TUNNEL_ID: u32 = header(OXM, 38, 8);

/// The same header with the has-mask bit set and the length doubled (`NXM_OF_ETH_DST_W`).
pub const fn masked_header(h: u32) -> u32 {
    (h & !0x1ff) | 0x100 | ((h & 0xff) * 2)
}

const fn ones(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

#[allow(clippy::too_many_arguments)]
const fn info(
    name: &'static str,
    aliases: &'static [&'static str],
    nxm: Option<(&'static str, u32)>,
    oxm: Option<(&'static str, u32)>,
    n_bits: u32,
    n_bytes: u32,
    maskable: bool,
    writable: bool,
    prereq: Prerequisite,
    format: ValueFormat,
) -> FieldInfo {
    FieldInfo {
        name,
        aliases,
        nxm,
        oxm,
        n_bits,
        n_bytes,
        valid: ones(n_bytes * 8),
        maskable,
        writable,
        prereq,
        format,
    }
}

impl Field {
    /// Everything OVS's meta-flow says about the field.
    #[rustfmt::skip]
    pub const fn info(self) -> FieldInfo {
        use Prerequisite as P;
        use ValueFormat::*;
        match self {
            Field::InPort => FieldInfo {
                valid: 0xffff,
                ..info("in_port", &[], Some(("NXM_OF_IN_PORT", NXM_OF_IN_PORT)), None, 16, 2, false, true, P::None, OfpPort)
            },
            Field::InPortOxm => info("in_port_oxm", &[], None, Some(("OXM_OF_IN_PORT", OXM_OF_IN_PORT)), 32, 4, false, true, P::None, OfpPortOxm),
            Field::TunId => info("tun_id", &["tunnel_id"], Some(("NXM_NX_TUN_ID", NXM_NX_TUN_ID)), Some(("OXM_OF_TUNNEL_ID", OXM_OF_TUNNEL_ID)), 64, 8, true, true, P::None, Hexadecimal),
            Field::Metadata => info("metadata", &[], None, Some(("OXM_OF_METADATA", OXM_OF_METADATA)), 64, 8, true, true, P::None, Hexadecimal),
            Field::Reg(n) => {
                let n = (n & 15) as usize;
                info(REG_NAMES[n], &[], Some((NXM_REG_NAMES[n], nxm_nx_reg(n as u32))), None, 32, 4, true, true, P::None, Hexadecimal)
            }
            Field::DlSrc => info("eth_src", &["dl_src"], Some(("NXM_OF_ETH_SRC", NXM_OF_ETH_SRC)), Some(("OXM_OF_ETH_SRC", OXM_OF_ETH_SRC)), 48, 6, true, true, P::None, Ethernet),
            Field::DlDst => info("eth_dst", &["dl_dst"], Some(("NXM_OF_ETH_DST", NXM_OF_ETH_DST)), Some(("OXM_OF_ETH_DST", OXM_OF_ETH_DST)), 48, 6, true, true, P::None, Ethernet),
            Field::DlType => info("eth_type", &["dl_type"], Some(("NXM_OF_ETH_TYPE", NXM_OF_ETH_TYPE)), Some(("OXM_OF_ETH_TYPE", OXM_OF_ETH_TYPE)), 16, 2, false, false, P::None, Hexadecimal),
            Field::VlanTci => info("vlan_tci", &[], Some(("NXM_OF_VLAN_TCI", NXM_OF_VLAN_TCI)), None, 16, 2, true, true, P::None, Hexadecimal),
            Field::DlVlan => FieldInfo {
                valid: 0x0fff,
                ..info("dl_vlan", &[], None, None, 12, 2, false, true, P::None, Decimal)
            },
            Field::VlanVid => FieldInfo {
                valid: 0x1fff,
                ..info("vlan_vid", &[], None, Some(("OXM_OF_VLAN_VID", OXM_OF_VLAN_VID)), 12, 2, true, true, P::None, Decimal)
            },
            Field::DlVlanPcp => FieldInfo {
                valid: 7,
                ..info("dl_vlan_pcp", &[], None, None, 3, 1, false, true, P::None, Decimal)
            },
            Field::VlanPcp => FieldInfo {
                valid: 7,
                ..info("vlan_pcp", &[], None, Some(("OXM_OF_VLAN_PCP", OXM_OF_VLAN_PCP)), 3, 1, false, true, P::VlanVid, Decimal)
            },
            Field::NwSrc => info("ip_src", &["nw_src"], Some(("NXM_OF_IP_SRC", NXM_OF_IP_SRC)), Some(("OXM_OF_IPV4_SRC", OXM_OF_IPV4_SRC)), 32, 4, true, true, P::Ipv4, Ipv4),
            Field::NwDst => info("ip_dst", &["nw_dst"], Some(("NXM_OF_IP_DST", NXM_OF_IP_DST)), Some(("OXM_OF_IPV4_DST", OXM_OF_IPV4_DST)), 32, 4, true, true, P::Ipv4, Ipv4),
            Field::Ipv6Src => info("ipv6_src", &[], Some(("NXM_NX_IPV6_SRC", NXM_NX_IPV6_SRC)), Some(("OXM_OF_IPV6_SRC", OXM_OF_IPV6_SRC)), 128, 16, true, true, P::Ipv6, Ipv6),
            Field::Ipv6Dst => info("ipv6_dst", &[], Some(("NXM_NX_IPV6_DST", NXM_NX_IPV6_DST)), Some(("OXM_OF_IPV6_DST", OXM_OF_IPV6_DST)), 128, 16, true, true, P::Ipv6, Ipv6),
            Field::NwProto => info("nw_proto", &["ip_proto"], Some(("NXM_OF_IP_PROTO", NXM_OF_IP_PROTO)), Some(("OXM_OF_IP_PROTO", OXM_OF_IP_PROTO)), 8, 1, false, false, P::IpAny, Decimal),
            Field::NwTos => FieldInfo {
                valid: 0xfc,
                ..info("nw_tos", &[], Some(("NXM_OF_IP_TOS", NXM_OF_IP_TOS)), None, 8, 1, false, true, P::IpAny, Decimal)
            },
            Field::IpDscp => FieldInfo {
                valid: 0x3f,
                ..info("ip_dscp", &[], None, Some(("OXM_OF_IP_DSCP", OXM_OF_IP_DSCP)), 6, 1, false, true, P::IpAny, Decimal)
            },
            Field::NwEcn => FieldInfo {
                valid: 3,
                ..info("nw_ecn", &["ip_ecn"], Some(("NXM_NX_IP_ECN", NXM_NX_IP_ECN)), Some(("OXM_OF_IP_ECN", OXM_OF_IP_ECN)), 2, 1, false, true, P::IpAny, Decimal)
            },
            Field::NwTtl => info("nw_ttl", &[], Some(("NXM_NX_IP_TTL", NXM_NX_IP_TTL)), None, 8, 1, false, true, P::IpAny, Decimal),
            Field::ArpOp => FieldInfo {
                valid: 0xff,
                ..info("arp_op", &[], Some(("NXM_OF_ARP_OP", NXM_OF_ARP_OP)), Some(("OXM_OF_ARP_OP", OXM_OF_ARP_OP)), 16, 2, false, true, P::Arp, Decimal)
            },
            Field::ArpSpa => info("arp_spa", &[], Some(("NXM_OF_ARP_SPA", NXM_OF_ARP_SPA)), Some(("OXM_OF_ARP_SPA", OXM_OF_ARP_SPA)), 32, 4, true, true, P::Arp, Ipv4),
            Field::ArpTpa => info("arp_tpa", &[], Some(("NXM_OF_ARP_TPA", NXM_OF_ARP_TPA)), Some(("OXM_OF_ARP_TPA", OXM_OF_ARP_TPA)), 32, 4, true, true, P::Arp, Ipv4),
            Field::ArpSha => info("arp_sha", &[], Some(("NXM_NX_ARP_SHA", NXM_NX_ARP_SHA)), Some(("OXM_OF_ARP_SHA", OXM_OF_ARP_SHA)), 48, 6, true, true, P::Arp, Ethernet),
            Field::ArpTha => info("arp_tha", &[], Some(("NXM_NX_ARP_THA", NXM_NX_ARP_THA)), Some(("OXM_OF_ARP_THA", OXM_OF_ARP_THA)), 48, 6, true, true, P::Arp, Ethernet),
            Field::TcpSrc => info("tcp_src", &["tp_src"], Some(("NXM_OF_TCP_SRC", NXM_OF_TCP_SRC)), Some(("OXM_OF_TCP_SRC", OXM_OF_TCP_SRC)), 16, 2, true, true, P::Tcp, Decimal),
            Field::TcpDst => info("tcp_dst", &["tp_dst"], Some(("NXM_OF_TCP_DST", NXM_OF_TCP_DST)), Some(("OXM_OF_TCP_DST", OXM_OF_TCP_DST)), 16, 2, true, true, P::Tcp, Decimal),
            Field::UdpSrc => info("udp_src", &[], Some(("NXM_OF_UDP_SRC", NXM_OF_UDP_SRC)), Some(("OXM_OF_UDP_SRC", OXM_OF_UDP_SRC)), 16, 2, true, true, P::Udp, Decimal),
            Field::UdpDst => info("udp_dst", &[], Some(("NXM_OF_UDP_DST", NXM_OF_UDP_DST)), Some(("OXM_OF_UDP_DST", OXM_OF_UDP_DST)), 16, 2, true, true, P::Udp, Decimal),
            Field::Icmpv4Type => info("icmp_type", &[], Some(("NXM_OF_ICMP_TYPE", NXM_OF_ICMP_TYPE)), Some(("OXM_OF_ICMPV4_TYPE", OXM_OF_ICMPV4_TYPE)), 8, 1, false, true, P::Icmpv4, Decimal),
            Field::Icmpv4Code => info("icmp_code", &[], Some(("NXM_OF_ICMP_CODE", NXM_OF_ICMP_CODE)), Some(("OXM_OF_ICMPV4_CODE", OXM_OF_ICMPV4_CODE)), 8, 1, false, true, P::Icmpv4, Decimal),
            Field::Icmpv6Type => info("icmpv6_type", &[], Some(("NXM_NX_ICMPV6_TYPE", NXM_NX_ICMPV6_TYPE)), Some(("OXM_OF_ICMPV6_TYPE", OXM_OF_ICMPV6_TYPE)), 8, 1, false, true, P::Icmpv6, Decimal),
            Field::Icmpv6Code => info("icmpv6_code", &[], Some(("NXM_NX_ICMPV6_CODE", NXM_NX_ICMPV6_CODE)), Some(("OXM_OF_ICMPV6_CODE", OXM_OF_ICMPV6_CODE)), 8, 1, false, true, P::Icmpv6, Decimal),
            Field::NdTarget => info("nd_target", &[], Some(("NXM_NX_ND_TARGET", NXM_NX_ND_TARGET)), Some(("OXM_OF_IPV6_ND_TARGET", OXM_OF_IPV6_ND_TARGET)), 128, 16, true, true, P::Nd, Ipv6),
            Field::NdSll => info("nd_sll", &[], Some(("NXM_NX_ND_SLL", NXM_NX_ND_SLL)), Some(("OXM_OF_IPV6_ND_SLL", OXM_OF_IPV6_ND_SLL)), 48, 6, true, true, P::NdSolicit, Ethernet),
            Field::NdTll => info("nd_tll", &[], Some(("NXM_NX_ND_TLL", NXM_NX_ND_TLL)), Some(("OXM_OF_IPV6_ND_TLL", OXM_OF_IPV6_ND_TLL)), 48, 6, true, true, P::NdAdvert, Ethernet),
        }
    }
}
