//! Actions: printing back, spellings, `learn` items.

use super::*;

#[test]
fn actions_print_back() {
    for text in [
        "output:2",
        "IN_PORT",
        "NORMAL",
        "FLOOD",
        "ALL",
        "LOCAL",
        "CONTROLLER:65535",
        "CONTROLLER:100",
        "TABLE",
        "output:NXM_NX_TUN_ID[0..15]",
        "mod_vlan_vid:4095",
        "mod_vlan_pcp:7",
        "strip_vlan",
        "pop_vlan",
        "set_vlan_vid:7",
        "set_vlan_pcp:2",
        "push_vlan:0x8100",
        "push_vlan:0x88a8",
        "set_tunnel:0",
        "set_tunnel:0xffffffff",
        "set_tunnel64:0x3e7",
        "set_tunnel64:0x100000000",
        "resubmit(,2)",
        "resubmit:3",
        "resubmit(3,2)",
        "mod_dl_src:fa:16:3e:f1:5e:7d",
        "mod_dl_dst:ff:ff:ff:ff:ff:ff",
        "load:0x2->NXM_OF_ARP_OP[]",
        "load:0->NXM_OF_VLAN_TCI[13..15]",
        "load:0x1->NXM_OF_VLAN_TCI[12]",
        "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]",
        "move:NXM_OF_IN_PORT[]->NXM_NX_TUN_ID[0..15]",
        "learn(table=1)",
        "learn(table=0,idle_timeout=10,eth_type=0x806,NXM_OF_ARP_TPA[]=NXM_OF_ARP_SPA[],arp_op=2)",
        "learn(table=2,eth_dst=fa:16:3e:00:00:01,NXM_OF_VLAN_TCI[0..11]=0x5,in_port=3,load:0x5->NXM_OF_VLAN_TCI[0..11])",
        "set_tunnel:0x3e7,output:2,output:3,resubmit(,22)",
    ] {
        // ARP and a tag in the match, for the actions that need them (OVS checks).
        let fm = add(&format!("arp,dl_vlan=1 actions={text}"));
        let actions = fm.actions.clone().unwrap();
        assert_eq!(format_actions(&actions, &TestPorts, false), text);
        assert_eq!(add(&print(&fm)), fm, "{text}");
    }
}

#[test]
fn action_spellings() {
    let fm = |t: &str| add(&format!("arp,dl_vlan=1 actions={t}")).actions.unwrap();
    assert_eq!(fm("in_port"), vec![Action::Output(OFPP_IN_PORT)]);
    assert_eq!(fm("normal"), vec![Action::Output(OFPP_NORMAL)]);
    assert_eq!(
        fm("flood,all,local"),
        vec![
            Action::Output(OFPP_FLOOD),
            Action::Output(OFPP_ALL),
            Action::Output(OFPP_LOCAL)
        ]
    );
    // Every way to say "to the controller" is one action, printed CONTROLLER:65535.
    for t in [
        "CONTROLLER:65535",
        "controller",
        "output:CONTROLLER",
        "output:65533",
    ] {
        assert_eq!(fm(t), vec![Action::Controller { max_len: 65535 }], "{t}");
    }
    assert_eq!(
        fm("controller(max_len=128)"),
        vec![Action::Controller { max_len: 128 }]
    );
    assert_eq!(fm("output:LOCAL"), vec![Action::Output(OFPP_LOCAL)]);
    assert_eq!(fm("output:table"), vec![Action::Output(OFPP_TABLE)]);
    // pop_vlan and strip_vlan are one action that remembers its spelling, as in OVS.
    assert_eq!(fm("pop_vlan"), vec![Action::PopVlan]);
    assert_eq!(fm("strip_vlan"), vec![Action::StripVlan]);
    assert_eq!(fm("DROP"), vec![]);
    assert_eq!(
        fm("resubmit(gre-1,)"),
        vec![Action::Resubmit {
            port: Some(2),
            table: None
        }]
    );
    assert_eq!(
        fm("resubmit(IN_PORT,5)"),
        vec![Action::Resubmit {
            port: None,
            table: Some(5)
        }]
    );
    assert_eq!(
        fm("resubmit:patch-int"),
        vec![Action::Resubmit {
            port: Some(1),
            table: None
        }]
    );
    assert_eq!(
        fm("set_tunnel64:5"),
        vec![Action::SetTunnel { id: 5, wide: true }]
    );
    assert_eq!(
        fm("load:0xa000001->OXM_OF_ARP_SPA[]"),
        vec![Action::Load {
            value: 0xa000001,
            dst: FieldSlice::whole(Field::ArpSpa)
        }]
    );
    assert_eq!(
        fm("move:NXM_OF_VLAN_TCI[0..11]->NXM_NX_TUN_ID[32..43]"),
        vec![Action::Move {
            src: slice(Field::VlanTci, 0, 12),
            dst: slice(Field::TunId, 32, 12)
        }]
    );
    assert_eq!(fm("output:NXM_OF_IN_PORT"), fm("output:NXM_OF_IN_PORT[]"));
    // Actions separated by spaces too, and learn's items may have spaces after commas.
    assert_eq!(
        fm("output:1 output:2"),
        vec![Action::Output(1), Action::Output(2)]
    );
    assert_eq!(
        fm("learn(table=3, priority=9, NXM_OF_ETH_DST[])"),
        fm("learn(table=3,priority=9,NXM_OF_ETH_DST[])")
    );
}

