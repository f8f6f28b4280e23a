//! The fuzz target, as proptest: whatever the bytes, `FlowKey::extract`, `decap_gre`,
//! `decap_vxlan`, `decap_tunnel` and `execute` (with any action list) return instead of panicking, and what they return is
//! consistent with the input. Inputs are random bytes, and valid frames of every kind the
//! parsers accept with bytes flipped and cut short, so that the mutations reach the
//! deeper layers (random bytes alone rarely get past the ethertype).

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::wire::{
    ArpPacket, ArpRepr, EthernetFrame, EthernetRepr, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr,
    UdpPacket, VlanRepr, VlanTag,
};
use xvs_dataplane::{
    decap_gre, decap_tunnel, decap_vxlan, execute, tunnel_header_len, write_tunnel_header,
    DpAction, ExecError, FlowKey, FrameBuf, MacAddr, Tpid, TunnelDecap, TunnelHeader, TunnelKind,
    TunnelType, WireError,
};

const SRC: MacAddr = MacAddr([0xfa, 0x16, 0x3e, 0, 0, 1]);
const DST: MacAddr = MacAddr([0xfa, 0x16, 0x3e, 0, 0, 2]);

fn l2(tag: Option<u16>, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 18];
    let mut eth = EthernetFrame::new_unchecked(&mut v[..]);
    EthernetRepr {
        src_addr: SRC,
        dst_addr: DST,
        ethertype: if tag.is_some() { 0x8100 } else { ethertype },
    }
    .emit(&mut eth);
    match tag {
        Some(tci) => VlanRepr {
            pcp: (tci >> 13) as u8,
            dei: false,
            vid: tci & 0xfff,
            ethertype,
        }
        .emit(&mut VlanTag::new_unchecked(&mut v[14..])),
        None => v.truncate(14),
    }
    v.extend_from_slice(payload);
    v
}

fn ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 20];
    Ipv4Repr {
        src_addr: Ipv4Addr::new(10, 0, 0, 1),
        dst_addr: Ipv4Addr::new(10, 0, 0, 2),
        protocol,
        tos: 0,
        ttl: 64,
        ident: 7,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        payload_len: payload.len(),
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut v[..]));
    v.extend_from_slice(payload);
    v
}

fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 40];
    Ipv6Repr {
        src_addr: "2001:db8::1".parse().unwrap(),
        dst_addr: "2001:db8::2".parse().unwrap(),
        next_header: next,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
        payload_len: payload.len() as u16,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut v[..]));
    v.extend_from_slice(payload);
    v
}

/// A Neighbour Solicitation (135) or Advertisement (136) with a source and a target
/// link-layer address option.
fn nd(ty: u8) -> Vec<u8> {
    let mut m = vec![ty, 0, 0, 0, 0x60, 0, 0, 0];
    m.extend([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42]);
    m.extend([1, 1, 2, 0, 0, 0, 0, 1, 2, 1, 2, 0, 0, 0, 0, 2]);
    m
}

fn arp() -> Vec<u8> {
    let mut v = vec![0u8; 28];
    ArpRepr {
        operation: 1,
        sha: SRC,
        spa: Ipv4Addr::new(10, 0, 0, 1),
        tha: MacAddr::ZERO,
        tpa: Ipv4Addr::new(10, 0, 0, 2),
    }
    .emit(&mut ArpPacket::new_unchecked(&mut v[..]));
    v
}

fn gre_header(key: Option<u32>, csum: bool) -> TunnelHeader {
    TunnelHeader {
        kind: TunnelKind::Gre { key, csum },
        eth_src: SRC,
        eth_dst: DST,
        ip_src: Ipv4Addr::new(192, 0, 2, 1),
        ip_dst: Ipv4Addr::new(192, 0, 2, 2),
        ttl: 64,
        tos: 0,
        dont_fragment: true,
        mtu: u16::MAX,
    }
}

fn vxlan_header(vni: u32) -> TunnelHeader {
    TunnelHeader {
        kind: TunnelKind::Vxlan {
            vni,
            src_port: 50000,
        },
        ..gre_header(None, false)
    }
}

/// A VXLAN packet with the UDP checksum filled in (not 0), so that mutations reach its
/// verification.
fn vxlan_with_udp_checksum(inner: &[u8]) -> Vec<u8> {
    let h = vxlan_header(0x3e7);
    let mut v = encap(&h, inner);
    UdpPacket::new_checked(&mut v[34..])
        .unwrap()
        .fill_checksum_ipv4(h.ip_src, h.ip_dst);
    v
}

fn encap(header: &TunnelHeader, inner: &[u8]) -> Vec<u8> {
    let hl = tunnel_header_len(header);
    let mut v = vec![0u8; hl + inner.len()];
    v[hl..].copy_from_slice(inner);
    write_tunnel_header(header, inner.len(), &mut v).unwrap();
    v
}

