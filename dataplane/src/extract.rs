//! Flow key extraction: one pass over a frame's headers into a [`FlowKey`], field for
//! field what OVS's `miniflow_extract` (lib/flow.c) puts in its flow.
//!
//! Malformed headers are not errors past Ethernet: OVS keeps the fields of the headers it
//! could parse and leaves the rest zero, and the packet goes through the pipeline with
//! that key (a broken L3 header still forwards by its L2 fields). What it does, and so
//! what this does:
//!
//! | frame | key |
//! |---|---|
//! | shorter than an Ethernet header | an error: OVS's userspace datapath drops it before extraction (`datapath_drop_rx_invalid_packet`) |
//! | a TPID with fewer than 4 bytes after it | L2 only, `dl_type` = the TPID, no tag (`parse_vlan` stops) |
//! | IPv4 failing `ipv4_sanity_check` (short, IHL < 5, total length outside header..buffer) | L2 only (the version nibble is never looked at) |
//! | IPv6 shorter than 40 bytes or than its payload length | L2 only |
//! | IPv6 with a cut extension header | L2 and the addresses; no tos/ttl/proto |
//! | ARP/RARP not Ethernet/IPv4 or shorter than 28 bytes | L2 only |
//! | ARP opcode above 255 | `nw_proto` 0, the rest of ARP's fields kept |
//! | a short L4 header (TCP < its data offset, UDP < 8, SCTP < 12, ICMP/IGMP/ICMPv6 < 8) | L3, no ports |
//! | a fragment other than the first (IPv4 offset != 0; IPv6: `nw_proto` 44) | L3, no L4 |
//! | ND with a cut target | type/code only |
//! | ND with a duplicate link-layer address option | type/code, target and addresses zero |

use std::mem::MaybeUninit;

use crate::flow_key::{FlowKey, PortNo, VLAN_PRESENT};
use crate::mac::MacAddr;
use crate::wire::{
    ethertype, icmp, ipv4, ipv6, nd, tcp, vlan, ArpPacket, EthernetFrame, Ipv4Packet, Ipv6Packet,
    VlanTag, WireError,
};

impl FlowKey {
    /// The key of `frame`, received on `in_port`.
    ///
    /// - An Ethernet header is required: a shorter frame is the only error.
    /// - One VLAN tag is parsed, the outer one, whether its TPID is 0x8100 (802.1Q) or
    ///   0x88a8 (802.1ad), as OVS does with its default `vlan-limit=1`: `vlan_tci` becomes
    ///   `VLAN_PRESENT | PCP | VID` (the wire's DEI bit is dropped, its position being the
    ///   present bit) and `dl_type` the ethertype after it. The TPID itself is not kept
    ///   (see [`FlowKey::vlan_tci`]). A second tag is not parsed, so a QinQ frame (0x88a8
    ///   then 0x8100) gets `dl_type == 0x8100` and only L2 fields. A frame whose
    ///   ethertype is a TPID but too short for the tag keeps the TPID as `dl_type`.
    /// - IPv4, IPv6 (through its extension headers), ARP and RARP fill the network
    ///   fields, TCP, UDP, SCTP, ICMP, IGMP and ICMPv6 the transport ones, Neighbour
    ///   Discovery `nd_target`, `arp_sha` and `arp_tha`. A truncated or malformed header
    ///   leaves its fields and those after it zero (see the [module docs](self)).
    ///   Checksums are not verified: forwarding does not need them.
    /// - Any other ethertype gives the L2 fields only; fields that do not apply are 0, and
    ///   so is `tun_id` (the decap path sets it).
    pub fn extract(in_port: PortNo, frame: &[u8]) -> Result<FlowKey, WireError> {
        let eth = EthernetFrame::new_checked(frame)?;
        let mut key = FlowKey::default();
        // Inlined here, so the key is built where it is returned (no copy).
        fill(&mut key, in_port, &eth);
        Ok(key)
    }

