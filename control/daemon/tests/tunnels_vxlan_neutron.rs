//! Today's Neutron br-tun pipeline over real VXLAN tunnels: three nodes, each an xvsd in
//! its own namespace with br-int (one VM) and br-tun (patch-int and a VXLAN port to each
//! other node, `key=flow`), programmed through xvsctl with the tables of
//! `neutron_brtun.rs` (0 dispatch, 2 unicast/multicast, 3 drop, 4 VNI -> local VLAN, 10
//! learn, 20 unicast, 21 ARP responder, 22 flood). The underlay is a Linux bridge in a
//! "wire" namespace, where the VXLAN packets are captured byte for byte. Needs root;
//! fails loudly without it.

mod common;

use std::ffi::CString;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use common::neutron::{ArpEntry, BrTun, Network};
use common::nodes::{node_ip, Cluster};
use common::{arp, csum, mac};
use xvs_dataplane::testnet::{in_netns, RawSocket};

/// The network's tunnel id (VXLAN VNI).
const VNI: u32 = 0x64;
/// The learn cookie Neutron uses.
const COOKIE: u64 = 0x9d5b0e5c3b25ca44;
/// Node `i`'s local VLAN for the network: different on every node, as the agents pick them.
fn lvid(i: usize) -> u16 {
    i as u16 + 1
}
/// VM `i` (on node `i`).
fn vm_mac(i: usize) -> String {
    format!("fa:16:3e:00:00:0{}", i + 1)
}
fn vm_ip(i: usize) -> String {
    format!("10.1.0.{}", i + 1)
}
/// The router port the ARP responder answers for.
const ROUTER_MAC: &str = "fa:16:3e:f1:5e:7d";
const ROUTER_IP: &str = "10.1.0.254";
/// An address nobody answers for.
const NOBODY_IP: &str = "10.1.0.77";

/// How long a socket must stay silent for a step to be over: the first receive of a
/// step waits this long after the last frame...
const QUIET: Duration = Duration::from_millis(400);
/// ...and the other sockets of the same step, where everything has arrived by then,
/// are only drained.
const SETTLED: Duration = Duration::from_millis(50);

/// Neutron's name for the VXLAN port to `remote`: "vxlan-" and the address in hex.
fn vxlan_port(remote: &str) -> String {
    let ip: Ipv4Addr = remote.parse().unwrap();
    format!("vxlan-{:08x}", u32::from(ip))
}

/// The other nodes of node `i`, in the order of their VXLAN ports (ofport 2, 3).
fn remotes(i: usize) -> Vec<usize> {
    (0..3).filter(|&j| j != i).collect()
}

/// Node `i`'s br-tun tables: patch-int is ofport 1, the VXLAN ports 2 and 3.
fn br_tun_flows(i: usize) -> String {
    BrTun {
        tunnel_ports: vec![2, 3],
        tunnel_table: 4,
        networks: vec![Network {
            tun_id: VNI.into(),
            lvid: lvid(i),
            flood: vec![2, 3],
        }],
        learn_hard_timeout: 300,
        learn_cookie: Some(COOKIE),
        learn_in_port: "NXM_OF_IN_PORT",
        arp_responder: Some(ArpEntry {
            lvid: lvid(i),
            ip: ROUTER_IP,
            mac: ROUTER_MAC,
        }),
    }
    .flows()
}

/// Three nodes, one VM each (with 10.1.0.(i+1)/24 when `ips`), br-int and br-tun
/// configured and programmed on every node, tunnels resolved.
fn cluster(name: &str, ips: bool) -> Cluster {
    let mut c = Cluster::new(name, 3);
    for i in 0..3 {
        let ip = vm_ip(i);
        c.add_vm(
            i,
            &format!("tap{i}"),
            &vm_mac(i),
            ips.then_some(ip.as_str()),
        );
    }
    for (i, n) in c.nodes.iter().enumerate() {
        n.add_int_and_tun_bridges();
        n.ctl(&[
            "add-port",
            "br-int",
            &n.vms[0].tap,
            &format!("tag={}", lvid(i)),
        ]);
        for (k, j) in remotes(i).into_iter().enumerate() {
            n.ctl(&[
                "add-port",
                "br-tun",
                &vxlan_port(&node_ip(j)),
                "type=vxlan",
                &format!("remote_ip={}", node_ip(j)),
                &format!("local_ip={}", n.ip),
                "key=flow",
                &format!("ofport={}", k + 2),
            ]);
        }
        let file = n.xvsd.dir.join("br-tun.flows");
        std::fs::write(&file, br_tun_flows(i)).unwrap();
        n.ctl(&["replace-flows", "br-tun", file.to_str().unwrap()]);
    }
    for n in &c.nodes {
        n.wait_tunnels_resolved();
    }
    c
}

