//! The seed scenario of the Folsom OVS-agent guide, network node and compute node, run
//! through the pure pipeline with byte-exact frames in and out.
//!
//! Network node (underlay 192.168.1.254): br-int with a DHCP-like port on tag 1 (network
//! A, MAC fa:16:3e:dc:c5:23) and one on tag 2 (network B); br-tun with patch-int and gre-1
//! toward the compute node. Compute node (192.168.1.253): br-int with a VM on tag 7
//! (network A) and one on tag 6 (network B); br-tun with patch-int and gre-2 toward the
//! network node. Network A is tunnel id 0x3e7, network B 0x1.

mod common;

use common::*;
use xvs_dataplane::{MacAddr, PortNo};
use xvs_pipeline::{PortConfig, PortKind, Switch, TunnelConfig, UnderlayRoute};

const NET_UNDERLAY_MAC: &str = "52:54:00:00:01:fe";
const CMP_UNDERLAY_MAC: &str = "52:54:00:00:01:fd";
const NET_IP: &str = "192.168.1.254";
const CMP_IP: &str = "192.168.1.253";

const DHCP_A_MAC: &str = "fa:16:3e:dc:c5:23";
const DHCP_B_MAC: &str = "fa:16:3e:0b:0b:02";
const VM_A_MAC: &str = "fa:16:3e:7a:7a:07";
const VM_B_MAC: &str = "fa:16:3e:6b:6b:06";

struct Node {
    sw: Switch,
    underlay: PortNo,
}

impl Node {
    fn port(&self, name: &str) -> PortNo {
        self.sw.dp_port_named(name).unwrap()
    }

    fn send(&mut self, port: &str, frame: &[u8], now: u64) -> Vec<(String, Vec<u8>)> {
        send(&mut self.sw, port, frame, now)
    }
}

#[allow(clippy::too_many_arguments)]
fn node(
    local_ip: &str,
    remote_ip: &str,
    local_mac: &str,
    remote_mac: &str,
    tunnel: &str,
    ports: [(&str, u16); 2],
    macs: [&str; 2],
) -> Node {
    let mut sw = Switch::new();
    sw.add_bridge("br-int").unwrap();
    sw.add_bridge("br-tun").unwrap();
    for (name, tag) in ports {
        sw.add_port("br-int", PortConfig::new(name, PortKind::Netdev).tag(tag))
            .unwrap();
    }
    sw.add_patch_pair(
        ("br-int", "patch-tun", None),
        ("br-tun", "patch-int", Some(1)),
    )
    .unwrap();
    let gre = TunnelConfig::gre_key_flow(local_ip.parse().unwrap(), remote_ip.parse().unwrap());
    sw.add_port(
        "br-tun",
        PortConfig::new(tunnel, PortKind::Gre(gre)).ofport(2),
    )
    .unwrap();
    let underlay = sw.add_underlay("eth1").unwrap();
    sw.set_underlay_route(
        remote_ip.parse().unwrap(),
        UnderlayRoute {
            port: underlay,
            src_mac: local_mac.parse::<MacAddr>().unwrap(),
            dst_mac: remote_mac.parse::<MacAddr>().unwrap(),
            src_ip: local_ip.parse().unwrap(),
            mtu: 1500,
        },
    );
    // The Folsom agent's br-tun: VLAN <-> tunnel id, unicast to the local MACs and
    // multicast back into br-int, everything else dropped.
    let (vlan_a, vlan_b) = (ports[0].1, ports[1].1);
    let flows = format!(
        "priority=4,in_port=patch-int,dl_vlan={vlan_a} actions=set_tunnel:0x3e7,output:{tunnel}
         priority=4,in_port=patch-int,dl_vlan={vlan_b} actions=set_tunnel:0x1,output:{tunnel}
         priority=3,tun_id=0x3e7,dl_dst={mac_a} actions=mod_vlan_vid:{vlan_a},output:patch-int
         priority=3,tun_id=0x3e7,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:{vlan_a},output:patch-int
         priority=3,tun_id=0x1,dl_dst={mac_b} actions=mod_vlan_vid:{vlan_b},output:patch-int
         priority=3,tun_id=0x1,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:{vlan_b},output:patch-int
         priority=1 actions=drop",
        mac_a = macs[0],
        mac_b = macs[1],
    );
    let lines: Vec<&str> = flows.lines().collect();
    sw.replace_flows("br-tun", &lines, 0).unwrap();
    Node { sw, underlay }
}

fn network_node() -> Node {
    node(
        NET_IP,
        CMP_IP,
        NET_UNDERLAY_MAC,
        CMP_UNDERLAY_MAC,
        "gre-1",
        [("tap-dhcp-a", 1), ("tap-dhcp-b", 2)],
        [DHCP_A_MAC, DHCP_B_MAC],
    )
}