    /// [`FlowKey::extract`] into the caller's storage, which is written whole when this
    /// returns `Ok` (and may be left unwritten on an error). The fast path's way: the
    /// key is written once, where it is packed and looked up, instead of moving through
    /// the `Result`s and `Option`s around it (partial copies of a 190-byte struct, whose
    /// loads then wait for the stores they overlap, cost the `hit/1` bench ~15 ns).
    #[inline]
    pub fn extract_into<'k>(
        out: &'k mut MaybeUninit<FlowKey>,
        in_port: PortNo,
        frame: &[u8],
    ) -> Result<&'k mut FlowKey, WireError> {
        let eth = EthernetFrame::new_checked(frame)?;
        let key = out.write(FlowKey::default());
        fill(key, in_port, &eth);
        Ok(key)
    }
}

/// The body of [`FlowKey::extract`] and [`FlowKey::extract_into`] over a key that is
/// all zero; always inlined, so that each builds the key in its own place.
#[inline(always)]
fn fill(key: &mut FlowKey, in_port: PortNo, eth: &EthernetFrame<&[u8]>) {
    {
        key.in_port = in_port;
        key.dl_src = eth.src_addr();
        key.dl_dst = eth.dst_addr();
        let mut dl_type = eth.ethertype();
        let mut l3 = eth.payload();
        if vlan::is_tpid(dl_type) {
            if let Ok(tag) = VlanTag::new_checked(l3) {
                key.vlan_tci = VLAN_PRESENT | (tag.tci() & !vlan::DEI);
                dl_type = tag.ethertype();
                l3 = tag.payload();
            }
        }
        key.dl_type = dl_type;
        // The helpers return the fields by value rather than write through the key, so
        // that the key's stores stay in this function.
        match dl_type {
            ethertype::IPV4 => {
                if let Some(n) = ipv4_fields(l3) {
                    key.nw_src = n.nw_src;
                    key.nw_dst = n.nw_dst;
                    key.nw_proto = n.nw_proto;
                    key.nw_tos = n.nw_tos;
                    key.nw_ttl = n.nw_ttl;
                    key.tp_src = n.tp_src;
                    key.tp_dst = n.tp_dst;
                    if n.nw_proto == ipv4::PROTO_ICMPV6 {
                        // ICMPv6 inside IPv4: parsed as ICMPv6 all the same, as OVS.
                        let nd = nd_fields(n.l4(l3));
                        (key.nd_target, key.arp_sha, key.arp_tha) = nd;
                    }
                }
            }
            ethertype::IPV6 => {
                let v = ipv6_fields(l3);
                key.ipv6_src = v.src;
                key.ipv6_dst = v.dst;
                key.nw_proto = v.l3.nw_proto;
                key.nw_tos = v.l3.nw_tos;
                key.nw_ttl = v.l3.nw_ttl;
                key.tp_src = v.l3.tp_src;
                key.tp_dst = v.l3.tp_dst;
                key.nd_target = v.nd_target;
                key.arp_sha = v.sll;
                key.arp_tha = v.tll;
            }
            ethertype::ARP | ethertype::RARP => {
                if let Ok(arp) = ArpPacket::new_checked(l3) {
                    key.nw_src = u32::from(arp.spa());
                    key.nw_dst = u32::from(arp.tpa());
                    // OVS matches the low 8 bits of the opcode, and only opcodes that fit.
                    key.nw_proto = u8::try_from(arp.operation()).unwrap_or(0);
                    key.arp_sha = arp.sha();
                    key.arp_tha = arp.tha();
                }
            }
            _ => {}
        }
    }
}

/// The network and transport fields of an IP packet (`nw_src`/`nw_dst` for IPv4 only).
#[derive(Clone, Copy, Default)]
struct NwFields {
    nw_src: u32,
    nw_dst: u32,
    nw_proto: u8,
    nw_tos: u8,
    nw_ttl: u8,
    tp_src: u16,
    tp_dst: u16,
    /// Where the transport header starts in the buffer parsed, and where it ends.
    l4_start: u16,
    l4_end: u16,
}

impl NwFields {
    fn l4<'a>(&self, l3: &'a [u8]) -> &'a [u8] {
        &l3[usize::from(self.l4_start)..usize::from(self.l4_end)]
    }
}

