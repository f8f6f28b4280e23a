//! The seed's two-node Folsom scenario over real GRE: two xvsd nodes in network
//! namespaces, joined by a bridged underlay wire where every tunnel packet is captured
//! byte for byte. Network node (node 0, 192.168.1.254): DHCP-like ports on tags 1 and 2;
//! compute node (node 1, 192.168.1.253): VMs on tags 7 and 6. Network A is tunnel id
//! 0x3e7, network B 0x1 (as in folsom_seed.rs, which runs the same flows through the pure
//! pipeline). Also: the host keeps its underlay (ARP, ping), malformed tunnel packets are
//! counted and dropped, and the underlay MTU bounds what is encapsulated.
//!
//! Needs root; fails loudly without it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::nodes::{node_ip, Cluster, Node, Vm, WIRE_IP};
use common::*;
use serde_json::Value;
use xvs_dataplane::testnet::{require_root, test_frame, test_frame_tag, RawSocket};

const NET: usize = 0;
const CMP: usize = 1;

const DHCP_A_MAC: &str = "fa:16:3e:dc:c5:23";
const DHCP_B_MAC: &str = "fa:16:3e:0b:0b:02";
const VM_A_MAC: &str = "fa:16:3e:7a:7a:07";
const VM_B_MAC: &str = "fa:16:3e:6b:6b:06";

const DHCP_A_IP: &str = "10.0.0.2";
const VM_A_IP: &str = "10.0.0.3";
const DHCP_B_IP: &str = "10.0.0.4";
const VM_B_IP: &str = "10.0.0.5";

const KEY_A: u32 = 0x3e7;
const KEY_B: u32 = 0x1;

/// Quiet period after which a capture is considered complete.
const QUIET: Duration = Duration::from_millis(400);
/// Long enough for the stragglers of a burst that has started arriving.
const SHORT: Duration = Duration::from_millis(100);
/// For sockets read after another capture already waited: anything sent has arrived.
const DRAIN: Duration = Duration::from_millis(10);