fn compute_node() -> Node {
    node(
        CMP_IP,
        NET_IP,
        CMP_UNDERLAY_MAC,
        NET_UNDERLAY_MAC,
        "gre-2",
        [("tap-vm-a", 7), ("tap-vm-b", 6)],
        [VM_A_MAC, VM_B_MAC],
    )
}

fn vm_a_ping() -> Vec<u8> {
    ping(DHCP_A_MAC, VM_A_MAC, None, "10.0.0.3", "10.0.0.2")
}

#[test]
fn unicast_from_a_vm_reaches_the_tunnel_with_key_and_inner_vlan() {
    let mut cmp = compute_node();
    let out = cmp.send("tap-vm-a", &vm_a_ping(), 1000);
    let expected = gre(
        NET_UNDERLAY_MAC,
        CMP_UNDERLAY_MAC,
        CMP_IP,
        NET_IP,
        0x3e7,
        &tagged(&vm_a_ping(), 7),
    );
    assert_eq!(out, vec![("eth1".to_string(), expected)]);
}

#[test]
fn broadcast_from_a_vm_reaches_the_tunnel_only_once_and_only_for_its_network() {
    let mut cmp = compute_node();
    let req = arp(
        "ff:ff:ff:ff:ff:ff",
        VM_B_MAC,
        None,
        1,
        VM_B_MAC,
        "10.1.0.3",
        "00:00:00:00:00:00",
        "10.1.0.2",
    );
    let out = cmp.send("tap-vm-b", &req, 1000);
    // tap-vm-a is on another VLAN: the flood reaches only the tunnel, with network B's key.
    let expected = gre(
        NET_UNDERLAY_MAC,
        CMP_UNDERLAY_MAC,
        CMP_IP,
        NET_IP,
        0x1,
        &tagged(&req, 6),
    );
    assert_eq!(out, vec![("eth1".to_string(), expected)]);
}

#[test]
fn traffic_from_the_tunnel_reaches_the_right_tap_untagged() {
    let mut net = network_node();
    // What the compute node sent for VM A's ping, arriving on the network node's underlay.
    let wire = gre(
        NET_UNDERLAY_MAC,
        CMP_UNDERLAY_MAC,
        CMP_IP,
        NET_IP,
        0x3e7,
        &tagged(&vm_a_ping(), 7),
    );
    let underlay = net.sw.dp_port_name(net.underlay).unwrap().to_string();
    let out = net.send(&underlay, &wire, 1000);
    assert_eq!(out, vec![("tap-dhcp-a".to_string(), vm_a_ping())]);

    // Network B's broadcast goes to network B's port only.
    let req = arp(
        "ff:ff:ff:ff:ff:ff",
        VM_B_MAC,
        None,
        1,
        VM_B_MAC,
        "10.1.0.3",
        "00:00:00:00:00:00",
        "10.1.0.2",
    );
    let wire = gre(
        NET_UNDERLAY_MAC,
        CMP_UNDERLAY_MAC,
        CMP_IP,
        NET_IP,
        0x1,
        &tagged(&req, 6),
    );
    let out = net.send(&underlay, &wire, 1100);
    assert_eq!(out, vec![("tap-dhcp-b".to_string(), req)]);
}

#[test]
fn an_unknown_tunnel_id_is_dropped() {
    let mut net = network_node();
    let wire = gre(
        NET_UNDERLAY_MAC,
        CMP_UNDERLAY_MAC,
        CMP_IP,
        NET_IP,
        0x99,
        &tagged(&vm_a_ping(), 7),
    );
    assert_eq!(net.send("eth1", &wire, 1000), vec![]);
    // The drop was the table's doing (priority=1 actions=drop), which counted it.
    let dump = net
        .sw
        .dump_flows("br-tun", Some("priority=1"), false, 2000)
        .unwrap();
    assert!(dump.contains("n_packets=1,"), "{dump}");
}

#[test]
fn a_packet_from_another_tunnel_endpoint_is_not_ours() {
    let mut net = network_node();
    let wire = gre(
        NET_UNDERLAY_MAC,
        CMP_UNDERLAY_MAC,
        "192.168.1.99",
        NET_IP,
        0x3e7,
        &tagged(&vm_a_ping(), 7),
    );
    assert_eq!(net.send("eth1", &wire, 1000), vec![]);
    assert_eq!(net.sw.drops.unknown_tunnel, 1);
}

