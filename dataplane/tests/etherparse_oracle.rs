//! etherparse as an independent oracle: frames it builds must parse to the same fields
//! with ours, and frames we build (tunnel encap, VLAN push, address rewrites) must parse
//! with it, checksums included.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::checksum::Sum16BitWords;
use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, IpDscp, IpEcn, IpHeaders, IpNumber,
    Ipv4Header, LinkSlice, NetSlice, PacketBuilder, SingleVlanHeader, SlicedPacket, TransportSlice,
    VlanHeader, VlanPcp, VlanSlice,
};
use proptest::prelude::*;
use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::wire::{ethertype, Ipv4Packet, Ipv4Repr};
use xvs_dataplane::{
    decap_gre, decap_tunnel, decap_vxlan, execute, tunnel_header_len, DpAction, FlowKey, FrameBuf,
    MacAddr, Tpid, TunnelHeader, TunnelKind, TunnelType, WireError, DEFAULT_HEADROOM,
};

#[derive(Clone, Debug)]
struct IpSpec {
    src: [u8; 4],
    dst: [u8; 4],
    dscp: u8,
    ecn: u8,
    ttl: u8,
    ident: u16,
    df: bool,
    tcp: bool,
}

fn ip_spec() -> impl Strategy<Value = IpSpec> {
    (
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        0u8..64,
        0u8..4,
        any::<u8>(),
        any::<u16>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(src, dst, dscp, ecn, ttl, ident, df, tcp)| IpSpec {
            src,
            dst,
            dscp,
            ecn,
            ttl,
            ident,
            df,
            tcp,
        })
}

/// (pcp, dei, vid)
fn vlan_spec() -> impl Strategy<Value = Option<(u8, bool, u16)>> {
    proptest::option::of((0u8..8, any::<bool>(), 0u16..4096))
}

fn ep_vlan((pcp, dei, vid): (u8, bool, u16)) -> VlanHeader {
    VlanHeader::Single(SingleVlanHeader {
        pcp: VlanPcp::try_new(pcp).unwrap(),
        drop_eligible_indicator: dei,
        vlan_id: vid.try_into().unwrap(),
        ether_type: EtherType(0),
    })
}

/// An Ethernet [/ 802.1Q] / IPv4 / UDP or TCP frame built by etherparse.
fn ep_ip_frame(
    src: [u8; 6],
    dst: [u8; 6],
    vlan: Option<(u8, bool, u16)>,
    ip: &IpSpec,
    payload: &[u8],
) -> Vec<u8> {
    let h = Ipv4Header {
        dscp: IpDscp::try_new(ip.dscp).unwrap(),
        ecn: IpEcn::try_new(ip.ecn).unwrap(),
        identification: ip.ident,
        dont_fragment: ip.df,
        time_to_live: ip.ttl,
        source: ip.src,
        destination: ip.dst,
        ..Ipv4Header::new(0, ip.ttl, IpNumber::UDP, ip.src, ip.dst).unwrap()
    };
    let b = PacketBuilder::ethernet2(src, dst);
    let b = match vlan {
        Some(v) => b
            .vlan(ep_vlan(v))
            .ip(IpHeaders::Ipv4(h, Default::default())),
        None => b.ip(IpHeaders::Ipv4(h, Default::default())),
    };
    let mut out = Vec::new();
    if ip.tcp {
        b.tcp(1234, 80, 0x0102_0304, 1000)
            .write(&mut out, payload)
            .unwrap();
    } else {
        b.udp(5353, 53).write(&mut out, payload).unwrap();
    }
    out
}

fn ep_arp_frame(
    src: [u8; 6],
    vlan: Option<(u8, bool, u16)>,
    op: u16,
    addrs: ([u8; 6], [u8; 4], [u8; 6], [u8; 4]),
) -> Vec<u8> {
    let arp = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation(op),
        &addrs.0,
        &addrs.1,
        &addrs.2,
        &addrs.3,
    )
    .unwrap();
    let b = PacketBuilder::ethernet2(src, [0xff; 6]);
    let mut out = Vec::new();
    match vlan {
        Some(v) => b.vlan(ep_vlan(v)).arp(arp).write(&mut out).unwrap(),
        None => b.arp(arp).write(&mut out).unwrap(),
    }
    out
}

fn expected_tci(vlan: Option<(u8, bool, u16)>) -> u16 {
    vlan.map_or(0, |(pcp, _, vid)| VLAN_PRESENT | u16::from(pcp) << 13 | vid)
}

/// The IPv4 header, VLAN and L4 checksums of a frame, as etherparse sees them.
fn ep_check_ip_frame(bytes: &[u8]) -> (Option<VlanHeader>, Ipv4Header) {
    let p = SlicedPacket::from_ethernet(bytes).expect("etherparse parses our frame");
    let vlan = p.vlan().map(|v| v.to_header());
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!("no IPv4 in {:?}", p.net)
    };
    let h = ip.header().to_header();
    assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 checksum");
    match &p.transport {
        Some(TransportSlice::Udp(u)) => {
            let c = u.checksum();
            if c != 0 {
                let want = u.to_header().calc_checksum_ipv4(&h, u.payload()).unwrap();
                assert_eq!(c, want, "UDP checksum");
            }
        }
        Some(TransportSlice::Tcp(t)) => {
            let want = t.to_header().calc_checksum_ipv4(&h, t.payload()).unwrap();
            assert_eq!(t.checksum(), want, "TCP checksum");
        }
        other => panic!("unexpected transport {other:?}"),
    }
    (vlan, h)
}