/// IPv4's fields, if the header passes OVS's `ipv4_sanity_check`.
#[inline(always)]
fn ipv4_fields(l3: &[u8]) -> Option<NwFields> {
    let ip = Ipv4Packet::new_sanity_checked(l3)?;
    let mut n = NwFields {
        nw_src: u32::from(ip.src_addr()),
        nw_dst: u32::from(ip.dst_addr()),
        nw_proto: ip.protocol(),
        nw_tos: ip.tos(),
        nw_ttl: ip.ttl(),
        l4_start: ip.header_len() as u16,
        l4_end: ip.total_len(),
        ..NwFields::default()
    };
    if ip.frag_offset() == 0 {
        (n.tp_src, n.tp_dst) = l4_fields(n.nw_proto, ip.payload());
    } else {
        // A later fragment holds no transport header.
        n.l4_end = n.l4_start;
    }
    Some(n)
}

/// IPv6's fields: all zero when the header does not pass OVS's `ipv6_sanity_check`, the
/// addresses only when an extension header is cut short.
#[derive(Default)]
struct V6Fields {
    src: u128,
    dst: u128,
    l3: NwFields,
    nd_target: u128,
    sll: MacAddr,
    tll: MacAddr,
}

#[inline(never)]
fn ipv6_fields(l3: &[u8]) -> V6Fields {
    let mut v = V6Fields::default();
    let Ok(ip) = Ipv6Packet::new_checked(l3) else {
        return v;
    };
    v.src = ip.src_u128();
    v.dst = ip.dst_u128();
    let payload = ip.payload();
    let Some(walk) = ipv6::walk_ext_headers(ip.next_header(), payload) else {
        // OVS has pushed the addresses when it gives up on the extension headers.
        return v;
    };
    v.l3.nw_tos = ip.traffic_class();
    v.l3.nw_ttl = ip.hop_limit();
    v.l3.nw_proto = walk.next;
    if !walk.later_fragment {
        let l4 = &payload[walk.offset..];
        (v.l3.tp_src, v.l3.tp_dst) = l4_fields(walk.next, l4);
        if walk.next == ipv4::PROTO_ICMPV6 {
            (v.nd_target, v.sll, v.tll) = nd_fields(l4);
        }
    }
    v
}

/// `tp_src` and `tp_dst` from `l4`, by the protocol alone (OVS does not look at the
/// ethertype here: ICMPv6 inside IPv4 is parsed as ICMPv6, ICMP inside IPv6 as ICMP).
#[inline(always)]
fn l4_fields(proto: u8, l4: &[u8]) -> (u16, u16) {
    let ports = |min: usize| {
        if l4.len() >= min {
            (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            )
        } else {
            (0, 0)
        }
    };
    match proto {
        ipv4::PROTO_TCP if tcp::Packet::new_checked(l4).is_ok() => ports(tcp::HEADER_LEN),
        ipv4::PROTO_UDP => ports(8),
        ipv4::PROTO_SCTP => ports(12),
        ipv4::PROTO_ICMP | ipv4::PROTO_IGMP | ipv4::PROTO_ICMPV6
            if l4.len() >= icmp::HEADER_LEN =>
        {
            (u16::from(l4[0]), u16::from(l4[1]))
        }
        _ => (0, 0),
    }
}

