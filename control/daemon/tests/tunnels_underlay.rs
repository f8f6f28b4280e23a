//! How xvsd finds and follows a tunnel's underlay in the kernel, on real nodes: the
//! next-hop MAC follows a change of the remote's MAC, a remote behind a gateway is sent
//! to the gateway's MAC, a tunnel whose route appears later starts working, and a
//! restart brings the tunnels back. Needs root; fails loudly without it.

mod common;

use std::time::{Duration, Instant};

use common::nodes::{node_ip, Cluster, WIRE_IP};
use common::{eth, ipv4_header};
use xvs_dataplane::testnet::{mac_of, RawSocket};

const VM0_MAC: &str = "fa:16:3e:00:00:01";
const VM1_MAC: &str = "fa:16:3e:00:00:02";

/// Node 0 sends everything from its VM port into `tunnel` with key 0x3e7; node 1 sends
/// what arrives with that key to its VM. No VLANs, no patch ports: only the underlay is
/// under test here.
fn configure(c: &Cluster, node: usize, tunnel_opts: &[&str]) {
    let n = &c.nodes[node];
    n.ctl(&["add-br", "br-tun"]);
    n.ctl(&["add-port", "br-tun", &n.vms[0].tap, "ofport=1"]);
    let mut args = vec!["add-port", "br-tun", "gre-1"];
    args.extend_from_slice(tunnel_opts);
    args.push("ofport=2");
    n.ctl(&args);
    n.ctl(&[
        "add-flow",
        "br-tun",
        "priority=2,in_port=1 actions=set_tunnel:0x3e7,output:2",
    ]);
    n.ctl(&[
        "add-flow",
        "br-tun",
        "priority=2,in_port=2,tun_id=0x3e7 actions=output:1",
    ]);
    n.ctl(&["add-flow", "br-tun", "priority=1 actions=drop"]);
}

fn two_nodes(name: &str) -> Cluster {
    let mut c = Cluster::new(name, 2);
    c.add_vm(0, "tap0", VM0_MAC, None);
    c.add_vm(1, "tap1", VM1_MAC, None);
    for (i, peer) in [(0, 1), (1, 0)] {
        let (local, remote) = (node_ip(i), node_ip(peer));
        configure(
            &c,
            i,
            &[
                "type=gre",
                &format!("remote_ip={remote}"),
                &format!("local_ip={local}"),
                "key=flow",
            ],
        );
    }
    c
}

/// A small IPv4 frame from VM 0 to VM 1 whose payload carries `n`.
fn frame(n: u8) -> Vec<u8> {
    let mut f = eth(VM1_MAC, VM0_MAC, None, 0x0800);
    let payload = [n; 18];
    f.extend(ipv4_header(
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
        253,
        payload.len(),
        false,
        64,
    ));
    f.extend_from_slice(&payload);
    f
}

/// The GRE packets (IPv4 protocol 47) among `frames`.
fn gre_only(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .filter(|f| f.len() > 34 && f[12..14] == [0x08, 0x00] && f[23] == 47)
        .collect()
}

/// Sends `frame(n)` from VM 0 and returns the GRE packets seen on node 0's wire and
/// whether VM 1 received the frame.
fn send_and_watch(c: &Cluster, wire: &RawSocket, vm1: &RawSocket, n: u8) -> (Vec<Vec<u8>>, bool) {
    c.nodes[0].vms[0].socket().send(&frame(n)).unwrap();
    let seen = gre_only(wire.recv_all(Duration::from_millis(300)));
    let got = vm1.recv_all(Duration::from_millis(200));
    (seen, got.contains(&frame(n)))
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_next_hop_mac_follows_the_remote() {
    let c = two_nodes("nexthop");
    c.nodes[0].wait_tunnels_resolved();
    c.nodes[1].wait_tunnels_resolved();
    let wire = c.wire_socket(0);
    let vm1 = c.nodes[1].vms[0].socket();

    let (seen, delivered) = send_and_watch(&c, &wire, &vm1, 1);
    assert!(delivered, "first frame delivered");
    assert_eq!(seen.len(), 1, "one GRE packet on the wire");
    assert_eq!(seen[0][0..6], c.nodes[1].ul_mac, "to node 1's underlay MAC");

    // Node 1's underlay gets a new MAC; node 0's kernel forgets the old entry (as it
    // would after a failed probe). xvsd asks the kernel again and follows.
    let new_mac = "02:aa:bb:cc:dd:01";
    let n1 = &c.nodes[1];
    n1.ns.ip(&["link", "set", &n1.ul_if, "address", new_mac]);
    let new_mac_bytes = mac_of(Some(&n1.ns), &n1.ul_if);
    let n0 = &c.nodes[0];
    n0.ns.ip(&["neigh", "flush", "dev", &n0.ul_if]);
    wait_for("node 0 shows the new next-hop MAC", || {
        n0.ctl(&["show"]).contains(&format!("at {new_mac}"))
    });
    let (seen, delivered) = send_and_watch(&c, &wire, &vm1, 2);
    assert!(delivered, "delivered after the MAC change");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0][0..6], new_mac_bytes, "sent to the new MAC");
}

