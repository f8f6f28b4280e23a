//! ovs-ofctl flow text: parsing, printing, and the round trip between them.

use proptest::prelude::*;
use xvs_pipeline::ofp::field::ALL_FIELDS;
use xvs_pipeline::ofp::format::{format_actions, format_flow, format_match};
use xvs_pipeline::ofp::{
    parse_flow, Action, Field, FieldSlice, FlowMod, FlowParseError, LearnItem, LearnSpec, LearnSrc,
    Match, OfPort, ParseMode, PortNames, DEFAULT_PRIORITY, OFPP_ALL, OFPP_CONTROLLER, OFPP_FLOOD,
    OFPP_IN_PORT, OFPP_LOCAL, OFPP_NORMAL, OFPP_TABLE,
};
use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::MacAddr;

/// br-tun of the Folsom and Neutron examples.
struct TestPorts;

const PORTS: [(&str, OfPort); 3] = [("patch-int", 1), ("gre-1", 2), ("gre-2", 3)];

impl PortNames for TestPorts {
    fn port_no(&self, name: &str) -> Option<OfPort> {
        PORTS.iter().find(|(n, _)| *n == name).map(|&(_, p)| p)
    }
    fn port_name(&self, no: OfPort) -> Option<&str> {
        PORTS.iter().find(|&&(_, p)| p == no).map(|&(n, _)| n)
    }
}

fn add(text: &str) -> FlowMod {
    parse_flow(text, ParseMode::Add, &TestPorts).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(text: &str, mode: ParseMode) -> FlowParseError {
    match parse_flow(text, mode, &TestPorts) {
        Ok(fm) => panic!("{text}: parsed as {fm:?}"),
        Err(e) => e,
    }
}

fn add_err(text: &str) -> FlowParseError {
    err(text, ParseMode::Add)
}

fn print(fm: &FlowMod) -> String {
    format_flow(fm, &TestPorts, false)
}

fn print_names(fm: &FlowMod) -> String {
    format_flow(fm, &TestPorts, true)
}

fn slice(field: Field, ofs: u32, n_bits: u32) -> FieldSlice {
    FieldSlice { field, ofs, n_bits }
}

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

// ---------------------------------------------------------------------------------------
// Golden flows.

const FOLSOM: [&str; 4] = [
    "priority=4,in_port=1,dl_vlan=1 actions=set_tunnel:0x3e7,output:2",
    "priority=3,tun_id=0x3e7,dl_dst=fa:16:3e:dc:c5:23 actions=mod_vlan_vid:1,output:1",
    "priority=3,tun_id=0x3e7,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:1,output:1",
    "priority=1 actions=drop",
];

const ARP_RESPONDER: &str = "table=21,priority=1,arp,dl_vlan=1,arp_tpa=10.0.0.1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:fa:16:3e:f1:5e:7d,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0xfa163ef15e7d->NXM_NX_ARP_SHA[],load:0xa000001->NXM_OF_ARP_SPA[],IN_PORT";

const LEARN_IN: &str = "table=10,priority=1 actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x9d5b0e5c3b25ca44,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1";
const LEARN_OUT: &str = "table=10,priority=1 actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x9d5b0e5c3b25ca44,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:1";

/// Neutron's br-tun (OVS agent with GRE tunnels, l2population ARP responder); each prints
/// back as written.
const NEUTRON: [&str; 14] = [
    "table=0,priority=1,in_port=1 actions=resubmit(,2)",
    "table=0,priority=1,in_port=2 actions=resubmit(,3)",
    "table=0,priority=0 actions=drop",
    "table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,20)",
    "table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,22)",
    "table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff actions=resubmit(,21)",
    "table=3,priority=1,tun_id=0x3e7 actions=mod_vlan_vid:1,resubmit(,10)",
    "table=3,priority=0 actions=drop",
    "table=20,priority=0 actions=resubmit(,22)",
    "table=20,priority=2,dl_vlan=1,dl_dst=fa:16:3e:dc:c5:23 actions=strip_vlan,set_tunnel:0x3e7,output:2",
    "table=21,priority=0 actions=resubmit(,22)",
    "table=22,priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x3e7,output:2,output:3",
    "table=22,priority=0 actions=drop",
    ARP_RESPONDER,
];

#[test]
fn folsom_flows_print_back_as_written() {
    for text in FOLSOM {
        let fm = add(text);
        assert_eq!(print(&fm), text);
        assert_eq!(add(&print(&fm)), fm);
    }
}

#[test]
fn folsom_flows_mean_what_they_say() {
    let fm = add(FOLSOM[0]);
    assert_eq!(fm.table, None);
    assert_eq!(fm.priority, 4);
    let mut m = Match::default();
    m.set_exact(Field::InPort, 1);
    m.set_masked(Field::VlanTci, u64::from(VLAN_PRESENT | 1), 0x1fff);
    assert_eq!(fm.matcher, m);
    assert_eq!(
        fm.actions,
        Some(vec![
            Action::SetTunnel {
                id: 0x3e7,
                wide: false
            },
            Action::Output(2)
        ])
    );

    let fm = add(FOLSOM[2]);
    assert_eq!(fm.matcher.mask.tun_id, u64::MAX);
    assert_eq!(fm.matcher.value.tun_id, 0x3e7);
    assert_eq!(fm.matcher.mask.dl_dst, mac("01:00:00:00:00:00"));
    assert_eq!(fm.matcher.value.dl_dst, mac("01:00:00:00:00:00"));
    assert_eq!(
        fm.actions,
        Some(vec![Action::ModVlanVid(1), Action::Output(1)])
    );

    let fm = add(FOLSOM[3]);
    assert_eq!(fm.matcher, Match::catch_all());
    assert_eq!(fm.actions, Some(vec![]));
}

#[test]
fn folsom_flows_with_port_names() {
    let fm = add("priority=4,in_port=patch-int,dl_vlan=1 actions=set_tunnel:0x3e7,output:gre-1");
    assert_eq!(fm, add(FOLSOM[0]));
    assert_eq!(
        print_names(&fm),
        "priority=4,in_port=patch-int,dl_vlan=1 actions=set_tunnel:0x3e7,output:gre-1"
    );
    // ovs-ofctl --names quotes names; quoted names read the same.
    assert_eq!(
        add("priority=4,in_port=\"patch-int\",dl_vlan=1 actions=set_tunnel:0x3e7,output:\"gre-1\""),
        fm
    );
}

#[test]
fn neutron_flows_print_back_as_written() {
    for text in NEUTRON {
        let fm = add(text);
        assert_eq!(print(&fm), text);
        assert_eq!(add(&print(&fm)), fm);
    }
    let fm = add(LEARN_IN);
    assert_eq!(print(&fm), LEARN_OUT);
    assert_eq!(add(LEARN_OUT), fm);
}

#[test]
fn neutron_names() {
    let fm = add("table=0,priority=1,in_port=patch-int actions=resubmit(,2)");
    assert_eq!(print(&fm), NEUTRON[0]);
    assert_eq!(
        print_names(&fm),
        "table=0,priority=1,in_port=patch-int actions=resubmit(,2)"
    );
    let fm = add(NEUTRON[11]);
    assert_eq!(
        print_names(&fm),
        "table=22,priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x3e7,output:gre-1,output:gre-2"
    );
}

#[test]
fn neutron_learn_spec() {
    let fm = add(LEARN_IN);
    let Some(actions) = &fm.actions else { panic!() };
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[1], Action::Output(1));
    let Action::Learn(spec) = &actions[0] else {
        panic!("{actions:?}")
    };
    let vid = slice(Field::VlanTci, 0, 12);
    let expected = LearnSpec {
        table: 20,
        priority: 1,
        idle_timeout: 0,
        hard_timeout: 300,
        cookie: 0x9d5b0e5c3b25ca44,
        items: vec![
            LearnItem::Match {
                dst: vid,
                src: LearnSrc::Field(vid),
            },
            LearnItem::Match {
                dst: FieldSlice::whole(Field::DlDst),
                src: LearnSrc::Field(FieldSlice::whole(Field::DlSrc)),
            },
            LearnItem::Load {
                src: LearnSrc::Immediate(0),
                dst: FieldSlice::whole(Field::VlanTci),
            },
            LearnItem::Load {
                src: LearnSrc::Field(FieldSlice::whole(Field::TunId)),
                dst: FieldSlice::whole(Field::TunId),
            },
            LearnItem::Output {
                src: FieldSlice::whole(Field::InPort),
            },
        ],
    };
    assert_eq!(**spec, expected);
}