#[test]
fn round_trip_vm_to_dhcp_port_and_back() {
    let mut net = network_node();
    let mut cmp = compute_node();

    // VM A -> DHCP port A: compute node encapsulates, network node delivers.
    let wire = cmp.send("tap-vm-a", &vm_a_ping(), 1000);
    assert_eq!(wire.len(), 1);
    let delivered = net.send("eth1", &wire[0].1, 1001);
    assert_eq!(delivered, vec![("tap-dhcp-a".to_string(), vm_a_ping())]);

    // The reply: br-int on the network node has learned VM A behind patch-tun (VLAN 1),
    // so it goes straight to the tunnel with VLAN 1 inside, and the compute node maps it
    // back to VLAN 7 and VM A's tap, which its br-int learned from the first ping.
    let reply = ping(VM_A_MAC, DHCP_A_MAC, None, "10.0.0.2", "10.0.0.3");
    let wire = net.send("tap-dhcp-a", &reply, 1002);
    let expected = gre(
        CMP_UNDERLAY_MAC,
        NET_UNDERLAY_MAC,
        NET_IP,
        CMP_IP,
        0x3e7,
        &tagged(&reply, 1),
    );
    assert_eq!(wire, vec![("eth1".to_string(), expected)]);
    // br-tun on the compute node has VM A's MAC in its priority-3 rules.
    assert_eq!(
        cmp.send("eth1", &wire[0].1, 1003),
        vec![("tap-vm-a".to_string(), reply)]
    );
}

#[test]
fn networks_do_not_leak_into_each_other() {
    let mut net = network_node();
    // A frame tagged for network A's VLAN arriving on network B's access port is
    // dropped by NORMAL (a tagged frame on an access port).
    let f = tagged(&vm_a_ping(), 1);
    assert_eq!(net.send("tap-dhcp-b", &f, 1000), vec![]);
    // Network B's traffic never carries network A's key.
    let b = ping(
        "ff:ff:ff:ff:ff:ff",
        DHCP_B_MAC,
        None,
        "10.1.0.2",
        "10.1.0.255",
    );
    let out = net.send("tap-dhcp-b", &b, 1001);
    let expected = gre(
        CMP_UNDERLAY_MAC,
        NET_UNDERLAY_MAC,
        NET_IP,
        CMP_IP,
        0x1,
        &tagged(&b, 2),
    );
    assert_eq!(out, vec![("eth1".to_string(), expected)]);
}

#[test]
fn the_translation_reports_what_it_consulted() {
    let cmp = compute_node();
    let key = xvs_dataplane::FlowKey::extract(cmp.port("tap-vm-a"), &vm_a_ping()).unwrap();
    let tr = cmp.sw.translate(&key, 1000);
    let c = tr.consulted;
    assert_eq!(c.in_port, u32::MAX);
    assert_eq!(c.tun_id, u64::MAX);
    assert_eq!(c.vlan_tci, u16::MAX);
    assert_eq!(c.dl_dst, MacAddr::BROADCAST);
    // NORMAL learned the source: the source is part of the key.
    assert_eq!(c.dl_src, MacAddr::BROADCAST);
    // Nothing looked at IP addresses.
    assert_eq!((c.nw_src, c.nw_dst), (0, 0));
    // br-int NORMAL then br-tun's priority-4 rule.
    assert_eq!(tr.rules.len(), 2);
    assert_eq!(tr.macs.len(), 1);
}

#[test]
fn dump_flows_counts_and_trace_explains() {
    let mut cmp = compute_node();
    cmp.send("tap-vm-a", &vm_a_ping(), 1000);
    cmp.send("tap-vm-a", &vm_a_ping(), 1500);
    let dump = cmp.sw.dump_flows("br-tun", None, true, 3250).unwrap();
    let line = dump.lines().find(|l| l.contains("dl_vlan=7")).unwrap();
    // Every rule on the way counts the frame as the datapath received it.
    let n = 2 * vm_a_ping().len();
    let head =
        format!(" cookie=0x0, duration=3.250s, table=0, n_packets=2, n_bytes={n}, idle_age=1, ");
    assert!(line.starts_with(&head), "{line}");
    assert!(
        line.ends_with(
            "priority=4,in_port=patch-int,dl_vlan=7 actions=set_tunnel:0x3e7,output:gre-2"
        ),
        "{line}"
    );

    let trace = cmp
        .sw
        .trace(
            "br-int",
            "in_port=tap-vm-a,dl_src=fa:16:3e:7a:7a:07,dl_dst=fa:16:3e:dc:c5:23",
            4000,
        )
        .unwrap();
    assert!(trace.contains("bridge(\"br-int\")"), "{trace}");
    assert!(trace.contains("bridge(\"br-tun\")"), "{trace}");
    assert!(trace.contains("set_tunnel:0x3e7"), "{trace}");
    let last = trace.lines().last().unwrap();
    assert!(
        last.starts_with("Datapath actions: push_vlan(vid=7,pcp=0),tnl_push("),
        "{last}"
    );
    assert!(last.contains("key=0x3e7"), "{last}");
}