/// Valid frames covering every path of the parsers.
fn seeds() -> Vec<Vec<u8>> {
    // UDP and TCP headers with room for the checksum fields the rewrites touch.
    let udp = [0x14, 0xe9, 0x00, 0x35, 0x00, 0x0c, 0x12, 0x34, 1, 2, 3, 4];
    let tcp = [0u8; 24];
    let inner = l2(Some(10), 0x0800, &ipv4(17, &udp));
    vec![
        l2(None, 0x0800, &ipv4(17, &udp)),
        l2(Some(0xa064), 0x0800, &ipv4(6, &tcp)),
        l2(None, 0x0806, &arp()),
        l2(Some(5), 0x0806, &arp()),
        l2(Some(5), 0x8100, &[0, 6, 8, 0, 0x45]),
        l2(None, 0x88a8, &[0, 6, 0x81, 0, 0, 7, 8, 0]),
        l2(None, 0x86dd, &[0x60; 40]),
        encap(&gre_header(Some(0x3e7), true), &inner),
        encap(&gre_header(None, false), &inner),
        encap(&gre_header(Some(1), false), &l2(None, 0x0806, &arp())),
        encap(&vxlan_header(0x3e7), &inner),
        encap(&vxlan_header(0xff_ffff), &l2(None, 0x0806, &arp())),
        vxlan_with_udp_checksum(&inner),
        // 802.1ad S-tagged IPv4 and ARP (after the tunnel seeds, which are found by index).
        l2(
            None,
            0x88a8,
            &[[0xa0, 6, 8, 0].as_slice(), &ipv4(17, &udp)].concat(),
        ),
        l2(None, 0x88a8, &[[0, 6, 8, 6].as_slice(), &arp()].concat()),
        // IPv6 through hop-by-hop and a first-fragment header to TCP; UDP; ICMPv6 ND;
        // IPv4 ICMP (after the seeds above, which are found by index).
        l2(
            None,
            0x86dd,
            &ipv6(
                0,
                &[
                    [44, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 1, 0, 0, 0, 9].as_slice(),
                    &tcp,
                ]
                .concat(),
            ),
        ),
        l2(Some(7), 0x86dd, &ipv6(17, &udp)),
        l2(None, 0x86dd, &ipv6(58, &nd(135))),
        l2(Some(7), 0x86dd, &ipv6(58, &nd(136))),
        l2(None, 0x0800, &ipv4(1, &[8, 0, 0xf7, 0xfe, 0, 1, 0, 0])),
    ]
}

/// The seeds with an IP header (and the transport header behind it).
const IP_SEEDS: [usize; 8] = [0, 1, 13, 15, 16, 17, 18, 19];

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn ip() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn tunnel_header() -> impl Strategy<Value = TunnelHeader> {
    (
        prop_oneof![
            (proptest::option::of(any::<u32>()), any::<bool>())
                .prop_map(|(key, csum)| TunnelKind::Gre { key, csum }),
            any::<(u32, u16)>().prop_map(|(vni, src_port)| TunnelKind::Vxlan { vni, src_port }),
        ],
        mac(),
        mac(),
        ip(),
        ip(),
        any::<(u8, u8, bool)>(),
        prop_oneof![Just(u16::MAX), any::<u16>(), 60u16..2000],
    )
        .prop_map(
            |(kind, eth_src, eth_dst, ip_src, ip_dst, (ttl, tos, dont_fragment), mtu)| {
                TunnelHeader {
                    kind,
                    eth_src,
                    eth_dst,
                    ip_src,
                    ip_dst,
                    ttl,
                    tos,
                    dont_fragment,
                    mtu,
                }
            },
        )
}

