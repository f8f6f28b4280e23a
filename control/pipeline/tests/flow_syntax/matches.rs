//! Match fields, their shorthands and masks, and what each mode accepts.

use super::*;

#[test]
fn match_fields_and_shorthands() {
    let fm = add("tcp,nw_src=10.0.0.0/8,nw_dst=192.168.1.1/255.255.0.255 actions=drop");
    let (v, k) = (fm.matcher.value, fm.matcher.mask);
    assert_eq!((v.dl_type, k.dl_type), (0x0800, 0xffff));
    assert_eq!((v.nw_proto, k.nw_proto), (6, 0xff));
    assert_eq!((v.nw_src, k.nw_src), (0x0a000000, 0xff000000));
    assert_eq!((v.nw_dst, k.nw_dst), (0xc0a80001, 0xffff00ff));
    assert_eq!(
        format_match(&fm.matcher, None, &TestPorts, false),
        "tcp,nw_src=10.0.0.0/8,nw_dst=192.168.0.1/255.255.0.255"
    );

    for (text, printed) in [
        ("ip actions=drop", "ip"),
        ("icmp actions=drop", "icmp"),
        ("udp actions=drop", "udp"),
        ("dl_type=0x0800,nw_proto=6 actions=drop", "tcp"),
        ("eth_type=0x800,nw_proto=47 actions=drop", "ip,nw_proto=47"),
        ("dl_type=0x88cc actions=drop", "dl_type=0x88cc"),
        (
            "arp,arp_op=2,arp_spa=10.0.0.0/24,arp_sha=fa:16:3e:00:00:01 actions=drop",
            "arp,arp_spa=10.0.0.0/24,arp_op=2,arp_sha=fa:16:3e:00:00:01",
        ),
        (
            "arp,nw_src=10.0.0.1,nw_proto=1 actions=drop",
            "arp,arp_spa=10.0.0.1,arp_op=1",
        ),
        (
            "arp_tha=00:00:00:00:00:00,arp actions=drop",
            "arp,arp_tha=00:00:00:00:00:00",
        ),
        ("dl_vlan_pcp=5 actions=drop", "dl_vlan_pcp=5"),
        (
            "dl_vlan=9,dl_vlan_pcp=5 actions=drop",
            "dl_vlan=9,dl_vlan_pcp=5",
        ),
        ("dl_vlan=0xffff actions=drop", "vlan_tci=0x0000"),
        (
            "vlan_tci=0x1000/0x1000 actions=drop",
            "vlan_tci=0x1000/0x1000",
        ),
        ("vlan_tci=0x1005/0x1fff actions=drop", "dl_vlan=5"),
        ("tun_id=0x10/0xf0 actions=drop", "tun_id=0x10/0xf0"),
        ("tunnel_id=0 actions=drop", "tun_id=0"),
        ("in_port=LOCAL actions=drop", "in_port=LOCAL"),
        ("in_port=65534 actions=drop", "in_port=LOCAL"),
        (
            "dl_src=fa:16:3e:00:00:01/ff:ff:ff:00:00:00 actions=drop",
            "dl_src=fa:16:3e:00:00:00/ff:ff:ff:00:00:00",
        ),
        (
            "NXM_OF_ETH_DST=ff:ff:ff:ff:ff:ff actions=drop",
            "dl_dst=ff:ff:ff:ff:ff:ff",
        ),
        ("priority=32768,in_port=3 actions=drop", "in_port=3"),
        ("priority=0 actions=drop", "priority=0"),
    ] {
        let fm = add(text);
        assert_eq!(
            format_match(&fm.matcher, Some(fm.priority), &TestPorts, false),
            printed,
            "{text}"
        );
        assert_eq!(add(&print(&fm)), fm, "{text}");
    }
    // Catch-all at the default priority prints nothing.
    assert_eq!(
        format_match(
            &Match::catch_all(),
            Some(DEFAULT_PRIORITY),
            &TestPorts,
            false
        ),
        ""
    );
    assert_eq!(print(&add("actions=NORMAL")), "actions=NORMAL");
}

#[test]
fn value_bits_outside_the_mask_are_dropped() {
    let fm = add("nw_src=10.1.2.3/16,ip actions=drop");
    assert_eq!(fm.matcher.value.nw_src, 0x0a010000);
    let fm = add("tun_id=0xff/0x0f actions=drop");
    assert_eq!(fm.matcher.value.tun_id, 0x0f);
}

#[test]
fn prerequisites_are_order_independent() {
    let a = add("arp_tpa=1.2.3.4,arp actions=drop");
    assert_eq!(a, add("arp,arp_tpa=1.2.3.4 actions=drop"));
    let a = add("nw_proto=17,dl_type=0x0800 actions=drop");
    assert_eq!(a, add("udp actions=drop"));
}

