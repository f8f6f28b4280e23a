//! Several hypervisor nodes in network namespaces, each running its own xvsd, joined by
//! an underlay: a Linux bridge in a "wire" namespace, like the top-of-rack switch
//! between real nodes. Tunnel packets cross the wire through the kernel, so a raw socket
//! there sees what a node sends byte for byte (on the nodes' own underlay netdevs the XDP program
//! takes them before any packet tap).
//!
//! ```text
//!   vm namespaces --veth--> node i (xvsd; br-int ports)    wire namespace
//!                           ul (192.168.1.(254 - i)/24) <--veth--> w<i> --+ br0
//!                                                                          | 192.168.1.1
//! ```
#![allow(dead_code)]

use std::time::{Duration, Instant};

use xvs_dataplane::testnet::{
    mac_of, require_root, unique_name, veth_pair, Netns, RawSocket, VethPair,
};

use super::daemon::Xvsd;

/// The wire's own address on the underlay (a host that is not a node: it pings them).
pub const WIRE_IP: &str = "192.168.1.1";

/// Node `i`'s underlay address: 192.168.1.254, .253, .252, ...
pub fn node_ip(i: usize) -> String {
    format!("192.168.1.{}", 254 - i)
}

pub struct Vm {
    pub ns: Netns,
    /// The VM's interface, in `ns`.
    pub vm_if: String,
    /// Its peer in the node's namespace: the br-int port.
    pub tap: String,
    pub mac: [u8; 6],
    pair: VethPair,
}

impl Vm {
    /// A raw socket on the VM's interface (what the VM sends and receives).
    pub fn socket(&self) -> RawSocket {
        RawSocket::open_in(&self.ns, &self.vm_if)
    }
}

pub struct Node {
    pub ns: Netns,
    pub xvsd: Xvsd,
    /// The node's underlay netdev (in `ns`) and its peer on the wire.
    pub ul_if: String,
    pub wire_if: String,
    pub ip: String,
    pub ul_mac: [u8; 6],
    pub vms: Vec<Vm>,
    pair: VethPair,
}

impl Node {
    /// xvsctl on this node's daemon; must succeed.
    pub fn ctl(&self, args: &[&str]) -> String {
        self.xvsd.ok(args)
    }

    /// br-int and br-tun joined by patch ports as the OVS agent makes them: patch-tun on
    /// br-int, patch-int on br-tun as OpenFlow port 1.
    pub fn add_int_and_tun_bridges(&self) {
        self.ctl(&["add-br", "br-int"]);
        self.ctl(&["add-br", "br-tun"]);
        self.ctl(&[
            "add-port",
            "br-int",
            "patch-tun",
            "type=patch",
            "peer=patch-int",
        ]);
        self.ctl(&[
            "add-port",
            "br-tun",
            "patch-int",
            "type=patch",
            "peer=patch-tun",
            "ofport=1",
        ]);
    }

    /// Waits until `show` says every tunnel port has resolved its next hop.
    pub fn wait_tunnels_resolved(&self) {
        let start = Instant::now();
        loop {
            let show = self.ctl(&["show"]);
            let tunnels = show.matches("type: gre").count() + show.matches("type: vxlan").count();
            let resolved = show
                .lines()
                .filter(|l| l.contains("next hop") && !l.contains("unresolved"))
                .count();
            if tunnels > 0 && resolved == tunnels {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "tunnels not resolved on {}:\n{show}\n{}",
                self.ip,
                self.xvsd.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub struct Cluster {
    pub wire: Netns,
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// `n` nodes on one underlay, each with a running xvsd (one worker) and no bridges.
    pub fn new(name: &str, n: usize) -> Cluster {
        Self::with_args(name, n, &[])
    }

    /// As [`Cluster::new`], each xvsd with `extra` options too.
    pub fn with_args(name: &str, n: usize, extra: &[&str]) -> Cluster {
        require_root();
        let wire = Netns::new("wire");
        wire.ip(&["link", "add", "br0", "type", "bridge"]);
        wire.ip(&["link", "set", "br0", "up"]);
        wire.ip(&["addr", "add", &format!("{WIRE_IP}/24"), "dev", "br0"]);
        wire.disable_ipv6("br0");
        let mut nodes = Vec::new();
        for i in 0..n {
            let ns = Netns::new(&format!("n{i}"));
            let ul_if = unique_name(&format!("u{i}"));
            let wire_if = unique_name(&format!("w{i}"));
            let pair = veth_pair(&ul_if, &wire_if, Some(&ns), Some(&wire));
            wire.ip(&["link", "set", &wire_if, "master", "br0"]);
            let ip = node_ip(i);
            ns.ip(&["addr", "add", &format!("{ip}/24"), "dev", &ul_if]);
            let ul_mac = mac_of(Some(&ns), &ul_if);
            let mut args = vec!["--workers", "1"];
            args.extend_from_slice(extra);
            let xvsd = Xvsd::start_in(Some(ns.name()), &Xvsd::dir(&format!("{name}-n{i}")), &args);
            nodes.push(Node {
                ns,
                xvsd,
                ul_if,
                wire_if,
                ip,
                ul_mac,
                vms: Vec::new(),
                pair,
            });
        }
        Cluster { wire, nodes }
    }

    /// A VM namespace on `node`, its interface with `mac` (and `ip`/24 when given), the
    /// other end named `tap` in the node's namespace (not yet a bridge port).
    pub fn add_vm(&mut self, node: usize, tap: &str, mac: &str, ip: Option<&str>) -> &Vm {
        let n = &mut self.nodes[node];
        let ns = Netns::new(&format!("vm{node}"));
        let vm_if = unique_name("v");
        let pair = veth_pair(&vm_if, tap, Some(&ns), Some(&n.ns));
        ns.ip(&["link", "set", &vm_if, "address", mac]);
        if let Some(ip) = ip {
            ns.ip(&["addr", "add", &format!("{ip}/24"), "dev", &vm_if]);
        }
        let mac = mac_of(Some(&ns), &vm_if);
        n.vms.push(Vm {
            ns,
            vm_if,
            tap: tap.to_string(),
            mac,
            pair,
        });
        n.vms.last().unwrap()
    }

    /// A raw socket on node `i`'s wire-side veth: every underlay frame node `i` sends
    /// (`RawSocket` drops what the veth transmits, i.e. the frames going to the node).
    pub fn wire_socket(&self, i: usize) -> RawSocket {
        RawSocket::open_in(&self.wire, &self.nodes[i].wire_if)
    }
}