/// Outer Ethernet / IPv4 (DF, TTL 64, ident 0, proto 17) / UDP (`src_port` -> 4789,
/// checksum 0) / VXLAN (I flag, `vni`) around `inner`: what a node must send.
fn vxlan_frame(
    outer_dst: [u8; 6],
    outer_src: [u8; 6],
    ip_src: &str,
    ip_dst: &str,
    src_port: u16,
    vni: u32,
    inner: &[u8],
) -> Vec<u8> {
    let mut f = outer_dst.to_vec();
    f.extend_from_slice(&outer_src);
    f.extend_from_slice(&[0x08, 0x00]);
    let udp_len = 8 + 8 + inner.len();
    let ip_len = 20 + udp_len;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(ip_len as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&ip_src.parse::<Ipv4Addr>().unwrap().octets());
    ip.extend_from_slice(&ip_dst.parse::<Ipv4Addr>().unwrap().octets());
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    f.extend_from_slice(&src_port.to_be_bytes());
    f.extend_from_slice(&4789u16.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[0x08, 0, 0, 0]);
    f.extend_from_slice(&(vni << 8).to_be_bytes());
    f.extend_from_slice(inner);
    f
}

/// The VXLAN packets among `frames` (IPv4 / UDP to 4789), anything else (the kernels'
/// ARP on the underlay) left out.
fn vxlan_only(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .filter(|f| {
            f.len() >= 50 && f[12..14] == [0x08, 0x00] && f[23] == 17 && f[36..38] == [0x12, 0xb5]
        })
        .collect()
}

/// Checks that `f`, sent by node `from`, is exactly the VXLAN packet a node must send
/// to node `to` around `inner`: every header byte, and the source port in the dynamic
/// range (RFC 7348).
fn check_vxlan(c: &Cluster, from: usize, to: usize, inner: &[u8], f: &[u8]) {
    assert!(f.len() >= 50, "short VXLAN packet {f:02x?}");
    let src_port = u16::from_be_bytes([f[34], f[35]]);
    assert!(
        (49152..=65535).contains(&src_port),
        "VXLAN source port {src_port} outside 49152..=65535"
    );
    // Header by header first, so a failure says where.
    assert_eq!(
        &f[0..6],
        &c.nodes[to].ul_mac,
        "outer dst MAC: node {to}'s underlay"
    );
    assert_eq!(
        &f[6..12],
        &c.nodes[from].ul_mac,
        "outer src MAC: node {from}'s underlay"
    );
    assert_eq!(f[14], 0x45, "IPv4, no options");
    assert_eq!(&f[20..22], &[0x40, 0], "DF, no fragment offset");
    assert_eq!(f[22], 64, "TTL 64");
    assert_eq!(f[23], 17, "UDP");
    assert_eq!(csum(&f[14..34]), 0, "IPv4 header checksum");
    assert_eq!(
        &f[26..30],
        &node_ip(from).parse::<Ipv4Addr>().unwrap().octets()
    );
    assert_eq!(
        &f[30..34],
        &node_ip(to).parse::<Ipv4Addr>().unwrap().octets()
    );
    assert_eq!(&f[36..38], &4789u16.to_be_bytes(), "UDP dst port 4789");
    assert_eq!(
        u16::from_be_bytes([f[38], f[39]]) as usize,
        f.len() - 34,
        "UDP length"
    );
    assert_eq!(&f[40..42], &[0, 0], "UDP checksum 0");
    assert_eq!(&f[42..46], &[0x08, 0, 0, 0], "VXLAN flags: I only");
    assert_eq!(
        &f[46..50],
        &(VNI << 8).to_be_bytes(),
        "VNI and reserved byte"
    );
    assert_eq!(&f[50..], inner, "inner frame");
    // And the whole of it, byte for byte.
    let want = vxlan_frame(
        c.nodes[to].ul_mac,
        c.nodes[from].ul_mac,
        &node_ip(from),
        &node_ip(to),
        src_port,
        VNI,
        inner,
    );
    assert_eq!(f, &want[..]);
}

/// Which node a VXLAN packet is addressed to.
fn dst_node(f: &[u8]) -> usize {
    let dst = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
    (0..3)
        .find(|&j| node_ip(j).parse::<Ipv4Addr>().unwrap() == dst)
        .unwrap_or_else(|| panic!("VXLAN packet to {dst}, not a node"))
}

