//! Today's Neutron br-tun pipeline (tables 0, 2, 3, 10, 20, 21, 22: learn, flooding to
//! every tunnel, the ARP responder) on a node with two GRE tunnels, byte-exact.

mod common;

use common::neutron::{int_and_tun_bridges, ArpEntry, BrTun, Network, Underlay};
use common::*;
use xvs_dataplane::MacAddr;
use xvs_pipeline::{PortConfig, PortKind, Switch};

const LOCAL_IP: &str = "192.168.1.254";
const REMOTE_1: &str = "192.168.1.253";
const REMOTE_2: &str = "192.168.1.252";
const LOCAL_UL_MAC: &str = "52:54:00:00:01:fe";
const NEXT_HOP_MAC: &str = "52:54:00:00:01:01";

const VM_MAC: &str = "fa:16:3e:11:11:11";
const REMOTE_VM_MAC: &str = "fa:16:3e:22:22:22";
const ROUTER_MAC: &str = "fa:16:3e:f1:5e:7d";

/// One network (0x3e7, VLAN 1) flooding to both GRE tunnels, the router's ARP entry.
fn br_tun() -> BrTun {
    BrTun {
        tunnel_ports: vec![2, 3],
        tunnel_table: 3,
        networks: vec![Network {
            tun_id: 0x3e7,
            lvid: 1,
            flood: vec![2, 3],
        }],
        learn_hard_timeout: 300,
        learn_cookie: Some(0x9d5b0e5c3b25ca44),
        learn_in_port: "OXM_OF_IN_PORT",
        arp_responder: Some(ArpEntry {
            lvid: 1,
            ip: "10.0.0.1",
            mac: ROUTER_MAC,
        }),
    }
}

struct Node {
    sw: Switch,
}

impl Node {
    fn send(&mut self, port: &str, frame: &[u8], now: u64) -> Vec<(String, Vec<u8>)> {
        send(&mut self.sw, port, frame, now)
    }
}

fn node() -> Node {
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
    br_tun().program(&mut sw);
    Node { sw }
}

fn to_remote(remote: &str, key: u32, inner: &[u8]) -> Vec<u8> {
    gre(NEXT_HOP_MAC, LOCAL_UL_MAC, LOCAL_IP, remote, key, inner)
}

fn from_remote(remote: &str, key: u32, inner: &[u8]) -> Vec<u8> {
    gre(LOCAL_UL_MAC, NEXT_HOP_MAC, remote, LOCAL_IP, key, inner)
}

