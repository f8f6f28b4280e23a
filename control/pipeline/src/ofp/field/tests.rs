use super::*;

#[test]
fn names_round_trip() {
    for f in ALL_FIELDS {
        assert_eq!(Field::from_name(f.name()), Some(f), "{f:?}");
        assert_eq!(Field::from_name(f.nxm_name()), Some(f), "{f:?}");
        for a in f.info().aliases {
            assert_eq!(Field::from_name(a), Some(f), "{a}");
        }
    }
    assert_eq!(Field::from_name("tp_src"), Some(Field::TcpSrc));
    assert_eq!(Field::from_name("NXM_OF_ETH_DST_W"), Some(Field::DlDst));
    assert_eq!(Field::from_name("OXM_OF_IN_PORT"), Some(Field::InPortOxm));
    assert_eq!(Field::from_name("NXM_OF_IN_PORT"), Some(Field::InPort));
    assert_eq!(Field::from_name("reg16"), None);
    assert_eq!(Field::Reg(6).nxm_name(), "NXM_NX_REG6");
    assert_eq!(Field::Metadata.nxm_name(), "OXM_OF_METADATA");
    assert_eq!(Field::DlVlan.nxm_name(), "dl_vlan");
}

#[test]
fn headers_as_ovs_defines_them() {
    for (h, f) in [
        (0x0000_0802, Field::VlanTci),
        (0x0001_0c04, Field::Reg(6)),
        (0x8000_0c02, Field::VlanVid),
        (0x8000_3e10, Field::NdTarget),
        (0x8000_4c08, Field::TunId),
        (0x8000_0004, Field::InPortOxm),
        (0x0000_0002, Field::InPort),
        (0x8000_0606, Field::DlDst),
        (0x8000_0806, Field::DlSrc),
        (0x8000_0a02, Field::DlType),
        (0x8000_1401, Field::NwProto),
        (0x8000_2c04, Field::ArpSpa),
        (0x8000_2e04, Field::ArpTpa),
        (0x8000_3006, Field::ArpSha),
        (0x8000_3206, Field::ArpTha),
        (0x8000_3a01, Field::Icmpv6Type),
        (0x0001_2008, Field::TunId),
    ] {
        assert_eq!(Field::from_header(h), Some((f, false)), "{h:#010x}");
    }
    assert_eq!(Field::from_header(0x8000_070c), Some((Field::DlDst, true)));
    assert_eq!(Field::from_header(0x8000_2d08), Some((Field::ArpSpa, true)));
    assert_eq!(
        Field::from_header(0x8000_3f20),
        Some((Field::NdTarget, true))
    );
    assert_eq!(masked_header(OXM_OF_ETH_DST), 0x8000_070c);
    // A wrong length is no field.
    assert_eq!(Field::from_header(0x8000_0c04), None);
    for f in ALL_FIELDS {
        for h in [f.nxm_header(), f.oxm_header()].into_iter().flatten() {
            assert_eq!(Field::from_header(h), Some((f, false)), "{f:?}");
            assert_eq!(h & 0xff, f.info().n_bytes, "{f:?}");
        }
    }
}

#[test]
fn slice_read_write() {
    let mut k = FlowKey {
        vlan_tci: 0x1005,
        ..Default::default()
    };
    let vid = FieldSlice {
        field: Field::VlanTci,
        ofs: 0,
        n_bits: 12,
    };
    assert_eq!(vid.read(&k), 5);
    vid.write(&mut k, 0x3e7);
    assert_eq!(k.vlan_tci, 0x13e7);
    assert_eq!(vid.to_string(), "NXM_OF_VLAN_TCI[0..11]");
    let mut m = FlowKey::default();
    vid.mark(&mut m);
    assert_eq!(m.vlan_tci, 0x0fff);
    let src = FieldSlice::whole(Field::DlSrc);
    src.write(&mut k, 0xfa163edcc523);
    assert_eq!(k.dl_src.to_string(), "fa:16:3e:dc:c5:23");
    assert_eq!(src.to_string(), "NXM_OF_ETH_SRC[]");
    let nd = FieldSlice::whole(Field::NdTarget);
    nd.write(&mut k, 0xfe80 << 112 | 1);
    assert_eq!(k.nd_target, 0xfe80 << 112 | 1);
    assert_eq!(
        FieldSlice::whole(Field::Reg(3)).to_string(),
        "NXM_NX_REG3[]"
    );
}

