//! NXM and OXM matches and the flow model's [`Match`]: the TLVs a FLOW_MOD or a
//! stats request carries, applied in order as OVS's `nx_pull_raw()` applies them
//! (`mf_set()`), and a match written back as OVS's `nx_put_raw()` writes it (the
//! same fields in the same order, with each version's headers: `NXM_OF_IN_PORT` in
//! NXM and `OXM_OF_IN_PORT` in OXM, `vlan_tci` in NXM and `vlan_vid` + `vlan_pcp`
//! in OXM, `nw_tos` as `NXM_OF_IP_TOS` or `OXM_OF_IP_DSCP`, ...).

use xvs_dataplane::flow_key::{VLAN_PCP_MASK, VLAN_PRESENT, VLAN_VID_MASK};
use xvs_dataplane::wire::ethertype;
use xvs_pipeline::ofp::field::{ones, Field};
use xvs_pipeline::ofp::{port_to_ofp11, Match};

use super::fields::{be_value, header_named, header_of, model_field, value_bytes};
use crate::errors::OfError;
use crate::oxm::{MatchTlv, TlvHeader};

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_SCTP: u8 = 132;
const ND_SOLICIT: u16 = 135;
const ND_ADVERT: u16 = 136;

/// The match of decoded TLVs (already checked as OVS's `nx_pull_raw()` checks
/// them: lengths, known headers, masks, values, prerequisites, duplicates).
/// A field OVS knows and the flow model does not (`pkt_mark`, `ct_state`, tunnel
/// metadata, ...) is refused as a field OVS would not know: OFPBMC_BAD_FIELD.
pub fn decode_match(tlvs: &[MatchTlv]) -> Result<Match, OfError> {
    let mut m = Match::default();
    for t in tlvs {
        let known = t.known().ok_or(OfError::OFPBMC_BAD_FIELD)?;
        let field = match known.field_info().name {
            // SCTP's ports are the flow's L4 ports, as TCP's.
            "sctp_src" => Field::TcpSrc,
            "sctp_dst" => Field::TcpDst,
            _ => model_field(t.header).ok_or(OfError::OFPBMC_BAD_FIELD)?,
        };
        let v = be_value(&t.value);
        let mask = t.mask.as_deref().map_or(u128::MAX, be_value);
        m.set_field(field, v, mask);
    }
    Ok(m)
}

/// TLVs being written in one version.
struct Put {
    /// 0 for NXM, else the OpenFlow version of the OXM match.
    version: u8,
    out: Vec<MatchTlv>,
}

impl Put {
    fn entry(&mut self, h: Option<TlvHeader>, v: u128, m: Option<u128>, n: usize) {
        let Some(h) = h else { return };
        self.out.push(match m {
            None => MatchTlv::exact(h, value_bytes(v, n)),
            Some(m) => MatchTlv::masked(h, value_bytes(v, n), value_bytes(m, n)),
        });
    }

    /// OVS's `nxm_put()`: nothing for an all-zero mask, the exact form for an
    /// all-ones mask, else the masked form.
    fn maybe(&mut self, h: Option<TlvHeader>, v: u128, m: u128, n: usize) {
        let all = ones(8 * n as u32);
        if m & all == 0 {
            return;
        }
        let mask = (m & all != all).then_some(m & all);
        self.entry(h, v & all, mask, n);
    }

    fn field(&mut self, f: Field, v: u128, m: u128, n: usize) {
        self.maybe(header_of(f, self.version), v, m, n);
    }

    fn exact(&mut self, f: Field, v: u128, n: usize) {
        self.entry(header_of(f, self.version), v, None, n);
    }

    fn named_exact(&mut self, name: &str, v: u128, n: usize) {
        self.entry(header_named(name, self.version), v, None, n);
    }
}

/// The TLVs OVS's `nx_put_raw()` writes for `m`: NXM (`version` 0) or OXM of that
/// OpenFlow version. A catch-all match has none.
pub fn encode_match(m: &Match, version: u8) -> Vec<MatchTlv> {
    let (v, k) = (&m.value, &m.mask);
    let oxm = version != 0;
    let mut p = Put {
        version,
        out: Vec::new(),
    };
    if k.in_port != 0 {
        if oxm {
            p.exact(Field::InPortOxm, port_to_ofp11(v.in_port).into(), 4);
        } else {
            p.exact(Field::InPort, (v.in_port & 0xffff).into(), 2);
        }
    }
    p.field(
        Field::DlSrc,
        v.dl_src.to_u64().into(),
        k.dl_src.to_u64().into(),
        6,
    );
    p.field(
        Field::DlDst,
        v.dl_dst.to_u64().into(),
        k.dl_dst.to_u64().into(),
        6,
    );
    p.field(Field::DlType, v.dl_type.into(), k.dl_type.into(), 2);
    put_vlan(&mut p, m, oxm);
    match v.dl_type {
        ethertype::IPV4 | ethertype::IPV6 => put_ip(&mut p, m, oxm),
        ethertype::ARP | ethertype::RARP => {
            if k.nw_proto != 0 {
                p.exact(Field::ArpOp, v.nw_proto.into(), 2);
            }
            p.field(Field::ArpSpa, v.nw_src.into(), k.nw_src.into(), 4);
            p.field(Field::ArpTpa, v.nw_dst.into(), k.nw_dst.into(), 4);
            p.field(
                Field::ArpSha,
                v.arp_sha.to_u64().into(),
                k.arp_sha.to_u64().into(),
                6,
            );
            p.field(
                Field::ArpTha,
                v.arp_tha.to_u64().into(),
                k.arp_tha.to_u64().into(),
                6,
            );
        }
        _ => {}
    }
    p.field(Field::TunId, v.tun_id.into(), k.tun_id.into(), 8);
    for (i, (rv, rk)) in v.regs.iter().zip(&k.regs).enumerate() {
        p.field(Field::Reg(i as u8), (*rv).into(), (*rk).into(), 4);
    }
    p.field(Field::Metadata, v.metadata.into(), k.metadata.into(), 8);
    p.out
}

