//! ovs-ofctl flow text: parsing, printing, and the round trip between them.

use proptest::prelude::*;
use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::MacAddr;
use xvs_pipeline::ofp::field::ALL_FIELDS;
use xvs_pipeline::ofp::format::{format_actions, format_flow, format_match};
use xvs_pipeline::ofp::{
    parse_flow, Action, Field, FieldSlice, FlowMod, FlowParseError, LearnItem, LearnSpec, LearnSrc,
    Match, OfPort, OfpErr, ParseMode, PortNames, DEFAULT_PRIORITY, OFPP_ALL, OFPP_CONTROLLER,
    OFPP_FLOOD, OFPP_IN_PORT, OFPP_LOCAL, OFPP_NORMAL, OFPP_TABLE,
};

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
/// `learn` with `NXM_OF_IN_PORT[]` (16 bits) as the older agents wrote it.
const LEARN_NXM: &str = "table=10,priority=1 actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x9d5b0e5c3b25ca44,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:1";

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
    m.set_masked(Field::VlanTci, u128::from(VLAN_PRESENT | 1), 0x1fff);
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
    // OXM_OF_IN_PORT (in_port_oxm, 32 bits) is its own field, as OVS 3.1 prints it.
    for text in [LEARN_IN, LEARN_NXM] {
        let fm = add(text);
        assert_eq!(print(&fm), text);
        assert_eq!(add(&print(&fm)), fm);
    }
    assert_ne!(add(LEARN_IN), add(LEARN_NXM));
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
                src: FieldSlice::whole(Field::InPortOxm),
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

mod actions;
mod errors;
mod matches;
mod properties;