#[test]
fn learn_items() {
    let fm = add("actions=learn(NXM_OF_ETH_TYPE[]=0x0806,arp_tpa=10.0.0.1,NXM_OF_ETH_SRC[]=fa:16:3e:00:00:01,load:NXM_OF_IN_PORT[]->NXM_NX_TUN_ID[0..15])");
    let Action::Learn(spec) = &fm.actions.as_ref().unwrap()[0] else {
        panic!()
    };
    assert_eq!(spec.table, 1);
    assert_eq!(spec.priority, DEFAULT_PRIORITY);
    assert_eq!(
        spec.items,
        vec![
            LearnItem::Match {
                dst: FieldSlice::whole(Field::DlType),
                src: LearnSrc::Immediate(0x806)
            },
            LearnItem::Match {
                dst: FieldSlice::whole(Field::ArpTpa),
                src: LearnSrc::Immediate(0x0a000001)
            },
            LearnItem::Match {
                dst: FieldSlice::whole(Field::DlSrc),
                src: LearnSrc::Immediate(0xfa163e000001)
            },
            LearnItem::Load {
                src: LearnSrc::Field(FieldSlice::whole(Field::InPort)),
                dst: slice(Field::TunId, 0, 16),
            },
        ]
    );
    assert_eq!(
        format_actions(fm.actions.as_ref().unwrap(), &TestPorts, false),
        "learn(table=1,eth_type=0x806,arp_tpa=10.0.0.1,eth_src=fa:16:3e:00:00:01,load:NXM_OF_IN_PORT[]->NXM_NX_TUN_ID[0..15])"
    );
}

