//! Today's Neutron br-tun as the native (os-ken, OpenFlow 1.3) agent programs it: the
//! same tables as tests/neutron_brtun.rs, but with goto_table, push_vlan and
//! set_field:vlan_vid, pop_vlan and set_field:tun_id, the learn action with its NXM
//! and OXM spellings (`output:OXM_OF_IN_PORT[]`), and the ARP responder in set_field
//! form; byte-exact, on a node with two GRE tunnels.

mod common;

use common::cached::Cached;
use common::neutron::{int_and_tun_bridges, Underlay};
use common::*;
use xvs_pipeline::{PortConfig, PortKind, Switch};

const LOCAL_IP: &str = "192.168.1.254";
const REMOTE_1: &str = "192.168.1.253";
const REMOTE_2: &str = "192.168.1.252";
const LOCAL_UL_MAC: &str = "52:54:00:00:01:fe";
const NEXT_HOP_MAC: &str = "52:54:00:00:01:01";

const VM_MAC: &str = "fa:16:3e:11:11:11";
const REMOTE_VM_MAC: &str = "fa:16:3e:22:22:22";
const ROUTER_MAC: &str = "fa:16:3e:f1:5e:7d";

/// br-tun (patch-int 1, gre-1 2, gre-2 3) for network 0x3e7 on local VLAN 1, as the
/// agent installs it over OpenFlow 1.3 (br_tun.py), written as ovs-ofctl would.
const BR_TUN: &str = "
table=0,priority=1,in_port=1 actions=goto_table:2
table=0,priority=0 actions=drop
table=0,priority=1,in_port=2 actions=goto_table:3
table=0,priority=1,in_port=3 actions=goto_table:3
table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff actions=goto_table:21
table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:20
table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:22
table=3,priority=0 actions=drop
table=4,priority=0 actions=drop
table=6,priority=0 actions=drop
table=3,priority=1,tun_id=0x3e7 actions=push_vlan:0x8100,set_field:0x1001->vlan_vid,goto_table:10
cookie=0x9d5b0e5c3b25ca44,table=10,priority=1 actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x9d5b0e5c3b25ca44,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1
table=20,priority=0 actions=goto_table:22
table=21,priority=0 actions=goto_table:22
table=21,priority=1,arp,vlan_vid=0x1001,arp_tpa=10.0.0.1 actions=set_field:2->arp_op,move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:fa:16:3e:f1:5e:7d->arp_sha,set_field:10.0.0.1->arp_spa,move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:fa:16:3e:f1:5e:7d->eth_src,IN_PORT
table=22,priority=1,vlan_vid=0x1001 actions=pop_vlan,set_field:0x3e7->tun_id,output:2,output:3
table=22,priority=0 actions=drop
";

fn node() -> Switch {
    let mut sw = Switch::new();
    int_and_tun_bridges(
        &mut sw,
        vec![
            PortConfig::new("tap-vm", PortKind::Netdev).tag(1),
            PortConfig::new("tap-other", PortKind::Netdev).tag(1),
        ],
    );
    let underlay = Underlay::add(&mut sw, "eth1", LOCAL_IP, LOCAL_UL_MAC, NEXT_HOP_MAC);
    underlay.add_tunnel(&mut sw, "gre-1", false, 2, REMOTE_1);
    underlay.add_tunnel(&mut sw, "gre-2", false, 3, REMOTE_2);
    let lines: Vec<&str> = BR_TUN.lines().filter(|l| !l.is_empty()).collect();
    sw.replace_flows("br-tun", &lines, 0).unwrap();
    sw
}

fn to_remote(remote: &str, key: u32, inner: &[u8]) -> Vec<u8> {
    gre(NEXT_HOP_MAC, LOCAL_UL_MAC, LOCAL_IP, remote, key, inner)
}

fn from_remote(remote: &str, key: u32, inner: &[u8]) -> Vec<u8> {
    gre(LOCAL_UL_MAC, NEXT_HOP_MAC, remote, LOCAL_IP, key, inner)
}

#[test]
fn the_flows_print_back_as_given() {
    let sw = node();
    let dumped = sw.dump_flows("br-tun", None, true, 0).unwrap();
    for flow in BR_TUN.lines().filter(|l| !l.is_empty()) {
        let (head, actions) = flow.split_once(" actions=").unwrap();
        let matched = head
            .split(',')
            .filter(|t| !t.starts_with("table=") && !t.starts_with("cookie="))
            .collect::<Vec<_>>()
            .join(",");
        let matched = matched.replace("in_port=1", "in_port=patch-int");
        let matched = matched.replace("in_port=2", "in_port=gre-1");
        let matched = matched.replace("in_port=3", "in_port=gre-2");
        let matched = matched.replace("vlan_vid=0x1001", "dl_vlan=1");
        // vlan_vid's values print in decimal, as OVS prints them.
        let actions = actions
            .replace("set_field:0x1001->vlan_vid", "set_field:4097->vlan_vid")
            .replace("output:1", "output:patch-int")
            .replace("output:2", "output:gre-1")
            .replace("output:3", "output:gre-2");
        let want = format!("{matched} actions={actions}");
        assert!(dumped.contains(&want), "{want}\nnot in\n{dumped}");
    }
}