#[test]
fn views_of_one_member() {
    let mut k = FlowKey::default();
    Field::VlanVid.set(&mut k, 0x1005);
    assert_eq!(k.vlan_tci, 0x1005);
    Field::VlanPcp.set(&mut k, 3);
    assert_eq!(k.vlan_tci, 0x7005);
    assert_eq!(Field::DlVlan.get(&k), 5);
    assert_eq!(Field::VlanVid.get(&k), 0x1005);
    Field::DlVlan.set(&mut k, 0xffff);
    assert_eq!(k.vlan_tci, 0);
    Field::DlVlanPcp.set(&mut k, 1);
    assert_eq!(k.vlan_tci, 0x3000);

    k.nw_tos = 0x03;
    Field::IpDscp.set(&mut k, 46);
    assert_eq!(k.nw_tos, 184 | 3);
    assert_eq!(Field::NwTos.get(&k), 184);
    Field::NwTos.set(&mut k, 8);
    assert_eq!(k.nw_tos, 8 | 3);
    Field::NwEcn.set(&mut k, 1);
    assert_eq!(k.nw_tos, 9);

    k.tp_src = 136;
    assert_eq!(Field::Icmpv6Type.get(&k), 136);
    assert_eq!(Field::TcpSrc.get(&k), 136);
    Field::NdSll.set(&mut k, 0x0000_5e00_0001);
    assert_eq!(k.arp_sha.to_string(), "00:00:5e:00:00:01");

    k.in_port = 0xfffe;
    assert_eq!(Field::InPortOxm.get(&k), 0xffff_fffe);
    Field::InPortOxm.set(&mut k, 7);
    assert_eq!(k.in_port, 7);
    assert_eq!(Field::InPortOxm.get(&k), 7);

    let mut m = FlowKey::default();
    Field::Icmpv4Type.add_to_mask(&mut m, 0xff);
    assert_eq!(m.tp_src, 0xff);
    Field::VlanPcp.add_to_mask(&mut m, 7);
    assert_eq!(m.vlan_tci, 0xe000);
    assert_eq!(Field::VlanVid.raw_mask().vlan_tci, 0x1fff);
}

#[test]
fn values_as_ovs_validates_them() {
    assert!(Field::VlanVid.is_valid_value(0x1fff));
    assert!(!Field::VlanVid.is_valid_value(0x2000));
    assert!(!Field::NwTos.is_valid_value(3));
    assert!(Field::NwTos.is_valid_value(184));
    assert!(!Field::ArpOp.is_valid_value(0x100));
    assert!(Field::Ipv6Src.is_valid_value(u128::MAX));
    assert!(!Field::Reg(0).is_valid_value(1 << 32));
    assert!(!Field::DlType.is_writable());
    assert!(!Field::NwProto.is_writable());
    assert!(Field::InPort.is_writable());
    assert!(!Field::InPort.is_maskable());
    assert!(Field::NdTarget.is_maskable());
    assert_eq!(Field::VlanVid.width(), 12);
    assert_eq!(Field::InPortOxm.width(), 32);
}

#[test]
fn prerequisites_on_values() {
    let icmp6 = |t: u16, c: u16| FlowKey {
        dl_type: 0x86dd,
        nw_proto: 58,
        tp_src: t,
        tp_dst: c,
        ..Default::default()
    };
    assert!(Prerequisite::Nd.satisfied_by(&icmp6(136, 0)));
    assert!(Prerequisite::Nd.satisfied_by(&icmp6(135, 0)));
    assert!(!Prerequisite::Nd.satisfied_by(&icmp6(136, 1)));
    assert!(!Prerequisite::Nd.satisfied_by(&icmp6(134, 0)));
    assert!(Prerequisite::NdAdvert.satisfied_by(&icmp6(136, 0)));
    assert!(!Prerequisite::NdSolicit.satisfied_by(&icmp6(136, 0)));
    let tcp6 = FlowKey {
        dl_type: 0x86dd,
        nw_proto: 6,
        ..Default::default()
    };
    assert!(Prerequisite::Tcp.satisfied_by(&tcp6));
    assert!(!Prerequisite::Udp.satisfied_by(&tcp6));
    assert!(Prerequisite::L4Ports.satisfied_by(&tcp6));
    let mut consulted = FlowKey::default();
    assert!(Prerequisite::NdAdvert.check(&icmp6(136, 0), &mut consulted));
    assert_eq!(
        (
            consulted.dl_type,
            consulted.nw_proto,
            consulted.tp_src,
            consulted.tp_dst
        ),
        (0xffff, 0xff, 0xffff, 0xffff)
    );
}