/// OpenFlow 1.3's actions and instructions, each after a match that gives it its
/// prerequisites, and as OVS prints the flow as given (values in each field's notation:
/// vlan_vid decimal, registers and tun_id hexadecimal).
#[test]
fn openflow13_actions_print_back() {
    for (m, text, printed) in [
        ("", "goto_table:5", "goto_table:5"),
        ("", "output:2,goto_table:254", "output:2,goto_table:254"),
        ("", "write_metadata:0x5/0xff", "write_metadata:0x5/0xff"),
        ("", "write_metadata:0x5,goto_table:1", "write_metadata:0x5,goto_table:1"),
        ("", "write_metadata:0", "write_metadata:0"),
        ("", "set_field:3->reg6", "set_field:0x3->reg6"),
        ("", "set_field:0x1/0xff->reg6", "set_field:0x1/0xff->reg6"),
        ("", "set_field:10->metadata", "set_field:0xa->metadata"),
        ("", "set_field:0x3e7->tun_id", "set_field:0x3e7->tun_id"),
        ("", "set_field:0x3e7->tunnel_id", "set_field:0x3e7->tun_id"),
        ("", "set_field:fa:16:3e:00:00:01->eth_src", "set_field:fa:16:3e:00:00:01->eth_src"),
        ("", "set_field:fa:16:3e:00:00:01->dl_dst", "set_field:fa:16:3e:00:00:01->eth_dst"),
        ("", "set_field:5->in_port", "set_field:5->in_port"),
        ("", "set_field:0x1001->vlan_tci", "set_field:0x1001->vlan_tci"),
        ("dl_vlan=1,", "set_field:0x1005->vlan_vid", "set_field:4101->vlan_vid"),
        ("", "push_vlan:0x8100,set_field:4098->vlan_vid", "push_vlan:0x8100,set_field:4098->vlan_vid"),
        ("dl_vlan=1,", "set_field:3->vlan_pcp", "set_field:3->vlan_pcp"),
        ("arp,", "set_field:2->arp_op,set_field:10.0.0.1->arp_spa", "set_field:2->arp_op,set_field:10.0.0.1->arp_spa"),
        ("arp,", "set_field:fa:16:3e:f1:5e:7d->arp_sha", "set_field:fa:16:3e:f1:5e:7d->arp_sha"),
        ("ip,", "set_field:10.0.0.1->ip_src,set_field:10.0.0.2->nw_dst", "set_field:10.0.0.1->ip_src,set_field:10.0.0.2->ip_dst"),
        ("ipv6,", "set_field:fe80::1->ipv6_src", "set_field:fe80::1->ipv6_src"),
        ("ipv6,", "set_field:2001:db8::/64->ipv6_dst", "set_field:2001:db8::/64->ipv6_dst"),
        ("ip,", "set_field:46->ip_dscp,set_field:8->nw_tos,set_field:1->nw_ecn,set_field:9->nw_ttl", "set_field:46->ip_dscp,set_field:8->nw_tos,set_field:1->nw_ecn,set_field:9->nw_ttl"),
        ("tcp,", "set_field:80->tcp_dst,set_field:81->tp_src", "set_field:80->tcp_dst,set_field:81->tcp_src"),
        ("udp6,", "set_field:53->udp_dst", "set_field:53->udp_dst"),
        ("icmp,", "set_field:0->icmp_type,set_field:1->icmp_code", "set_field:0->icmp_type,set_field:1->icmp_code"),
        ("icmp6,", "set_field:135->icmpv6_type", "set_field:135->icmpv6_type"),
        ("icmp6,icmp_type=135,", "set_field:fe80::2->nd_target,set_field:fa:16:3e:00:00:01->nd_sll", "set_field:fe80::2->nd_target,set_field:fa:16:3e:00:00:01->nd_sll"),
        ("icmp6,icmp_type=136,", "set_field:fa:16:3e:00:00:01->nd_tll", "set_field:fa:16:3e:00:00:01->nd_tll"),
        ("", "load:0x3->NXM_NX_REG6[]", "load:0x3->NXM_NX_REG6[]"),
        ("", "load:0x1->OXM_OF_METADATA[0..7]", "load:0x1->OXM_OF_METADATA[0..7]"),
        ("ipv6,", "load:0x1->NXM_NX_IPV6_SRC[]", "load:0x1->NXM_NX_IPV6_SRC[0..63],load:0->NXM_NX_IPV6_SRC[64..127]"),
        ("", "move:NXM_NX_REG0[0..15]->NXM_NX_TUN_ID[16..31]", "move:NXM_NX_REG0[0..15]->NXM_NX_TUN_ID[16..31]"),
        ("", "move:NXM_OF_IN_PORT[]->OXM_OF_METADATA[0..15]", "move:NXM_OF_IN_PORT[]->OXM_OF_METADATA[0..15]"),
        ("ip,", "move:NXM_NX_IP_TTL[]->NXM_NX_REG0[0..7]", "move:NXM_NX_IP_TTL[]->NXM_NX_REG0[0..7]"),
        ("", "output:NXM_NX_REG0[0..15]", "output:NXM_NX_REG0[0..15]"),
        ("ip,", "dec_ttl", "dec_ttl"),
        ("", "dec_ttl(1,2)", "dec_ttl(1,2)"),
        ("", "note:ab.cd", "note:ab.cd"),
        ("", "note:abcd,note:", "note:ab.cd,note:"),
        ("ip,", "mod_nw_src:10.0.0.1,mod_nw_dst:10.0.0.2,mod_nw_tos:184", "mod_nw_src:10.0.0.1,mod_nw_dst:10.0.0.2,mod_nw_tos:184"),
        ("tcp,", "mod_tp_src:1,mod_tp_dst:2", "mod_tp_src:1,mod_tp_dst:2"),
        ("", "controller,CONTROLLER:0,controller(max_len=9)", "CONTROLLER:65535,CONTROLLER:0,CONTROLLER:9"),
        (
            "",
            "learn(table=3,dl_type=0x86dd,nw_proto=58,icmpv6_type=136,nd_target=fe80::1,load:0x1->NXM_NX_REG3[],load:0x5->OXM_OF_METADATA[])",
            "learn(table=3,eth_type=0x86dd,nw_proto=58,icmpv6_type=136,nd_target=fe80::1,load:0x1->NXM_NX_REG3[],load:0x5->OXM_OF_METADATA[])",
        ),
        (
            "",
            "learn(table=2,NXM_NX_REG3[0..3]=0x7,tun_id=0x10,reg1=5,load:0x2->NXM_NX_REG0[0..7],output:NXM_NX_REG0[0..15])",
            "learn(table=2,NXM_NX_REG3[0..3]=0x7,tun_id=0x10,reg1=0x5,load:0x2->NXM_NX_REG0[0..7],output:NXM_NX_REG0[0..15])",
        ),
    ] {
        let fm = add(&format!("{m}table=0 actions={text}"));
        let actions = fm.actions.clone().unwrap();
        assert_eq!(format_actions(&actions, &TestPorts, false), printed, "{text}");
        assert_eq!(add(&print(&fm)), fm, "{text}");
    }
}

