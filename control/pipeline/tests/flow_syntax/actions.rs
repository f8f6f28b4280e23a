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
