use super::check::udp_dst_port;
use super::*;

fn tunnel() -> GreTunnel {
    GreTunnel {
        src_mac: [0x52, 0x54, 0, 0, 1, 0xfe],
        dst_mac: [0x52, 0x54, 0, 0, 1, 0xfd],
        src_ip: Ipv4Addr::new(192, 168, 1, 254),
        dst_ip: Ipv4Addr::new(192, 168, 1, 253),
        key_base: 0x3e7,
    }
}

fn build(set: &FlowSet, flow: u32, seq: u64) -> Vec<u8> {
    let mut b = vec![0u8; 2048];
    let n = set.frame(flow, seq, &mut b).unwrap();
    b.truncate(n);
    b
}

/// What a switch would do, written independently of the checker: remove / push the
/// tag at 12, strip / add a GRE header.
fn pop_tag(f: &[u8]) -> Vec<u8> {
    assert_eq!(f[12..14], [0x81, 0x00]);
    [&f[..12], &f[16..]].concat()
}

fn push_tag(f: &[u8], vid: u16) -> Vec<u8> {
    [&f[..12], &[0x81, 0x00], &vid.to_be_bytes()[..], &f[12..]].concat()
}

fn encap(inner: &[u8], t: &GreTunnel, key: u32, ident: u16, ttl: u8) -> Vec<u8> {
    let mut h = vec![0u8; GRE_OVERHEAD];
    write_gre_header(&mut h, t, key, inner.len());
    // A switch's own choices of identification and TTL, checksum redone.
    h[18..20].copy_from_slice(&ident.to_be_bytes());
    h[22] = ttl;
    h[24..26].copy_from_slice(&[0, 0]);
    let c = ipv4_checksum(&h[14..34]);
    h[24..26].copy_from_slice(&c.to_be_bytes());
    [&h[..], inner].concat()
}

#[test]
fn untagged_frame_layout() {
    let set = FlowSet::new(64, 1000, Encap::Untagged).unwrap();
    let f = build(&set, 5, 77);
    assert_eq!(f.len(), 64);
    assert_eq!(f[0..6], [0x02, 0, 0, 0x10, 0, 5]);
    assert_eq!(f[6..12], Endpoints::default().src_mac);
    assert_eq!(f[12..14], [0x08, 0x00]);
    assert_eq!(f[14], 0x45);
    assert_eq!(be16(&f, 16), Some(50)); // IPv4 total length
    assert_eq!(f[23], 17);
    assert_eq!(ipv4_checksum(&f[14..34]), 0);
    assert_eq!(be16(&f, 36), Some(9)); // UDP destination port
    assert_eq!(be16(&f, 38), Some(30)); // UDP length
    assert_eq!(set.stamp_of(&f), Some(Stamp { flow: 5, seq: 77 }));
    assert_eq!(be32(&f, 42), Some(STAMP_MAGIC));
}

#[test]
fn flow_id_maps_to_mac_and_key() {
    let set = FlowSet::new(64, MAX_FLOWS, Encap::Untagged).unwrap();
    assert_eq!(set.dst_mac(0), [0x02, 0, 0, 0x10, 0, 0]);
    assert_eq!(set.dst_mac(0x1_02ff), [0x02, 0, 0, 0x11, 0x02, 0xff]);
    assert_eq!(set.dst_mac(MAX_FLOWS - 1), [0x02, 0, 0, 0x1f, 0x42, 0x3f]);
    assert_eq!(set.tunnel_key(3), None);
    let f = build(&set, 0x1_02ff, 0);
    assert_eq!(f[0..6], set.dst_mac(0x1_02ff));

    let gre = FlowSet::new(128, 10, Encap::Gre(tunnel())).unwrap();
    assert_eq!(gre.tunnel_key(0), Some(0x3e7));
    assert_eq!(gre.tunnel_key(9), Some(0x3f0));
    assert_eq!(gre.dst_mac(9), gre.dst_mac(0));
    let f = build(&gre, 9, 1);
    assert_eq!(be32(&f, 38), Some(0x3f0));
    // Only the key and the stamp differ between flows.
    let g = build(&gre, 0, 1);
    let diff: Vec<usize> = (0..f.len()).filter(|&i| f[i] != g[i]).collect();
    assert!(diff
        .iter()
        .all(|&i| (38..42).contains(&i) || (88..92).contains(&i)));
}

