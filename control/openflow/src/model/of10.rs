//! OpenFlow 1.0's `ofp10_match` and the flow model's [`Match`], both ways, as OVS's
//! lib/ofp-match.c: `ofputil_match_from_ofp10_match()` (wildcard bits, IP prefix
//! lengths, `dl_vlan` 0xffff for "no tag"), `ofputil_normalize_match()` (a field
//! its protocol does not have is dropped, as OVS does for OpenFlow 1.0 flow mods)
//! and `ofputil_match_to_ofp10_match()` (what a 1.0 match can say of a flow).

use xvs_dataplane::flow_key::{VLAN_PCP_MASK, VLAN_PRESENT, VLAN_VID_MASK};
use xvs_dataplane::wire::ethertype;
use xvs_dataplane::{FlowKey, MacAddr};
use xvs_pipeline::ofp::field::Field;
use xvs_pipeline::ofp::Match;

use crate::of10_match::{ofpfw10, Of10Match, OFP10_VLAN_NONE};

/// OVS's `ofputil_wcbits_to_netmask()`: the netmask of a wildcard bit count.
fn netmask(wcbits: u32) -> u32 {
    let wcbits = wcbits & 0x3f;
    if wcbits < 32 {
        !((1u32 << wcbits) - 1)
    } else {
        0
    }
}

/// OVS's `ofputil_netmask_to_wcbits()`: 32 minus the netmask's CIDR length (the
/// count of its trailing zero bits decides, as `ip_count_cidr_bits()`).
fn wcbits(mask: u32) -> u32 {
    mask.trailing_zeros().min(32)
}

/// The match of an `ofp10_match` (OVS's `ofputil_match_from_ofp10_match()`), not
/// normalized: what a flow stats request selects with.
pub fn decode_of10(om: &Of10Match) -> Match {
    let w = om.wildcards & ofpfw10::ALL;
    let mut m = Match::default();
    let exact = |m: &mut Match, bit: u32, f: Field, v: u128| {
        if w & bit == 0 {
            m.set_exact(f, v);
        }
    };
    exact(&mut m, ofpfw10::IN_PORT, Field::InPort, om.in_port.into());
    exact(
        &mut m,
        ofpfw10::NW_TOS,
        Field::NwTos,
        (om.nw_tos & 0xfc).into(),
    );
    exact(
        &mut m,
        ofpfw10::NW_PROTO,
        Field::NwProto,
        om.nw_proto.into(),
    );
    let src = netmask(w >> ofpfw10::NW_SRC_SHIFT);
    if src != 0 {
        m.set_field(Field::NwSrc, om.nw_src.into(), src.into());
    }
    let dst = netmask(w >> ofpfw10::NW_DST_SHIFT);
    if dst != 0 {
        m.set_field(Field::NwDst, om.nw_dst.into(), dst.into());
    }
    exact(&mut m, ofpfw10::TP_SRC, Field::TcpSrc, om.tp_src.into());
    exact(&mut m, ofpfw10::TP_DST, Field::TcpDst, om.tp_dst.into());
    exact(
        &mut m,
        ofpfw10::DL_SRC,
        Field::DlSrc,
        MacAddr(om.dl_src).to_u64().into(),
    );
    exact(
        &mut m,
        ofpfw10::DL_DST,
        Field::DlDst,
        MacAddr(om.dl_dst).to_u64().into(),
    );
    exact(&mut m, ofpfw10::DL_TYPE, Field::DlType, om.dl_type.into());
    let mut tci_mask = 0u16;
    if w & ofpfw10::DL_VLAN_PCP == 0 {
        tci_mask |= VLAN_PCP_MASK | VLAN_PRESENT;
    }
    if w & ofpfw10::DL_VLAN == 0 {
        tci_mask |= VLAN_VID_MASK | VLAN_PRESENT;
    }
    if w & ofpfw10::DL_VLAN == 0 && om.dl_vlan == OFP10_VLAN_NONE {
        // Only packets without a tag (also with a PCP given, as older OVS did).
        m.set_field(Field::VlanTci, 0, 0xffff);
    } else if tci_mask != 0 {
        let pcp = (u16::from(om.dl_vlan_pcp) << 13) & VLAN_PCP_MASK;
        let tci = (om.dl_vlan & VLAN_VID_MASK) | pcp | VLAN_PRESENT;
        m.set_field(Field::VlanTci, (tci & tci_mask).into(), tci_mask.into());
    }
    m
}

/// OVS's `ofputil_normalize_match()`: the fields the match's protocols do not have
/// are wildcarded (an ARP flow has no TOS, an IPv4 flow no IPv6 address, a flow of
/// an unknown L4 protocol no ports).
pub fn normalize(m: &mut Match) {
    let v = m.value;
    let k = &mut m.mask;
    let (mut nw_addr, mut tp, mut nw_proto, mut ipvx) = (false, false, false, false);
    let (mut sha, mut tha, mut ipv6, mut nd) = (false, false, false, false);
    match v.dl_type {
        ethertype::IPV4 => {
            (nw_proto, ipvx, nw_addr) = (true, true, true);
            tp = matches!(v.nw_proto, 6 | 17 | 132 | 1);
        }
        ethertype::IPV6 => {
            (nw_proto, ipvx, ipv6) = (true, true, true);
            tp = matches!(v.nw_proto, 6 | 17 | 132 | 58);
            if v.nw_proto == 58 {
                nd = matches!(v.tp_src, 135 | 136);
                sha = v.tp_src == 135;
                tha = v.tp_src == 136;
            }
        }
        ethertype::ARP | ethertype::RARP => {
            (nw_proto, nw_addr, sha, tha) = (true, true, true, true);
        }
        _ => {}
    }
    if !nw_addr {
        (k.nw_src, k.nw_dst) = (0, 0);
    }
    if !tp {
        (k.tp_src, k.tp_dst) = (0, 0);
    }
    if !nw_proto {
        k.nw_proto = 0;
    }
    if !ipvx {
        (k.nw_tos, k.nw_ttl) = (0, 0);
    }
    if !sha {
        k.arp_sha = MacAddr::ZERO;
    }
    if !tha {
        k.arp_tha = MacAddr::ZERO;
    }
    if !ipv6 {
        (k.ipv6_src, k.ipv6_dst) = (0, 0);
    }
    if !nd {
        k.nd_target = 0;
    }
    m.value = m.value.masked(&m.mask);
}