#[test]
fn neutron_arp_responder() {
    let fm = add(ARP_RESPONDER);
    assert_eq!(fm.table, Some(21));
    assert_eq!(fm.matcher.value.dl_type, 0x0806);
    assert_eq!(fm.matcher.value.nw_dst, 0x0a000001);
    assert_eq!(fm.matcher.mask.nw_dst, u32::MAX);
    let w = FieldSlice::whole;
    assert_eq!(
        fm.actions.unwrap(),
        vec![
            Action::Move {
                src: w(Field::DlSrc),
                dst: w(Field::DlDst)
            },
            Action::ModDlSrc(mac("fa:16:3e:f1:5e:7d")),
            Action::Load {
                value: 2,
                dst: w(Field::ArpOp)
            },
            Action::Move {
                src: w(Field::ArpSha),
                dst: w(Field::ArpTha)
            },
            Action::Move {
                src: w(Field::ArpSpa),
                dst: w(Field::ArpTpa)
            },
            Action::Load {
                value: 0xfa163ef15e7d,
                dst: w(Field::ArpSha)
            },
            Action::Load {
                value: 0xa000001,
                dst: w(Field::ArpSpa)
            },
            Action::Output(OFPP_IN_PORT),
        ]
    );
}

#[test]
fn dumped_flows_parse_back() {
    let dumped = " cookie=0x0, duration=12.345s, table=0, n_packets=3, n_bytes=180, idle_age=2, hard_age=1, priority=1,in_port=1 actions=resubmit(,2)";
    assert_eq!(add(dumped), add(NEUTRON[0]));
    let dumped = "cookie=0x9d5b0e5c3b25ca44, duration=1.000s, table=20, n_packets=0, n_bytes=0, hard_timeout=300, idle_age=1, priority=1,vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:22:22:22 actions=load:0->NXM_OF_VLAN_TCI[],load:0x3e7->NXM_NX_TUN_ID[],output:gre-2";
    let fm = add(dumped);
    assert_eq!(fm.cookie, 0x9d5b0e5c3b25ca44);
    assert_eq!(fm.hard_timeout, 300);
    assert_eq!(
        (fm.matcher.value.vlan_tci, fm.matcher.mask.vlan_tci),
        (1, 0x0fff)
    );
    assert_eq!(
        print_names(&fm),
        "cookie=0x9d5b0e5c3b25ca44,table=20,hard_timeout=300,priority=1,vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:22:22:22 actions=load:0->NXM_OF_VLAN_TCI[],load:0x3e7->NXM_NX_TUN_ID[],output:gre-2"
    );
}