/// What the model keeps apart, as OVS's ofpact.raw does.
#[test]
fn set_field_and_load_stay_apart() {
    let fm = |t: &str| add(&format!("actions={t}")).actions.unwrap();
    assert_eq!(
        fm("set_field:3->reg6"),
        vec![Action::SetField {
            field: Field::Reg(6),
            value: 3,
            mask: 0xffff_ffff
        }]
    );
    assert_eq!(
        fm("load:3->NXM_NX_REG6[]"),
        vec![Action::Load {
            value: 3,
            dst: FieldSlice::whole(Field::Reg(6))
        }]
    );
    assert_eq!(
        fm("set_field:3->reg6")[0].set_field_parts(),
        fm("load:3->NXM_NX_REG6[]")[0].set_field_parts()
    );
    assert_eq!(fm("goto_table:3"), vec![Action::GotoTable(3)]);
    assert_eq!(
        fm("write_metadata:0x5/0xff"),
        vec![Action::WriteMetadata {
            value: 5,
            mask: 0xff
        }]
    );
    // OVS's set_field takes field names, not NXM/OXM names.
    assert!(add_err("actions=set_field:1->NXM_NX_REG0")
        .to_string()
        .contains("not a valid OXM field name"));
    assert!(add_err("actions=set_field:1->eth_type")
        .to_string()
        .contains("eth_type is read-only"));
    assert!(add_err("actions=set_field:1->nw_proto")
        .to_string()
        .contains("nw_proto is read-only"));
    assert!(add_err("dl_vlan=1 actions=set_field:0x2000->vlan_vid")
        .to_string()
        .contains("not a valid value for field vlan_vid"));
    assert!(add_err("actions=apply_actions(output:1)")
        .to_string()
        .contains("apply_actions is the default instruction"));
}