#[test]
fn broadcast_floods_to_both_tunnels_untagged_with_the_key() {
    let mut sw = node();
    let bcast = ping("ff:ff:ff:ff:ff:ff", VM_MAC, None, "10.0.0.5", "10.0.0.255");
    let out = send(&mut sw, "tap-vm", &bcast, 1000);
    assert_eq!(
        out,
        vec![
            ("tap-other".to_string(), bcast.clone()),
            ("eth1".to_string(), to_remote(REMOTE_1, 0x3e7, &bcast)),
            ("eth1".to_string(), to_remote(REMOTE_2, 0x3e7, &bcast)),
        ]
    );
}

#[test]
fn learn_with_oxm_in_port_turns_unicast_into_one_tunnel() {
    let mut sw = node();
    let from_vm = ping(REMOTE_VM_MAC, VM_MAC, None, "10.0.0.5", "10.0.0.9");
    let to_vm = ping(VM_MAC, REMOTE_VM_MAC, None, "10.0.0.9", "10.0.0.5");
    let tunnels = |out: &[(String, Vec<u8>)]| out.iter().filter(|(p, _)| p == "eth1").count();
    assert_eq!(tunnels(&send(&mut sw, "tap-vm", &from_vm, 500)), 2);

    // The remote VM speaks through gre-2: table 3 tags it (push_vlan, set_field), table
    // 10 learns where it is and sends it to br-int, which delivers it untagged.
    let out = send(&mut sw, "eth1", &from_remote(REMOTE_2, 0x3e7, &to_vm), 1000);
    assert_eq!(out, vec![("tap-vm".to_string(), to_vm.clone())]);
    let learned = sw
        .dump_flows("br-tun", Some("table=20"), true, 2000)
        .unwrap();
    assert!(
        learned.contains(
            "cookie=0x9d5b0e5c3b25ca44, duration=1.000s, table=20, n_packets=0, n_bytes=0, hard_timeout=300, idle_age=1, priority=1,vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:22:22:22 actions=load:0->NXM_OF_VLAN_TCI[],load:0x3e7->NXM_NX_TUN_ID[],output:gre-2"
        ),
        "{learned}"
    );

    // Unicast to it now leaves through gre-2 only, untagged, with the key.
    let out = send(&mut sw, "tap-vm", &from_vm, 3000);
    assert_eq!(
        out,
        vec![("eth1".to_string(), to_remote(REMOTE_2, 0x3e7, &from_vm))]
    );

    // The cache agrees with the slow path, packet after packet.
    let mut c = Cached::new(sw, 64);
    let vm = c.sw.dp_port_named("tap-vm").unwrap();
    let eth1 = c.sw.dp_port_named("eth1").unwrap();
    for now in [4000, 4001] {
        assert_eq!(
            c.send(vm, &from_vm, now),
            vec![(eth1, to_remote(REMOTE_2, 0x3e7, &from_vm))]
        );
    }
}

#[test]
fn the_arp_responder_answers_in_set_field_form() {
    let mut sw = node();
    let req = arp(
        "ff:ff:ff:ff:ff:ff",
        VM_MAC,
        None,
        1,
        VM_MAC,
        "10.0.0.5",
        "00:00:00:00:00:00",
        "10.0.0.1",
    );
    let reply = arp(
        VM_MAC, ROUTER_MAC, None, 2, ROUTER_MAC, "10.0.0.1", VM_MAC, "10.0.0.5",
    );
    let out = send(&mut sw, "tap-vm", &req, 1000);
    assert_eq!(
        out,
        vec![
            ("tap-other".to_string(), req.clone()),
            ("tap-vm".to_string(), reply)
        ]
    );
}

#[test]
fn an_unknown_tunnel_id_is_dropped_and_nothing_learned() {
    let mut sw = node();
    let to_vm = ping(VM_MAC, REMOTE_VM_MAC, None, "10.0.0.9", "10.0.0.5");
    assert_eq!(
        send(&mut sw, "eth1", &from_remote(REMOTE_1, 0x3e8, &to_vm), 1000),
        vec![]
    );
    let table20 = sw
        .dump_flows("br-tun", Some("table=20"), false, 1000)
        .unwrap();
    assert_eq!(table20.lines().count(), 1, "{table20}");
}