struct Sockets {
    /// Each node's VM.
    vms: Vec<RawSocket>,
    /// What each node sends on the underlay.
    wires: Vec<RawSocket>,
    /// What the underlay delivers to each node.
    to: Vec<ToNode>,
}

fn sockets(c: &Cluster) -> Sockets {
    Sockets {
        vms: c.nodes.iter().map(|n| n.vms[0].socket()).collect(),
        wires: (0..3).map(|i| c.wire_socket(i)).collect(),
        to: (0..3).map(|i| ToNode::open(c, i)).collect(),
    }
}

/// Captures the frames the wire delivers *to* node `i`: a packet socket on its wire-side
/// veth keeping what that veth transmits. (`Cluster::wire_socket` only reports what the
/// node sends: `RawSocket` leaves out frames an interface transmits, `PACKET_OUTGOING`.)
struct ToNode {
    fd: OwnedFd,
}

impl ToNode {
    fn open(c: &Cluster, i: usize) -> ToNode {
        let ifname = CString::new(c.nodes[i].wire_if.as_str()).unwrap();
        let proto = (libc::ETH_P_ALL as u16).to_be();
        in_netns(&c.wire, || {
            // SAFETY: ifname is NUL-terminated.
            let ifindex = unsafe { libc::if_nametoindex(ifname.as_ptr()) } as i32;
            assert!(ifindex > 0, "no {ifname:?} in the wire namespace");
            // SAFETY: plain syscall; the result is checked.
            let fd = unsafe {
                libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    i32::from(proto),
                )
            };
            assert!(
                fd >= 0,
                "packet socket: {}",
                std::io::Error::last_os_error()
            );
            // SAFETY: fd is fresh and ours.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: a zeroed sockaddr_ll is valid; the fields that matter are set.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = proto;
            sll.sll_ifindex = ifindex;
            // SAFETY: sll is a sockaddr_ll of the length given.
            let r = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    &sll as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            assert!(r == 0, "bind: {}", std::io::Error::last_os_error());
            ToNode { fd }
        })
    }

    /// The frames sent to the node until none comes for `quiet`.
    fn recv_all(&self, quiet: Duration) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, quiet.as_millis() as i32) } <= 0 {
                return frames;
            }
            // SAFETY: zeroed sockaddr_ll is a valid out-parameter.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: buf and sll are valid for the lengths given.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    &mut sll as *mut _ as *mut libc::sockaddr,
                    &mut len,
                )
            };
            if n > 0 && sll.sll_pkttype == libc::PACKET_OUTGOING {
                frames.push(buf[..n as usize].to_vec());
            }
        }
    }
}

fn arp_request(from: usize, tpa: &str) -> Vec<u8> {
    arp(
        "ff:ff:ff:ff:ff:ff",
        &vm_mac(from),
        None,
        1,
        &vm_mac(from),
        &vm_ip(from),
        "00:00:00:00:00:00",
        tpa,
    )
}

#[test]
fn a_broadcast_is_flooded_to_both_remote_nodes_as_vxlan() {
    let c = cluster("flood", false);
    let s = sockets(&c);
    let req = arp_request(0, NOBODY_IP);
    s.vms[0].send(&req).unwrap();

    let sent = vxlan_only(s.wires[0].recv_all(QUIET));
    assert_eq!(
        sent.len(),
        2,
        "one VXLAN packet to each remote node: {sent:02x?}"
    );
    let mut to: Vec<usize> = sent.iter().map(|f| dst_node(f)).collect();
    to.sort();
    assert_eq!(to, vec![1, 2], "one to each remote node");
    for f in &sent {
        // strip_vlan: the inner frame is the VM's frame, untagged.
        check_vxlan(&c, 0, dst_node(f), &req, f);
    }
    for j in [1, 2] {
        let delivered = vxlan_only(s.to[j].recv_all(SETTLED));
        let mine: Vec<Vec<u8>> = sent.iter().filter(|f| dst_node(f) == j).cloned().collect();
        assert_eq!(
            delivered, mine,
            "node {j} gets its packet through the wire unchanged"
        );
        assert_eq!(
            s.vms[j].recv_all(SETTLED),
            vec![req.clone()],
            "VM on node {j} gets the broadcast untagged, byte for byte"
        );
        assert_eq!(
            vxlan_only(s.wires[j].recv_all(SETTLED)),
            Vec::<Vec<u8>>::new(),
            "node {j} sends nothing back"
        );
    }
    assert_eq!(
        s.vms[0].recv_all(SETTLED),
        Vec::<Vec<u8>>::new(),
        "no echo to the sender"
    );
    assert_eq!(
        vxlan_only(s.to[0].recv_all(SETTLED)),
        Vec::<Vec<u8>>::new(),
        "nothing comes back to node 0"
    );

    // Again, now through the entry the first packet left in the worker's cache: the same packets, the same source ports.
    s.vms[0].send(&req).unwrap();
    let again = vxlan_only(s.wires[0].recv_all(QUIET));
    assert_eq!(again.len(), 2, "{again:02x?}");
    for f in &again {
        check_vxlan(&c, 0, dst_node(f), &req, f);
    }
    let ports = |v: &[Vec<u8>]| {
        let mut p: Vec<(usize, u16)> = v
            .iter()
            .map(|f| (dst_node(f), u16::from_be_bytes([f[34], f[35]])))
            .collect();
        p.sort();
        p
    };
    assert_eq!(
        ports(&again),
        ports(&sent),
        "a cache hit picks the same source port"
    );
    for j in [1, 2] {
        assert_eq!(s.vms[j].recv_all(SETTLED), vec![req.clone()]);
    }
}