#[test]
fn sizes_64_and_1500() {
    for encap in [Encap::Untagged, Encap::Vlan(100), Encap::Gre(tunnel())] {
        for len in [64, 1500] {
            let set = match FlowSet::new(len, 3, encap) {
                Ok(s) => s,
                Err(e) => {
                    assert!(matches!(encap, Encap::Gre(_)) && len == 64, "{e}");
                    continue;
                }
            };
            let f = build(&set, 2, 9);
            assert_eq!(f.len(), len);
            let mut c = set.expect(Expectation::Same).unwrap();
            assert_eq!(c.check(&f), Verdict::Ok(Stamp { flow: 2, seq: 9 }));
        }
    }
    assert_eq!(
        FlowSet::new(101, 1, Encap::Gre(tunnel())),
        Err(FrameError::FrameLen {
            len: 101,
            min: 102,
            max: 1500
        })
    );
    assert!(FlowSet::new(102, 1, Encap::Gre(tunnel())).is_ok());
    assert!(FlowSet::new(63, 1, Encap::Untagged).is_err());
    assert!(FlowSet::new(1501, 1, Encap::Untagged).is_err());
    let mut small = [0u8; 63];
    let set = FlowSet::new(64, 1, Encap::Untagged).unwrap();
    assert!(matches!(
        set.frame(0, 0, &mut small),
        Err(FrameError::BufferTooSmall { .. })
    ));
}

#[test]
fn bad_configurations_are_refused() {
    assert!(FlowSet::new(64, 0, Encap::Untagged).is_err());
    assert!(FlowSet::new(64, MAX_FLOWS + 1, Encap::Untagged).is_err());
    assert!(FlowSet::new(64, 1, Encap::Vlan(0)).is_err());
    assert!(FlowSet::new(64, 1, Encap::Vlan(4095)).is_err());
    let mut ends = Endpoints {
        dst_mac_base: [0x02, 0xff, 0xff, 0xff, 0xff, 0xff],
        ..Endpoints::default()
    };
    assert!(FlowSet::with_endpoints(64, 2, Encap::Untagged, ends).is_err());
    assert!(FlowSet::with_endpoints(64, 1, Encap::Untagged, ends).is_ok());
    ends.dst_mac_base = [0x01, 0, 0, 0, 0, 0];
    assert!(FlowSet::with_endpoints(64, 1, Encap::Untagged, ends).is_err());
    let set = FlowSet::new(64, 4, Encap::Untagged).unwrap();
    assert!(set.frame(4, 0, &mut [0u8; 64]).is_err());
    assert!(set
        .expect(Expectation::GreDecap {
            vlan: VlanEdit::Keep
        })
        .is_err());
    let gre = FlowSet::new(128, 4, Encap::Gre(tunnel())).unwrap();
    assert!(gre.expect(Expectation::Untagged).is_err());
    assert!(gre
        .expect(Expectation::GreEncap {
            tunnel: tunnel(),
            keys: TunnelKeys::Fixed,
            vlan: VlanEdit::Keep
        })
        .is_err());
    assert!(set.expect(Expectation::Tagged(5000)).is_err());
}

#[test]
fn restamp_equals_a_fresh_frame() {
    for encap in [Encap::Untagged, Encap::Vlan(7), Encap::Gre(tunnel())] {
        let set = FlowSet::new(200, 5000, encap).unwrap();
        let mut b = build(&set, 17, 3);
        set.restamp(4321, 99, &mut b).unwrap();
        assert_eq!(b, build(&set, 4321, 99));
    }
}