#[test]
fn separators_commas_and_spaces() {
    let a = add("priority=4,in_port=1 actions=output:2");
    assert_eq!(add("priority=4 in_port=1,actions=output:2"), a);
    assert_eq!(add("  priority=4 ,, in_port=1   actions=output:2  "), a);
    assert_eq!(add("priority=4,in_port=1,action=output:2"), a);
    assert_eq!(add("priority=4,in_port=1 actions=2"), a);
    assert_eq!(add("priority=4,in_port=1 actions=output:gre-1"), a);
    assert_eq!(add("priority=4,in_port=1 actions=gre-1"), a);
}

// ---------------------------------------------------------------------------------------
// Matches.

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

// ---------------------------------------------------------------------------------------
// Actions.

#[test]
fn actions_print_back() {
    for text in [
        "output:2",
        "IN_PORT",
        "NORMAL",
        "FLOOD",
        "ALL",
        "LOCAL",
        "CONTROLLER",
        "TABLE",
        "output:NXM_NX_TUN_ID[0..15]",
        "mod_vlan_vid:4095",
        "mod_vlan_pcp:7",
        "strip_vlan",
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
        "learn(table=0,idle_timeout=10,dl_type=0x806,NXM_OF_ARP_TPA[]=NXM_OF_ARP_SPA[],arp_op=2)",
        "learn(table=2,dl_dst=fa:16:3e:00:00:01,NXM_OF_VLAN_TCI[0..11]=0x5,in_port=3,load:0x5->NXM_OF_VLAN_TCI[0..11])",
        "set_tunnel:0x3e7,output:2,output:3,resubmit(,22)",
    ] {
        let fm = add(&format!("actions={text}"));
        let actions = fm.actions.clone().unwrap();
        assert_eq!(format_actions(&actions, &TestPorts, false), text);
        assert_eq!(add(&print(&fm)), fm, "{text}");
    }
}

#[test]
fn action_spellings() {
    let fm = |t: &str| add(&format!("actions={t}")).actions.unwrap();
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
    assert_eq!(
        fm("CONTROLLER:65535"),
        vec![Action::Output(OFPP_CONTROLLER)]
    );
    assert_eq!(fm("output:LOCAL"), vec![Action::Output(OFPP_LOCAL)]);
    assert_eq!(fm("output:table"), vec![Action::Output(OFPP_TABLE)]);
    assert_eq!(fm("pop_vlan"), vec![Action::StripVlan]);
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
        "learn(table=1,dl_type=0x806,arp_tpa=10.0.0.1,dl_src=fa:16:3e:00:00:01,load:NXM_OF_IN_PORT[]->NXM_NX_TUN_ID[0..15])"
    );
}

// ---------------------------------------------------------------------------------------
// Errors: each class, and the message names the offending text.

fn assert_msg(e: &FlowParseError, parts: &[&str]) {
    let msg = e.to_string();
    for p in parts {
        assert!(msg.contains(p), "{msg:?} should contain {p:?}");
    }
}

#[test]
fn unknown_field() {
    let e = add_err("priority=5,dl_dsx=fa:16:3e:00:00:01 actions=drop");
    assert_eq!(e, FlowParseError::UnknownField("dl_dsx".into()));
    assert_eq!(e.to_string(), "unknown field \"dl_dsx\"");
    assert_msg(
        &add_err("actions=load:1->NXM_OF_FOO[]"),
        &["\"NXM_OF_FOO\""],
    );
    assert_msg(&add_err("ipv4 actions=drop"), &["\"ipv4\""]);
}

#[test]
fn bad_mask() {
    let e = add_err("dl_dst=01:00:00:00:00:00/zz actions=drop");
    assert_eq!(
        e,
        FlowParseError::BadMask {
            field: "dl_dst".into(),
            mask: "zz".into()
        }
    );
    assert_eq!(e.to_string(), "bad mask \"zz\" for dl_dst");
    assert_msg(
        &add_err("ip,nw_src=10.0.0.0/33 actions=drop"),
        &["\"33\"", "nw_src"],
    );
    assert_msg(
        &add_err("ip,nw_src=10.0.0.0/1.2.3 actions=drop"),
        &["\"1.2.3\"", "nw_src"],
    );
    assert_msg(&add_err("in_port=1/2 actions=drop"), &["\"2\"", "in_port"]);
    assert_msg(
        &add_err("dl_type=0x800/0xff00 actions=drop"),
        &["\"0xff00\"", "dl_type"],
    );
    assert_msg(
        &add_err("vlan_tci=0x1000/0x10000 actions=drop"),
        &["\"0x10000\"", "vlan_tci"],
    );
    assert_msg(&add_err("dl_vlan=5/7 actions=drop"), &["\"7\"", "dl_vlan"]);
}

