use super::*;
use crate::bytes::test_util::hex;

fn h(x: u32) -> TlvHeader {
    TlvHeader {
        header: x,
        experimenter: None,
    }
}

#[test]
fn headers() {
    let eth_dst_w = h(0x8000070c);
    assert_eq!(eth_dst_w.class(), 0x8000);
    assert_eq!(eth_dst_w.field(), 3);
    assert!(eth_dst_w.has_mask());
    assert_eq!(eth_dst_w.value_len(), 6);
    assert_eq!(eth_dst_w.exact(), h(0x80000606));
    assert_eq!(h(0x80000606).masked(), eth_dst_w);
    assert_eq!(eth_dst_w.known().unwrap().name, "OXM_OF_ETH_DST");
    assert_eq!(h(0x00000002).known().unwrap().field_info().name, "in_port");
    // NXM_NX_TUN_ID and OXM_OF_TUNNEL_ID are one field.
    let a = h(0x00012008).known().unwrap();
    let b = h(0x80004c08).known().unwrap();
    assert_eq!(a.field_id(), b.field_id());
    // Wrong length for a known field: unknown, as OVS sees it.
    assert!(h(0x80000005).known().is_none());
    // Experimenter header (ONF actset_output in OF1.3).
    let onf = TlvHeader::from_u64(0xffff_5608_4f4e_4600);
    assert_eq!(onf.experimenter, Some(0x4f4e4600));
    assert_eq!(onf.value_len(), 4);
    assert_eq!(onf.known().unwrap().name, "ONFOXM_ET_ACTSET_OUTPUT");
    assert_eq!(onf.to_u64(), 0xffff_5608_4f4e_4600);
}

#[test]
fn os_ken_match_fields_decode() {
    // Match of an os-ken FLOW_MOD (br-int ND spoofing protection):
    // eth_type=0x86dd, ip_proto=58, icmpv6_type=136, in_port=5,
    // ipv6_nd_target=fe80::1/ffff:...:0.
    let tlvs = hex(concat!(
        "80000a0286dd",
        "800014013a",
        "80003a0188",
        "8000000400000005",
        "80003f20fe800000000000000000000000000000ffffffffffffffffffffffffffff0000",
    ));
    let m = parse_tlvs(&tlvs, false).unwrap();
    assert_eq!(m.tlvs.len(), 5);
    assert_eq!(m.tlvs[4].known().unwrap().name, "OXM_OF_IPV6_ND_TARGET");
    assert_eq!(m.tlvs[4].mask.as_ref().unwrap().len(), 16);
    let mut out = Vec::new();
    emit_tlvs(&m.tlvs, &mut out);
    assert_eq!(out, tlvs);
}

#[test]
fn errors_as_ovs() {
    // Truncated payload (ofsend.py: OF1.3 FLOW_MOD, in_port with 2 of 4 bytes).
    assert_eq!(
        parse_tlvs(&hex("800000040001"), false)
            .unwrap_err()
            .of_error(),
        OfError::OFPBMC_BAD_LEN
    );
    assert_eq!(
        parse_tlvs(&hex("800000"), false).unwrap_err().of_error(),
        OfError::OFPBMC_BAD_LEN
    );
    // Duplicate in_port, also across NXM and OXM.
    let dup = hex("80000004000000018000000400000002");
    assert_eq!(
        parse_tlvs(&dup, false).unwrap_err().of_error(),
        OfError::OFPBMC_DUP_FIELD
    );
    assert_eq!(
        parse_tlvs(&hex("0000000200018000000400000002"), false).unwrap_err(),
        MatchError::DuplicateField { header: 0x80000004 }
    );
    // Unknown field.
    assert_eq!(
        parse_tlvs(&hex("80007f0400000001"), false)
            .unwrap_err()
            .of_error(),
        OfError::OFPBMC_BAD_FIELD
    );
    // Value bits outside the mask.
    assert_eq!(
        parse_tlvs(&hex("8000070cffffffffffff010000000000"), false)
            .unwrap_err()
            .of_error(),
        OfError::OFPBMC_BAD_WILDCARDS
    );
    // A mask on in_port (exact-only) other than all-0s/all-1s.
    assert_eq!(
        parse_tlvs(&hex("000001040001000f"), false)
            .unwrap_err()
            .of_error(),
        OfError::OFPBMC_BAD_MASK
    );
    assert!(parse_tlvs(&hex("000001040001ffff"), false).is_ok());
    // A zero mask leaves the field wild: giving it again is no duplicate.
    assert!(parse_tlvs(
        &hex("0000030c000000000000000000000000 00000206010203040506"),
        false
    )
    .is_ok());
}

#[test]
fn vlan_and_tos_overlap_as_in_ovs() {
    // vlan_tci (CFI and VID, mask 0x1fff) then vlan_pcp: different bits, fine.
    assert!(parse_tlvs(&hex("00000904 1005 1fff 80000e01 03"), false).is_ok());
    // vlan_tci then vlan_vid: the VID bits are taken.
    assert_eq!(
        parse_tlvs(&hex("000009040005ffff 80000c021005"), false)
            .unwrap_err()
            .of_error(),
        OfError::OFPBMC_DUP_FIELD
    );
}