/// The `ofp10_match` OVS writes for `m` (`ofputil_match_to_ofp10_match()`): what
/// OpenFlow 1.0 cannot say (tunnel ids, registers, IPv6, ...) is left out.
pub fn encode_of10(m: &Match) -> Of10Match {
    let (v, k): (&FlowKey, &FlowKey) = (&m.value, &m.mask);
    let mut w = 0u32;
    let mut wild = |cond: bool, bit: u32| {
        if cond {
            w |= bit;
        }
    };
    wild(k.in_port == 0, ofpfw10::IN_PORT);
    wild(k.dl_type == 0, ofpfw10::DL_TYPE);
    wild(k.nw_proto == 0, ofpfw10::NW_PROTO);
    wild(k.nw_tos & 0xfc == 0, ofpfw10::NW_TOS);
    wild(k.tp_src == 0, ofpfw10::TP_SRC);
    wild(k.tp_dst == 0, ofpfw10::TP_DST);
    wild(k.dl_src == MacAddr::ZERO, ofpfw10::DL_SRC);
    wild(k.dl_dst == MacAddr::ZERO, ofpfw10::DL_DST);
    w |= wcbits(k.nw_src) << ofpfw10::NW_SRC_SHIFT;
    w |= wcbits(k.nw_dst) << ofpfw10::NW_DST_SHIFT;
    let (mut dl_vlan, mut dl_vlan_pcp) = (0u16, 0u8);
    let (tci, tmask) = (v.vlan_tci, k.vlan_tci);
    if tmask == 0 {
        w |= ofpfw10::DL_VLAN | ofpfw10::DL_VLAN_PCP;
    } else if tmask & VLAN_PRESENT != 0 && tci & VLAN_PRESENT == 0 {
        dl_vlan = OFP10_VLAN_NONE;
    } else {
        if tmask & VLAN_VID_MASK == 0 {
            w |= ofpfw10::DL_VLAN;
        } else {
            dl_vlan = tci & VLAN_VID_MASK;
        }
        if tmask & VLAN_PCP_MASK == 0 {
            w |= ofpfw10::DL_VLAN_PCP;
        } else {
            dl_vlan_pcp = (tci >> 13) as u8;
        }
    }
    Of10Match {
        wildcards: w,
        in_port: v.in_port as u16,
        dl_src: v.dl_src.0,
        dl_dst: v.dl_dst.0,
        dl_vlan,
        dl_vlan_pcp,
        dl_type: v.dl_type,
        nw_tos: v.nw_tos & 0xfc,
        nw_proto: v.nw_proto,
        nw_src: v.nw_src,
        nw_dst: v.nw_dst,
        tp_src: v.tp_src,
        tp_dst: v.tp_dst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_vlans_as_ovs() {
        assert_eq!(netmask(8), 0xffff_ff00);
        assert_eq!(netmask(32), 0);
        assert_eq!(netmask(63), 0);
        assert_eq!(wcbits(0xffff_ff00), 8);
        assert_eq!(wcbits(0), 32);
        // ovs-ofctl's 'ip,nw_src=10.0.0.0/8,...': wildcards 0x3818ef.
        let mut om = Of10Match::all();
        om.wildcards = 0x0038_18ef;
        om.dl_type = 0x0800;
        om.nw_src = 0x0a00_0000;
        let m = decode_of10(&om);
        assert_eq!((m.value.nw_src, m.mask.nw_src), (0x0a00_0000, 0xff00_0000));
        assert_eq!(encode_of10(&m), om);
        // dl_vlan 0xffff: no tag.
        let mut om = Of10Match::all();
        om.wildcards &= !ofpfw10::DL_VLAN;
        om.dl_vlan = OFP10_VLAN_NONE;
        let m = decode_of10(&om);
        assert_eq!((m.value.vlan_tci, m.mask.vlan_tci), (0, 0xffff));
        let back = encode_of10(&m);
        assert_eq!(back.dl_vlan, OFP10_VLAN_NONE);
    }

    #[test]
    fn normalization_drops_what_the_protocol_lacks() {
        // arp with nw_tos: the TOS goes; tcp ports without tcp: they go.
        let mut om = Of10Match::all();
        om.wildcards &= !(ofpfw10::DL_TYPE | ofpfw10::NW_TOS | ofpfw10::TP_DST);
        om.dl_type = 0x0806;
        om.nw_tos = 8;
        om.tp_dst = 80;
        let mut m = decode_of10(&om);
        normalize(&mut m);
        assert_eq!(m.mask.nw_tos, 0);
        assert_eq!((m.value.tp_dst, m.mask.tp_dst), (0, 0));
        assert_eq!(m.mask.dl_type, 0xffff);
    }
}