#[test]
fn same_round_trip_and_damage() {
    for encap in [Encap::Untagged, Encap::Vlan(7), Encap::Gre(tunnel())] {
        let set = FlowSet::new(128, 1000, encap).unwrap();
        let mut c = set.expect(Expectation::Same).unwrap();
        for flow in [0, 1, 999] {
            let f = build(&set, flow, u64::MAX - 1);
            assert_eq!(
                c.check(&f),
                Verdict::Ok(Stamp {
                    flow,
                    seq: u64::MAX - 1
                })
            );
        }
        let good = build(&set, 500, 1);
        // A flow's frame carrying another flow's MAC or key.
        let mut swapped = good.clone();
        swapped[set.stamp_offset() + 7] ^= 1;
        assert_eq!(c.check(&swapped), Verdict::Bad(BadReason::Content));
        // A flow id out of range.
        let mut f = good.clone();
        f[set.stamp_offset() + 4] = 0xff;
        assert_eq!(c.check(&f), Verdict::Bad(BadReason::FlowOutOfRange));
        // A damaged magic: still ours by its UDP port.
        let mut f = good.clone();
        f[set.stamp_offset()] ^= 0x80;
        assert_eq!(c.check(&f), Verdict::Bad(BadReason::Misplaced));
        // Every other single-byte change outside the stamp is caught.
        for i in
            (0..good.len()).filter(|i| !(set.stamp_offset()..set.stamp_offset() + 16).contains(i))
        {
            let mut f = good.clone();
            f[i] ^= 0x10;
            assert!(
                matches!(c.check(&f), Verdict::Bad(_)),
                "{encap:?}: byte {i} changed unnoticed"
            );
        }
        // Truncated or extended.
        assert!(matches!(c.check(&good[..100]), Verdict::Bad(_)));
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(c.check(&longer), Verdict::Bad(BadReason::Length));
    }
}

