//! Byte-exact golden tests. The hex is written out by hand from the RFC layouts (RFC 791,
//! RFC 768, RFC 2784/2890, RFC 7348, RFC 826, IEEE 802.1Q); the checksums in it were computed separately and
//! are checked here again with a plain RFC 1071 loop that shares no code with the crate.

use std::net::Ipv4Addr;

use xvs_dataplane::wire::Layer;
use xvs_dataplane::{
    decap_gre, decap_tunnel, decap_vxlan, execute, tunnel_header_len, DpAction, FlowKey, FrameBuf,
    MacAddr, Tpid, TunnelHeader, TunnelKind, WireError, DEFAULT_HEADROOM,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    assert!(s.len().is_multiple_of(2), "odd hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 1071, the obvious way: sum 16-bit words, fold, complement.
fn rfc1071(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut i = 0;
    while i < data.len() {
        let hi = u32::from(data[i]) << 8;
        let lo = data.get(i + 1).map_or(0, |&b| u32::from(b));
        sum += hi | lo;
        i += 2;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Tagged inner frame: fa:16:3e:00:00:01 -> fa:16:3e:00:00:02, VLAN 10, IPv4
/// 10.0.0.1 -> 10.0.0.2 ICMP echo request id 1 seq 1. 46 bytes.
const INNER: &str = "
    fa163e000002 fa163e000001 8100 000a 0800
    4500 001c 0001 0000 4001 66de 0a000001 0a000002
    0800 f7fd 0001 0001";

/// GRE-TEB with key 0x3e7 (no checksum) around INNER: 192.0.2.1 -> 192.0.2.2, DF, TTL 64.
const DECAP_FRAME: &str = "
    525400000002 525400000001 0800
    4500 004a 0000 4000 402f b681 c0000201 c0000202
    2000 6558 000003e7";

fn tunnel(key: Option<u32>, csum: bool) -> TunnelHeader {
    TunnelHeader {
        kind: TunnelKind::Gre { key, csum },
        eth_src: "52:54:00:00:00:01".parse().unwrap(),
        eth_dst: "52:54:00:00:00:02".parse().unwrap(),
        ip_src: Ipv4Addr::new(192, 0, 2, 1),
        ip_dst: Ipv4Addr::new(192, 0, 2, 2),
        ttl: 64,
        tos: 0,
        dont_fragment: true,
        mtu: u16::MAX,
    }
}

fn decap_frame() -> Vec<u8> {
    let mut f = hex(DECAP_FRAME);
    f.extend(hex(INNER));
    f
}

/// Rewrites the outer IPv4 total length (for a frame without outer tag) and refreshes the
/// header checksum.
fn fix_outer_ip(frame: &mut [u8], total_len: u16) {
    frame[16..18].copy_from_slice(&total_len.to_be_bytes());
    frame[24..26].fill(0);
    let c = rfc1071(&frame[14..34]);
    frame[24..26].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn the_hand_written_checksums_are_right() {
    let inner = hex(INNER);
    assert_eq!(inner.len(), 46);
    assert_eq!(rfc1071(&inner[18..38]), 0, "inner IPv4");
    assert_eq!(rfc1071(&inner[38..]), 0, "ICMP");
    assert_eq!(rfc1071(&decap_frame()[14..34]), 0, "outer IPv4");
}

#[test]
fn extract_tagged_arp_request() {
    // 802.1Q PCP 5 VID 100, ARP who-has 10.0.0.2 tell 10.0.0.1, padded to 60 bytes.
    let frame = hex("
        ffffffffffff fa163edcc523 8100 a064 0806
        0001 0800 06 04 0001 fa163edcc523 0a000001 000000000000 0a000002
        0000000000000000000000000000");
    assert_eq!(frame.len(), 60);
    let want = FlowKey {
        in_port: 5,
        dl_dst: MacAddr::BROADCAST,
        dl_src: "fa:16:3e:dc:c5:23".parse().unwrap(),
        vlan_tci: 0xb064,
        dl_type: 0x0806,
        nw_src: 0x0a00_0001,
        nw_dst: 0x0a00_0002,
        nw_proto: 1,
        arp_sha: "fa:16:3e:dc:c5:23".parse().unwrap(),
        arp_tha: MacAddr::ZERO,
        ..FlowKey::default()
    };
    assert_eq!(FlowKey::extract(5, &frame), Ok(want));
    assert_eq!(want.vlan_vid(), Some(100));
    assert_eq!(want.vlan_pcp(), 5);

    // The DEI bit (0xb064 on the wire) does not reach the key.
    let mut dei = frame.clone();
    dei[14] = 0xb0;
    assert_eq!(FlowKey::extract(5, &dei), Ok(want));

    // Cut inside the ARP packet: the L2 fields only, as OVS's flow (no drop).
    assert_eq!(
        FlowKey::extract(5, &frame[..18 + 27]),
        Ok(FlowKey {
            nw_src: 0,
            nw_dst: 0,
            nw_proto: 0,
            arp_sha: MacAddr::ZERO,
            ..want
        })
    );
}

#[test]
fn decap_gre_teb_with_key() {
    let frame = decap_frame();
    assert_eq!(frame.len(), 88);
    let d = decap_gre(&frame).unwrap();
    assert_eq!(d.outer_src, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(d.outer_dst, Ipv4Addr::new(192, 0, 2, 2));
    assert_eq!(d.key, Some(0x3e7));
    assert_eq!(d.inner_offset, 42);
    assert_eq!(d.inner_len, 46);
    assert_eq!(&frame[d.inner_range()], &hex(INNER)[..]);

    let k = FlowKey::extract(2, &frame[d.inner_range()]).unwrap();
    assert_eq!(k.vlan_vid(), Some(10));
    assert_eq!(k.dl_type, 0x0800);
    assert_eq!(k.nw_proto, 1);
    assert_eq!(k.nw_src, 0x0a00_0001);

    // Trailing bytes after the IP packet (padding, FCS) are not part of the inner frame.
    let mut padded = frame.clone();
    padded.extend([0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(decap_gre(&padded), Ok(d));

    // An outer 802.1Q tag is allowed.
    let mut tagged = frame[..12].to_vec();
    tagged.extend(hex("8100 0005"));
    tagged.extend(&frame[12..]);
    let t = decap_gre(&tagged).unwrap();
    assert_eq!(t.inner_offset, 46);
    assert_eq!(&tagged[t.inner_range()], &hex(INNER)[..]);
}

#[test]
fn encap_with_key_and_checksum_is_byte_exact() {
    let header = tunnel(Some(0x3e7), true);
    assert_eq!(tunnel_header_len(&header), 14 + 20 + 12);
    // GRE: C and K set (0xa000), checksum, Reserved1, key; total length 20 + 12 + 46.
    let want = hex(&format!(
        "525400000002 525400000001 0800
         4500 004e 0000 4000 402f b67d c0000201 c0000202
         a000 6558 fd83 0000 000003e7
         {INNER}"
    ));
    assert_eq!(rfc1071(&want[14..34]), 0, "expected IPv4 header checksum");
    assert_eq!(rfc1071(&want[34..]), 0, "expected GRE checksum");

    let mut frame = FrameBuf::with_headroom(&hex(INNER), DEFAULT_HEADROOM);
    let mut sent = Vec::new();
    execute(
        &[DpAction::TunnelOutput { port: 4, header }],
        &mut frame,
        |p, b| sent.push((p, b.to_vec())),
    )
    .unwrap();
    assert_eq!(sent, vec![(4, want.clone())]);
    assert_eq!(frame.data(), &hex(INNER)[..]);

    let d = decap_gre(&want).unwrap();
    assert_eq!((d.key, d.inner_offset, d.inner_len), (Some(0x3e7), 46, 46));
}

#[test]
fn encap_without_key_or_checksum_is_byte_exact() {
    let header = TunnelHeader {
        kind: TunnelKind::Gre {
            key: None,
            csum: false,
        },
        tos: 0xb8,
        ttl: 255,
        dont_fragment: false,
        mtu: u16::MAX,
        ..tunnel(None, false)
    };
    let want = hex(&format!(
        "525400000002 525400000001 0800
         45b8 0046 0000 0000 ff2f 36cd c0000201 c0000202
         0000 6558
         {INNER}"
    ));
    assert_eq!(rfc1071(&want[14..34]), 0);
    let mut frame = FrameBuf::with_headroom(&hex(INNER), DEFAULT_HEADROOM);
    let mut sent = Vec::new();
    execute(
        &[DpAction::TunnelOutput { port: 4, header }],
        &mut frame,
        |_, b| sent.push(b.to_vec()),
    )
    .unwrap();
    assert_eq!(sent, vec![want]);
}

#[test]
fn encap_needs_headroom() {
    let header = tunnel(Some(1), true);
    let mut frame = FrameBuf::with_headroom(&hex(INNER), 45);
    assert_eq!(
        execute(
            &[DpAction::TunnelOutput { port: 1, header }],
            &mut frame,
            |_, _| panic!("nothing may be sent")
        ),
        Err(xvs_dataplane::ExecError::NoHeadroom { need: 46, have: 45 })
    );
}

#[test]
fn decap_bad_ipv4_checksum() {
    let mut f = decap_frame();
    f[25] ^= 0x01;
    assert_eq!(decap_gre(&f), Err(WireError::BadIpChecksum));
}

#[test]
fn decap_truncated_gre() {
    // The IP packet ends 2 bytes into the key: GRE says 8 bytes of header, 6 are there.
    let mut f = decap_frame();
    f.truncate(14 + 20 + 6);
    fix_outer_ip(&mut f, 26);
    assert_eq!(
        decap_gre(&f),
        Err(WireError::Truncated {
            layer: Layer::Gre,
            need: 8,
            have: 6
        })
    );
    // A frame cut short without fixing the IP header is a total length problem.
    let f = &decap_frame()[..60];
    assert_eq!(
        decap_gre(f),
        Err(WireError::BadTotalLength {
            total_len: 74,
            header_len: 20,
            buffer_len: 46
        })
    );
}

#[test]
fn decap_gre_protocol_not_teb() {
    let mut f = decap_frame();
    f[36..38].copy_from_slice(&[0x08, 0x00]);
    assert_eq!(decap_gre(&f), Err(WireError::NotTeb(0x0800)));
}

#[test]
fn decap_bad_gre_checksum() {
    // The frame of the encap golden test, then one inner bit flipped.
    let mut f = hex(&format!(
        "525400000002 525400000001 0800
         4500 004e 0000 4000 402f b67d c0000201 c0000202
         a000 6558 fd83 0000 000003e7
         {INNER}"
    ));
    assert!(decap_gre(&f).is_ok());
    let last = f.len() - 1;
    f[last] ^= 0x80;
    assert_eq!(decap_gre(&f), Err(WireError::BadGreChecksum));
}

#[test]
fn decap_other_rejections() {
    let f = decap_frame();

    let mut frag = f.clone();
    frag[20] = 0x20; // MF, DF cleared
    frag[21] = 0x00;
    fix_outer_ip(&mut frag, 74);
    assert_eq!(
        decap_gre(&frag),
        Err(WireError::Fragmented {
            more_frags: true,
            frag_offset: 0
        })
    );
    let mut frag = f.clone();
    frag[20] = 0x00;
    frag[21] = 0xb9;
    fix_outer_ip(&mut frag, 74);
    assert_eq!(
        decap_gre(&frag),
        Err(WireError::Fragmented {
            more_frags: false,
            frag_offset: 0xb9
        })
    );

    let mut udp = f.clone();
    udp[23] = 17;
    fix_outer_ip(&mut udp, 74);
    assert_eq!(decap_gre(&udp), Err(WireError::NotGre(17)));

    let mut v1 = f.clone();
    v1[35] = 0x01;
    assert_eq!(decap_gre(&v1), Err(WireError::BadGreVersion(1)));

    let mut routing = f.clone();
    routing[34] = 0x60;
    assert_eq!(
        decap_gre(&routing),
        Err(WireError::UnsupportedGreFlags(0x4000))
    );

    let mut recur = f.clone();
    recur[34] = 0x23;
    assert_eq!(
        decap_gre(&recur),
        Err(WireError::UnsupportedGreFlags(0x0300))
    );

    let mut arp = f.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(decap_gre(&arp), Err(WireError::NotIpv4(0x0806)));

    let mut short_inner = f[..42 + 13].to_vec();
    fix_outer_ip(&mut short_inner, 20 + 8 + 13);
    assert_eq!(
        decap_gre(&short_inner),
        Err(WireError::Truncated {
            layer: Layer::InnerEthernet,
            need: 14,
            have: 13
        })
    );
}

#[test]
fn push_pop_set_vlan_bytes() {
    let untagged = hex("
        fa163e000002 fa163e000001 0800
        4500 001c 0001 0000 4001 66de 0a000001 0a000002
        0800 f7fd 0001 0001");
    let mut frame = FrameBuf::with_headroom(&untagged, DEFAULT_HEADROOM);
    let mut sent = Vec::new();
    execute(
        &[
            // Key-style TCI: present bit | PCP 0 | VID 10; the present bit is not written.
            DpAction::PushVlan {
                tpid: Tpid::Is(0x8100),
                tci: 0x1000 | 10,
            },
            DpAction::Output(1),
            DpAction::SetVlan(0x1000 | 3 << 13 | 20),
            DpAction::Output(2),
            DpAction::PopVlan,
            DpAction::Output(3),
            DpAction::PopVlan,
            DpAction::Output(4),
        ],
        &mut frame,
        |p, b| sent.push((p, b.to_vec())),
    )
    .unwrap();
    assert_eq!(sent[0], (1, hex(INNER)));
    let mut retagged = hex(INNER);
    retagged[14..16].copy_from_slice(&[0x60, 0x14]);
    assert_eq!(sent[1], (2, retagged));
    assert_eq!(sent[2], (3, untagged.clone()));
    assert_eq!(sent[3], (4, untagged), "PopVlan without a tag is a no-op");
}

/// An 802.1ad S-tagged frame: its key is that of the 802.1Q-tagged one, `SetVlan` keeps
/// 0x88a8, `PopVlan` removes it, and a later push of the received TPID gives it back.
#[test]
fn service_tag_bytes() {
    let s_tagged = hex("
        fa163e000002 fa163e000001 88a8 000a 0800
        4500 001c 0001 0000 4001 66de 0a000001 0a000002
        0800 f7fd 0001 0001");
    let k = FlowKey::extract(1, &s_tagged).unwrap();
    assert_eq!(k, FlowKey::extract(1, &hex(INNER)).unwrap());
    let mut frame = FrameBuf::with_headroom(&s_tagged, DEFAULT_HEADROOM);
    let mut sent = Vec::new();
    execute(
        &[
            DpAction::SetVlan(0x1000 | 3 << 13 | 20),
            DpAction::Output(1),
            DpAction::PopVlan,
            DpAction::Output(2),
            DpAction::PushVlan {
                tpid: Tpid::Received,
                tci: 0x1000 | 10,
            },
            DpAction::Output(3),
            DpAction::SetIpv4Dst(Ipv4Addr::new(10, 0, 0, 3)),
            DpAction::Output(4),
        ],
        &mut frame,
        |p, b| sent.push((p, b.to_vec())),
    )
    .unwrap();
    let mut rewritten = s_tagged.clone();
    rewritten[14..16].copy_from_slice(&[0x60, 0x14]);
    assert_eq!(sent[0], (1, rewritten));
    assert_eq!(
        sent[1].1,
        hex("
        fa163e000002 fa163e000001 0800
        4500 001c 0001 0000 4001 66de 0a000001 0a000002
        0800 f7fd 0001 0001")
    );
    assert_eq!(sent[2].1, s_tagged);
    // The IPv4 destination behind the S-tag, header checksum updated (66de - 1).
    assert_eq!(
        sent[3].1,
        hex("
        fa163e000002 fa163e000001 88a8 000a 0800
        4500 001c 0001 0000 4001 66dd 0a000001 0a000003
        0800 f7fd 0001 0001")
    );
}

#[test]
fn set_vlan_keeps_dei() {
    let mut tagged = hex(INNER);
    tagged[14] = 0x10; // DEI set, PCP 0, VID 10
    let mut frame = FrameBuf::with_headroom(&tagged, 0);
    execute(
        &[DpAction::SetVlan(0x1000 | 7 << 13 | 4095)],
        &mut frame,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(&frame.data()[14..16], &[0xff, 0xff]);
}

#[test]
fn rewrites_of_arp_and_ipv4_bytes() {
    let arp = hex("
        ffffffffffff fa163edcc523 8100 a064 0806
        0001 0800 06 04 0001 fa163edcc523 0a000001 000000000000 0a000002");
    let mut frame = FrameBuf::with_headroom(&arp, 16);
    execute(
        &[
            DpAction::SetArpOp(2),
            DpAction::SetArpSha("02:00:00:00:00:aa".parse().unwrap()),
            DpAction::SetArpSpa(Ipv4Addr::new(10, 0, 0, 2)),
            DpAction::SetArpTha("fa:16:3e:dc:c5:23".parse().unwrap()),
            DpAction::SetArpTpa(Ipv4Addr::new(10, 0, 0, 1)),
            DpAction::SetEthSrc("02:00:00:00:00:aa".parse().unwrap()),
            DpAction::SetEthDst("fa:16:3e:dc:c5:23".parse().unwrap()),
            // Not IPv4: skipped.
            DpAction::SetIpv4Src(Ipv4Addr::new(1, 2, 3, 4)),
        ],
        &mut frame,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(
        frame.data(),
        &hex("
            fa163edcc523 0200000000aa 8100 a064 0806
            0001 0800 06 04 0002 0200000000aa 0a000002 fa163edcc523 0a000001")[..]
    );

    // 10.0.0.1 -> 10.0.0.2 becomes 10.0.0.5 -> 10.0.0.6; checksum 0x66de becomes 0x66d6
    // (each address word grew by 4, so the complement sum shrinks by 8).
    let mut frame = FrameBuf::with_headroom(&hex(INNER), 0);
    execute(
        &[
            DpAction::SetIpv4Src(Ipv4Addr::new(10, 0, 0, 5)),
            DpAction::SetIpv4Dst(Ipv4Addr::new(10, 0, 0, 6)),
            // Not ARP: skipped.
            DpAction::SetArpOp(2),
        ],
        &mut frame,
        |_, _| {},
    )
    .unwrap();
    let mut want = hex(INNER);
    want[28..30].copy_from_slice(&[0x66, 0xd6]);
    want[33] = 5;
    want[37] = 6;
    assert_eq!(frame.data(), &want[..]);
    assert_eq!(rfc1071(&want[18..38]), 0);
}

/// VXLAN VNI 0x3e7 around INNER: 192.0.2.1 -> 192.0.2.2, DF, TTL 64, protocol 17; UDP
/// 54321 (0xd431) -> 4789 (0x12b5), length 8 + 8 + 46 = 62, checksum 0; VXLAN I flag.
/// IPv4 total length 20 + 62 = 82; its checksum 0xb697 worked out by hand (the GRE
/// header's sum with 0x0052/0x4011 for 0x004a/0x402f) and checked again below.
const VXLAN_FRAME: &str = "
    525400000002 525400000001 0800
    4500 0052 0000 4000 4011 b697 c0000201 c0000202
    d431 12b5 003e 0000
    08000000 0003e700";

fn vxlan_frame() -> Vec<u8> {
    let mut f = hex(VXLAN_FRAME);
    f.extend(hex(INNER));
    f
}

/// The UDP checksum of the datagram at `frame[34..]` (outer IPv4 without options), with
/// the pseudo-header, by the plain RFC 1071 loop.
fn udp_checksum(frame: &[u8]) -> u16 {
    let udp = &frame[34..];
    let mut pseudo = frame[26..34].to_vec(); // source and destination address
    pseudo.extend([0, 17]);
    pseudo.extend(&udp[4..6]);
    let mut data = pseudo;
    data.extend(udp);
    data[12 + 6] = 0;
    data[12 + 7] = 0;
    match rfc1071(&data) {
        0 => 0xffff,
        c => c,
    }
}

#[test]
fn vxlan_encap_of_tagged_frame_is_byte_exact() {
    let header = TunnelHeader {
        kind: TunnelKind::Vxlan {
            vni: 0x3e7,
            src_port: 54321,
        },
        ..tunnel(None, false)
    };
    assert_eq!(tunnel_header_len(&header), 14 + 20 + 8 + 8);
    let want = vxlan_frame();
    assert_eq!(want.len(), 96);
    assert_eq!(rfc1071(&want[14..34]), 0, "expected IPv4 header checksum");

    let mut frame = FrameBuf::with_headroom(&hex(INNER), DEFAULT_HEADROOM);
    let mut sent = Vec::new();
    execute(
        &[
            DpAction::TunnelOutput { port: 4, header },
            DpAction::Output(2),
        ],
        &mut frame,
        |p, b| sent.push((p, b.to_vec())),
    )
    .unwrap();
    assert_eq!(sent, vec![(4, want.clone()), (2, hex(INNER))]);
    assert_eq!(frame.data(), &hex(INNER)[..]);

    let d = decap_vxlan(&want).unwrap();
    assert_eq!(d.kind, xvs_dataplane::TunnelType::Vxlan);
    assert_eq!((d.key, d.inner_offset, d.inner_len), (Some(0x3e7), 50, 46));
    assert_eq!(d.outer_src, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(d.outer_dst, Ipv4Addr::new(192, 0, 2, 2));
    assert_eq!(&want[d.inner_range()], &hex(INNER)[..]);
    assert_eq!(decap_tunnel(&want), Ok(d));

    // Padding after the IP packet is not part of the inner frame; an outer tag is fine.
    let mut padded = want.clone();
    padded.extend([0; 4]);
    assert_eq!(decap_vxlan(&padded), Ok(d));
    let mut tagged = want[..12].to_vec();
    tagged.extend(hex("8100 0005"));
    tagged.extend(&want[12..]);
    let t = decap_tunnel(&tagged).unwrap();
    assert_eq!((t.key, t.inner_offset), (Some(0x3e7), 54));

    let k = FlowKey::extract(2, &want[d.inner_range()]).unwrap();
    assert_eq!(k.vlan_vid(), Some(10));
    assert_eq!(k.nw_src, 0x0a00_0001);
}

#[test]
fn vxlan_with_udp_checksum() {
    let mut f = vxlan_frame();
    let c = udp_checksum(&f);
    f[40..42].copy_from_slice(&c.to_be_bytes());
    let d = decap_vxlan(&f).unwrap();
    assert_eq!(d.key, Some(0x3e7));
    let last = f.len() - 1;
    f[last] ^= 0x80;
    assert_eq!(decap_vxlan(&f), Err(WireError::BadUdpChecksum));
    assert_eq!(decap_tunnel(&f), Err(WireError::BadUdpChecksum));
    f[last] ^= 0x80;
    // The pseudo-header counts: another destination address breaks it.
    f[33] = 3;
    fix_outer_ip(&mut f, 82);
    assert_eq!(decap_vxlan(&f), Err(WireError::BadUdpChecksum));
}

#[test]
fn vxlan_decap_rejections() {
    let f = vxlan_frame();

    let mut bad_ip = f.clone();
    bad_ip[25] ^= 0x01;
    assert_eq!(decap_vxlan(&bad_ip), Err(WireError::BadIpChecksum));
    assert_eq!(decap_tunnel(&bad_ip), Err(WireError::BadIpChecksum));

    let mut port = f.clone();
    port[36..38].copy_from_slice(&4790u16.to_be_bytes());
    assert_eq!(
        decap_vxlan(&port),
        Err(WireError::NotVxlan { dst_port: 4790 })
    );
    assert_eq!(
        decap_tunnel(&port),
        Err(WireError::NotVxlan { dst_port: 4790 })
    );

    let mut no_i = f.clone();
    no_i[42] = 0x00;
    assert_eq!(decap_vxlan(&no_i), Err(WireError::BadVxlanFlags(0)));
    no_i[42] = 0xf7;
    assert_eq!(decap_tunnel(&no_i), Err(WireError::BadVxlanFlags(0xf7)));

    let mut frag = f.clone();
    frag[20] = 0x20;
    frag[21] = 0x00;
    fix_outer_ip(&mut frag, 82);
    assert_eq!(
        decap_vxlan(&frag),
        Err(WireError::Fragmented {
            more_frags: true,
            frag_offset: 0
        })
    );

    let mut tcp = f.clone();
    tcp[23] = 6;
    fix_outer_ip(&mut tcp, 82);
    assert_eq!(decap_vxlan(&tcp), Err(WireError::NotUdp(6)));
    assert_eq!(decap_tunnel(&tcp), Err(WireError::NotTunnelProtocol(6)));

    // UDP length beyond the IP payload, and below the header.
    let mut long = f.clone();
    long[38..40].copy_from_slice(&63u16.to_be_bytes());
    assert_eq!(
        decap_vxlan(&long),
        Err(WireError::BadUdpLength {
            udp_len: 63,
            buffer_len: 62
        })
    );
    long[38..40].copy_from_slice(&7u16.to_be_bytes());
    assert_eq!(
        decap_vxlan(&long),
        Err(WireError::BadUdpLength {
            udp_len: 7,
            buffer_len: 62
        })
    );

    // The IP packet ends inside the UDP header, then inside the VXLAN header.
    let mut short = f[..14 + 20 + 5].to_vec();
    fix_outer_ip(&mut short, 25);
    assert_eq!(
        decap_vxlan(&short),
        Err(WireError::Truncated {
            layer: Layer::Udp,
            need: 8,
            have: 5
        })
    );
    let mut short = f[..14 + 20 + 8 + 6].to_vec();
    fix_outer_ip(&mut short, 34);
    short[38..40].copy_from_slice(&14u16.to_be_bytes());
    assert_eq!(
        decap_vxlan(&short),
        Err(WireError::Truncated {
            layer: Layer::Vxlan,
            need: 8,
            have: 6
        })
    );
    // A UDP length shorter than the IP payload ends the datagram (and the inner frame).
    let mut cut = f.clone();
    cut[38..40].copy_from_slice(&(8u16 + 8 + 13).to_be_bytes());
    assert_eq!(
        decap_vxlan(&cut),
        Err(WireError::Truncated {
            layer: Layer::InnerEthernet,
            need: 14,
            have: 13
        })
    );
    cut[38..40].copy_from_slice(&(8u16 + 8 + 14).to_be_bytes());
    assert_eq!(decap_vxlan(&cut).unwrap().inner_len, 14);

    // A frame cut short without fixing the IP header.
    assert_eq!(
        decap_vxlan(&f[..60]),
        Err(WireError::BadTotalLength {
            total_len: 82,
            header_len: 20,
            buffer_len: 46
        })
    );
    // GRE's own decap refuses VXLAN.
    assert_eq!(decap_gre(&f), Err(WireError::NotGre(17)));
}