#[test]
fn bad_values() {
    for (text, part) in [
        ("priority=65536 actions=drop", "\"65536\""),
        ("table=255 actions=drop", "\"255\""),
        ("dl_vlan=4096 actions=drop", "\"4096\""),
        ("dl_vlan_pcp=8 actions=drop", "\"8\""),
        ("dl_src=fa:16:3e:00:00 actions=drop", "\"fa:16:3e:00:00\""),
        ("ip,nw_dst=10.0.0.256 actions=drop", "\"10.0.0.256\""),
        ("dl_type=0x10000 actions=drop", "\"0x10000\""),
        ("ip,nw_proto=256 actions=drop", "\"256\""),
        ("in_port=70000 actions=drop", "\"70000\""),
        ("idle_timeout=-1 actions=drop", "\"-1\""),
        ("priority= actions=drop", "priority"),
        ("ip=1 actions=drop", "\"1\""),
    ] {
        let e = add_err(text);
        assert!(
            matches!(e, FlowParseError::BadValue { .. }),
            "{text}: {e:?}"
        );
        assert_msg(&e, &[part]);
    }
}

#[test]
fn missing_prerequisite() {
    let e = add_err("arp_tpa=10.0.0.1 actions=drop");
    assert_eq!(
        e,
        FlowParseError::MissingPrerequisite {
            field: "arp_tpa".into(),
            needs: "arp (dl_type=0x0806)".into()
        }
    );
    assert_eq!(e.to_string(), "arp_tpa requires arp (dl_type=0x0806)");
    assert_msg(&add_err("ip,arp_op=1 actions=drop"), &["arp_op", "arp"]);
    assert_msg(
        &add_err("nw_src=10.0.0.1 actions=drop"),
        &["nw_src requires ip or arp"],
    );
    assert_msg(
        &add_err("dl_type=0x86dd,nw_proto=6 actions=drop"),
        &["nw_proto"],
    );
    // Inside learn: the learned flow needs its own prerequisites, in order.
    let e = add_err("actions=learn(NXM_OF_ARP_TPA[])");
    assert!(
        matches!(e, FlowParseError::MissingPrerequisite { .. }),
        "{e:?}"
    );
    assert_msg(&e, &["NXM_OF_ARP_TPA[]", "arp"]);
}

#[test]
fn unknown_port() {
    let e = add_err("in_port=gre-9 actions=drop");
    assert_eq!(e, FlowParseError::UnknownPort("gre-9".into()));
    assert_eq!(e.to_string(), "unknown port \"gre-9\"");
    assert_eq!(
        add_err("actions=output:gre-9"),
        FlowParseError::UnknownPort("gre-9".into())
    );
    assert_eq!(
        add_err("actions=resubmit(gre-9,1)"),
        FlowParseError::UnknownPort("gre-9".into())
    );
    assert_eq!(
        add_err("in_port=\"gre 9\" actions=drop"),
        FlowParseError::UnknownPort("gre 9".into())
    );
    assert_eq!(
        err("out_port=gre-9", ParseMode::Delete),
        FlowParseError::UnknownPort("gre-9".into())
    );
}

#[test]
fn bad_action_argument() {
    let e = add_err("in_port=1 actions=mod_vlan_vid:5000");
    assert_eq!(
        e.to_string(),
        "bad argument \"5000\" for mod_vlan_vid: VLAN id must be 0..4095"
    );
    for (text, part) in [
        ("actions=mod_vlan_pcp:8", "\"8\""),
        ("actions=push_vlan:0x800", "\"0x800\""),
        ("actions=set_tunnel:0x100000000", "set_tunnel64"),
        ("actions=mod_dl_src:zz", "\"zz\""),
        ("actions=output:0", "\"0\""),
        ("actions=output:65281", "\"65281\""),
        ("actions=output:ANY", "\"ANY\""),
        ("actions=resubmit(,255)", "\"255\""),
        ("actions=resubmit:in_port", "resubmit"),
        ("actions=strip_vlan:1", "\"1\""),
        ("actions=load:1->NXM_OF_ETH_TYPE[]", "cannot be written"),
        (
            "actions=move:NXM_OF_ETH_SRC[]->NXM_OF_VLAN_TCI[]",
            "48 bits",
        ),
        ("actions=learn(fin_idle_timeout=5)", "fin_idle_timeout"),
        ("actions=mod_vlan_vid", "mod_vlan_vid"),
    ] {
        let e = add_err(text);
        assert!(
            matches!(e, FlowParseError::BadActionArgument { .. }),
            "{text}: {e:?}"
        );
        assert_msg(&e, &[part]);
    }
}