#[test]
fn same_value_twice_is_fine() {
    assert_eq!(
        add("ip,dl_type=0x0800 actions=drop"),
        add("ip actions=drop")
    );
    assert_eq!(add("tcp,nw_proto=6 actions=drop"), add("tcp actions=drop"));
    assert_eq!(
        add("dl_vlan=3,vlan_tci=0x1003/0x1fff actions=drop"),
        add("dl_vlan=3 actions=drop")
    );
}

#[test]
fn modes() {
    let d = parse_flow(
        "table=3,cookie=0x20/-1,out_port=gre-1,in_port=1",
        ParseMode::Delete,
        &TestPorts,
    )
    .unwrap();
    assert_eq!(
        (d.cookie, d.cookie_mask, d.out_port, d.table),
        (0x20, u64::MAX, Some(2), Some(3))
    );
    assert_eq!(d.actions, None);
    let d = parse_flow("cookie=0x20", ParseMode::Dump, &TestPorts).unwrap();
    assert_eq!((d.cookie, d.cookie_mask), (0x20, u64::MAX));
    let d = parse_flow("", ParseMode::Dump, &TestPorts).unwrap();
    assert_eq!(d, FlowMod::default());
    let m = parse_flow(
        "cookie=0x10/0xff,in_port=1 actions=drop",
        ParseMode::Modify,
        &TestPorts,
    )
    .unwrap();
    assert_eq!((m.cookie, m.cookie_mask), (0x10, 0xff));
    let m = parse_flow("cookie=0x10 actions=drop", ParseMode::Modify, &TestPorts).unwrap();
    assert_eq!((m.cookie, m.cookie_mask), (0x10, 0));
    let a = add("cookie=0x10,idle_timeout=10,hard_timeout=20,table=254 actions=drop");
    assert_eq!(
        (
            a.cookie,
            a.cookie_mask,
            a.idle_timeout,
            a.hard_timeout,
            a.table
        ),
        (0x10, 0, 10, 20, Some(254))
    );
    assert_eq!(
        print(&a),
        "cookie=0x10,table=254,idle_timeout=10,hard_timeout=20 actions=drop"
    );
    let p = print(&d);
    assert_eq!(p, "");
    let del = parse_flow(
        "cookie=0x5/0xf,out_port=2,dl_vlan=3",
        ParseMode::Delete,
        &TestPorts,
    )
    .unwrap();
    assert_eq!(print(&del), "cookie=0x5/0xf,out_port=2,dl_vlan=3");
    assert_eq!(
        parse_flow(&print(&del), ParseMode::Delete, &TestPorts).unwrap(),
        del
    );
}