fn action() -> impl Strategy<Value = DpAction> {
    prop_oneof![
        any::<u32>().prop_map(DpAction::Output),
        (
            prop_oneof![
                Just(Tpid::Received),
                prop_oneof![Just(0x8100u16), Just(0x88a8), any::<u16>()].prop_map(Tpid::Is)
            ],
            any::<u16>()
        )
            .prop_map(|(tpid, tci)| DpAction::PushVlan { tpid, tci }),
        Just(DpAction::PopVlan),
        any::<u16>().prop_map(DpAction::SetVlan),
        mac().prop_map(DpAction::SetEthSrc),
        mac().prop_map(DpAction::SetEthDst),
        any::<u16>().prop_map(DpAction::SetArpOp),
        mac().prop_map(DpAction::SetArpSha),
        mac().prop_map(DpAction::SetArpTha),
        ip().prop_map(DpAction::SetArpSpa),
        ip().prop_map(DpAction::SetArpTpa),
        ip().prop_map(DpAction::SetIpv4Src),
        ip().prop_map(DpAction::SetIpv4Dst),
        any::<u8>().prop_map(DpAction::SetIpv4Tos),
        any::<u8>().prop_map(DpAction::SetIpv4Ttl),
        any::<u128>().prop_map(|a| DpAction::SetIpv6Src(Ipv6Addr::from(a))),
        any::<u128>().prop_map(|a| DpAction::SetIpv6Dst(Ipv6Addr::from(a))),
        any::<u8>().prop_map(DpAction::SetIpv6Tclass),
        any::<u8>().prop_map(DpAction::SetIpv6HopLimit),
        any::<u16>().prop_map(DpAction::SetTcpSrc),
        any::<u16>().prop_map(DpAction::SetTcpDst),
        any::<u16>().prop_map(DpAction::SetUdpSrc),
        any::<u16>().prop_map(DpAction::SetUdpDst),
        any::<u8>().prop_map(DpAction::SetIcmpType),
        any::<u8>().prop_map(DpAction::SetIcmpCode),
        any::<u8>().prop_map(DpAction::SetIcmpv6Type),
        any::<u8>().prop_map(DpAction::SetIcmpv6Code),
        any::<u128>().prop_map(|a| DpAction::SetNdTarget(Ipv6Addr::from(a))),
        mac().prop_map(DpAction::SetNdSll),
        mac().prop_map(DpAction::SetNdTll),
        (any::<u32>(), tunnel_header())
            .prop_map(|(port, header)| DpAction::TunnelOutput { port, header }),
    ]
}

/// A valid frame with up to 6 bytes xor-ed and then cut at some length, or random bytes.
fn input() -> impl Strategy<Value = Vec<u8>> {
    let n = seeds().len();
    prop_oneof![
        3 => (
            0..n,
            proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..6),
            any::<prop::sample::Index>(),
            any::<bool>(),
        )
            .prop_map(|(i, flips, cut, do_cut)| {
                let mut f = seeds().swap_remove(i);
                for (at, x) in flips {
                    let at = at.index(f.len());
                    f[at] ^= x;
                }
                if do_cut {
                    f.truncate(cut.index(f.len() + 1));
                }
                f
            }),
        1 => proptest::collection::vec(any::<u8>(), 0..128),
    ]
}

/// Runs every entry point on `bytes` and checks what comes back.
fn exercise(bytes: &[u8], actions: &[DpAction], headroom: usize) {
    // Past Ethernet, nothing is an error (OVS keeps what it could parse).
    assert_eq!(FlowKey::extract(3, bytes).is_ok(), bytes.len() >= 14);
    if let Ok(k) = FlowKey::extract(3, bytes) {
        assert_eq!(k.in_port, 3);
        assert_eq!(
            (k.metadata, k.regs),
            (0, [0; 16]),
            "pipeline state is never extracted"
        );
        assert_eq!(k.tun_id, 0);
        assert!(k.vlan_tci == 0 || k.vlan_tci & VLAN_PRESENT != 0);
    }
    let gre = decap_gre(bytes);
    let vxlan = decap_vxlan(bytes);
    let any = decap_tunnel(bytes);
    if let Ok(d) = gre {
        assert_eq!(any, Ok(TunnelDecap::from(d)));
    }
    if let Ok(d) = vxlan {
        assert_eq!(any, Ok(d));
        assert_eq!(d.kind, TunnelType::Vxlan);
        assert!(d.key.is_some_and(|vni| vni <= 0xff_ffff));
    }
    match any {
        Ok(d) => {
            assert!(gre.is_ok() != vxlan.is_ok(), "exactly one decap agrees");
            let inner = bytes
                .get(d.inner_range())
                .expect("inner range inside the frame");
            assert!(inner.len() >= 14);
            let _ = FlowKey::extract(4, inner);
        }
        Err(_) => assert!(gre.is_err() && vxlan.is_err()),
    }

    let mut frame = FrameBuf::with_headroom(bytes, headroom);
    let mut outputs = 0usize;
    let r = execute(actions, &mut frame, |_, out| {
        outputs += 1;
        let _ = FlowKey::extract(5, out);
        let _ = decap_gre(out);
        let _ = decap_tunnel(out);
    });
    match r {
        Ok(done) => {
            let expected = actions
                .iter()
                .filter(|a| matches!(a, DpAction::Output(_) | DpAction::TunnelOutput { .. }))
                .count();
            assert_eq!(outputs + done.too_big as usize, expected);
        }
        Err(ExecError::NoHeadroom { .. })
        | Err(ExecError::Wire(WireError::PacketTooLarge { .. })) => {}
        Err(e) => panic!("unexpected execute error {e:?}"),
    }
    assert!(frame.len() + frame.headroom() <= bytes.len() + headroom);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn parsers_and_executor_never_panic(
        bytes in input(),
        actions in proptest::collection::vec(action(), 0..8),
        headroom in prop_oneof![Just(0usize), 0usize..64, Just(256usize)],
    ) {
        exercise(&bytes, &actions, headroom);
    }
}

