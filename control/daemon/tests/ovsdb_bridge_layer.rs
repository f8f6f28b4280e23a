//! What ovs-vswitchd's bridge layer does beyond ports, under the real ovsdb-server with
//! the unmodified ovs-vsctl and real traffic: a bridge's `other_config:hwaddr` (its
//! interface's MAC and its datapath id). Needs root and the openvswitch packages;
//! fails loudly without them.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::db_node::DbNode;
use xvs_dataplane::testnet::{mac_of, Netns};

/// Whether `ns` reaches `ip` (two pings, a second each at most).
fn ping(ns: &Netns, ip: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns.name(), "ping", "-c", "2", "-i", "0.2"])
        .args(["-W", "1", ip])
        .output()
        .unwrap()
        .status
        .success()
}

/// Whether `ns` reaches `ip` within 5 s (neighbour entries that failed meanwhile are
/// resolved again).
fn reaches(ns: &Netns, ip: &str) -> bool {
    let start = Instant::now();
    loop {
        if ping(ns, ip) {
            return true;
        }
        if start.elapsed() > Duration::from_secs(5) {
            return false;
        }
    }
}

/// The MAC of `ifname` in `ns` as the kernel has it, in OVS's spelling.
fn kernel_mac(ns: &Netns, ifname: &str) -> String {
    mac_of(Some(ns), ifname)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An address on `dev` in the switch namespace, and `dev` up.
fn configure(ns: &Netns, dev: &str, cidr: &str) {
    ns.ip(&["addr", "add", cidr, "dev", dev]);
    ns.ip(&["link", "set", dev, "up"]);
}

fn dpid(n: &DbNode) -> String {
    n.d.db.vsctl_ok(&["get", "Bridge", "br-int", "datapath_id"])
}

#[test]
fn hwaddr_is_the_bridge_interfaces_mac_and_makes_its_datapath_id() {
    let mut n = DbNode::new("hwaddr", 1);
    let sw = &n.net.ns_switch;
    n.d.db.vsctl_ok(&[
        "add-br",
        "br-int",
        "--",
        "set",
        "Bridge",
        "br-int",
        "other_config:hwaddr=02:AA:bb:cc:dd:01",
    ]);
    // When ovs-vsctl returns, the netdev has it, the database says so, and the
    // datapath id is the MAC as 16 hex digits (as OVS's).
    assert_eq!(kernel_mac(sw, "br-int"), "02:aa:bb:cc:dd:01");
    assert_eq!(n.get("br-int", "mac_in_use"), "\"02:aa:bb:cc:dd:01\"");
    assert_eq!(dpid(&n), "\"000002aabbccdd01\"");
    // On the wire too: the host learns it by ARP through the bridge.
    n.d.db.vsctl_ok(&["add-port", "br-int", n.port(0)]);
    configure(sw, "br-int", "10.0.0.9/24");
    let h0 = &n.net.hosts[0].ns;
    assert!(ping(h0, "10.0.0.9"), "{}", n.d.log());
    let neigh = h0.ip(&["neigh", "show", "10.0.0.9"]);
    assert!(neigh.contains("02:aa:bb:cc:dd:01"), "{neigh}");

    // Another value: the MAC and the id follow.
    n.d.db.vsctl_ok(&[
        "set",
        "Bridge",
        "br-int",
        "other_config:hwaddr=02:aa:bb:cc:dd:02",
    ]);
    assert_eq!(kernel_mac(sw, "br-int"), "02:aa:bb:cc:dd:02");
    assert_eq!(n.get("br-int", "mac_in_use"), "\"02:aa:bb:cc:dd:02\"");
    assert_eq!(dpid(&n), "\"000002aabbccdd02\"");

    // Values that are no usable address: logged and ignored, as OVS; nothing moves.
    for bad in ["01:00:5e:00:00:01", "00:00:00:00:00:00", "bogus"] {
        n.d.db.vsctl_ok(&[
            "set",
            "Bridge",
            "br-int",
            &format!("other_config:hwaddr={bad}"),
        ]);
        assert_eq!(kernel_mac(sw, "br-int"), "02:aa:bb:cc:dd:02", "{bad}");
        assert_eq!(dpid(&n), "\"000002aabbccdd02\"", "{bad}");
    }
    let log = n.d.log();
    for said in [
        "cannot set MAC address to multicast address 01:00:5e:00:00:01",
        "cannot set MAC address to zero",
        "hwaddr=\"bogus\" is not an Ethernet address",
    ] {
        assert!(log.contains(said), "{said}: {log}");
    }
    assert!(n.d.is_running());

    // datapath-id wins over hwaddr, which still sets the MAC.
    n.d.db.vsctl_ok(&[
        "set",
        "Bridge",
        "br-int",
        "other_config:hwaddr=02:aa:bb:cc:dd:03",
        "other_config:datapath-id=0000000000000042",
    ]);
    assert_eq!(dpid(&n), "\"0000000000000042\"");
    assert_eq!(kernel_mac(sw, "br-int"), "02:aa:bb:cc:dd:03");

    // A restart changes nothing; the host still reaches the bridge.
    n.d.restart();
    n.d.db
        .vsctl_ok(&["set", "Bridge", "br-int", "external_ids:restarted=1"]);
    assert_eq!(dpid(&n), "\"0000000000000042\"");
    let sw = &n.net.ns_switch;
    assert_eq!(kernel_mac(sw, "br-int"), "02:aa:bb:cc:dd:03");
    assert_eq!(n.get("br-int", "mac_in_use"), "\"02:aa:bb:cc:dd:03\"");
    // The host still has the first MAC in its neighbour table (a changed MAC is not
    // announced, with OVS neither): it asks again.
    let h0 = &n.net.hosts[0].ns;
    h0.ip(&["neigh", "flush", "all"]);
    assert!(reaches(h0, "10.0.0.9"), "{}", n.d.log());
    assert!(h0
        .ip(&["neigh", "show", "10.0.0.9"])
        .contains("02:aa:bb:cc:dd:03"));

    // Both settings removed: the id they gave is kept (the column), as is the MAC.
    n.d.db.vsctl_ok(&[
        "remove",
        "Bridge",
        "br-int",
        "other_config",
        "hwaddr",
        "datapath-id",
    ]);
    assert_eq!(dpid(&n), "\"0000000000000042\"");
    assert_eq!(kernel_mac(sw, "br-int"), "02:aa:bb:cc:dd:03");
}