fn outputs(actions: &[DpAction], bytes: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut frame = FrameBuf::with_headroom(bytes, DEFAULT_HEADROOM);
    let mut out = Vec::new();
    execute(actions, &mut frame, |p, b| out.push((p, b.to_vec()))).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn extract_ip_matches_etherparse(
        src in any::<[u8; 6]>(),
        dst in any::<[u8; 6]>(),
        vlan in vlan_spec(),
        ip in ip_spec(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        padding in proptest::collection::vec(any::<u8>(), 0..20),
    ) {
        let mut bytes = ep_ip_frame(src, dst, vlan, &ip, &payload);
        bytes.extend_from_slice(&padding);
        let k = FlowKey::extract(7, &bytes).unwrap();

        // Against the values etherparse was given ...
        prop_assert_eq!(k, FlowKey {
            in_port: 7,
            dl_src: MacAddr(src),
            dl_dst: MacAddr(dst),
            vlan_tci: expected_tci(vlan),
            dl_type: ethertype::IPV4,
            nw_src: u32::from_be_bytes(ip.src),
            nw_dst: u32::from_be_bytes(ip.dst),
            nw_proto: if ip.tcp { 6 } else { 17 },
            nw_tos: ip.dscp << 2 | ip.ecn,
            nw_ttl: ip.ttl,
            tp_src: if ip.tcp { 1234 } else { 5353 },
            tp_dst: if ip.tcp { 80 } else { 53 },
            ..FlowKey::default()
        });

        // ... and against what etherparse parses back.
        let p = SlicedPacket::from_ethernet(&bytes).unwrap();
        let Some(LinkSlice::Ethernet2(eth)) = &p.link else { panic!() };
        prop_assert_eq!(k.dl_src.0, eth.source());
        prop_assert_eq!(k.dl_dst.0, eth.destination());
        if let Some(VlanSlice::SingleVlan(v)) = p.vlan() {
            prop_assert_eq!(k.vlan_vid(), Some(v.vlan_identifier().value()));
            prop_assert_eq!(k.vlan_pcp(), v.priority_code_point().value());
        } else {
            prop_assert_eq!(k.vlan_tci, 0);
        }
        let Some(NetSlice::Ipv4(eip)) = &p.net else { panic!() };
        let eh = eip.header();
        let l3 = &bytes[if vlan.is_some() { 18 } else { 14 }..];
        let ours = Ipv4Packet::new_checked(l3).unwrap();
        prop_assert!(ours.verify_checksum());
        prop_assert_eq!(ours.checksum(), eh.header_checksum());
        prop_assert_eq!(ours.payload(), eip.payload().payload);
        let repr = Ipv4Repr::parse(&ours).unwrap();
        prop_assert_eq!(repr.src_addr, eh.source_addr());
        prop_assert_eq!(repr.dst_addr, eh.destination_addr());
        prop_assert_eq!(repr.ttl, eh.ttl());
        prop_assert_eq!(repr.ident, eh.identification());
        prop_assert_eq!(repr.dont_frag, eh.dont_fragment());
        prop_assert_eq!(repr.protocol, eh.protocol().0);
        prop_assert_eq!(repr.tos, eh.dcp().value() << 2 | eh.ecn().value());
        prop_assert_eq!(repr.payload_len, usize::from(eh.payload_len().unwrap()));
    }

    #[test]
    fn extract_arp_matches_etherparse(
        src in any::<[u8; 6]>(),
        vlan in vlan_spec(),
        op in any::<u16>(),
        sha in any::<[u8; 6]>(),
        spa in any::<[u8; 4]>(),
        tha in any::<[u8; 6]>(),
        tpa in any::<[u8; 4]>(),
    ) {
        let bytes = ep_arp_frame(src, vlan, op, (sha, spa, tha, tpa));
        let k = FlowKey::extract(1, &bytes).unwrap();
        prop_assert_eq!(k, FlowKey {
            in_port: 1,
            dl_src: MacAddr(src),
            dl_dst: MacAddr::BROADCAST,
            vlan_tci: expected_tci(vlan),
            dl_type: ethertype::ARP,
            nw_src: u32::from_be_bytes(spa),
            nw_dst: u32::from_be_bytes(tpa),
            // OVS keeps the opcode only if it fits in 8 bits.
            nw_proto: u8::try_from(op).unwrap_or(0),
            arp_sha: MacAddr(sha),
            arp_tha: MacAddr(tha),
            ..FlowKey::default()
        });
        let p = SlicedPacket::from_ethernet(&bytes).unwrap();
        let Some(NetSlice::Arp(a)) = &p.net else { panic!() };
        let a = a.to_packet().try_eth_ipv4().unwrap();
        prop_assert_eq!(k.arp_sha.0, a.sender_mac);
        prop_assert_eq!(k.arp_tha.0, a.target_mac);
        prop_assert_eq!(Ipv4Addr::from(k.nw_src), Ipv4Addr::from(a.sender_ipv4));
        prop_assert_eq!(Ipv4Addr::from(k.nw_dst), Ipv4Addr::from(a.target_ipv4));
    }

    /// TunnelOutput's bytes, read by etherparse: Ethernet and IPv4 fields and checksum,
    /// GRE by hand with etherparse's checksum sum, and the inner frame unchanged.
    #[test]
    fn encap_parses_with_etherparse(
        key in proptest::option::of(any::<u32>()),
        csum in any::<bool>(),
        macs in any::<([u8; 6], [u8; 6])>(),
        addrs in any::<([u8; 4], [u8; 4])>(),
        ttl in any::<u8>(),
        tos in any::<u8>(),
        df in any::<bool>(),
        vlan in vlan_spec(),
        ip in ip_spec(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let header = TunnelHeader {
            kind: TunnelKind::Gre { key, csum },
            eth_src: MacAddr(macs.0),
            eth_dst: MacAddr(macs.1),
            ip_src: addrs.0.into(),
            ip_dst: addrs.1.into(),
            ttl,
            tos,
            dont_fragment: df,
            mtu: u16::MAX,
        };
        let inner = ep_ip_frame([2; 6], [4; 6], vlan, &ip, &payload);
        let out = outputs(&[DpAction::TunnelOutput { port: 9, header }, DpAction::Output(3)], &inner);
        prop_assert_eq!(out.len(), 2);
        prop_assert_eq!(out[0].0, 9);
        prop_assert_eq!((out[1].0, &out[1].1), (3, &inner), "frame left as it was");
        let outer = &out[0].1;
        let hl = tunnel_header_len(&header);
        prop_assert_eq!(outer.len(), hl + inner.len());

        let p = SlicedPacket::from_ethernet(outer).unwrap();
        let Some(LinkSlice::Ethernet2(eth)) = &p.link else { panic!() };
        prop_assert_eq!(eth.source(), macs.0);
        prop_assert_eq!(eth.destination(), macs.1);
        prop_assert_eq!(eth.ether_type(), EtherType::IPV4);
        let Some(NetSlice::Ipv4(eip)) = &p.net else { panic!() };
        let h = eip.header().to_header();
        prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
        prop_assert_eq!(h.source, addrs.0);
        prop_assert_eq!(h.destination, addrs.1);
        prop_assert_eq!(h.time_to_live, ttl);
        prop_assert_eq!(h.dscp.value() << 2 | h.ecn.value(), tos);
        prop_assert_eq!(h.dont_fragment, df);
        prop_assert!(!h.more_fragments);
        prop_assert_eq!(h.fragment_offset.value(), 0);
        prop_assert_eq!(h.identification, 0);
        prop_assert_eq!(h.protocol, IpNumber::GRE);
        prop_assert_eq!(usize::from(h.total_len), outer.len() - 14);
        prop_assert!(h.options[..].is_empty());

        let gre = eip.payload().payload;
        let flags = u16::from_be_bytes([gre[0], gre[1]]);
        prop_assert_eq!(flags, if csum { 0x8000 } else { 0 } | if key.is_some() { 0x2000 } else { 0 });
        prop_assert_eq!(&gre[2..4], &[0x65, 0x58]);
        let mut at = 4;
        if csum {
            let sum = Sum16BitWords::new().add_slice(gre).ones_complement();
            prop_assert_eq!(sum, 0, "GRE checksum over header and inner frame");
            prop_assert_eq!(&gre[6..8], &[0, 0], "Reserved1");
            at += 4;
        }
        if let Some(k) = key {
            prop_assert_eq!(&gre[at..at + 4], &k.to_be_bytes());
            at += 4;
        }
        prop_assert_eq!(&gre[at..], &inner[..]);
        ep_check_ip_frame(&gre[at..]);

        let d = decap_gre(outer).unwrap();
        prop_assert_eq!(d.key, key);
        prop_assert_eq!(&outer[d.inner_range()], &inner[..]);
    }

    /// PushVlan and address rewrites, read by etherparse: tag fields, and IPv4 and L4
    /// checksums still right after the incremental updates.
    #[test]
    fn push_vlan_and_rewrite_parse_with_etherparse(
        ip in ip_spec(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        (pcp, vid) in (0u16..8, 0u16..4096),
        new_src in any::<[u8; 4]>(),
        new_dst in any::<[u8; 4]>(),
        zero_udp_csum in any::<bool>(),
    ) {
        let mut bytes = ep_ip_frame([2; 6], [4; 6], None, &ip, &payload);
        let zeroed = zero_udp_csum && !ip.tcp;
        if zeroed {
            bytes[14 + 20 + 6] = 0;
            bytes[14 + 20 + 7] = 0;
        }
        let tci = VLAN_PRESENT | pcp << 13 | vid;
        let out = outputs(
            &[
                DpAction::PushVlan { tpid: Tpid::Is(ethertype::VLAN), tci },
                DpAction::Output(1),
                DpAction::SetIpv4Src(new_src.into()),
                DpAction::SetIpv4Dst(new_dst.into()),
                DpAction::Output(2),
                DpAction::PopVlan,
                DpAction::Output(3),
            ],
            &bytes,
        );
        let (vlan, h) = ep_check_ip_frame(&out[0].1);
        let Some(VlanHeader::Single(v)) = vlan else { panic!("{vlan:?}") };
        prop_assert_eq!(v.vlan_id.value(), vid);
        prop_assert_eq!(u16::from(v.pcp.value()), pcp);
        prop_assert!(!v.drop_eligible_indicator);
        prop_assert_eq!(v.ether_type, EtherType::IPV4);
        prop_assert_eq!(h.source, ip.src);
        prop_assert_eq!(&out[0].1[18..], &bytes[14..]);

        let (vlan, h) = ep_check_ip_frame(&out[1].1);
        prop_assert!(vlan.is_some());
        prop_assert_eq!(h.source, new_src);
        prop_assert_eq!(h.destination, new_dst);
        if zeroed {
            prop_assert_eq!(&out[1].1[18 + 20 + 6..18 + 20 + 8], &[0, 0]);
        }

        let (vlan, _) = ep_check_ip_frame(&out[2].1);
        prop_assert!(vlan.is_none());
        prop_assert_eq!(&out[2].1[..], &out[1].1[..12]
            .iter()
            .chain(&out[1].1[16..])
            .copied()
            .collect::<Vec<u8>>()[..]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// VXLAN TunnelOutput's bytes, read by etherparse: Ethernet, IPv4 (checksum,
    /// protocol 17) and UDP fields (ports, length, checksum 0), then the VXLAN header by
    /// hand and the inner frame unchanged.
    #[test]
    fn vxlan_encap_parses_with_etherparse(
        vni in 0u32..=0xff_ffff,
        src_port in any::<u16>(),
        macs in any::<([u8; 6], [u8; 6])>(),
        addrs in any::<([u8; 4], [u8; 4])>(),
        ttl in any::<u8>(),
        tos in any::<u8>(),
        df in any::<bool>(),
        vlan in vlan_spec(),
        ip in ip_spec(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let header = TunnelHeader {
            kind: TunnelKind::Vxlan { vni, src_port },
            eth_src: MacAddr(macs.0),
            eth_dst: MacAddr(macs.1),
            ip_src: addrs.0.into(),
            ip_dst: addrs.1.into(),
            ttl,
            tos,
            dont_fragment: df,
            mtu: u16::MAX,
        };
        let inner = ep_ip_frame([2; 6], [4; 6], vlan, &ip, &payload);
        let out = outputs(&[DpAction::TunnelOutput { port: 9, header }, DpAction::Output(3)], &inner);
        prop_assert_eq!(out.len(), 2);
        prop_assert_eq!((out[1].0, &out[1].1), (3, &inner), "frame left as it was");
        let outer = &out[0].1;
        prop_assert_eq!(outer.len(), tunnel_header_len(&header) + inner.len());
        prop_assert_eq!(tunnel_header_len(&header), 50);

        let p = SlicedPacket::from_ethernet(outer).unwrap();
        let Some(LinkSlice::Ethernet2(eth)) = &p.link else { panic!() };
        prop_assert_eq!(eth.source(), macs.0);
        prop_assert_eq!(eth.destination(), macs.1);
        prop_assert_eq!(eth.ether_type(), EtherType::IPV4);
        let Some(NetSlice::Ipv4(eip)) = &p.net else { panic!() };
        let h = eip.header().to_header();
        prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
        prop_assert_eq!(h.source, addrs.0);
        prop_assert_eq!(h.destination, addrs.1);
        prop_assert_eq!(h.time_to_live, ttl);
        prop_assert_eq!(h.dscp.value() << 2 | h.ecn.value(), tos);
        prop_assert_eq!(h.dont_fragment, df);
        prop_assert!(!h.more_fragments);
        prop_assert_eq!(h.fragment_offset.value(), 0);
        prop_assert_eq!(h.protocol, IpNumber::UDP);
        prop_assert_eq!(usize::from(h.total_len), outer.len() - 14);
        let Some(TransportSlice::Udp(udp)) = &p.transport else { panic!("{:?}", p.transport) };
        prop_assert_eq!(udp.source_port(), src_port);
        prop_assert_eq!(udp.destination_port(), 4789);
        prop_assert_eq!(usize::from(udp.length()), 8 + 8 + inner.len());
        prop_assert_eq!(udp.checksum(), 0);
        let vx = udp.payload();
        prop_assert_eq!(&vx[..4], &[0x08, 0, 0, 0]);
        prop_assert_eq!(&vx[4..8], &(vni << 8).to_be_bytes());
        prop_assert_eq!(&vx[8..], &inner[..]);
        ep_check_ip_frame(&vx[8..]);

        let d = decap_tunnel(outer).unwrap();
        prop_assert_eq!(d.kind, TunnelType::Vxlan);
        prop_assert_eq!(d.key, Some(vni));
        prop_assert_eq!(&outer[d.inner_range()], &inner[..]);
    }

    /// A VXLAN packet built by etherparse (which fills in the UDP checksum): our decap
    /// finds the VNI and the inner frame, and refuses it once a payload bit flips.
    #[test]
    fn vxlan_from_etherparse_decaps(
        vni in 0u32..=0xff_ffff,
        src_port in any::<u16>(),
        addrs in any::<([u8; 4], [u8; 4])>(),
        outer_vlan in vlan_spec(),
        vlan in vlan_spec(),
        ip in ip_spec(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        flip in any::<prop::sample::Index>(),
    ) {
        let inner = ep_ip_frame([2; 6], [4; 6], vlan, &ip, &payload);
        let mut vx = vec![0x08, 0, 0, 0];
        vx.extend((vni << 8).to_be_bytes());
        vx.extend(&inner);
        let b = PacketBuilder::ethernet2([0x52, 0x54, 0, 0, 0, 1], [0x52, 0x54, 0, 0, 0, 2]);
        let b = match outer_vlan {
            Some(v) => b.vlan(ep_vlan(v)).ipv4(addrs.0, addrs.1, 64),
            None => b.ipv4(addrs.0, addrs.1, 64),
        };
        let mut outer = Vec::new();
        b.udp(src_port, 4789).write(&mut outer, &vx).unwrap();
        let tag = if outer_vlan.is_some() { 4 } else { 0 };
        prop_assert_ne!(&outer[tag + 40..tag + 42], &[0, 0], "etherparse computed a UDP checksum");

        let d = decap_vxlan(&outer).unwrap();
        prop_assert_eq!(d.kind, TunnelType::Vxlan);
        prop_assert_eq!(d.key, Some(vni));
        prop_assert_eq!(d.outer_src, Ipv4Addr::from(addrs.0));
        prop_assert_eq!(d.outer_dst, Ipv4Addr::from(addrs.1));
        prop_assert_eq!(d.inner_offset, tag + 50);
        prop_assert_eq!(&outer[d.inner_range()], &inner[..]);
        prop_assert_eq!(decap_tunnel(&outer), Ok(d));
        let k = FlowKey::extract(1, &outer[d.inner_range()]).unwrap();
        prop_assert_eq!(k.nw_src, u32::from_be_bytes(ip.src));
        prop_assert_eq!(k.vlan_tci, expected_tci(vlan));

        // Any single bit flipped in the UDP header (but its checksum field, whose value
        // 0 means none) or in what it carries breaks the checksum; some flips fail
        // earlier checks (length, port, I flag) with their own errors.
        let udp_at = tag + 34;
        let at = udp_at + flip.index(outer.len() - udp_at);
        if at != udp_at + 6 && at != udp_at + 7 {
            let mut bad = outer.clone();
            bad[at] ^= 0x01;
            let e = decap_vxlan(&bad).unwrap_err();
            prop_assert!(
                matches!(
                    e,
                    WireError::BadUdpChecksum
                        | WireError::BadUdpLength { .. }
                        | WireError::NotVxlan { .. }
                ),
                "{:?} at {}", e, at
            );
            if at >= udp_at + 8 || (udp_at..udp_at + 2).contains(&at) {
                prop_assert_eq!(e, WireError::BadUdpChecksum);
            }
        }
    }
}

/// etherparse's double tagging uses 0x88a8 outside: the outer tag is the key's VLAN and
/// the inner tag's TPID its dl_type (one tag parsed, as OVS's default vlan-limit=1).
#[test]
fn double_tag_from_etherparse_is_outer_vlan_and_inner_tpid() {
    let ip = IpSpec {
        src: [10, 0, 0, 1],
        dst: [10, 0, 0, 2],
        dscp: 0,
        ecn: 0,
        ttl: 64,
        ident: 0,
        df: true,
        tcp: false,
    };
    let h = Ipv4Header::new(0, 64, IpNumber::UDP, ip.src, ip.dst).unwrap();
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .double_vlan(10.try_into().unwrap(), 20.try_into().unwrap())
        .ip(IpHeaders::Ipv4(h, Default::default()))
        .udp(1, 2)
        .write(&mut bytes, &[1, 2, 3])
        .unwrap();
    assert_eq!(&bytes[12..14], &ethertype::QINQ.to_be_bytes());
    let k = FlowKey::extract(1, &bytes).unwrap();
    assert_eq!(k.dl_type, ethertype::VLAN);
    assert_eq!(k.vlan_tci, VLAN_PRESENT | 10);
    assert_eq!(k.nw_src, 0);
}

/// What an IP frame of the rewrite tests carries above IP.
#[derive(Clone, Copy, Debug)]
enum L4Kind {
    Tcp,
    Udp,
    /// UDP sent without a checksum (0).
    UdpNoCsum,
    /// ICMP (ICMPv6 over IPv6) echo request.
    Icmp,
    /// IPv6 only: a Neighbour Solicitation with a source link-layer address option.
    NdSolicit,
    /// IPv6 only: a Neighbour Advertisement with a target link-layer address option.
    NdAdvert,
}

fn l4_kind() -> impl Strategy<Value = L4Kind> {
    prop_oneof![
        Just(L4Kind::Tcp),
        Just(L4Kind::Udp),
        Just(L4Kind::UdpNoCsum),
        Just(L4Kind::Icmp),
        Just(L4Kind::NdSolicit),
        Just(L4Kind::NdAdvert),
    ]
}

const ND_TARGET: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99];
const ND_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x77];

/// Ethernet [/ 802.1Q] / IPv6 (traffic class `tc`) / `kind` built by etherparse, with
/// its checksums.
fn ep_ipv6_frame(
    vlan: Option<(u8, bool, u16)>,
    (src, dst, hl, tc): ([u8; 16], [u8; 16], u8, u8),
    kind: L4Kind,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2; 6], [4; 6]);
    let ip = |b: etherparse::PacketBuilderStep<etherparse::Ethernet2Header>| b.ipv6(src, dst, hl);
    let b = match vlan {
        Some(v) => b.vlan(ep_vlan(v)).ipv6(src, dst, hl),
        None => ip(b),
    };
    let mut out = Vec::new();
    let nd = |ty: u8, opt: u8| {
        let mut p = ND_TARGET.to_vec();
        p.extend([opt, 1]);
        p.extend(ND_MAC);
        (ty, p)
    };
    match kind {
        L4Kind::Tcp => b.tcp(1234, 80, 7, 1000).write(&mut out, payload).unwrap(),
        L4Kind::Udp | L4Kind::UdpNoCsum => b.udp(5353, 53).write(&mut out, payload).unwrap(),
        L4Kind::Icmp => b
            .icmpv6_echo_request(1, 2)
            .write(&mut out, payload)
            .unwrap(),
        L4Kind::NdSolicit | L4Kind::NdAdvert => {
            let (ty, p) = match kind {
                L4Kind::NdSolicit => nd(135, 1),
                _ => nd(136, 2),
            };
            b.icmpv6_raw(ty, 0, [0x60, 0, 0, 0])
                .write(&mut out, &p)
                .unwrap()
        }
    }
    let l3 = if vlan.is_some() { 18 } else { 14 };
    out[l3] = 0x60 | tc >> 4;
    out[l3 + 1] = (out[l3 + 1] & 0x0f) | tc << 4;
    if let L4Kind::UdpNoCsum = kind {
        out[l3 + 40 + 6] = 0;
        out[l3 + 40 + 7] = 0;
    }
    out
}

/// Parses an IPv6 frame with etherparse and checks the upper layer's checksum against
/// etherparse's own computation (a UDP checksum of 0 stays accepted as none). Returns
/// (src, dst, hop limit, traffic class, transport ports or type/code).
fn ep_check_ipv6_frame(bytes: &[u8]) -> ([u8; 16], [u8; 16], u8, u8, (u16, u16)) {
    let p = SlicedPacket::from_ethernet(bytes).expect("etherparse parses our frame");
    let Some(NetSlice::Ipv6(ip)) = &p.net else {
        panic!("no IPv6 in {:?}", p.net)
    };
    let h = ip.header();
    let (src, dst) = (h.source(), h.destination());
    let ports = match &p.transport {
        Some(TransportSlice::Udp(u)) => {
            if u.checksum() != 0 {
                let want = u
                    .to_header()
                    .calc_checksum_ipv6(&h.to_header(), u.payload())
                    .unwrap();
                assert_eq!(u.checksum(), want, "UDP checksum");
            }
            (u.source_port(), u.destination_port())
        }
        Some(TransportSlice::Tcp(t)) => {
            assert_eq!(
                t.checksum(),
                t.calc_checksum_ipv6(src, dst).unwrap(),
                "TCP checksum"
            );
            (t.source_port(), t.destination_port())
        }
        Some(TransportSlice::Icmpv6(i)) => {
            assert!(i.is_checksum_valid(src, dst), "ICMPv6 checksum");
            (u16::from(i.type_u8()), u16::from(i.code_u8()))
        }
        other => panic!("unexpected transport {other:?}"),
    };
    (src, dst, h.hop_limit(), h.traffic_class(), ports)
}

/// The ICMPv4 checksum of an IPv4 frame's message, by etherparse's word sum.
fn ep_icmpv4_ok(bytes: &[u8], l3: usize) -> bool {
    let msg = &bytes[l3 + 20..];
    Sum16BitWords::new().add_slice(msg).ones_complement() == 0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// IPv6 frames etherparse builds give the fields it was given, through the
    /// transport layer and Neighbour Discovery.
    #[test]
    fn extract_ipv6_matches_etherparse(
        vlan in vlan_spec(),
        addrs in (any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u8>(), any::<u8>()),
        kind in l4_kind(),
        payload in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let bytes = ep_ipv6_frame(vlan, addrs, kind, &payload);
        let k = FlowKey::extract(3, &bytes).unwrap();
        let (src, dst, hl, tc) = addrs;
        let (proto, tp, nd) = match kind {
            L4Kind::Tcp => (6, (1234, 80), None),
            L4Kind::Udp | L4Kind::UdpNoCsum => (17, (5353, 53), None),
            L4Kind::Icmp => (58, (128, 0), None),
            L4Kind::NdSolicit => (58, (135, 0), Some((MacAddr(ND_MAC), MacAddr::ZERO))),
            L4Kind::NdAdvert => (58, (136, 0), Some((MacAddr::ZERO, MacAddr(ND_MAC)))),
        };
        prop_assert_eq!(k, FlowKey {
            in_port: 3,
            dl_src: MacAddr([2; 6]),
            dl_dst: MacAddr([4; 6]),
            vlan_tci: expected_tci(vlan),
            dl_type: ethertype::IPV6,
            ipv6_src: u128::from_be_bytes(src),
            ipv6_dst: u128::from_be_bytes(dst),
            nw_ttl: hl,
            nw_tos: tc,
            nw_proto: proto,
            tp_src: tp.0,
            tp_dst: tp.1,
            nd_target: if nd.is_some() { u128::from_be_bytes(ND_TARGET) } else { 0 },
            arp_sha: nd.map_or(MacAddr::ZERO, |n| n.0),
            arp_tha: nd.map_or(MacAddr::ZERO, |n| n.1),
            ..FlowKey::default()
        });
        let (esrc, edst, ehl, etc, eports) = ep_check_ipv6_frame(&bytes);
        prop_assert_eq!((esrc, edst, ehl, etc), (src, dst, hl, tc));
        prop_assert_eq!(eports, tp);
    }

    /// Every IPv6 rewrite, applied to etherparse's frames, leaves frames etherparse reads
    /// back with the new values and checksums it recomputes to the same (UDP's zero
    /// staying zero); fields no action names are unchanged.
    #[test]
    fn ipv6_rewrites_parse_with_etherparse(
        vlan in vlan_spec(),
        addrs in (any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u8>(), any::<u8>()),
        kind in l4_kind(),
        payload in proptest::collection::vec(any::<u8>(), 0..40),
        new in (any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u8>(), any::<u8>()),
        ports in (any::<u16>(), any::<u16>()),
        nd_new in (any::<[u8; 16]>(), any::<[u8; 6]>()),
        which in any::<[bool; 8]>(),
    ) {
        let bytes = ep_ipv6_frame(vlan, addrs, kind, &payload);
        let mut actions = Vec::new();
        if which[0] { actions.push(DpAction::SetIpv6Src(Ipv6Addr::from(new.0))); }
        if which[1] { actions.push(DpAction::SetIpv6Dst(Ipv6Addr::from(new.1))); }
        if which[2] { actions.push(DpAction::SetIpv6HopLimit(new.2)); }
        if which[3] { actions.push(DpAction::SetIpv6Tclass(new.3)); }
        // Port and ICMPv6 rewrites of every kind: only the frame's own applies.
        if which[4] {
            actions.extend([
                DpAction::SetTcpSrc(ports.0), DpAction::SetUdpSrc(ports.0),
                DpAction::SetIcmpv6Code(ports.0 as u8), DpAction::SetIcmpCode(9),
            ]);
        }
        if which[5] {
            actions.extend([
                DpAction::SetTcpDst(ports.1), DpAction::SetUdpDst(ports.1),
            ]);
        }
        if which[6] { actions.push(DpAction::SetNdTarget(Ipv6Addr::from(nd_new.0))); }
        if which[7] {
            actions.push(DpAction::SetNdSll(MacAddr(nd_new.1)));
            actions.push(DpAction::SetNdTll(MacAddr(nd_new.1)));
        }
        actions.push(DpAction::Output(1));
        let out = outputs(&actions, &bytes);
        let o = &out[0].1;
        prop_assert_eq!(o.len(), bytes.len());
        let (src, dst, hl, tc, tp) = ep_check_ipv6_frame(o);
        prop_assert_eq!(src, if which[0] { new.0 } else { addrs.0 });
        prop_assert_eq!(dst, if which[1] { new.1 } else { addrs.1 });
        prop_assert_eq!(hl, if which[2] { new.2 } else { addrs.2 });
        prop_assert_eq!(tc, if which[3] { new.3 } else { addrs.3 });
        let k = FlowKey::extract(3, &bytes).unwrap();
        let k2 = FlowKey::extract(3, o).unwrap();
        let icmp = matches!(kind, L4Kind::Icmp | L4Kind::NdSolicit | L4Kind::NdAdvert);
        let want_tp = match (icmp, which[4], which[5]) {
            (true, true, _) => (k.tp_src, ports.0 & 0xff),
            (true, false, _) => (k.tp_src, k.tp_dst),
            (false, s, d) => (if s { ports.0 } else { k.tp_src }, if d { ports.1 } else { k.tp_dst }),
        };
        prop_assert_eq!(tp, want_tp);
        prop_assert_eq!((k2.tp_src, k2.tp_dst), want_tp);
        let l3 = if vlan.is_some() { 18 } else { 14 };
        if let L4Kind::UdpNoCsum = kind {
            prop_assert_eq!(&o[l3 + 46..l3 + 48], &[0, 0]);
        }
        // ND: a code change makes it no ND message any more, whose fields are then not
        // read; otherwise the target and the message's own option follow the actions.
        let nd = matches!(kind, L4Kind::NdSolicit | L4Kind::NdAdvert);
        if nd && !(which[4] && ports.0 as u8 != 0) {
            let target = if which[6] { nd_new.0 } else { ND_TARGET };
            prop_assert_eq!(k2.nd_target, u128::from_be_bytes(target));
            let mac = if which[7] { MacAddr(nd_new.1) } else { MacAddr(ND_MAC) };
            match kind {
                L4Kind::NdSolicit => prop_assert_eq!((k2.arp_sha, k2.arp_tha), (mac, MacAddr::ZERO)),
                _ => prop_assert_eq!((k2.arp_sha, k2.arp_tha), (MacAddr::ZERO, mac)),
            }
        }
        // Everything after the fixed header that no action names (nor its checksum
        // covers) is as it was.
        if !icmp && !which[0] && !which[1] && !which[4] && !which[5] {
            prop_assert_eq!(&o[l3 + 40 + 8..], &bytes[l3 + 40 + 8..]);
        }
    }

    /// The IPv4 rewrites other than the addresses (TOS, TTL, ports, ICMP type/code) keep
    /// every checksum right by etherparse's recomputation.
    #[test]
    fn ipv4_rewrites_parse_with_etherparse(
        vlan in vlan_spec(),
        ip in ip_spec(),
        icmp in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..40),
        tos in any::<u8>(),
        ttl in any::<u8>(),
        ports in (any::<u16>(), any::<u16>()),
        which in any::<[bool; 4]>(),
    ) {
        let l3 = if vlan.is_some() { 18 } else { 14 };
        let bytes = if icmp {
            let h = Ipv4Header::new(0, ip.ttl, IpNumber::ICMP, ip.src, ip.dst).unwrap();
            let b = PacketBuilder::ethernet2([2; 6], [4; 6]);
            let b = match vlan {
                Some(v) => b.vlan(ep_vlan(v)).ip(IpHeaders::Ipv4(h, Default::default())),
                None => b.ip(IpHeaders::Ipv4(h, Default::default())),
            };
            let mut out = Vec::new();
            b.icmpv4_echo_request(7, 8).write(&mut out, &payload).unwrap();
            out
        } else {
            ep_ip_frame([2; 6], [4; 6], vlan, &ip, &payload)
        };
        let mut actions = Vec::new();
        if which[0] { actions.push(DpAction::SetIpv4Tos(tos)); }
        if which[1] { actions.push(DpAction::SetIpv4Ttl(ttl)); }
        if which[2] {
            actions.extend([
                DpAction::SetTcpSrc(ports.0), DpAction::SetUdpSrc(ports.0),
                DpAction::SetIcmpType(ports.0 as u8), DpAction::SetIcmpv6Type(1),
            ]);
        }
        if which[3] {
            actions.extend([
                DpAction::SetTcpDst(ports.1), DpAction::SetUdpDst(ports.1),
                DpAction::SetIcmpCode(ports.1 as u8),
            ]);
        }
        actions.push(DpAction::Output(1));
        let out = outputs(&actions, &bytes);
        let o = &out[0].1;
        let k = FlowKey::extract(1, &bytes).unwrap();
        let k2 = FlowKey::extract(1, o).unwrap();
        if icmp {
            // A type change can make a message etherparse's packet parser refuses (a
            // timestamp needs 20 bytes): read the IPv4 header alone.
            prop_assert!(ep_icmpv4_ok(o, l3));
            let h = etherparse::Ipv4HeaderSlice::from_slice(&o[l3..]).unwrap().to_header();
            prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
        } else {
            ep_check_ip_frame(o);
        }
        prop_assert_eq!(k2.nw_tos, if which[0] { tos } else { k.nw_tos });
        prop_assert_eq!(k2.nw_ttl, if which[1] { ttl } else { k.nw_ttl });
        let (s, d) = if icmp { (ports.0 & 0xff, ports.1 & 0xff) } else { ports };
        prop_assert_eq!(k2.tp_src, if which[2] { s } else { k.tp_src });
        prop_assert_eq!(k2.tp_dst, if which[3] { d } else { k.tp_dst });
        prop_assert_eq!((k2.nw_src, k2.nw_dst, k2.nw_proto), (k.nw_src, k.nw_dst, k.nw_proto));
    }
}
