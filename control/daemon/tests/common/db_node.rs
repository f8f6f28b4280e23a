//! One node for the database tests: xvsd in a switch namespace, following its private
//! ovsdb-server, with `hosts` host namespaces at 10.0.0.(i+1)/24 whose switch-side
//! veths are the ports; everything removed on drop.
#![allow(dead_code)]

use std::process::Command;

use super::daemon::Xvsd;
use xvs_dataplane::testnet::{require_root, SwitchNet};

pub struct DbNode {
    pub net: SwitchNet,
    pub d: Xvsd,
}

impl DbNode {
    /// The node, with no bridge yet.
    pub fn new(name: &str, hosts: usize) -> DbNode {
        require_root();
        let dir = Xvsd::dir(name);
        let net = SwitchNet::new(hosts);
        let d = Xvsd::start_in(Some(net.ns_switch.name()), &dir, &[]);
        for (i, h) in net.hosts.iter().enumerate() {
            h.ns.ip(&[
                "addr",
                "add",
                &format!("10.0.0.{}/24", i + 1),
                "dev",
                &h.host_if,
            ]);
        }
        DbNode { net, d }
    }

    /// The node with br-int, every host's port on it in VLAN 1 (through ovs-vsctl).
    pub fn with_br_int(name: &str, hosts: usize) -> DbNode {
        let n = DbNode::new(name, hosts);
        n.d.db.vsctl_ok(&["add-br", "br-int"]);
        for i in 0..hosts {
            n.d.db.vsctl_ok(&["add-port", "br-int", n.port(i), "tag=1"]);
        }
        n
    }

    /// Host `i`'s port (its veth end in the switch namespace).
    pub fn port(&self, i: usize) -> &str {
        &self.net.hosts[i].switch_if
    }

    /// Whether host `from` reaches 10.0.0.(to+1).
    pub fn pings(&self, from: usize, to: usize) -> bool {
        Command::new("ip")
            .args(["netns", "exec", self.net.hosts[from].ns.name()])
            .args(["ping", "-c", "2", "-i", "0.2", "-W", "1"])
            .arg(format!("10.0.0.{}", to + 1))
            .output()
            .unwrap()
            .status
            .success()
    }

    /// An Interface column as ovs-vsctl prints it.
    pub fn get(&self, iface: &str, col: &str) -> String {
        self.d.db.vsctl_ok(&["get", "Interface", iface, col])
    }

    pub fn ofport(&self, iface: &str) -> i64 {
        self.get(iface, "ofport").parse().unwrap()
    }
}