#[test]
fn load_value_too_wide() {
    let e = add_err("actions=load:0x1000->NXM_OF_VLAN_TCI[0..11]");
    assert!(
        matches!(e, FlowParseError::BadActionArgument { ref action, .. } if action == "load"),
        "{e:?}"
    );
    assert_msg(&e, &["0x1000", "NXM_OF_VLAN_TCI[0..11]", "12 bits"]);
    let e = add_err("actions=learn(load:0x1000->NXM_OF_VLAN_TCI[0..11])");
    assert_msg(&e, &["learn", "0x1000"]);
    let e = add_err("actions=learn(NXM_OF_VLAN_TCI[0..11]=0x1000)");
    assert_msg(&e, &["learn", "0x1000"]);
}

#[test]
fn learn_width_mismatch() {
    let e = add_err("actions=learn(table=20,NXM_OF_VLAN_TCI[0..11]=NXM_OF_ETH_SRC[])");
    assert!(
        matches!(e, FlowParseError::BadActionArgument { ref action, .. } if action == "learn"),
        "{e:?}"
    );
    assert_msg(
        &e,
        &[
            "NXM_OF_VLAN_TCI[0..11]=NXM_OF_ETH_SRC[]",
            "48 bits",
            "12 bits",
        ],
    );
    let e = add_err("actions=learn(load:NXM_NX_TUN_ID[]->NXM_OF_VLAN_TCI[])");
    assert_msg(&e, &["load:NXM_NX_TUN_ID[]->NXM_OF_VLAN_TCI[]"]);
}

#[test]
fn bad_slices() {
    for (text, part) in [
        (
            "actions=load:1->NXM_OF_VLAN_TCI[0..16]",
            "NXM_OF_VLAN_TCI[0..16]",
        ),
        (
            "actions=load:1->NXM_OF_VLAN_TCI[5..4]",
            "NXM_OF_VLAN_TCI[5..4]",
        ),
        ("actions=load:1->NXM_OF_VLAN_TCI[x]", "NXM_OF_VLAN_TCI[x]"),
        ("actions=output:NXM_OF_IN_PORT[", "NXM_OF_IN_PORT["),
        (
            "actions=move:NXM_OF_IN_PORT[99999999999]->NXM_OF_IN_PORT[]",
            "99999999999",
        ),
    ] {
        let e = add_err(text);
        assert!(
            matches!(e, FlowParseError::BadSlice { .. }),
            "{text}: {e:?}"
        );
        assert_msg(&e, &[part]);
    }
}

#[test]
fn unknown_action() {
    let e = add_err("in_port=1 actions=output:2,frobnicate");
    assert_eq!(e, FlowParseError::UnknownAction("frobnicate".into()));
    assert_eq!(e.to_string(), "unknown action \"frobnicate\"");
    assert_eq!(
        add_err("actions=enqueue:1:2"),
        FlowParseError::UnknownAction("enqueue".into())
    );
}

#[test]
fn missing_and_unexpected_actions() {
    assert_eq!(
        add_err("priority=1,in_port=1"),
        FlowParseError::MissingActions
    );
    assert_eq!(
        err("in_port=1", ParseMode::Modify),
        FlowParseError::MissingActions
    );
    assert_eq!(add_err("in_port=1 actions="), FlowParseError::EmptyActions);
    assert_msg(&add_err("actions=drop,output:1"), &["drop"]);
    let e = err("in_port=1 actions=output:2", ParseMode::Delete);
    assert_eq!(e, FlowParseError::UnexpectedActions("output:2".into()));
    assert_msg(&e, &["output:2"]);
    assert!(matches!(
        err("actions=drop", ParseMode::Dump),
        FlowParseError::UnexpectedActions(_)
    ));
}

#[test]
fn not_allowed_in_mode() {
    let e = add_err("cookie=0x1/0xff actions=drop");
    assert!(
        matches!(
            e,
            FlowParseError::NotAllowedInMode {
                mode: ParseMode::Add,
                ..
            }
        ),
        "{e:?}"
    );
    assert_msg(&e, &["cookie=0x1/0xff", "add-flow"]);
    let e = add_err("out_port=1 actions=drop");
    assert_msg(&e, &["out_port=1", "add-flow"]);
    let e = err("out_port=1 actions=drop", ParseMode::Modify);
    assert_msg(&e, &["out_port=1", "mod-flows"]);
}

#[test]
fn conflicts() {
    let e = add_err("dl_type=0x800,arp actions=drop");
    assert!(matches!(e, FlowParseError::Conflict { .. }), "{e:?}");
    assert_msg(&e, &["dl_type", "\"arp\""]);
    assert_msg(&add_err("in_port=1,in_port=2 actions=drop"), &["in_port=2"]);
    assert_msg(&add_err("tcp,udp actions=drop"), &["\"udp\""]);
    assert_msg(
        &add_err("dl_vlan=0xffff,dl_vlan_pcp=1 actions=drop"),
        &["dl_vlan_pcp=1"],
    );
    assert_msg(
        &add_err("arp,arp_spa=1.1.1.1,nw_src=1.1.1.2 actions=drop"),
        &["nw_src=1.1.1.2"],
    );
}