/// One node's br-int ports: (tap, tag, MAC, IP) for network A then network B.
type Ports = [(&'static str, u16, &'static str, &'static str); 2];

const NET_PORTS: Ports = [
    ("tap-dhcp-a", 1, DHCP_A_MAC, DHCP_A_IP),
    ("tap-dhcp-b", 2, DHCP_B_MAC, DHCP_B_IP),
];
const CMP_PORTS: Ports = [
    ("tap-vm-a", 7, VM_A_MAC, VM_A_IP),
    ("tap-vm-b", 6, VM_B_MAC, VM_B_IP),
];

/// br-int with two access ports, br-tun with the patch pair and one GRE port toward
/// `remote`, and the Folsom agent's br-tun flows.
fn configure(c: &mut Cluster, node: usize, remote: usize, gre: &str, ports: Ports) {
    for (tap, _, mac, ip) in ports {
        c.add_vm(node, tap, mac, Some(ip));
    }
    let n = &c.nodes[node];
    n.add_int_and_tun_bridges();
    for (tap, tag, _, _) in ports {
        n.ctl(&["add-port", "br-int", tap, &format!("tag={tag}")]);
    }
    n.ctl(&[
        "add-port",
        "br-tun",
        gre,
        "type=gre",
        &format!("remote_ip={}", node_ip(remote)),
        &format!("local_ip={}", node_ip(node)),
        "key=flow",
        "ofport=2",
    ]);
    let [(_, vlan_a, mac_a, _), (_, vlan_b, mac_b, _)] = ports;
    let multicast = "01:00:00:00:00:00/01:00:00:00:00:00";
    let flows = format!(
        "priority=4,in_port=patch-int,dl_vlan={vlan_a} actions=set_tunnel:{KEY_A:#x},output:{gre}
priority=4,in_port=patch-int,dl_vlan={vlan_b} actions=set_tunnel:{KEY_B:#x},output:{gre}
priority=3,tun_id={KEY_A:#x},dl_dst={mac_a} actions=mod_vlan_vid:{vlan_a},output:patch-int
priority=3,tun_id={KEY_A:#x},dl_dst={multicast} actions=mod_vlan_vid:{vlan_a},output:patch-int
priority=3,tun_id={KEY_B:#x},dl_dst={mac_b} actions=mod_vlan_vid:{vlan_b},output:patch-int
priority=3,tun_id={KEY_B:#x},dl_dst={multicast} actions=mod_vlan_vid:{vlan_b},output:patch-int
priority=1 actions=drop
"
    );
    let file = n.xvsd.dir.join("br-tun.flows");
    std::fs::write(&file, flows).unwrap();
    n.ctl(&["replace-flows", "br-tun", file.to_str().unwrap()]);
}

/// Both nodes configured, tunnels resolved. `c.nodes[NET].vms` = [DHCP A, DHCP B],
/// `c.nodes[CMP].vms` = [VM A, VM B].
fn seed(name: &str) -> Cluster {
    seed_with(name, &[])
}

/// [`seed`] with more arguments for both xvsd.
fn seed_with(name: &str, args: &[&str]) -> Cluster {
    require_root();
    let mut c = Cluster::with_args(name, 2, args);
    configure(&mut c, NET, CMP, "gre-1", NET_PORTS);
    configure(&mut c, CMP, NET, "gre-2", CMP_PORTS);
    for n in &c.nodes {
        n.wait_tunnels_resolved();
    }
    c
}

fn hex(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Frames built by `test_frame` (ethertype 0x88b5): the test's own traffic.
fn ours(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .filter(|f| test_frame_tag(f).is_some())
        .collect()
}

/// Untagged IPv4 GRE frames (the kernel may put ARP and the like on the wire too).
fn gre_only(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .filter(|f| f.len() >= 34 && f[12..14] == [0x08, 0x00] && f[23] == 47)
        .collect()
}

/// The GRE packet `from` puts on the wire toward `to` for an inner frame: outer
/// Ethernet between the underlay MACs, IPv4 DF TTL 64 proto 47, GRE K + 0x6558 + key.
fn expected_gre(from: &Node, to: &Node, key: u32, inner: &[u8]) -> Vec<u8> {
    gre(
        &hex(to.ul_mac),
        &hex(from.ul_mac),
        &from.ip,
        &to.ip,
        key,
        inner,
    )
}

/// Field by field checks of one captured GRE packet, for readable failures before the
/// byte-for-byte comparison.
fn check_gre_fields(g: &[u8], from: &Node, to: &Node, key: u32, vlan: u16) {
    assert_eq!(&g[0..6], &to.ul_mac, "outer dst MAC: the next hop's");
    assert_eq!(&g[6..12], &from.ul_mac, "outer src MAC: the underlay's");
    assert_eq!(&g[12..14], &[0x08, 0x00], "outer ethertype IPv4");
    let ip = &g[14..34];
    assert_eq!(ip[0], 0x45, "IPv4, IHL 5");
    assert_eq!(
        u16::from_be_bytes([ip[2], ip[3]]) as usize,
        g.len() - 14,
        "IPv4 total length"
    );
    assert_eq!(
        u16::from_be_bytes([ip[6], ip[7]]),
        0x4000,
        "DF, no fragment"
    );
    assert_eq!(ip[8], 64, "TTL");
    assert_eq!(ip[9], 47, "protocol GRE");
    assert_eq!(csum(ip), 0, "IPv4 header checksum");
    assert_eq!(
        &ip[12..16],
        &from.ip.parse::<std::net::Ipv4Addr>().unwrap().octets()
    );
    assert_eq!(
        &ip[16..20],
        &to.ip.parse::<std::net::Ipv4Addr>().unwrap().octets()
    );
    let gre = &g[34..];
    assert_eq!(&gre[0..2], &[0x20, 0x00], "GRE flags: K only, version 0");
    assert_eq!(&gre[2..4], &[0x65, 0x58], "GRE protocol: TEB");
    assert_eq!(u32::from_be_bytes(gre[4..8].try_into().unwrap()), key);
    let inner = &gre[8..];
    assert_eq!(&inner[12..14], &[0x81, 0x00], "inner 802.1Q tag");
    assert_eq!(u16::from_be_bytes([inner[14], inner[15]]) & 0xfff, vlan);
}

fn sockets(vms: &[Vm]) -> Vec<RawSocket> {
    vms.iter().map(Vm::socket).collect()
}

/// Our frames on `s` until the one tagged `tag` arrived (at most 2 s), then whatever
/// else comes within `SHORT`.
fn recv_until(s: &RawSocket, tag: u32) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while let Some(f) = s.recv(deadline.saturating_duration_since(Instant::now())) {
        let t = test_frame_tag(&f);
        if t.is_some() {
            got.push(f);
        }
        if t == Some(tag) {
            break;
        }
    }
    got.extend(ours(s.recv_all(SHORT)));
    got
}

/// Sends `frame` from `src` (a VM on node `from`) and checks the trip through the
/// tunnel: exactly one GRE packet on `from`'s side of the wire, byte for byte; the frame
/// delivered untagged and unchanged to `dst` only (`others` hear nothing of it).
#[allow(clippy::too_many_arguments)]
fn check_trip(
    c: &Cluster,
    from: usize,
    to: usize,
    src: &RawSocket,
    dst: &RawSocket,
    others: &[&RawSocket],
    frame: &[u8],
    key: u32,
    vlan: u16,
) {
    let wire = c.wire_socket(from);
    src.send(frame).unwrap();
    let (f, t) = (&c.nodes[from], &c.nodes[to]);
    let delivered = recv_until(dst, test_frame_tag(frame).unwrap());
    // The GRE packet crossed the wire before the delivery: it is already queued here.
    let on_wire = gre_only(wire.recv_all(DRAIN));
    assert_eq!(
        on_wire.len(),
        1,
        "one GRE packet on the wire: {on_wire:02x?}"
    );
    check_gre_fields(&on_wire[0], f, t, key, vlan);
    assert_eq!(
        on_wire[0],
        expected_gre(f, t, key, &tagged(frame, vlan)),
        "the GRE packet, byte for byte"
    );
    assert_eq!(
        delivered,
        vec![frame.to_vec()],
        "delivered untagged, byte for byte"
    );
    for o in others {
        assert_eq!(ours(o.recv_all(DRAIN)), Vec::<Vec<u8>>::new(), "leak");
    }
}

/// (bad_tunnel, unknown_tunnel, packets dropped by br-tun's priority=1 rule)
type Counters = (u64, u64, u64);

/// Sums one counter of `dp-show --json` over the workers.
fn dp_counter(n: &Node, name: &str) -> u64 {
    let v: Value = serde_json::from_str(&n.ctl(&["--json", "dp-show"])).unwrap();
    v["workers"]
        .as_array()
        .unwrap_or_else(|| panic!("no workers in {v}"))
        .iter()
        .map(|w| {
            w[name]
                .as_u64()
                .unwrap_or_else(|| panic!("no {name} in {w}"))
        })
        .sum()
}

/// Waits (briefly) until `f` returns at least `want`; returns the last value.
fn wait_for(want: u64, f: impl Fn() -> u64) -> u64 {
    let start = Instant::now();
    loop {
        let v = f();
        if v >= want || start.elapsed() > Duration::from_secs(3) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// n_packets of the br-tun rule whose dump line contains `rule`.
fn n_packets(n: &Node, rule: &str) -> u64 {
    let dump = n.ctl(&["dump-flows", "br-tun"]);
    let line = dump
        .lines()
        .find(|l| l.contains(rule))
        .unwrap_or_else(|| panic!("no {rule} in {dump}"));
    line.split("n_packets=")
        .nth(1)
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no n_packets in {line}"))
}

/// `ping -c COUNT` from the VM; `count` 0: one echo request, giving up after a second
/// (for pings that must fail).
fn kernel_ping(vm: &Vm, ip: &str, count: u32) -> (bool, String) {
    let opts: Vec<String> = match count {
        0 => ["-c", "1", "-w", "1"].map(String::from).to_vec(),
        n => ["-c", &n.to_string(), "-i", "0.2", "-W", "1"]
            .map(String::from)
            .to_vec(),
    };
    let o = Command::new("ip")
        .args(["netns", "exec", vm.ns.name(), "ping"])
        .args(&opts)
        .arg(ip)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn seed_scenario_over_gre_byte_for_byte() {
    let c = seed("seed");
    let (net, cmp) = (&c.nodes[NET], &c.nodes[CMP]);
    let [dhcp_a, dhcp_b] = <[RawSocket; 2]>::try_from(sockets(&net.vms)).ok().unwrap();
    let [vm_a, vm_b] = <[RawSocket; 2]>::try_from(sockets(&cmp.vms)).ok().unwrap();
    let (m_dhcp_a, m_dhcp_b, m_vm_a, m_vm_b) = (
        mac(DHCP_A_MAC),
        mac(DHCP_B_MAC),
        mac(VM_A_MAC),
        mac(VM_B_MAC),
    );

    // Network A, compute -> network: key 0x3e7, inner VLAN 7 (the compute node's tag).
    // Twice: the first is a miss (slow path), the second a flow-cache hit.
    for (i, len) in [(1, 100), (2, 1000)] {
        let f = test_frame(m_dhcp_a, m_vm_a, i, len);
        check_trip(
            &c,
            CMP,
            NET,
            &vm_a,
            &dhcp_a,
            &[&dhcp_b, &vm_b],
            &f,
            KEY_A,
            7,
        );
    }
    // Network B, compute -> network: key 0x1, inner VLAN 6.
    for (i, len) in [(11, 60), (12, 1400)] {
        let f = test_frame(m_dhcp_b, m_vm_b, i, len);
        check_trip(
            &c,
            CMP,
            NET,
            &vm_b,
            &dhcp_b,
            &[&dhcp_a, &vm_a],
            &f,
            KEY_B,
            6,
        );
    }
    // The way back, network -> compute: the network node's tags 1 and 2. 1468 bytes is
    // the largest frame that fits the underlay's 1500 once tagged (4) and encapsulated
    // (outer IPv4 20, GRE with key 8).
    for (i, len) in [(21, 64), (22, 1500 - 20 - 8 - 4)] {
        let f = test_frame(m_vm_a, m_dhcp_a, i, len);
        check_trip(
            &c,
            NET,
            CMP,
            &dhcp_a,
            &vm_a,
            &[&vm_b, &dhcp_b],
            &f,
            KEY_A,
            1,
        );
    }
    for (i, len) in [(31, 64), (32, 700)] {
        let f = test_frame(m_vm_b, m_dhcp_b, i, len);
        check_trip(
            &c,
            NET,
            CMP,
            &dhcp_b,
            &vm_b,
            &[&vm_a, &dhcp_a],
            &f,
            KEY_B,
            2,
        );
    }
    // A broadcast from VM A reaches DHCP A only (the multicast flow of tunnel 0x3e7).
    let bcast = test_frame([0xff; 6], m_vm_a, 41, 80);
    check_trip(
        &c,
        CMP,
        NET,
        &vm_a,
        &dhcp_a,
        &[&dhcp_b, &vm_b],
        &bcast,
        KEY_A,
        7,
    );

    // Real pings through the kernels' stacks: ARP broadcast over the tunnel, echo and
    // reply, both ways.
    let (ok, out) = kernel_ping(&net.vms[0], VM_A_IP, 3);
    assert!(ok && out.contains("3 received"), "DHCP A -> VM A: {out}");
    let (ok, out) = kernel_ping(&cmp.vms[0], DHCP_A_IP, 2);
    assert!(ok && out.contains("2 received"), "VM A -> DHCP A: {out}");
    let (ok, out) = kernel_ping(&net.vms[1], VM_B_IP, 2);
    assert!(ok && out.contains("2 received"), "DHCP B -> VM B: {out}");

    // Across networks nothing gets through: DHCP A's ARP for VM B's address goes out
    // with key 0x3e7 and lands on VLAN 7 only.
    for s in [&vm_a, &vm_b, &dhcp_b] {
        let _ = s.recv_all(SHORT);
    }
    let (ok, out) = kernel_ping(&net.vms[0], VM_B_IP, 0);
    assert!(!ok, "DHCP A reached VM B on another network: {out}");
    let (ok, out) = kernel_ping(&cmp.vms[0], DHCP_B_IP, 0);
    assert!(!ok, "VM A reached DHCP B on another network: {out}");
    let heard_by_b: Vec<Vec<u8>> = vm_b
        .recv_all(DRAIN)
        .into_iter()
        .chain(dhcp_b.recv_all(DRAIN))
        .filter(|f| f[6..12] == m_dhcp_a || f[6..12] == m_vm_a)
        .collect();
    assert!(
        heard_by_b.is_empty(),
        "network B heard network A: {heard_by_b:02x?}"
    );
    // The question did cross the tunnel, on network A: VM A heard DHCP A ask for VM B's
    // address.
    let want = arp(
        "ff:ff:ff:ff:ff:ff",
        DHCP_A_MAC,
        None,
        1,
        DHCP_A_MAC,
        DHCP_A_IP,
        "00:00:00:00:00:00",
        VM_B_IP,
    );
    let heard_by_vm_a = vm_a
        .recv_all(DRAIN)
        .into_iter()
        .filter(|f| f.len() >= want.len() && f[..want.len()] == want[..])
        .count();
    assert!(
        heard_by_vm_a >= 1,
        "DHCP A's ARP request did not reach VM A"
    );
}

#[test]
fn the_host_keeps_its_underlay() {
    let c = seed("host");
    for (i, n) in c.nodes.iter().enumerate() {
        // The XDP program is on the underlay netdev, in underlay mode.
        let link = n.ns.ip(&["-d", "link", "show", &n.ul_if]);
        assert!(
            link.contains("xdp"),
            "no XDP program on {}: {link}",
            n.ul_if
        );
        let show = n.ctl(&["show"]);
        assert!(
            show.contains(&format!("underlay: {} from {}", n.ul_if, n.ip)),
            "{show}"
        );
        assert!(show.contains("mtu: 1500 on the underlay"), "{show}");

        // The kernel answers pings on the underlay address...
        let out = c
            .wire
            .exec("ping", &["-c", "2", "-i", "0.2", "-W", "2", &n.ip]);
        assert!(out.contains("2 received"), "ping {}: {out}", n.ip);
        let neigh = c.wire.ip(&["neigh", "show", &n.ip]);
        assert!(
            neigh.contains(&hex(n.ul_mac)),
            "the wire learned {}'s MAC: {neigh}",
            n.ip
        );

        // ... and ARP requests, byte for byte from a host the node does not know.
        let w = c.wire_socket(i);
        let asker = "02:00:00:00:01:64";
        let req = arp(
            "ff:ff:ff:ff:ff:ff",
            asker,
            None,
            1,
            asker,
            "192.168.1.100",
            "00:00:00:00:00:00",
            &n.ip,
        );
        w.send(&req).unwrap();
        let replies: Vec<Vec<u8>> = w
            .recv_all(QUIET)
            .into_iter()
            .filter(|f| f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2])
            .collect();
        let want = arp(
            asker,
            &hex(n.ul_mac),
            None,
            2,
            &hex(n.ul_mac),
            &n.ip,
            asker,
            "192.168.1.100",
        );
        assert_eq!(replies.len(), 1, "one ARP reply: {replies:02x?}");
        // The kernel may pad to 60 bytes: compare the ARP part.
        assert_eq!(&replies[0][..want.len()], &want[..], "ARP reply");
    }
    // The wire's own address stays reachable from the nodes' kernels as well.
    let out = c.nodes[NET]
        .ns
        .exec("ping", &["-c", "1", "-W", "2", WIRE_IP]);
    assert!(out.contains("1 received"), "{out}");
    // And the tunnels still carry traffic after all this.
    let (ok, out) = kernel_ping(&c.nodes[NET].vms[0], VM_A_IP, 2);
    assert!(ok, "{out}");
}

#[test]
fn malformed_tunnel_packets_are_counted_and_dropped() {
    let c = seed("bad");
    let net = &c.nodes[NET];
    let socks: Vec<RawSocket> = c.nodes.iter().flat_map(|n| sockets(&n.vms)).collect();
    let wire = c.wire_socket(NET);
    // A made-up outer source MAC: the wire bridge must not learn a node's MAC on the
    // wrong port.
    let outer_src = "02:00:00:00:01:fd";
    let outer_dst = hex(net.ul_mac);
    let cmp_ip = node_ip(CMP);
    let inner = |tag| tagged(&test_frame(mac(DHCP_A_MAC), mac(VM_A_MAC), tag, 100), 7);
    let good = |tag, key| gre(&outer_dst, outer_src, &cmp_ip, &net.ip, key, &inner(tag));

    // (bad_tunnel, unknown_tunnel, n_packets of br-tun's priority=1 drop rule)
    let counters = || -> Counters {
        (
            dp_counter(net, "bad_tunnel"),
            dp_counter(net, "unknown_tunnel"),
            n_packets(net, "priority=1 actions=drop"),
        )
    };
    let refresh_csum = |f: &mut Vec<u8>| {
        f[24..26].copy_from_slice(&[0, 0]);
        let c = csum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
    };

    let mut bad_csum = good(1, KEY_A);
    bad_csum[24] ^= 0x5a;
    let mut truncated = eth(&outer_dst, outer_src, None, 0x0800);
    truncated.extend(ipv4_header(
        cmp_ip.parse().unwrap(),
        net.ip.parse().unwrap(),
        47,
        2,
        true,
        64,
    ));
    truncated.extend_from_slice(&[0x20, 0x00]);
    let mut not_teb = good(3, KEY_A);
    not_teb[36..38].copy_from_slice(&[0x08, 0x00]);
    // C and K: a GRE checksum field (wrong) in front of the key.
    let mut bad_gre_csum = good(4, KEY_A);
    bad_gre_csum[34] = 0xa0;
    bad_gre_csum.splice(38..38, [0xde, 0xad, 0, 0]);
    let ip_len = (bad_gre_csum.len() - 14) as u16;
    bad_gre_csum[16..18].copy_from_slice(&ip_len.to_be_bytes());
    refresh_csum(&mut bad_gre_csum);
    // A first fragment (MF): nothing reassembles here.
    let mut fragment = good(5, KEY_A);
    fragment[20] |= 0x20;
    refresh_csum(&mut fragment);
    let unknown_remote = gre(
        &outer_dst,
        outer_src,
        "192.168.1.200",
        &net.ip,
        KEY_A,
        &inner(6),
    );
    let cases: [(&str, Vec<u8>, Counters); 7] = [
        ("bad IPv4 header checksum", bad_csum, (1, 0, 0)),
        ("IPv4 says GRE, 2 bytes of it", truncated, (1, 0, 0)),
        ("GRE protocol 0x0800, not TEB", not_teb, (1, 0, 0)),
        ("wrong GRE checksum", bad_gre_csum, (1, 0, 0)),
        ("an IPv4 fragment", fragment, (1, 0, 0)),
        ("from a remote no port has", unknown_remote, (0, 1, 0)),
        // The port is key=flow, so an unknown key reaches br-tun, where no tun_id
        // rule matches it: the priority=1 rule drops it.
        ("key 0x99, which no flow maps", good(7, 0x99), (0, 0, 1)),
    ];
    for (what, frame, (db, du, dd)) in cases {
        let (b0, u0, d0) = counters();
        wire.send(&frame).unwrap();
        let want = (b0 + db, u0 + du, d0 + dd);
        let start = Instant::now();
        let reached = |c: Counters| c.0 >= want.0 && c.1 >= want.1 && c.2 >= want.2;
        while !reached(counters()) && start.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            counters(),
            want,
            "{what}: (bad_tunnel, unknown_tunnel, dropped by priority=1)\n{}",
            net.ctl(&["dp-show"])
        );
    }
    std::thread::sleep(SHORT);
    for s in &socks {
        assert_eq!(ours(s.recv_all(DRAIN)), Vec::<Vec<u8>>::new(), "delivered");
    }
    let after = counters();

    // The switch keeps working: a good packet is delivered, untagged, to DHCP A.
    wire.send(&good(8, KEY_A)).unwrap();
    let want = test_frame(mac(DHCP_A_MAC), mac(VM_A_MAC), 8, 100);
    assert_eq!(recv_until(&socks[0], 8), vec![want]);
    for s in &socks[1..] {
        assert_eq!(ours(s.recv_all(DRAIN)), Vec::<Vec<u8>>::new(), "leak");
    }
    assert_eq!(counters(), after, "the good packet counted as bad");
}

/// "inner frames up to M bytes" from `show`, once it reports `mtu`.
fn wait_for_mtu(n: &Node, mtu: u32) -> usize {
    let start = Instant::now();
    loop {
        let show = n.ctl(&["show"]);
        if show.contains(&format!("mtu: {mtu} on the underlay")) {
            let at = show.find("inner frames up to ").unwrap() + "inner frames up to ".len();
            return show[at..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "show never reported mtu {mtu}:\n{show}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn underlay_mtu_bounds_the_encapsulated_frames() {
    let c = seed("mtu");
    let (net, cmp) = (&c.nodes[NET], &c.nodes[CMP]);
    let dhcp_a = net.vms[0].socket();
    let vm_a = cmp.vms[0].socket();
    let (to, from) = (mac(DHCP_A_MAC), mac(VM_A_MAC));

    // A flow-cache entry for this flow exists before the MTU changes.
    check_trip(
        &c,
        CMP,
        NET,
        &vm_a,
        &dhcp_a,
        &[],
        &test_frame(to, from, 1, 1200),
        KEY_A,
        7,
    );

    cmp.ns.ip(&["link", "set", &cmp.ul_if, "mtu", "1000"]);
    let inner_max = wait_for_mtu(cmp, 1000);
    // show's "inner frames up to M bytes" is the inner frame as it goes into the tunnel,
    // Ethernet header and 802.1Q tag included: the underlay MTU less the outer IPv4 (20)
    // and GRE with key (8) headers, exactly the datapath's limit. The Folsom flows leave
    // the tag on, so the largest frame a VM can send is M - 4 bytes.
    assert_eq!(inner_max, 1000 - 20 - 8, "{}", cmp.ctl(&["show"]));
    let largest = inner_max - 4;

    let wire = c.wire_socket(CMP);
    let too_big0 = dp_counter(cmp, "too_big");
    // 1200 bytes, plus the VLAN tag: too big, dropped before the wire. The cache entry
    // made above under MTU 1500 must not let it through.
    vm_a.send(&test_frame(to, from, 2, 1200)).unwrap();
    // One byte more than fits.
    vm_a.send(&test_frame(to, from, 4, largest + 1)).unwrap();
    let fits = test_frame(to, from, 3, largest);
    let too_big = wait_for(too_big0 + 2, || dp_counter(cmp, "too_big"));
    let on_wire = gre_only(wire.recv_all(QUIET));
    assert_eq!(on_wire, Vec::<Vec<u8>>::new(), "too big, yet on the wire");
    assert_eq!(ours(dhcp_a.recv_all(DRAIN)), Vec::<Vec<u8>>::new());
    assert_eq!(
        (too_big, dp_counter(cmp, "too_big")),
        (too_big0 + 2, too_big0 + 2),
        "{}",
        cmp.ctl(&["dp-show"])
    );

    // What fits still goes through, byte for byte.
    check_trip(&c, CMP, NET, &vm_a, &dhcp_a, &[], &fits, KEY_A, 7);
    let small = test_frame(to, from, 5, 200);
    check_trip(&c, CMP, NET, &vm_a, &dhcp_a, &[], &small, KEY_A, 7);
    assert_eq!(dp_counter(cmp, "too_big"), too_big0 + 2);
}

/// The XDP tier's figures of a node (`dp-show --json`).
fn tier(n: &Node) -> Value {
    let v: Value = serde_json::from_str(&n.ctl(&["--json", "dp-show"])).unwrap();
    v["xdp_tier"].clone()
}

/// With `--xdp-tier on`, a hot GRE flow is encapsulated on one node and decapsulated on
/// the other by the XDP program: the packets on the wire and the frames delivered are
/// byte for byte those of the userspace path (same checks as the seed scenario), and
/// both nodes' tiers count them.
#[test]
fn hot_tunnel_flows_are_encapsulated_and_decapsulated_in_the_xdp_tier() {
    let c = seed_with("tier", &["--xdp-tier", "on"]);
    let (net, cmp) = (&c.nodes[NET], &c.nodes[CMP]);
    let [dhcp_a, dhcp_b] = <[RawSocket; 2]>::try_from(sockets(&net.vms)).ok().unwrap();
    let [vm_a, vm_b] = <[RawSocket; 2]>::try_from(sockets(&cmp.vms)).ok().unwrap();
    let (m_dhcp_a, m_vm_a) = (mac(DHCP_A_MAC), mac(VM_A_MAC));
    // Warm: a trip each way, so that both br-int learn both MACs (an unknown
    // destination is flooded, to the bridge's own port too: not for the tier); then
    // enough in one tick to make the entries hot.
    let f = test_frame(m_vm_a, m_dhcp_a, 1, 100);
    check_trip(
        &c,
        NET,
        CMP,
        &dhcp_a,
        &vm_a,
        &[&vm_b, &dhcp_b],
        &f,
        KEY_A,
        1,
    );
    let f = test_frame(m_dhcp_a, m_vm_a, 1, 100);
    check_trip(
        &c,
        CMP,
        NET,
        &vm_a,
        &dhcp_a,
        &[&dhcp_b, &vm_b],
        &f,
        KEY_A,
        7,
    );
    for i in 0..200 {
        vm_a.send(&test_frame(m_dhcp_a, m_vm_a, 1000 + i, 100))
            .unwrap();
    }
    assert_eq!(ours(dhcp_a.recv_all(QUIET)).len(), 200);
    let start = Instant::now();
    while !(tier(cmp)["entries"].as_u64() >= Some(1) && tier(net)["entries"].as_u64() >= Some(1)) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not promoted: compute {} network {}",
            tier(cmp),
            tier(net)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (before_cmp, before_net) = (
        tier(cmp)["packets"].as_u64().unwrap(),
        tier(net)["packets"].as_u64().unwrap(),
    );
    // Now through the kernel on both sides, every size up to the largest that fits.
    for (i, len) in [(2, 60), (3, 100), (4, 1000), (5, 1500 - 20 - 8 - 4)] {
        let f = test_frame(m_dhcp_a, m_vm_a, i, len);
        check_trip(
            &c,
            CMP,
            NET,
            &vm_a,
            &dhcp_a,
            &[&dhcp_b, &vm_b],
            &f,
            KEY_A,
            7,
        );
    }
    let (after_cmp, after_net) = (
        tier(cmp)["packets"].as_u64().unwrap(),
        tier(net)["packets"].as_u64().unwrap(),
    );
    assert_eq!(
        after_cmp - before_cmp,
        4,
        "encapsulated in the compute node's tier"
    );
    assert_eq!(
        after_net - before_net,
        4,
        "decapsulated in the network node's tier"
    );
    // The rules counted every frame (the warm-up, the burst, the checked trips).
    assert_eq!(n_packets(cmp, "priority=4,in_port=1,dl_vlan=7"), 205);
    assert_eq!(
        n_packets(net, &format!("tun_id={KEY_A:#x},dl_dst={DHCP_A_MAC}")),
        205
    );
}
