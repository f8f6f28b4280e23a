//! What ovs-vswitchd's bridge layer does beyond ports, under the real ovsdb-server with
//! the unmodified ovs-vsctl and real traffic: a bridge's `other_config:hwaddr` (its
//! interface's MAC and its datapath id), `Open_vSwitch.other_config:flow-restore-wait`
//! (configured at the start, but no packet moves until it is false), and internal
//! ports' netdevs made again after `ip link del`. Needs root and the openvswitch
//! packages; fails loudly without them.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::db_node::DbNode;
use xvs_dataplane::testnet::{mac_of, Netns};

/// Polls `cond` every 20 ms until it holds (panics after `limit`).
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

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

fn link_exists(ns: &Netns, ifname: &str) -> bool {
    Command::new("ip")
        .args(["-n", ns.name(), "link", "show", ifname])
        .output()
        .unwrap()
        .status
        .success()
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

#[test]
fn flow_restore_wait_at_the_start_configures_everything_but_moves_no_packet() {
    let mut n = DbNode::new("restore-wait", 3);
    // Set while xvsd runs (it started without it): only the start waits, so nothing.
    n.d.db.vsctl_ok(&[
        "set",
        "Open_vSwitch",
        ".",
        "other_config:flow-restore-wait=true",
    ]);
    n.d.db.vsctl_ok(&["add-br", "br-int"]);
    for i in 0..2 {
        n.d.db.vsctl_ok(&["add-port", "br-int", n.port(i), "tag=1"]);
    }
    assert!(n.pings(0, 1), "true set after the start changes nothing");
    let before: Vec<i64> = (0..2).map(|i| n.ofport(n.port(i))).collect();

    // Started with it true: configured and written back (a port added now gets its
    // number, and ovs-vsctl's wait for cur_cfg returns), but no packet moves.
    n.d.restart();
    n.d.db.vsctl_ok(&["add-port", "br-int", n.port(2), "tag=1"]);
    assert!(n.ofport(n.port(2)) >= 1);
    assert_eq!(
        (0..2).map(|i| n.ofport(n.port(i))).collect::<Vec<_>>(),
        before
    );
    let next_cfg = n.d.db.vsctl_ok(&["get", "Open_vSwitch", ".", "next_cfg"]);
    assert_eq!(
        n.d.db.vsctl_ok(&["get", "Open_vSwitch", ".", "cur_cfg"]),
        next_cfg
    );
    assert!(!n.pings(0, 1));
    assert!(!n.pings(2, 0));
    let show = n.d.ok(&["dp-show"]);
    let dropped: u64 = show
        .split("flow-restore-wait: waiting (upcalls are dropped) dropped:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{show}"));
    assert!(dropped > 0, "{show}");
    assert!(show.contains("upcalls: handled:0 "), "{show}");

    // Removed: packets move.
    n.d.db.vsctl_ok(&[
        "remove",
        "Open_vSwitch",
        ".",
        "other_config",
        "flow-restore-wait",
    ]);
    assert!(
        reaches(&n.net.hosts[0].ns, "10.0.0.2"),
        "{}",
        n.d.ok(&["dp-show"])
    );
    assert!(reaches(&n.net.hosts[2].ns, "10.0.0.1"));
    // True again: no effect, the wait was at the start only.
    n.d.db.vsctl_ok(&[
        "set",
        "Open_vSwitch",
        ".",
        "other_config:flow-restore-wait=true",
    ]);
    assert!(n.pings(1, 2));
    assert!(n.d.ok(&["dp-show"]).contains("flow-restore-wait: over"));
}

#[test]
fn internal_netdevs_deleted_are_made_again_with_their_ofports() {
    let mut n = DbNode::new("internal-again", 1);
    let sw = &n.net.ns_switch;
    let h0 = &n.net.hosts[0].ns;
    n.d.db.vsctl_ok(&[
        "add-br",
        "br-int",
        "--",
        "set",
        "Bridge",
        "br-int",
        "other_config:hwaddr=02:aa:bb:cc:dd:07",
    ]);
    n.d.db.vsctl_ok(&["add-port", "br-int", n.port(0)]);
    n.d.db.vsctl_ok(&[
        "add-port",
        "br-int",
        "vi0",
        "--",
        "set",
        "Interface",
        "vi0",
        "type=internal",
    ]);
    // The host on two subnets: the bridge's interface on one, vi0 on the other.
    h0.ip(&["addr", "add", "10.0.1.1/24", "dev", &n.net.hosts[0].host_if]);
    configure(sw, "br-int", "10.0.0.8/24");
    configure(sw, "vi0", "10.0.1.9/24");
    assert!(ping(h0, "10.0.0.8"), "{}", n.d.log());
    assert!(ping(h0, "10.0.1.9"));
    let vi0 = n.ofport("vi0");
    assert_eq!(n.ofport("br-int"), 65534);

    for (dev, ofport, cidr, ip) in [
        ("br-int", 65534, "10.0.0.8/24", "10.0.0.8"),
        ("vi0", vi0, "10.0.1.9/24", "10.0.1.9"),
    ] {
        sw.ip(&["link", "del", dev]);
        wait_for(&format!("{dev} made again"), Duration::from_secs(3), || {
            link_exists(sw, dev)
        });
        // The same number, no error, and (the bridge's) the hwaddr again.
        wait_for(
            &format!("{dev} written back"),
            Duration::from_secs(3),
            || n.ofport(dev) == ofport && n.get(dev, "error") == "[]",
        );
        if dev == "br-int" {
            wait_for("the hwaddr again", Duration::from_secs(3), || {
                kernel_mac(sw, dev) == "02:aa:bb:cc:dd:07"
            });
        }
        // Attached to the datapath again: what the host configures on it works.
        configure(sw, dev, cidr);
        assert!(reaches(h0, ip), "{dev}: {}", n.d.ok(&["show"]));
    }
    let log = n.d.log();
    assert_eq!(
        log.matches("created again and attached").count(),
        2,
        "{log}"
    );
    assert!(n.d.is_running());
}