#[test]
fn prerequisites_as_ovs() {
    let err = |h: &str| {
        parse_tlvs(&hex(h), false)
            .map(|_| ())
            .map_err(|e| e.of_error())
    };
    // ofsend.py: ip_proto without eth_type -> OFPBMC_BAD_PREREQ.
    assert_eq!(err("8000140106"), Err(OfError::OFPBMC_BAD_PREREQ));
    assert_eq!(err("80000a020800 8000140106"), Ok(()));
    // ipv4_src needs IPv4, not IPv6; arp fields need ARP.
    assert_eq!(
        err("80000a0286dd 800016040a000001"),
        Err(OfError::OFPBMC_BAD_PREREQ)
    );
    assert_eq!(err("80000a020806 80002c040a000001"), Ok(()));
    // tcp_src needs ip_proto 6 and is refused for later fragments.
    assert_eq!(err("80000a020800 8000140106 80001a020050"), Ok(()));
    assert_eq!(
        err("80000a020800 8000140111 80001a020050"),
        Err(OfError::OFPBMC_BAD_PREREQ)
    );
    assert_eq!(
        err("80000a020800 8000140106 000135020202 80001a020050"),
        Err(OfError::OFPBMC_BAD_PREREQ)
    );
    // nd_target needs ICMPv6 type 135/136 (os-ken's ND spoofing flows).
    assert_eq!(
        err("80000a0286dd 800014013a 80003a0187 80003e10fe800000000000000000000000000001"),
        Ok(())
    );
    assert_eq!(
        err("80000a0286dd 800014013a 80003a0180 80003e10fe800000000000000000000000000001"),
        Err(OfError::OFPBMC_BAD_PREREQ)
    );
    // vlan_pcp needs a VLAN: OXM vlan_vid with OFPVID_PRESENT.
    assert_eq!(err("80000c021005 80000e0103"), Ok(()));
    assert_eq!(
        err("80000c020000 80000e0103"),
        Err(OfError::OFPBMC_BAD_PREREQ)
    );
    // Order counts: eth_type after the field is too late.
    assert_eq!(
        err("8000140106 80000a020800"),
        Err(OfError::OFPBMC_BAD_PREREQ)
    );
}

#[test]
fn cookie_pseudo_field() {
    // dump-flows cookie=0x99/-1 (NXST_FLOW request): unmasked NXM_NX_COOKIE.
    let m = parse_tlvs(&hex("00013c080000000000000099"), true).unwrap();
    assert_eq!(m.cookie, (0x99, u64::MAX));
    assert!(m.tlvs.is_empty());
    let m = parse_tlvs(&hex("00013d1000000000000000990000000000000fff"), true).unwrap();
    assert_eq!(m.cookie, (0x99, 0xfff));
    assert_eq!(
        parse_tlvs(&hex("00013c080000000000000099"), false)
            .unwrap_err()
            .of_error(),
        OfError::OFPBMC_BAD_FIELD
    );
    assert_eq!(
        parse_tlvs(
            &hex("00013c08000000000000009900013c080000000000000099"),
            true
        )
        .unwrap_err()
        .of_error(),
        OfError::OFPBMC_DUP_FIELD
    );
}

#[test]
fn oxm_match_framing() {
    // ovs-ofctl -O OpenFlow13 add-flow in_port=1: match = in_port 1, padded.
    let b = hex("0001000c800000040000000100000000");
    let (m, used) = parse_oxm_match(&b).unwrap();
    assert_eq!(used, 16);
    assert_eq!(m.tlvs[0].value, vec![0, 0, 0, 1]);
    let mut out = Vec::new();
    emit_oxm_match(&m.tlvs, &mut out);
    assert_eq!(out, b);
    let mut out = Vec::new();
    emit_oxm_match(&[], &mut out);
    assert_eq!(out, hex("0001000400000000"));
    assert_eq!(
        parse_oxm_match(&hex("0000000400000000"))
            .unwrap_err()
            .of_error(),
        OfError::OFPBMC_BAD_LEN
    );
    assert_eq!(
        parse_oxm_match(&hex("0002000400000000"))
            .unwrap_err()
            .of_error(),
        OfError::OFPBMC_BAD_TYPE
    );
    assert_eq!(
        parse_oxm_match(&hex("000100c800000000"))
            .unwrap_err()
            .of_error(),
        OfError::OFPBMC_BAD_LEN
    );
    assert_eq!(
        parse_oxm_match(&hex("0001")).unwrap_err().of_error(),
        OfError::OFPBMC_BAD_LEN
    );
}

#[test]
fn values_as_ovs() {
    let err = |h: &str| {
        parse_tlvs(&hex(h), false)
            .map(|_| ())
            .map_err(|e| e.of_error())
    };
    // OXM_OF_VLAN_VID with PCP bits, NXM_OF_IP_TOS with ECN bits, OXM_OF_IN_PORT
    // between the two port ranges, NXM_OF_ARP_OP above 255: OFPBMC_BAD_VALUE
    // (mf_is_value_valid), before prerequisites are looked at.
    assert_eq!(err("80000c022005"), Err(OfError::OFPBMC_BAD_VALUE));
    assert_eq!(
        err("80000a020800 00000a0103"),
        Err(OfError::OFPBMC_BAD_VALUE)
    );
    assert_eq!(err("8000000400010000"), Err(OfError::OFPBMC_BAD_VALUE));
    assert_eq!(err("00001e020100"), Err(OfError::OFPBMC_BAD_VALUE));
    assert_eq!(err("80000a020800 00000a0104"), Ok(()));
    assert_eq!(err("80000004fffffffe"), Ok(()));
    assert!(value_is_valid("vlan_vid", &[0x1f, 0xff]));
    assert!(!value_is_valid("vlan_vid", &[0x3f, 0xff]));
    assert!(value_is_valid("eth_dst", &[0xff; 6]));
}