#[test]
fn syntax_errors() {
    for text in [
        "actions=learn(table=1",
        "actions=resubmit(,1))",
        "in_port=\"patch-int actions=drop",
        "actions=resubmit(,1)x",
        "actions =drop",
    ] {
        let e = add_err(text);
        assert!(matches!(e, FlowParseError::Syntax(_)), "{text}: {e:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Properties.

fn ones(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

fn fields_where(pred: impl Fn(Field) -> bool) -> Vec<Field> {
    ALL_FIELDS.iter().copied().filter(|&f| pred(f)).collect()
}

/// Any slice of one of `fields`.
fn arb_slice_of(fields: Vec<Field>) -> impl Strategy<Value = FieldSlice> {
    prop::sample::select(fields)
        .prop_flat_map(|f| (Just(f), 0..f.width()))
        .prop_flat_map(|(f, ofs)| (Just(f), Just(ofs), 1..=f.width() - ofs))
        .prop_map(|(field, ofs, n_bits)| FieldSlice { field, ofs, n_bits })
}

/// A slice `n` bits wide of one of `fields` (that are at least that wide).
fn arb_slice_n(n: u32, fields: Vec<Field>) -> impl Strategy<Value = FieldSlice> {
    let wide: Vec<Field> = fields.into_iter().filter(|f| f.width() >= n).collect();
    prop::sample::select(wide)
        .prop_flat_map(move |f| (Just(f), 0..=f.width() - n))
        .prop_map(move |(field, ofs)| FieldSlice {
            field,
            ofs,
            n_bits: n,
        })
}

fn arb_any_slice() -> impl Strategy<Value = FieldSlice> {
    arb_slice_of(ALL_FIELDS.to_vec())
}

fn writable() -> Vec<Field> {
    fields_where(|f| f.is_writable())
}

fn arb_out_port() -> impl Strategy<Value = OfPort> {
    prop_oneof![
        1..=4u32,
        1..=0xff00u32,
        prop::sample::select(vec![
            OFPP_IN_PORT,
            OFPP_TABLE,
            OFPP_NORMAL,
            OFPP_FLOOD,
            OFPP_ALL,
            OFPP_CONTROLLER,
            OFPP_LOCAL
        ]),
    ]
}

fn arb_mac() -> impl Strategy<Value = u64> {
    any::<u64>().prop_map(|v| v & ones(48))
}

fn arb_nonzero_mask(bits: u32) -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(ones(bits)),
        any::<u64>().prop_map(move |m| m & ones(bits))
    ]
    .prop_filter("nonzero", |m| *m != 0)
}

#[derive(Clone, Debug)]
enum Proto {
    Any,
    Ip(Option<u8>),
    Arp,
    Other(u16),
}

fn arb_proto() -> impl Strategy<Value = Proto> {
    prop_oneof![
        Just(Proto::Any),
        prop::option::of(any::<u8>()).prop_map(Proto::Ip),
        prop::option::of(prop::sample::select(vec![1u8, 6, 17])).prop_map(Proto::Ip),
        Just(Proto::Arp),
        any::<u16>()
            .prop_filter("not ip or arp", |t| *t != 0x0800 && *t != 0x0806)
            .prop_map(Proto::Other),
    ]
}

type Masked = Option<(u64, u64)>;

fn arb_masked(bits: u32) -> impl Strategy<Value = Masked> {
    prop::option::of((any::<u64>(), arb_nonzero_mask(bits)))
}

fn arb_vlan() -> impl Strategy<Value = Masked> {
    let present = u64::from(VLAN_PRESENT);
    prop_oneof![
        Just(None),
        (0..4096u64).prop_map(move |vid| Some((present | vid, 0x1fff))),
        (0..8u64).prop_map(move |pcp| Some((present | pcp << 13, 0xf000))),
        (0..4096u64, 0..8u64).prop_map(move |(vid, pcp)| Some((present | pcp << 13 | vid, 0xffff))),
        Just(Some((0, 0xffff))),
        (any::<u64>(), arb_nonzero_mask(16)).prop_map(Some),
    ]
}

prop_compose! {
    fn arb_match()(
        in_port in prop::option::of(0..=0xffffu64),
        tun_id in arb_masked(64),
        vlan in arb_vlan(),
        dl_src in prop::option::of((arb_mac(), arb_nonzero_mask(48))),
        dl_dst in prop::option::of((arb_mac(), arb_nonzero_mask(48))),
        proto in arb_proto(),
        nw_src in arb_masked(32),
        nw_dst in arb_masked(32),
        arp_op in prop::option::of(any::<u8>()),
        arp_sha in prop::option::of((arb_mac(), arb_nonzero_mask(48))),
        arp_tha in prop::option::of((arb_mac(), arb_nonzero_mask(48))),
    ) -> Match {
        let mut m = Match::default();
        let mut set = |f: Field, x: Masked| {
            if let Some((v, k)) = x {
                m.set_masked(f, v, k);
            }
        };
        set(Field::InPort, in_port.map(|p| (p, u64::MAX)));
        set(Field::TunId, tun_id);
        set(Field::VlanTci, vlan);
        set(Field::DlSrc, dl_src);
        set(Field::DlDst, dl_dst);
        match proto {
            Proto::Any => {}
            Proto::Other(t) => set(Field::DlType, Some((u64::from(t), u64::MAX))),
            Proto::Ip(p) => {
                set(Field::DlType, Some((0x0800, u64::MAX)));
                set(Field::NwProto, p.map(|p| (u64::from(p), u64::MAX)));
                set(Field::NwSrc, nw_src);
                set(Field::NwDst, nw_dst);
            }
            Proto::Arp => {
                set(Field::DlType, Some((0x0806, u64::MAX)));
                set(Field::ArpSpa, nw_src);
                set(Field::ArpTpa, nw_dst);
                set(Field::ArpOp, arp_op.map(|p| (u64::from(p), u64::MAX)));
                set(Field::ArpSha, arp_sha);
                set(Field::ArpTha, arp_tha);
            }
        }
        m
    }
}

/// A learned value for `dst`: a slice of the same width, or a number that fits.
fn arb_learn_src(dst: FieldSlice) -> impl Strategy<Value = LearnSrc> {
    prop_oneof![
        Just(LearnSrc::Field(dst)),
        arb_slice_n(dst.n_bits, ALL_FIELDS.to_vec()).prop_map(LearnSrc::Field),
        any::<u64>().prop_map(move |v| LearnSrc::Immediate(v & ones(dst.n_bits))),
    ]
}

fn arb_learn_item(match_fields: Vec<Field>) -> impl Strategy<Value = LearnItem> {
    prop_oneof![
        arb_slice_of(match_fields).prop_flat_map(
            |dst| arb_learn_src(dst).prop_map(move |src| LearnItem::Match { dst, src })
        ),
        arb_slice_of(writable()).prop_flat_map(
            |dst| arb_learn_src(dst).prop_map(move |src| LearnItem::Load { src, dst })
        ),
        arb_any_slice().prop_map(|src| LearnItem::Output { src }),
    ]
}

prop_compose! {
    fn arb_learn()(
        table in 0..=254u8,
        priority in any::<u16>(),
        idle_timeout in prop_oneof![Just(0u16), any::<u16>()],
        hard_timeout in prop_oneof![Just(0u16), any::<u16>()],
        cookie in prop_oneof![Just(0u64), any::<u64>()],
        arp in any::<bool>(),
        items in prop::collection::vec(
            arb_learn_item(fields_where(|f| f.prerequisite() == xvs_pipeline::ofp::Prerequisite::None && f != Field::DlType)),
            0..5,
        ),
        arp_items in prop::collection::vec(
            arb_learn_item(fields_where(|f| f != Field::DlType)),
            0..4,
        ),
    ) -> LearnSpec {
        let mut items = items;
        if arp {
            // A learned flow may match ARP fields once it matches the ARP type.
            items.push(LearnItem::Match {
                dst: FieldSlice::whole(Field::DlType),
                src: LearnSrc::Immediate(0x0806),
            });
            items.extend(arp_items);
        }
        LearnSpec { table, priority, idle_timeout, hard_timeout, cookie, items }
    }
}

fn arb_action() -> impl Strategy<Value = Action> {
    let port = arb_out_port().prop_filter("not in_port", |p| *p != OFPP_IN_PORT);
    prop_oneof![
        arb_out_port().prop_map(Action::Output),
        arb_any_slice().prop_map(Action::OutputField),
        (0..4096u16).prop_map(Action::ModVlanVid),
        (0..8u8).prop_map(Action::ModVlanPcp),
        Just(Action::StripVlan),
        prop::sample::select(vec![0x8100u16, 0x88a8]).prop_map(Action::PushVlan),
        (0..=u64::from(u32::MAX)).prop_map(|id| Action::SetTunnel { id, wide: false }),
        any::<u64>().prop_map(|id| Action::SetTunnel { id, wide: true }),
        (prop::option::of(port), prop::option::of(0..=254u8))
            .prop_filter("port or table", |(p, t)| p.is_some() || t.is_some())
            .prop_map(|(port, table)| Action::Resubmit { port, table }),
        arb_mac().prop_map(|m| Action::ModDlSrc(MacAddr::from_u64(m))),
        arb_mac().prop_map(|m| Action::ModDlDst(MacAddr::from_u64(m))),
        (arb_slice_of(writable()), any::<u64>()).prop_map(|(dst, v)| Action::Load {
            value: v & ones(dst.n_bits),
            dst
        }),
        (1..=64u32)
            .prop_flat_map(|n| (
                arb_slice_n(n, ALL_FIELDS.to_vec()),
                arb_slice_n(n, writable())
            ))
            .prop_map(|(src, dst)| Action::Move { src, dst }),
        arb_learn().prop_map(|l| Action::Learn(Box::new(l))),
    ]
}

prop_compose! {
    fn arb_flow_mod()(
        table in prop::option::of(0..=254u8),
        priority in prop_oneof![Just(DEFAULT_PRIORITY), any::<u16>()],
        cookie in prop_oneof![Just(0u64), any::<u64>()],
        idle_timeout in prop_oneof![Just(0u16), any::<u16>()],
        hard_timeout in prop_oneof![Just(0u16), any::<u16>()],
        matcher in arb_match(),
        actions in prop::collection::vec(arb_action(), 0..6),
    ) -> FlowMod {
        FlowMod {
            table,
            priority,
            cookie,
            cookie_mask: 0,
            idle_timeout,
            hard_timeout,
            matcher,
            actions: Some(actions),
            out_port: None,
        }
    }
}

prop_compose! {
    fn arb_del_flow_mod()(
        table in prop::option::of(0..=254u8),
        priority in any::<u16>(),
        cookie in any::<u64>(),
        cookie_mask in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
        out_port in prop::option::of(prop_oneof![arb_out_port(), 0..=0xffffu32]),
        matcher in arb_match(),
    ) -> FlowMod {
        FlowMod {
            table,
            priority,
            // Without a mask, a cookie in del-flows selects exactly that cookie.
            cookie: if cookie_mask == 0 { 0 } else { cookie },
            cookie_mask,
            idle_timeout: 0,
            hard_timeout: 0,
            matcher,
            actions: None,
            out_port,
        }
    }
}

/// Valid flow lines to mutate.
fn corpus() -> Vec<String> {
    let mut v: Vec<String> = FOLSOM
        .iter()
        .chain(NEUTRON.iter())
        .map(|s| s.to_string())
        .collect();
    v.push(LEARN_IN.to_string());
    v.push(
        "cookie=0x5/-1,table=3,out_port=gre-1,in_port=\"patch-int\",tcp,nw_src=10.0.0.0/8"
            .to_string(),
    );
    v.push("actions=learn(NXM_OF_ETH_TYPE[]=0x0806,arp_tpa=10.0.0.1,load:NXM_OF_IN_PORT[]->NXM_NX_TUN_ID[0..15]),resubmit(gre-2,4)".to_string());
    v
}

#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, char),
    Replace(usize, char),
    Duplicate(usize, usize),
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![
        prop::sample::select(
            ",=:()[]./->\" \\0x123456789abcdefNXM_"
                .chars()
                .collect::<Vec<_>>()
        ),
        any::<char>(),
    ];
    prop_oneof![
        (any::<usize>(), 0..8usize).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), ch.clone()).prop_map(|(a, c)| Edit::Insert(a, c)),
        (any::<usize>(), ch).prop_map(|(a, c)| Edit::Replace(a, c)),
        (any::<usize>(), 0..16usize).prop_map(|(a, n)| Edit::Duplicate(a, n)),
    ]
}