#[test]
fn a_remote_behind_a_gateway_goes_to_the_gateway_mac() {
    let mut c = Cluster::new("gateway", 1);
    c.add_vm(0, "tap0", VM0_MAC, None);
    // 10.9.0.0/16 is reached through the wire's address (a router on the underlay).
    c.nodes[0]
        .ns
        .ip(&["route", "add", "10.9.0.0/16", "via", WIRE_IP]);
    configure(&c, 0, &["type=gre", "remote_ip=10.9.0.5", "key=flow"]);
    c.nodes[0].wait_tunnels_resolved();
    let show = c.nodes[0].ctl(&["show"]);
    assert!(
        show.contains(&format!("from {}, next hop {WIRE_IP}", node_ip(0))),
        "{show}"
    );
    let wire = c.wire_socket(0);
    c.nodes[0].vms[0].socket().send(&frame(3)).unwrap();
    let seen = gre_only(wire.recv_all(Duration::from_millis(300)));
    assert_eq!(seen.len(), 1, "one GRE packet");
    let gw_mac = mac_of(Some(&c.wire), "br0");
    assert_eq!(seen[0][0..6], gw_mac, "to the gateway's MAC");
    assert_eq!(
        seen[0][26..30],
        [192, 168, 1, 254],
        "from the local address"
    );
    assert_eq!(seen[0][30..34], [10, 9, 0, 5], "to the remote");
}

#[test]
fn a_tunnel_waits_for_its_route_and_a_restart_brings_it_back() {
    let mut c = Cluster::new("late", 1);
    c.add_vm(0, "tap0", VM0_MAC, None);
    configure(&c, 0, &["type=gre", "remote_ip=10.20.0.7", "key=flow"]);
    let n = &c.nodes[0];
    // No route yet: the port exists, `show` says why it cannot send, nothing is sent.
    let show = n.ctl(&["show"]);
    assert!(show.contains("no route"), "{show}");
    let wire = c.wire_socket(0);
    n.vms[0].socket().send(&frame(4)).unwrap();
    assert!(gre_only(wire.recv_all(Duration::from_millis(300))).is_empty());

    n.ns.ip(&["route", "add", "10.20.0.0/16", "via", WIRE_IP]);
    n.wait_tunnels_resolved();
    n.vms[0].socket().send(&frame(5)).unwrap();
    assert_eq!(gre_only(wire.recv_all(Duration::from_millis(300))).len(), 1);

    // Restart: the tunnel port comes back from the database and resolves again.
    let mut c = c;
    c.nodes[0].xvsd.restart();
    let n = &c.nodes[0];
    n.wait_tunnels_resolved();
    n.ctl(&[
        "add-flow",
        "br-tun",
        "priority=2,in_port=1 actions=set_tunnel:0x3e7,output:2",
    ]);
    n.vms[0].socket().send(&frame(6)).unwrap();
    let seen = gre_only(wire.recv_all(Duration::from_millis(300)));
    assert_eq!(seen.len(), 1, "sent again after the restart");
    let ip = n.ns.ip(&["-d", "link", "show", &n.ul_if]);
    assert!(
        ip.contains("xdp"),
        "the underlay has the XDP program again: {ip}"
    );
}