#[test]
fn broadcast_floods_to_both_tunnels_untagged_with_the_key() {
    let mut n = node();
    let bcast = ping("ff:ff:ff:ff:ff:ff", VM_MAC, None, "10.0.0.5", "10.0.0.255");
    let out = n.send("tap-vm", &bcast, 1000);
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
fn a_learned_reverse_entry_turns_unicast_into_one_tunnel() {
    let mut n = node();
    let to_vm = ping(VM_MAC, REMOTE_VM_MAC, None, "10.0.0.9", "10.0.0.5");
    // Before anything is learned, unicast to the remote VM floods to both tunnels.
    let from_vm = ping(REMOTE_VM_MAC, VM_MAC, None, "10.0.0.5", "10.0.0.9");
    assert_eq!(
        n.send("tap-vm", &from_vm, 500)
            .iter()
            .filter(|(p, _)| p == "eth1")
            .count(),
        2
    );

    // The remote VM speaks through gre-2: table 10 learns it and sends it to br-int.
    let out = n.send("eth1", &from_remote(REMOTE_2, 0x3e7, &to_vm), 1000);
    assert_eq!(out, vec![("tap-vm".to_string(), to_vm.clone())]);

    let learned =
        n.sw.dump_flows("br-tun", Some("table=20"), true, 2000)
            .unwrap();
    assert!(
        learned.contains(
            "cookie=0x9d5b0e5c3b25ca44, duration=1.000s, table=20, n_packets=0, n_bytes=0, hard_timeout=300, idle_age=1, priority=1,vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:22:22:22 actions=load:0->NXM_OF_VLAN_TCI[],load:0x3e7->NXM_NX_TUN_ID[],output:gre-2"
        ),
        "{learned}"
    );

    // Now unicast to it leaves through gre-2 only.
    let out = n.send("tap-vm", &from_vm, 3000);
    assert_eq!(
        out,
        vec![("eth1".to_string(), to_remote(REMOTE_2, 0x3e7, &from_vm))]
    );

    // The learned flow has a hard timeout of 300 s: after it, flooding again.
    n.sw.expire(1000 + 300_000);
    let out = n.send("tap-vm", &from_vm, 301_500);
    assert_eq!(out.iter().filter(|(p, _)| p == "eth1").count(), 2);
}

#[test]
fn an_arp_request_is_answered_from_table_21() {
    let mut n = node();
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
    let out = n.send("tap-vm", &req, 1000);
    let reply = arp(
        VM_MAC, ROUTER_MAC, None, 2, ROUTER_MAC, "10.0.0.1", VM_MAC, "10.0.0.5",
    );
    // br-int floods the request to its other port and to br-tun, where table 21 answers
    // it back through patch-int; br-int delivers the answer to the asker. Nothing
    // reaches the tunnels.
    assert_eq!(
        out,
        vec![
            ("tap-other".to_string(), req.clone()),
            ("tap-vm".to_string(), reply)
        ]
    );
    // The answer depends on the asker's addresses, so they are part of the cached key.
    let key = xvs_dataplane::FlowKey::extract(n.sw.dp_port_named("tap-vm").unwrap(), &req).unwrap();
    let tr = n.sw.translate(&key, 1000);
    assert_eq!(tr.consulted.dl_src, MacAddr::BROADCAST);
    assert_eq!(tr.consulted.arp_sha, MacAddr::BROADCAST);
    assert_eq!(tr.consulted.nw_src, u32::MAX);
    assert_eq!(tr.consulted.nw_dst, u32::MAX);

    // An ARP request for an address without a responder entry floods to the tunnels.
    let other = arp(
        "ff:ff:ff:ff:ff:ff",
        VM_MAC,
        None,
        1,
        VM_MAC,
        "10.0.0.5",
        "00:00:00:00:00:00",
        "10.0.0.77",
    );
    let out = n.send("tap-vm", &other, 2000);
    assert_eq!(
        out,
        vec![
            ("tap-other".to_string(), other.clone()),
            ("eth1".to_string(), to_remote(REMOTE_1, 0x3e7, &other)),
            ("eth1".to_string(), to_remote(REMOTE_2, 0x3e7, &other)),
        ]
    );
}

#[test]
fn traffic_from_an_unknown_tunnel_id_is_dropped() {
    let mut n = node();
    let to_vm = ping(VM_MAC, REMOTE_VM_MAC, None, "10.0.0.9", "10.0.0.5");
    assert_eq!(
        n.send("eth1", &from_remote(REMOTE_1, 0x3e8, &to_vm), 1000),
        vec![]
    );
    let table20 =
        n.sw.dump_flows("br-tun", Some("table=20"), false, 1000)
            .unwrap();
    assert_eq!(
        table20.lines().count(),
        1,
        "only the priority-0 resubmit, nothing learned: {table20}"
    );
}

/// The counters of `port` (patch or tunnel, or a netdev's flow drops).
fn traffic(sw: &Switch, bridge: &str, port: &str) -> xvs_pipeline::port_traffic::PortTraffic {
    let br = sw.bridge(bridge).unwrap();
    let of = br.port_by_name[port];
    sw.port_traffic.get(br.id, of)
}

#[test]
fn patch_and_tunnel_ports_count_what_crossed_them() {
    use xvs_pipeline::port_traffic::PortTraffic;
    let mut n = node();
    let bcast = ping("ff:ff:ff:ff:ff:ff", VM_MAC, None, "10.0.0.5", "10.0.0.255");
    let len = bcast.len() as u64;
    n.send("tap-vm", &bcast, 1000);
    n.send("tap-vm", &bcast, 1001);
    // Out of br-int by patch-tun, into br-tun by patch-int, into both tunnels: the
    // frame's bytes as it came in (untagged), as OVS credits a datapath flow's.
    let tx = PortTraffic {
        tx_packets: 2,
        tx_bytes: 2 * len,
        ..Default::default()
    };
    assert_eq!(traffic(&n.sw, "br-int", "patch-tun"), tx);
    assert_eq!(traffic(&n.sw, "br-tun", "gre-1"), tx);
    assert_eq!(traffic(&n.sw, "br-tun", "gre-2"), tx);
    assert_eq!(
        traffic(&n.sw, "br-tun", "patch-int"),
        PortTraffic {
            rx_packets: 2,
            rx_bytes: 2 * len,
            ..Default::default()
        }
    );

    // From gre-2, decapsulated: the inner frame counts there, and on its way to br-int.
    let to_vm = ping(VM_MAC, REMOTE_VM_MAC, None, "10.0.0.9", "10.0.0.5");
    n.send("eth1", &from_remote(REMOTE_2, 0x3e7, &to_vm), 2000);
    let inner = to_vm.len() as u64;
    assert_eq!(
        traffic(&n.sw, "br-tun", "gre-2"),
        PortTraffic {
            rx_packets: 1,
            rx_bytes: inner,
            ..tx
        }
    );
    assert_eq!(traffic(&n.sw, "br-tun", "patch-int").tx_packets, 1);
    assert_eq!(traffic(&n.sw, "br-int", "patch-tun").rx_bytes, inner);

    // An unknown tunnel key: table 4 has no flow for it, the drop counts on gre-1.
    n.send("eth1", &from_remote(REMOTE_1, 0x999, &to_vm), 3000);
    let gre1 = traffic(&n.sw, "br-tun", "gre-1");
    assert_eq!((gre1.rx_packets, gre1.rx_dropped), (1, 1), "{gre1:?}");
    assert_eq!(traffic(&n.sw, "br-int", "tap-vm"), PortTraffic::default());
}

/// Through the worker's cache: the first frame is counted when its upcall is handled,
/// the cache hits when the revalidator brings the entry's counters back, not before.
#[test]
fn cached_frames_count_when_their_entry_is_synced() {
    let mut c = common::cached::Cached::new(node().sw, 100);
    let tap = c.sw.dp_port_named("tap-vm").unwrap();
    let bcast = ping("ff:ff:ff:ff:ff:ff", VM_MAC, None, "10.0.0.5", "10.0.0.255");
    let len = bcast.len() as u64;
    for i in 0..4 {
        assert_eq!(c.send(tap, &bcast, 1000 + i).len(), 3);
    }
    let gre = traffic(&c.sw, "br-tun", "gre-1");
    assert_eq!((gre.tx_packets, gre.tx_bytes), (1, len), "the upcall only");
    c.housekeeping(2000);
    for (bridge, port) in [
        ("br-int", "patch-tun"),
        ("br-tun", "gre-1"),
        ("br-tun", "gre-2"),
    ] {
        let t = traffic(&c.sw, bridge, port);
        assert_eq!((t.tx_packets, t.tx_bytes), (4, 4 * len), "{port}");
    }
    assert_eq!(traffic(&c.sw, "br-tun", "patch-int").rx_packets, 4);
}
