//! etherparse as an independent oracle: frames it builds must parse to the same fields
//! with ours, and frames we build (tunnel encap, VLAN push, address rewrites) must parse
//! with it, checksums included.

use std::net::Ipv4Addr;

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
            nw_proto: op as u8,
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