/// A Neighbour Solicitation's or Advertisement's target and link-layer addresses, as
/// OVS's `parse_icmpv6`: zero for other ICMPv6 messages, for a cut target, and for a
/// message with a duplicate link-layer address option.
#[inline(never)]
fn nd_fields(l4: &[u8]) -> (u128, MacAddr, MacAddr) {
    let none = (0, MacAddr::ZERO, MacAddr::ZERO);
    let Ok(nd) = nd::Message::new_checked(l4) else {
        return none;
    };
    if !nd::is_nd(nd.msg_type(), nd.code()) {
        return none;
    }
    let lla = nd.lla_options();
    if lla.invalid {
        return none;
    }
    (nd.target(), lla.sll, lla.tll)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::wire::{arp, ipv4, ArpRepr, EthernetRepr, Ipv4Repr, Ipv6Repr, Layer, VlanRepr};

    const SRC: MacAddr = MacAddr([0xfa, 0x16, 0x3e, 0, 0, 1]);
    const DST: MacAddr = MacAddr([0xfa, 0x16, 0x3e, 0, 0, 2]);

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 14];
        EthernetRepr {
            src_addr: SRC,
            dst_addr: DST,
            ethertype,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut v[..]));
        v.extend_from_slice(payload);
        v
    }

    fn tagged(tci: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        tagged_with(ethertype::VLAN, tci, ethertype, payload)
    }

    fn tagged_with(tpid: u16, tci: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut t = [0u8; 4];
        VlanRepr {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0xfff,
            ethertype,
        }
        .emit(&mut VlanTag::new_unchecked(&mut t[..]));
        let mut p = t.to_vec();
        p.extend_from_slice(payload);
        eth(tpid, &p)
    }

    fn ipv4_packet() -> Vec<u8> {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 1, 2, 3),
            dst_addr: Ipv4Addr::new(10, 4, 5, 6),
            protocol: ipv4::PROTO_UDP,
            tos: 0x2e,
            ttl: 64,
            ident: 1,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            payload_len: 8,
        };
        let mut v = vec![0u8; 28];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut v[..]));
        v
    }

    fn arp_packet(op: u16) -> Vec<u8> {
        let mut v = vec![0u8; 28];
        ArpRepr {
            operation: op,
            sha: SRC,
            spa: Ipv4Addr::new(192, 168, 1, 1),
            tha: MacAddr::ZERO,
            tpa: Ipv4Addr::new(192, 168, 1, 2),
        }
        .emit(&mut ArpPacket::new_unchecked(&mut v[..]));
        v
    }

    #[test]
    fn untagged_ipv4() {
        let k = FlowKey::extract(3, &eth(ethertype::IPV4, &ipv4_packet())).unwrap();
        assert_eq!(
            k,
            FlowKey {
                in_port: 3,
                dl_src: SRC,
                dl_dst: DST,
                dl_type: ethertype::IPV4,
                nw_src: 0x0a01_0203,
                nw_dst: 0x0a04_0506,
                nw_proto: 17,
                nw_tos: 0x2e,
                nw_ttl: 64,
                ..FlowKey::default()
            }
        );
    }

    #[test]
    fn tagged_arp_drops_dei() {
        let k = FlowKey::extract(
            1,
            &tagged(0xb00a, ethertype::ARP, &arp_packet(arp::OP_REPLY)),
        )
        .unwrap();
        assert_eq!(k.vlan_tci, VLAN_PRESENT | 5 << 13 | 10);
        assert_eq!(k.vlan_vid(), Some(10));
        assert_eq!(k.vlan_pcp(), 5);
        assert_eq!(k.dl_type, ethertype::ARP);
        assert_eq!(k.nw_src, 0xc0a8_0101);
        assert_eq!(k.nw_dst, 0xc0a8_0102);
        assert_eq!(k.nw_proto, 2);
        assert_eq!(k.arp_sha, SRC);
        assert_eq!(k.arp_tha, MacAddr::ZERO);
        assert_eq!(k.nw_tos, 0);
    }

    #[test]
    fn vid_zero_tag_is_present() {
        let k = FlowKey::extract(1, &tagged(0, 0x86dd, &[0; 40])).unwrap();
        assert_eq!(k.vlan_tci, VLAN_PRESENT);
        assert_eq!(k.dl_type, 0x86dd);
    }

    #[test]
    fn second_tag_not_parsed() {
        let inner = tagged(0x0064, ethertype::IPV4, &ipv4_packet());
        // Take the inner tag (and what follows) as the payload of an outer tag.
        let k = FlowKey::extract(1, &tagged(0x000a, ethertype::VLAN, &inner[14..])).unwrap();
        assert_eq!(k.vlan_tci, VLAN_PRESENT | 10);
        assert_eq!(k.dl_type, ethertype::VLAN);
        assert_eq!(k.nw_src, 0);
        assert_eq!(k.nw_proto, 0);
    }

    #[test]
    fn service_tag_is_a_vlan_tag() {
        let ip = FlowKey::extract(
            1,
            &tagged_with(ethertype::QINQ, 0xb00a, ethertype::IPV4, &ipv4_packet()),
        )
        .unwrap();
        // The same key as under an 802.1Q tag: the TPID is not part of it.
        let dot1q = FlowKey::extract(1, &tagged(0xb00a, ethertype::IPV4, &ipv4_packet())).unwrap();
        assert_eq!(ip, dot1q);
        assert_eq!(ip.vlan_tci, VLAN_PRESENT | 5 << 13 | 10);
        assert_eq!(ip.dl_type, ethertype::IPV4);
        assert_eq!((ip.nw_src, ip.nw_proto, ip.nw_tos), (0x0a01_0203, 17, 0x2e));

        let a = FlowKey::extract(
            1,
            &tagged_with(
                ethertype::QINQ,
                7,
                ethertype::ARP,
                &arp_packet(arp::OP_REQUEST),
            ),
        )
        .unwrap();
        assert_eq!(a.vlan_tci, VLAN_PRESENT | 7);
        assert_eq!(
            (a.dl_type, a.nw_proto, a.nw_dst),
            (ethertype::ARP, 1, 0xc0a8_0102)
        );
        assert_eq!(a.arp_sha, SRC);
    }

    #[test]
    fn qinq_outer_tag_is_the_vlan_and_inner_tag_the_ethertype() {
        // 802.1ad S-tag 10, then an 802.1Q C-tag 100, then IPv4: one tag is parsed (OVS's
        // default vlan-limit=1), so the C-tag's TPID is the dl_type and L3 is not read.
        let c_tagged = tagged(0x0064, ethertype::IPV4, &ipv4_packet());
        let frame = tagged_with(ethertype::QINQ, 0x000a, ethertype::VLAN, &c_tagged[14..]);
        assert_eq!(&frame[12..20], &[0x88, 0xa8, 0, 10, 0x81, 0, 0, 100]);
        let k = FlowKey::extract(1, &frame).unwrap();
        assert_eq!(
            k,
            FlowKey {
                in_port: 1,
                dl_src: SRC,
                dl_dst: DST,
                vlan_tci: VLAN_PRESENT | 10,
                dl_type: ethertype::VLAN,
                ..FlowKey::default()
            }
        );
        // Two S-tags: the same, dl_type 0x88a8.
        let k = FlowKey::extract(
            1,
            &tagged_with(ethertype::QINQ, 3, ethertype::QINQ, &[0, 4, 8, 0]),
        )
        .unwrap();
        assert_eq!((k.vlan_tci, k.dl_type), (VLAN_PRESENT | 3, ethertype::QINQ));
    }

    #[test]
    fn other_ethertypes_l2_only() {
        let k = FlowKey::extract(9, &eth(0x88cc, &[1, 2, 3])).unwrap();
        assert_eq!(
            k,
            FlowKey {
                in_port: 9,
                dl_src: SRC,
                dl_dst: DST,
                dl_type: 0x88cc,
                ..FlowKey::default()
            }
        );
    }

    #[test]
    fn checksum_not_verified() {
        let mut p = ipv4_packet();
        p[10] ^= 0xff;
        assert_eq!(
            FlowKey::extract(1, &eth(ethertype::IPV4, &p))
                .unwrap()
                .nw_src,
            0x0a01_0203
        );
    }

    fn l2_only(dl_type: u16) -> FlowKey {
        FlowKey {
            in_port: 1,
            dl_src: SRC,
            dl_dst: DST,
            dl_type,
            ..FlowKey::default()
        }
    }

    /// Only a frame without a whole Ethernet header is refused.
    #[test]
    fn short_ethernet_is_the_only_error() {
        assert_eq!(
            FlowKey::extract(1, &[0; 13]),
            Err(WireError::Truncated {
                layer: Layer::Ethernet,
                need: 14,
                have: 13
            })
        );
        assert_eq!(FlowKey::extract(1, &eth(0x88cc, &[])), Ok(l2_only(0x88cc)));
    }

    /// OVS's parse_vlan needs the tag and the ethertype after it; without them the TPID
    /// is the frame's ethertype and there is no tag.
    #[test]
    fn truncated_tag_keeps_the_tpid_as_ethertype() {
        for tpid in [ethertype::VLAN, ethertype::QINQ] {
            for cut in 0..4 {
                assert_eq!(
                    FlowKey::extract(1, &eth(tpid, &[0, 1, 8, 0][..cut])),
                    Ok(l2_only(tpid)),
                    "{tpid:#x} {cut}"
                );
            }
        }
    }

    /// A malformed IPv4 or ARP header gives the L2 fields only, as OVS's miniflow_extract
    /// (its `goto out` after a failed ipv4_sanity_check, or an ARP it does not take).
    #[test]
    fn malformed_l3_keeps_l2() {
        let tagged_l2 = |dl_type| FlowKey {
            vlan_tci: VLAN_PRESENT | 5,
            ..l2_only(dl_type)
        };
        let ip = ipv4_packet();
        for cut in 0..ip.len() {
            assert_eq!(
                FlowKey::extract(1, &eth(ethertype::IPV4, &ip[..cut])),
                Ok(l2_only(ethertype::IPV4)),
                "{cut}"
            );
            assert_eq!(
                FlowKey::extract(1, &tagged(5, ethertype::IPV4, &ip[..cut])),
                Ok(tagged_l2(ethertype::IPV4)),
                "{cut}"
            );
        }
        // IHL 4, IHL beyond the buffer, total length below the header.
        for (at, v) in [(0, 0x44), (0, 0x4f), (3, 19)] {
            let mut p = ip.clone();
            p[at] = v;
            assert_eq!(
                FlowKey::extract(1, &eth(ethertype::IPV4, &p)),
                Ok(l2_only(ethertype::IPV4))
            );
        }
        // The version nibble is not looked at.
        let mut p = ip.clone();
        p[0] = 0x65;
        assert_eq!(
            FlowKey::extract(1, &eth(ethertype::IPV4, &p))
                .unwrap()
                .nw_dst,
            0x0a04_0506
        );
        let arp = arp_packet(1);
        for cut in 0..28 {
            assert_eq!(
                FlowKey::extract(1, &tagged(5, ethertype::ARP, &arp[..cut])),
                Ok(tagged_l2(ethertype::ARP))
            );
        }
        let mut a = arp.clone();
        a[4] = 8;
        assert_eq!(
            FlowKey::extract(1, &eth(ethertype::ARP, &a)),
            Ok(l2_only(ethertype::ARP))
        );
        // An opcode above 255 does not fit nw_proto: 0, the addresses kept.
        let mut a = arp;
        a[6] = 1;
        let k = FlowKey::extract(1, &eth(ethertype::ARP, &a)).unwrap();
        assert_eq!((k.nw_proto, k.nw_src, k.arp_sha), (0, 0xc0a8_0101, SRC));
    }

    #[test]
    fn rarp_is_parsed_as_arp() {
        let k = FlowKey::extract(1, &eth(ethertype::RARP, &arp_packet(3))).unwrap();
        assert_eq!(
            (k.dl_type, k.nw_proto, k.nw_src, k.arp_sha),
            (ethertype::RARP, 3, 0xc0a8_0101, SRC)
        );
    }

    /// An IPv4 packet of protocol `proto` around `l4`.
    fn ipv4_with(proto: u8, frag_offset: u16, l4: &[u8]) -> Vec<u8> {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 1, 2, 3),
            dst_addr: Ipv4Addr::new(10, 4, 5, 6),
            protocol: proto,
            tos: 0x10,
            ttl: 7,
            ident: 1,
            dont_frag: false,
            more_frags: false,
            frag_offset,
            payload_len: l4.len(),
        };
        let mut v = vec![0u8; 20];
        v.extend_from_slice(l4);
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut v[..]));
        v
    }

    fn tcp_header(src: u16, dst: u16) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[..2].copy_from_slice(&src.to_be_bytes());
        t[2..4].copy_from_slice(&dst.to_be_bytes());
        t[12] = 0x50;
        t
    }

    #[test]
    fn ipv4_transport_fields() {
        let k = |proto, l4: &[u8]| {
            FlowKey::extract(1, &eth(ethertype::IPV4, &ipv4_with(proto, 0, l4))).unwrap()
        };
        let t = k(6, &tcp_header(443, 51000));
        assert_eq!(
            (t.nw_ttl, t.nw_tos, t.tp_src, t.tp_dst),
            (7, 0x10, 443, 51000)
        );
        // A TCP header cut short, or whose data offset says more than is there: no ports.
        assert_eq!(k(6, &tcp_header(443, 51000)[..19]).tp_src, 0);
        let mut long = tcp_header(443, 51000);
        long[12] = 0x60;
        assert_eq!(k(6, &long).tp_src, 0);
        long[12] = 0x40;
        assert_eq!(k(6, &long).tp_src, 0);
        // UDP needs 8 bytes; its length field is not looked at.
        let u = k(17, &[0x12, 0x34, 0x00, 0x35, 0xff, 0xff, 0, 0]);
        assert_eq!((u.tp_src, u.tp_dst), (0x1234, 53));
        assert_eq!(k(17, &[0x12, 0x34, 0x00, 0x35, 0, 8, 0]).tp_src, 0);
        // SCTP ports from 12 bytes.
        assert_eq!(k(132, &[0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]).tp_dst, 2);
        assert_eq!(k(132, &[0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0]).tp_dst, 0);
        // ICMP and IGMP: type and code from 8 bytes.
        let i = k(1, &[8, 0, 0xf7, 0xff, 0, 0, 0, 0]);
        assert_eq!((i.nw_proto, i.tp_src, i.tp_dst), (1, 8, 0));
        assert_eq!(k(1, &[3, 3, 0, 0, 0, 0, 0]).tp_src, 0);
        assert_eq!(k(2, &[0x11, 0x64, 0, 0, 224, 0, 0, 1]).tp_dst, 0x64);
        // Other protocols: no transport fields.
        assert_eq!(k(47, &[0, 0, 0x65, 0x58, 1, 2, 3, 4]).tp_dst, 0);
        // A non-first fragment has no transport header; a first one has.
        let f = FlowKey::extract(
            1,
            &eth(ethertype::IPV4, &ipv4_with(6, 3, &tcp_header(1, 2))),
        )
        .unwrap();
        assert_eq!((f.nw_proto, f.tp_src, f.nw_ttl), (6, 0, 7));
        let mut first = ipv4_with(6, 0, &tcp_header(1, 2));
        first[6] |= 0x20;
        let f = FlowKey::extract(1, &eth(ethertype::IPV4, &first)).unwrap();
        assert_eq!((f.tp_src, f.tp_dst), (1, 2));
        // Ethernet padding after the IPv4 packet is not read as transport bytes.
        let mut padded = ipv4_with(17, 0, &[0, 1, 0, 2, 0]);
        padded.extend([0xee; 10]);
        assert_eq!(
            FlowKey::extract(1, &eth(ethertype::IPV4, &padded))
                .unwrap()
                .tp_src,
            0
        );
    }

    const V6_SRC: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
    const V6_DST: u128 = 0xfe80_0000_0000_0000_0000_0000_0000_0002;

    /// IPv6 (tc 0xb8, label 0x12345, hop limit 9) with `next` and `payload`.
    fn ipv6_with(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 40];
        Ipv6Repr {
            src_addr: V6_SRC.into(),
            dst_addr: V6_DST.into(),
            next_header: next,
            hop_limit: 9,
            traffic_class: 0xb8,
            flow_label: 0x12345,
            payload_len: payload.len() as u16,
        }
        .emit(&mut Ipv6Packet::new_unchecked(&mut v[..]));
        v.extend_from_slice(payload);
        v
    }

    fn v6_key(next: u8, payload: &[u8]) -> FlowKey {
        FlowKey::extract(1, &eth(ethertype::IPV6, &ipv6_with(next, payload))).unwrap()
    }

    #[test]
    fn ipv6_fields() {
        let k = v6_key(17, &[0x12, 0x34, 0x00, 0x35, 0, 8, 0, 0]);
        assert_eq!(
            k,
            FlowKey {
                in_port: 1,
                dl_src: SRC,
                dl_dst: DST,
                dl_type: ethertype::IPV6,
                ipv6_src: V6_SRC,
                ipv6_dst: V6_DST,
                nw_tos: 0xb8,
                nw_ttl: 9,
                nw_proto: 17,
                tp_src: 0x1234,
                tp_dst: 53,
                ..FlowKey::default()
            }
        );
        let t = v6_key(6, &tcp_header(22, 60000));
        assert_eq!((t.tp_src, t.tp_dst), (22, 60000));
        // Through hop-by-hop and destination options to TCP.
        let mut p = vec![60, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
        p.extend(tcp_header(22, 60000));
        let t = v6_key(0, &p);
        assert_eq!((t.nw_proto, t.tp_src), (6, 22));
        // A later fragment: nw_proto 44, no ports.
        let mut p = vec![6, 0, 0x00, 0x08, 0, 0, 0, 1];
        p.extend(tcp_header(22, 60000));
        let t = v6_key(44, &p);
        assert_eq!((t.nw_proto, t.tp_src, t.nw_ttl), (44, 0, 9));
        // A cut extension header: the addresses only.
        let t = v6_key(0, &[6, 0, 0, 0]);
        assert_eq!(
            t,
            FlowKey {
                nw_tos: 0,
                nw_ttl: 0,
                nw_proto: 0,
                tp_src: 0,
                tp_dst: 0,
                ..k
            }
        );
        // Shorter than 40 bytes or than the payload length: L2 only.
        let full = ipv6_with(17, &[0; 8]);
        for cut in [0, 39, 47] {
            assert_eq!(
                FlowKey::extract(1, &eth(ethertype::IPV6, &full[..cut])),
                Ok(l2_only(ethertype::IPV6))
            );
        }
    }

    fn nd(ty: u8, target: u128, opts: &[&[u8]]) -> Vec<u8> {
        let mut m = vec![ty, 0, 0, 0, 0x60, 0, 0, 0];
        m.extend(target.to_be_bytes());
        for o in opts {
            m.extend_from_slice(o);
        }
        m
    }

    fn lla(ty: u8, mac: MacAddr) -> Vec<u8> {
        let mut o = vec![ty, 1];
        o.extend(mac.0);
        o
    }

    #[test]
    fn icmpv6_and_neighbour_discovery() {
        let echo = v6_key(58, &[128, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!((echo.tp_src, echo.tp_dst, echo.nd_target), (128, 0, 0));
        assert_eq!(v6_key(58, &[128, 0, 0, 0, 0, 1, 0]).tp_src, 0);
        let t = 0xfe80_0000_0000_0000_0000_0000_0000_0099u128;
        let ns = v6_key(58, &nd(135, t, &[&lla(1, SRC)]));
        assert_eq!(
            (ns.tp_src, ns.tp_dst, ns.nd_target, ns.arp_sha, ns.arp_tha),
            (135, 0, t, SRC, MacAddr::ZERO)
        );
        let na = v6_key(58, &nd(136, t, &[&lla(2, DST)]));
        assert_eq!((na.tp_src, na.nd_target, na.arp_tha), (136, t, DST));
        // Code 1 is not ND: type and code only.
        let mut m = nd(135, t, &[&lla(1, SRC)]);
        m[1] = 1;
        let k = v6_key(58, &m);
        assert_eq!((k.tp_dst, k.nd_target, k.arp_sha), (1, 0, MacAddr::ZERO));
        // A cut target: type and code only.
        let k = v6_key(58, &nd(135, t, &[])[..23]);
        assert_eq!((k.tp_src, k.nd_target), (135, 0));
        // A duplicate option: OVS zeroes the target and both addresses.
        let k = v6_key(58, &nd(136, t, &[&lla(2, DST), &lla(1, SRC), &lla(2, SRC)]));
        assert_eq!(
            (k.tp_src, k.nd_target, k.arp_sha, k.arp_tha),
            (136, 0, MacAddr::ZERO, MacAddr::ZERO)
        );
        // ICMPv6 is recognised by nw_proto alone, over IPv4 as well (as OVS).
        let k = FlowKey::extract(
            1,
            &eth(
                ethertype::IPV4,
                &ipv4_with(58, 0, &nd(135, t, &[&lla(1, SRC)])),
            ),
        )
        .unwrap();
        assert_eq!((k.nd_target, k.arp_sha), (t, SRC));
    }
}