/// Every prefix of every seed, and every single-byte corruption of a seed with a few
/// values, through all entry points with an action list that touches every header.
#[test]
fn every_cut_and_every_byte() {
    let actions = [
        DpAction::SetIpv4Src(Ipv4Addr::new(1, 2, 3, 4)),
        DpAction::SetArpTpa(Ipv4Addr::new(5, 6, 7, 8)),
        DpAction::SetIpv4Ttl(1),
        DpAction::SetIpv6Dst(Ipv6Addr::LOCALHOST),
        DpAction::SetTcpDst(1),
        DpAction::SetUdpSrc(2),
        DpAction::SetIcmpType(3),
        DpAction::SetIcmpv6Code(4),
        DpAction::SetNdTarget(Ipv6Addr::UNSPECIFIED),
        DpAction::SetNdSll(MacAddr([9; 6])),
        DpAction::SetVlan(0x1fff),
        DpAction::PopVlan,
        DpAction::PushVlan {
            tpid: Tpid::Received,
            tci: 0xffff,
        },
        DpAction::PushVlan {
            tpid: Tpid::Is(0x88a8),
            tci: 0xffff,
        },
        DpAction::Output(1),
        DpAction::TunnelOutput {
            port: 2,
            header: gre_header(Some(9), true),
        },
        DpAction::TunnelOutput {
            port: 3,
            header: vxlan_header(9),
        },
    ];
    for seed in seeds() {
        for cut in 0..=seed.len() {
            exercise(&seed[..cut], &actions, 256);
        }
        for at in 0..seed.len() {
            for x in [0x01, 0x0f, 0x80, 0xff] {
                let mut f = seed.clone();
                f[at] ^= x;
                exercise(&f, &actions, 64);
            }
        }
    }
}

/// The seeds themselves parse: the mutations start from frames that reach every layer.
#[test]
fn seeds_are_valid() {
    for (i, seed) in seeds().iter().enumerate() {
        FlowKey::extract(1, seed).unwrap_or_else(|e| panic!("seed {i}: {e}"));
    }
    let s = seeds();
    for gre in &s[7..10] {
        decap_gre(gre).unwrap();
    }
    for vx in &s[10..13] {
        assert_eq!(decap_tunnel(vx).unwrap().kind, TunnelType::Vxlan);
    }
    assert_ne!(&s[12][40..42], &[0, 0], "the last seed has a UDP checksum");
}

/// Every L3 and L4 rewrite applies only to a whole header: an IP frame cut anywhere
/// (its length fields then say more than is there) leaves unchanged, as does one cut
/// inside its transport header for the transport rewrites.
#[test]
fn rewrites_leave_short_frames_as_they_are() {
    let rewrites = [
        DpAction::SetIpv4Src(Ipv4Addr::new(1, 2, 3, 4)),
        DpAction::SetIpv4Tos(0xff),
        DpAction::SetIpv4Ttl(1),
        DpAction::SetIpv6Src(Ipv6Addr::LOCALHOST),
        DpAction::SetIpv6Dst(Ipv6Addr::LOCALHOST),
        DpAction::SetIpv6Tclass(0xff),
        DpAction::SetIpv6HopLimit(1),
        DpAction::SetTcpSrc(1),
        DpAction::SetTcpDst(1),
        DpAction::SetUdpSrc(2),
        DpAction::SetUdpDst(2),
        DpAction::SetIcmpType(3),
        DpAction::SetIcmpCode(3),
        DpAction::SetIcmpv6Type(4),
        DpAction::SetIcmpv6Code(4),
        DpAction::SetNdTarget(Ipv6Addr::UNSPECIFIED),
        DpAction::SetNdSll(MacAddr([9; 6])),
        DpAction::SetNdTll(MacAddr([9; 6])),
        DpAction::Output(1),
    ];
    let seeds = seeds();
    for i in IP_SEEDS {
        let seed = &seeds[i];
        let mut whole = FrameBuf::with_headroom(seed, 0);
        let mut changed = false;
        execute(&rewrites, &mut whole, |_, out| changed = out != &seed[..]).unwrap();
        assert!(changed, "seed {i} is rewritten when whole");
        for cut in 0..seed.len() {
            let mut f = FrameBuf::with_headroom(&seed[..cut], 0);
            execute(&rewrites, &mut f, |_, out| {
                assert_eq!(out, &seed[..cut], "seed {i} cut at {cut}")
            })
            .unwrap();
        }
    }
}