/// OpenFlow 1.3's fields in matches, each with what OVS 3.1 prints for it (measured:
/// tests/ovs_vectors/dump_flows.txt has these and more).
#[test]
fn openflow13_fields_print_as_ovs_prints_them() {
    for (text, printed) in [
        ("vlan_vid=0x1005", "dl_vlan=5"),
        ("vlan_vid=0", "vlan_tci=0x0000/0x1fff"),
        ("vlan_vid=0x1000/0x1000", "vlan_tci=0x1000/0x1000"),
        ("vlan_vid=5", "vlan_tci=0x0005/0x1fff"),
        ("vlan_vid=0x1fff", "dl_vlan=4095"),
        ("vlan_pcp=3", "dl_vlan_pcp=3"),
        ("dl_vlan=7,dl_vlan_pcp=3", "dl_vlan=7,dl_vlan_pcp=3"),
        ("reg6=0x3", "reg6=0x3"),
        ("reg0=0,reg15=0xffffffff/0xf0", "reg0=0,reg15=0xf0/0xf0"),
        ("metadata=0x1/0xff", "metadata=0x1/0xff"),
        (
            "metadata=0,tun_id=0x5,reg1=1",
            "reg1=0x1,tun_id=0x5,metadata=0",
        ),
        ("in_port_oxm=5", "in_port=5"),
        ("ipv6", "ipv6"),
        ("ip6", "ipv6"),
        ("ipv4", "ip"),
        ("tcp6", "tcp6"),
        ("udp6,udp_dst=53", "udp6,tp_dst=53"),
        ("sctp6", "sctp6"),
        (
            "ipv6,ipv6_src=2001:db8::/32,ipv6_dst=fe80::1",
            "ipv6,ipv6_src=2001:db8::/32,ipv6_dst=fe80::1",
        ),
        (
            "ipv6,ipv6_src=fe80::/ffff:ffff::",
            "ipv6,ipv6_src=fe80::/32",
        ),
        (
            "ipv6,ipv6_src=fe80::1/ffff::ff",
            "ipv6,ipv6_src=fe80::1/ffff::ff",
        ),
        (
            "tcp,tcp_dst=80,tcp_src=0x400/0xff00",
            "tcp,tp_src=0x400/0xff00,tp_dst=80",
        ),
        ("udp,tp_src=53", "udp,tp_src=53"),
        (
            "icmp,icmp_type=8,icmp_code=0",
            "icmp,icmp_type=8,icmp_code=0",
        ),
        (
            "icmp6,icmpv6_type=135,icmpv6_code=0,nd_target=fe80::1,nd_sll=fa:16:3e:00:00:01",
            "icmp6,icmp_type=135,icmp_code=0,nd_target=fe80::1,nd_sll=fa:16:3e:00:00:01",
        ),
        (
            "icmp6,icmp_type=136,nd_tll=fa:16:3e:00:00:02/ff:ff:ff:00:00:00",
            "icmp6,icmp_type=136,nd_tll=fa:16:3e:00:00:00/ff:ff:ff:00:00:00",
        ),
        (
            "dl_type=0x86dd,nw_proto=58,icmpv6_type=136,in_port=5,nd_target=2001:db8::/64",
            "icmp6,in_port=5,icmp_type=136,nd_target=2001:db8::/64",
        ),
        (
            "ip,nw_tos=8,nw_ecn=1,nw_ttl=64",
            "ip,nw_tos=8,nw_ecn=1,nw_ttl=64",
        ),
        ("ip,ip_dscp=46", "ip,nw_tos=184"),
        ("ip,ip_ecn=2", "ip,nw_ecn=2"),
        ("ipv6,nw_proto=17", "udp6"),
        ("ipv6,nw_ttl=1", "ipv6,nw_ttl=1"),
        ("dl_type=0x86dd,nw_proto=47", "ipv6,nw_proto=47"),
        ("OXM_OF_VLAN_VID=0x1001", "dl_vlan=1"),
        ("NXM_NX_REG3=0x7", "reg3=0x7"),
    ] {
        let fm = add(&format!("{text} actions=drop"));
        assert_eq!(
            format_match(&fm.matcher, Some(fm.priority), &TestPorts, false),
            printed,
            "{text}"
        );
        assert_eq!(add(&print(&fm)), fm, "{text}");
    }
}

#[test]
fn openflow13_field_prerequisites_as_ovs_checks_them() {
    for (text, field) in [
        ("tcp_dst=80", "tcp_dst"),
        ("udp,tcp_dst=80", "tcp_dst"),
        ("ip,udp_src=1", "udp_src"),
        ("tp_dst=80", "tp_dst"),
        ("ip,tp_dst=80", "tp_dst"),
        ("ipv6_src=::1", "ipv6_src"),
        ("ip,ipv6_src=::1", "ipv6_src"),
        ("icmp_type=8", "icmp_type"),
        ("tcp,icmp_type=8", "icmp_type"),
        ("ipv6,icmpv6_type=1", "icmpv6_type"),
        ("icmp,icmpv6_type=1", "icmpv6_type"),
        // nd_target: ICMPv6 neighbour solicitation or advertisement, code 0.
        ("icmp6,nd_target=fe80::1", "nd_target"),
        ("icmp6,icmp_type=134,nd_target=fe80::1", "nd_target"),
        (
            "icmp6,icmp_type=136,icmp_code=1,nd_target=fe80::1",
            "nd_target",
        ),
        ("icmp6,icmp_type=136,nd_sll=00:00:00:00:00:01", "nd_sll"),
        ("icmp6,icmp_type=135,nd_tll=00:00:00:00:00:01", "nd_tll"),
        ("nw_ttl=5", "nw_ttl"),
        ("arp,nw_tos=8", "nw_tos"),
        ("ip_dscp=10", "ip_dscp"),
    ] {
        let e = add_err(&format!("{text} actions=drop"));
        assert!(
            matches!(&e, FlowParseError::MissingPrerequisite { field: f, .. } if f == field),
            "{text}: {e:?}"
        );
        assert_eq!(e.ofperr(), Some(OfpErr::OfpbmcBadPrereq), "{text}");
    }
    // Values OVS does not take for a field.
    for text in [
        "vlan_vid=0x2000",
        "ip,nw_tos=3",
        "ip,nw_ecn=4",
        "ip,ip_dscp=64",
        "arp,arp_op=256",
        "reg0=0x100000000",
        "ipv6,ipv6_src=fe80::1/129",
        "ipv6,ipv6_src=zz::1",
        "ip,nw_ttl=5/0xf",
    ] {
        add_err(&format!("{text} actions=drop"));
    }
    // A non-maskable field takes an all-ones mask (OVS's mf_is_mask_valid()).
    assert_eq!(
        add("ip,nw_ttl=5/0xff actions=drop"),
        add("ip,nw_ttl=5 actions=drop")
    );
}