#[test]
fn a_learned_flow_sends_the_unicast_reply_through_one_tunnel() {
    let c = cluster("learn", false);
    let s = sockets(&c);
    // VM 0 asks for VM 1: flooded to nodes 1 and 2, where table 10 learns VM 0's MAC
    // behind their VXLAN port to node 0.
    let req = arp_request(0, &vm_ip(1));
    s.vms[0].send(&req).unwrap();
    assert_eq!(vxlan_only(s.wires[0].recv_all(QUIET)).len(), 2);
    for j in [1, 2] {
        assert_eq!(vxlan_only(s.to[j].recv_all(SETTLED)).len(), 1);
        assert_eq!(s.vms[j].recv_all(SETTLED), vec![req.clone()]);
    }

    for j in [1, 2] {
        let table20 = c.nodes[j].ctl(&["--names", "dump-flows", "br-tun", "table=20"]);
        let learned: Vec<&str> = table20
            .lines()
            .filter(|l| l.contains("priority=1,"))
            .collect();
        assert_eq!(learned.len(), 1, "node {j} learned one flow: {table20}");
        let l = learned[0];
        for part in [
            format!("cookie={COOKIE:#x}, "),
            "table=20, ".to_string(),
            "hard_timeout=300, ".to_string(),
            format!(
                "priority=1,vlan_tci=0x{:04x}/0x0fff,dl_dst={} actions=load:0->NXM_OF_VLAN_TCI[],load:{VNI:#x}->NXM_NX_TUN_ID[],output:{}",
                lvid(j),
                vm_mac(0),
                vxlan_port(&node_ip(0)),
            ),
        ] {
            assert!(l.contains(&part), "node {j}: {part:?} not in {l:?}\n{table20}");
        }
    }

    // VM 1 answers, unicast to VM 0: node 1's table 20 sends it to node 0 only.
    let reply = arp(
        &vm_mac(0),
        &vm_mac(1),
        None,
        2,
        &vm_mac(1),
        &vm_ip(1),
        &vm_mac(0),
        &vm_ip(0),
    );
    for round in 0..3 {
        s.vms[1].send(&reply).unwrap();
        let sent = vxlan_only(s.wires[1].recv_all(QUIET));
        assert_eq!(
            sent.len(),
            1,
            "round {round}: one VXLAN packet, to node 0 only: {sent:02x?}"
        );
        check_vxlan(&c, 1, 0, &reply, &sent[0]);
        assert_eq!(
            vxlan_only(s.to[0].recv_all(SETTLED)),
            sent,
            "round {round}: node 0 gets it through the wire unchanged"
        );
        assert_eq!(
            vxlan_only(s.to[2].recv_all(SETTLED)),
            Vec::<Vec<u8>>::new(),
            "round {round}: nothing reaches node 2 on the wire"
        );
        assert_eq!(
            s.vms[0].recv_all(SETTLED),
            vec![reply.clone()],
            "round {round}: VM 0 gets the reply byte for byte"
        );
        assert_eq!(
            s.vms[2].recv_all(SETTLED),
            Vec::<Vec<u8>>::new(),
            "round {round}: nothing reaches VM 2"
        );
        assert_eq!(
            vxlan_only(s.wires[2].recv_all(SETTLED)),
            Vec::<Vec<u8>>::new(),
            "round {round}: node 2 sends nothing"
        );
        assert_eq!(
            vxlan_only(s.wires[0].recv_all(SETTLED)),
            Vec::<Vec<u8>>::new(),
            "round {round}: node 0 sends nothing back"
        );
    }
}