#[test]
fn noise_is_unknown_and_nothing_panics() {
    let set = FlowSet::new(64, 10, Encap::Untagged).unwrap();
    let mut c = set.expect(Expectation::Same).unwrap();
    let mut arp = vec![0xffu8; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.resize(60, 0);
    assert_eq!(c.check(&arp), Verdict::Unknown);
    for len in 0..80 {
        let junk: Vec<u8> = (0..len).map(|i| (i * 13 + 7) as u8).collect();
        let _ = c.check(&junk);
    }
    assert_eq!(c.check(&[]), Verdict::Unknown);
    // IPv4/UDP to another port, no stamp: noise.
    let mut other = build(&set, 0, 0);
    other[36..38].copy_from_slice(&53u16.to_be_bytes());
    other[42..46].copy_from_slice(&[0; 4]);
    assert_eq!(c.check(&other), Verdict::Unknown);
}

#[test]
fn vlan_pop_push_and_rewrite() {
    let tagged = FlowSet::new(64, 100, Encap::Vlan(10)).unwrap();
    let mut c = tagged.expect(Expectation::Untagged).unwrap();
    assert_eq!(c.expected_len(), 60);
    let f = pop_tag(&build(&tagged, 42, 5));
    assert_eq!(c.check(&f), Verdict::Ok(Stamp { flow: 42, seq: 5 }));
    // The tag left on: the stamp is not where it belongs.
    assert_eq!(
        c.check(&build(&tagged, 42, 5)),
        Verdict::Bad(BadReason::Misplaced)
    );

    let mut c = tagged.expect(Expectation::Tagged(20)).unwrap();
    let mut f = build(&tagged, 42, 5);
    f[14..16].copy_from_slice(&20u16.to_be_bytes());
    assert_eq!(c.check(&f), Verdict::Ok(Stamp { flow: 42, seq: 5 }));
    assert_eq!(
        c.check(&build(&tagged, 42, 5)),
        Verdict::Bad(BadReason::Content)
    );

    let plain = FlowSet::new(64, 100, Encap::Untagged).unwrap();
    let mut c = plain.expect(Expectation::Tagged(1)).unwrap();
    assert_eq!(c.expected_len(), 68);
    let f = push_tag(&build(&plain, 99, 0), 1);
    assert_eq!(c.check(&f), Verdict::Ok(Stamp { flow: 99, seq: 0 }));
    // Untagged expected of untagged traffic: unchanged.
    let mut c = plain.expect(Expectation::Untagged).unwrap();
    assert!(matches!(c.check(&build(&plain, 3, 3)), Verdict::Ok(_)));
}

#[test]
fn gre_decap_round_trip() {
    let set = FlowSet::new(106, 1000, Encap::Gre(tunnel())).unwrap();
    let mut c = set
        .expect(Expectation::GreDecap {
            vlan: VlanEdit::Keep,
        })
        .unwrap();
    assert_eq!(c.expected_len(), 64);
    let sent = build(&set, 777, 12);
    assert_eq!(
        c.check(&sent[GRE_OVERHEAD..]),
        Verdict::Ok(Stamp { flow: 777, seq: 12 })
    );
    // Not decapsulated: ours (magic present), but misplaced.
    assert_eq!(c.check(&sent), Verdict::Bad(BadReason::Misplaced));

    // br-tun's mod_vlan_vid after decap, as tun_id -> local VLAN does.
    let mut c = set
        .expect(Expectation::GreDecap {
            vlan: VlanEdit::Set(1),
        })
        .unwrap();
    let f = push_tag(&sent[GRE_OVERHEAD..], 1);
    assert_eq!(c.check(&f), Verdict::Ok(Stamp { flow: 777, seq: 12 }));
}

#[test]
fn gre_encap_round_trip() {
    let set = FlowSet::new(64, 1000, Encap::Untagged).unwrap();
    let t = tunnel();
    let mut fixed = set
        .expect(Expectation::GreEncap {
            tunnel: t,
            keys: TunnelKeys::Fixed,
            vlan: VlanEdit::Keep,
        })
        .unwrap();
    let mut per_flow = set
        .expect(Expectation::GreEncap {
            tunnel: t,
            keys: TunnelKeys::PerFlow,
            vlan: VlanEdit::Keep,
        })
        .unwrap();
    assert_eq!(fixed.expected_len(), 64 + GRE_OVERHEAD);
    let inner = build(&set, 300, 8);
    let f = encap(&inner, &t, 0x3e7, 0x1234, 63);
    assert_eq!(fixed.check(&f), Verdict::Ok(Stamp { flow: 300, seq: 8 }));
    assert_eq!(per_flow.check(&f), Verdict::Bad(BadReason::Content));
    let f = encap(&inner, &t, 0x3e7 + 300, 0, 64);
    assert_eq!(per_flow.check(&f), Verdict::Ok(Stamp { flow: 300, seq: 8 }));
    // A broken outer checksum.
    let mut g = f.clone();
    g[24] ^= 1;
    assert_eq!(per_flow.check(&g), Verdict::Bad(BadReason::OuterChecksum));
    // Another destination.
    let mut g = f.clone();
    g[33] ^= 1;
    assert_eq!(per_flow.check(&g), Verdict::Bad(BadReason::Content));
    // Sent unencapsulated: ours, misplaced.
    assert_eq!(fixed.check(&inner), Verdict::Bad(BadReason::Misplaced));

    // A tagged access frame that the switch untags before encapsulating.
    let tagged = FlowSet::new(64, 10, Encap::Vlan(1)).unwrap();
    let mut c = tagged
        .expect(Expectation::GreEncap {
            tunnel: t,
            keys: TunnelKeys::Fixed,
            vlan: VlanEdit::Strip,
        })
        .unwrap();
    let f = encap(&pop_tag(&build(&tagged, 4, 4)), &t, 0x3e7, 9, 64);
    assert_eq!(c.check(&f), Verdict::Ok(Stamp { flow: 4, seq: 4 }));
    // expected_frame gives what the checker compares with.
    let e = c.expected_frame(4, 4).unwrap().to_vec();
    assert_eq!(c.check(&e), Verdict::Ok(Stamp { flow: 4, seq: 4 }));
    assert!(c.expected_frame(10, 0).is_none());
}

#[test]
fn udp_port_through_gre_and_tags() {
    let set = FlowSet::new(128, 1, Encap::Gre(tunnel())).unwrap();
    let f = build(&set, 0, 0);
    assert_eq!(udp_dst_port(&f, 0), Some(9));
    let v = FlowSet::new(64, 1, Encap::Vlan(3)).unwrap();
    assert_eq!(udp_dst_port(&build(&v, 0, 0), 0), Some(9));
    assert_eq!(udp_dst_port(&f[..50], 0), None);
}