fn apply(s: &str, e: &Edit) -> String {
    let mut c: Vec<char> = s.chars().collect();
    let at = |a: usize, len: usize| if len == 0 { 0 } else { a % (len + 1) };
    match *e {
        Edit::Delete(a, n) => {
            let i = at(a, c.len());
            let j = (i + n).min(c.len());
            c.drain(i..j);
        }
        Edit::Insert(a, ch) => {
            let i = at(a, c.len());
            c.insert(i, ch);
        }
        Edit::Replace(a, ch) => {
            if !c.is_empty() {
                let i = a % c.len();
                c[i] = ch;
            }
        }
        Edit::Duplicate(a, n) => {
            let i = at(a, c.len());
            let j = (i + n).min(c.len());
            let dup: Vec<char> = c[i..j].to_vec();
            c.splice(i..i, dup);
        }
    }
    c.into_iter().collect()
}

const MODES: [ParseMode; 4] = [
    ParseMode::Add,
    ParseMode::Modify,
    ParseMode::Delete,
    ParseMode::Dump,
];

/// Whatever parses prints to text that parses to the same thing, in the same mode.
fn check_stable(text: &str) -> Result<(), TestCaseError> {
    for mode in MODES {
        if let Ok(fm) = parse_flow(text, mode, &TestPorts) {
            for names in [false, true] {
                let printed = format_flow(&fm, &TestPorts, names);
                let again = parse_flow(&printed, mode, &TestPorts);
                prop_assert_eq!(
                    again.as_ref(),
                    Ok(&fm),
                    "{:?} in {} printed as {:?}",
                    text,
                    mode,
                    printed
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn add_flows_round_trip(fm in arb_flow_mod(), names in any::<bool>()) {
        let text = format_flow(&fm, &TestPorts, names);
        let parsed = parse_flow(&text, ParseMode::Add, &TestPorts);
        prop_assert_eq!(parsed.as_ref(), Ok(&fm), "printed as {:?}", text);
        // And as mod-flows.
        let parsed = parse_flow(&text, ParseMode::Modify, &TestPorts);
        prop_assert_eq!(parsed.as_ref(), Ok(&fm), "printed as {:?}", text);
    }

    #[test]
    fn del_flows_round_trip(fm in arb_del_flow_mod(), names in any::<bool>()) {
        let text = format_flow(&fm, &TestPorts, names);
        for mode in [ParseMode::Delete, ParseMode::Dump] {
            let parsed = parse_flow(&text, mode, &TestPorts);
            prop_assert_eq!(parsed.as_ref(), Ok(&fm), "printed as {:?}", text);
        }
    }

    #[test]
    fn random_text_never_panics(text in ".{0,200}") {
        check_stable(&text)?;
    }

    #[test]
    fn flowish_text_never_panics(text in "[a-z_=,:()\\[\\]0-9x./ \"-]{0,120}") {
        check_stable(&text)?;
    }

    #[test]
    fn mutated_flows_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec(arb_edit(), 1..6),
    ) {
        let corpus = corpus();
        let mut text = corpus[pick.index(corpus.len())].clone();
        for e in &edits {
            text = apply(&text, e);
        }
        check_stable(&text)?;
    }
}