#[test]
fn the_arp_responder_answers_locally_and_nothing_leaves() {
    let c = cluster("arp", false);
    let s = sockets(&c);
    let req = arp_request(0, ROUTER_IP);
    let want = arp(
        &vm_mac(0),
        ROUTER_MAC,
        None,
        2,
        ROUTER_MAC,
        ROUTER_IP,
        &vm_mac(0),
        &vm_ip(0),
    );
    // Twice: the slow path, then the workers' cache.
    for round in 0..2 {
        s.vms[0].send(&req).unwrap();
        let got = s.vms[0].recv_all(QUIET);
        assert_eq!(got.len(), 1, "round {round}: one answer: {got:02x?}");
        let r = &got[0];
        assert_eq!(&r[0..6], &mac(&vm_mac(0)), "to the asker");
        assert_eq!(&r[6..12], &mac(ROUTER_MAC), "from the router's MAC");
        assert_eq!(&r[12..14], &[0x08, 0x06], "ARP, untagged");
        assert_eq!(&r[14..20], &[0, 1, 8, 0, 6, 4], "Ethernet / IPv4 ARP");
        assert_eq!(&r[20..22], &[0, 2], "opcode 2, reply");
        assert_eq!(&r[22..28], &mac(ROUTER_MAC), "sha from the flow");
        assert_eq!(
            &r[28..32],
            &ROUTER_IP.parse::<Ipv4Addr>().unwrap().octets(),
            "spa from the flow"
        );
        assert_eq!(&r[32..38], &mac(&vm_mac(0)), "tha: the asker");
        assert_eq!(
            &r[38..42],
            &vm_ip(0).parse::<Ipv4Addr>().unwrap().octets(),
            "tpa: the asker"
        );
        assert_eq!(r, &want, "round {round}: the whole answer");
        assert_eq!(
            vxlan_only(s.wires[0].recv_all(SETTLED)),
            Vec::<Vec<u8>>::new(),
            "round {round}: nothing goes to the tunnels"
        );
        for j in [1, 2] {
            assert_eq!(
                vxlan_only(s.to[j].recv_all(SETTLED)),
                Vec::<Vec<u8>>::new(),
                "round {round}: nothing reaches node {j}"
            );
            assert_eq!(s.vms[j].recv_all(SETTLED), Vec::<Vec<u8>>::new());
        }
    }
    // Another asker's addresses are answered with its own (they are part of the key):
    // the same VM asking from another IP.
    let other = arp(
        "ff:ff:ff:ff:ff:ff",
        &vm_mac(0),
        None,
        1,
        &vm_mac(0),
        "10.1.0.100",
        "00:00:00:00:00:00",
        ROUTER_IP,
    );
    s.vms[0].send(&other).unwrap();
    assert_eq!(
        s.vms[0].recv_all(QUIET),
        vec![arp(
            &vm_mac(0),
            ROUTER_MAC,
            None,
            2,
            ROUTER_MAC,
            ROUTER_IP,
            &vm_mac(0),
            "10.1.0.100",
        )]
    );
    // An address the responder does not know is flooded to the tunnels instead.
    s.vms[0].send(&arp_request(0, NOBODY_IP)).unwrap();
    assert_eq!(vxlan_only(s.wires[0].recv_all(QUIET)).len(), 2);
}

#[test]
fn vms_on_three_nodes_ping_each_other() {
    let c = cluster("ping", true);
    for i in 0..3 {
        for j in 0..3 {
            if i == j {
                continue;
            }
            let out = std::process::Command::new("ip")
                .args(["netns", "exec", c.nodes[i].vms[0].ns.name()])
                .args(["ping", "-c", "3", "-i", "0.2", "-W", "2", &vm_ip(j)])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains("3 received"),
                "VM {i} -> VM {j}: {text}{}\n{}",
                String::from_utf8_lossy(&out.stderr),
                c.nodes[j].ctl(&["dump-flows", "br-tun"])
            );
        }
    }
    // Every node learned the two other VMs behind their tunnels.
    for (i, n) in c.nodes.iter().enumerate() {
        let table20 = n.ctl(&["--names", "dump-flows", "br-tun", "table=20"]);
        for j in remotes(i) {
            assert!(
                table20.contains(&format!(
                    "dl_dst={} actions=load:0->NXM_OF_VLAN_TCI[],load:{VNI:#x}->NXM_NX_TUN_ID[],output:{}",
                    vm_mac(j),
                    vxlan_port(&node_ip(j))
                )),
                "node {i} learned VM {j}: {table20}"
            );
        }
    }
}