/// 802.1Q: `vlan_tci` in NXM; in OXM `vlan_vid` (present bit and VID) and, when a
/// tag is matched with its PCP, `vlan_pcp`.
fn put_vlan(p: &mut Put, m: &Match, oxm: bool) {
    let (tci, mask) = (m.value.vlan_tci, m.mask.vlan_tci);
    if !oxm {
        p.field(Field::VlanTci, tci.into(), mask.into(), 2);
        return;
    }
    let vid_bits = VLAN_VID_MASK | VLAN_PRESENT;
    let (vid, vmask) = (tci & vid_bits, mask & vid_bits);
    if vmask == vid_bits {
        p.exact(Field::VlanVid, vid.into(), 2);
    } else if vmask != 0 {
        p.entry(
            header_of(Field::VlanVid, p.version),
            vid.into(),
            Some(vmask.into()),
            2,
        );
    }
    if vid != 0 && mask & VLAN_PCP_MASK != 0 {
        p.exact(Field::VlanPcp, (tci >> 13).into(), 1);
    }
}

/// OVS's `nxm_put_ip()`: addresses, DSCP, ECN, TTL, protocol and what depends on it.
fn put_ip(p: &mut Put, m: &Match, oxm: bool) {
    let (v, k) = (&m.value, &m.mask);
    if v.dl_type == ethertype::IPV4 {
        p.field(Field::NwSrc, v.nw_src.into(), k.nw_src.into(), 4);
        p.field(Field::NwDst, v.nw_dst.into(), k.nw_dst.into(), 4);
    } else {
        p.field(Field::Ipv6Src, v.ipv6_src, k.ipv6_src, 16);
        p.field(Field::Ipv6Dst, v.ipv6_dst, k.ipv6_dst, 16);
    }
    if k.nw_tos & 0xfc != 0 {
        if oxm {
            p.named_exact("OXM_OF_IP_DSCP", (v.nw_tos >> 2).into(), 1);
        } else {
            p.named_exact("NXM_OF_IP_TOS", (v.nw_tos & 0xfc).into(), 1);
        }
    }
    if k.nw_tos & 0x03 != 0 {
        p.exact(Field::NwEcn, (v.nw_tos & 0x03).into(), 1);
    }
    if k.nw_ttl != 0 {
        p.exact(Field::NwTtl, v.nw_ttl.into(), 1);
    }
    if k.nw_proto == 0 {
        return;
    }
    p.exact(Field::NwProto, v.nw_proto.into(), 1);
    let ports = |p: &mut Put, src: Option<TlvHeader>, dst: Option<TlvHeader>| {
        p.maybe(src, v.tp_src.into(), k.tp_src.into(), 2);
        p.maybe(dst, v.tp_dst.into(), k.tp_dst.into(), 2);
    };
    let ver = p.version;
    match (v.dl_type, v.nw_proto) {
        (_, IPPROTO_TCP) => ports(
            p,
            header_of(Field::TcpSrc, ver),
            header_of(Field::TcpDst, ver),
        ),
        (_, IPPROTO_UDP) => ports(
            p,
            header_of(Field::UdpSrc, ver),
            header_of(Field::UdpDst, ver),
        ),
        (_, IPPROTO_SCTP) => ports(
            p,
            header_named("OXM_OF_SCTP_SRC", ver),
            header_named("OXM_OF_SCTP_DST", ver),
        ),
        (ethertype::IPV4, IPPROTO_ICMP) => {
            if k.tp_src != 0 {
                p.exact(Field::Icmpv4Type, (v.tp_src & 0xff).into(), 1);
            }
            if k.tp_dst != 0 {
                p.exact(Field::Icmpv4Code, (v.tp_dst & 0xff).into(), 1);
            }
        }
        (ethertype::IPV6, IPPROTO_ICMPV6) => {
            if k.tp_src != 0 {
                p.exact(Field::Icmpv6Type, (v.tp_src & 0xff).into(), 1);
            }
            if k.tp_dst != 0 {
                p.exact(Field::Icmpv6Code, (v.tp_dst & 0xff).into(), 1);
            }
            let nd = v.tp_dst == 0 && matches!(v.tp_src, ND_SOLICIT | ND_ADVERT);
            if nd {
                p.field(Field::NdTarget, v.nd_target, k.nd_target, 16);
                if v.tp_src == ND_SOLICIT {
                    p.field(
                        Field::NdSll,
                        v.arp_sha.to_u64().into(),
                        k.arp_sha.to_u64().into(),
                        6,
                    );
                } else {
                    p.field(
                        Field::NdTll,
                        v.arp_tha.to_u64().into(),
                        k.arp_tha.to_u64().into(),
                        6,
                    );
                }
            }
        }
        _ => {}
    }
}
