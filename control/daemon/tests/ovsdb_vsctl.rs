//! xvsd in ovs-vswitchd's place under the real ovsdb-server, configured with the
//! unmodified ovs-vsctl (without --no-wait: it waits for xvsd's cur_cfg), with real
//! traffic through AF_XDP after each change. Needs root and the openvswitch packages;
//! fails loudly without them.

mod common;

use std::process::Command;

use common::daemon::Xvsd;
use common::db_node::DbNode;

fn node(name: &str, hosts: usize) -> DbNode {
    DbNode::new(name, hosts)
}

#[test]
fn ovs_vsctl_configures_xvs_and_traffic_follows() {
    let n = node("vsctl", 3);
    n.d.db.vsctl_ok(&["add-br", "br-int"]);
    // The bridge's own interface is LOCAL, as in OVS.
    assert_eq!(n.ofport("br-int"), 65534);
    let dpid = n.d.db.vsctl_ok(&["get", "Bridge", "br-int", "datapath_id"]);
    assert_eq!(dpid.trim_matches('"').len(), 16, "{dpid}");
    for (i, tag) in [(0, "1"), (1, "1"), (2, "2")] {
        n.d.db.vsctl_ok(&[
            "--may-exist",
            "add-port",
            "br-int",
            n.port(i),
            &format!("tag={tag}"),
        ]);
    }
    // Again: --may-exist changes nothing.
    n.d.db
        .vsctl_ok(&["--may-exist", "add-port", "br-int", n.port(0), "tag=1"]);
    let ports = n.d.db.vsctl_ok(&["list-ports", "br-int"]);
    for i in 0..3 {
        assert!(ports.contains(n.port(i)), "{ports}");
    }
    let ofports: Vec<i64> = (0..3).map(|i| n.ofport(n.port(i))).collect();
    assert!(ofports.iter().all(|&p| p >= 1), "{ofports:?}");
    assert!(n.pings(0, 1), "same tag");
    assert!(!n.pings(0, 2), "another tag");

    // Neutron binds a port by changing its tag in place: same ofport, new VLAN, and,
    // as in OVS, its netdev stays attached (the same datapath port, no gap).
    let datapath_line = |n: &DbNode, port: &str| {
        let show = n.d.ok(&["show"]);
        let mut lines = show
            .lines()
            .skip_while(|l| !l.contains(&format!("Port {port}")));
        lines
            .find(|l| l.contains("datapath: port"))
            .unwrap_or_else(|| panic!("no datapath line for {port}: {show}"))
            .to_string()
    };
    let attached = datapath_line(&n, n.port(2));
    n.d.db.vsctl_ok(&["set", "Port", n.port(2), "tag=1"]);
    assert_eq!(n.ofport(n.port(2)), ofports[2]);
    assert_eq!(datapath_line(&n, n.port(2)), attached);
    assert!(!n.d.log().contains("XDP detached"), "{}", n.d.log());
    assert!(n.pings(0, 2), "now on the same tag");
    // A native-untagged trunk: its untagged frames are in VLAN `tag`, which leaves it
    // untagged; native-tagged sends VLAN 1 tagged, which host 2's plain interface drops.
    n.d.db
        .vsctl_ok(&["set", "Port", n.port(2), "vlan_mode=native-untagged"]);
    assert_eq!(n.ofport(n.port(2)), ofports[2]);
    assert!(n.pings(0, 2), "native-untagged");
    n.d.db
        .vsctl_ok(&["set", "Port", n.port(2), "vlan_mode=native-tagged"]);
    assert!(!n.pings(0, 2), "native-tagged");
    n.d.db.vsctl_ok(&["clear", "Port", n.port(2), "vlan_mode"]);
    assert!(n.pings(0, 2), "access again");
    // ... and kills one with tag 4095, trunk 4095 only.
    n.d.db.vsctl_ok(&[
        "set",
        "Port",
        n.port(1),
        "tag=4095",
        "vlan_mode=trunk",
        "trunks=4095",
    ]);
    assert_eq!(n.ofport(n.port(1)), ofports[1]);
    assert!(!n.pings(0, 1), "a dead port carries nothing");

    // Removed, and added again: a new number (a flow may still name the old one).
    n.d.db.vsctl_ok(&["del-port", "br-int", n.port(1)]);
    assert!(!n
        .d
        .db
        .vsctl_ok(&["list-ports", "br-int"])
        .contains(n.port(1)));
    n.d.db.vsctl_ok(&["add-port", "br-int", n.port(1), "tag=1"]);
    assert_ne!(n.ofport(n.port(1)), ofports[1]);
    assert!(n.pings(0, 1));

    let show = n.d.db.vsctl_ok(&["show"]);
    assert!(show.contains("Bridge br-int"), "{show}");
    // xvsctl's configuration commands are database transactions: one source of truth.
    n.d.ok(&["add-br", "br-x"]);
    assert!(n.d.db.vsctl_ok(&["list-br"]).contains("br-x"));
    let ofport =
        n.d.ok(&["--json", "add-port", "br-x", "px", "type=internal", "tag=5"]);
    assert!(ofport.contains("\"ofport\""), "{ofport}");
    assert_eq!(n.d.db.vsctl_ok(&["get", "Port", "px", "tag"]), "5");
    // A port the switch cannot open is refused, and leaves nothing behind.
    let e = n.d.fails(&["add-port", "br-x", "tap-nowhere"]);
    assert!(
        e.contains("could not open network device tap-nowhere"),
        "{e}"
    );
    assert!(!n
        .d
        .db
        .vsctl_ok(&["list-ports", "br-x"])
        .contains("tap-nowhere"));
    let e = n.d.fails(&["add-br", "br-x"]);
    assert!(e.contains("already exists"), "{e}");
    n.d.ok(&["del-br", "br-x"]);
    assert!(!n.d.db.vsctl_ok(&["list-br"]).contains("br-x"));
    assert!(n.d.ok(&["show"]).contains(n.port(0)));
}

#[test]
fn bad_configuration_lands_in_interface_error_and_others_keep_forwarding() {
    let n = node("vsctl-bad", 2);
    n.d.db.vsctl_ok(&["add-br", "br-int"]);
    for i in 0..2 {
        n.d.db.vsctl_ok(&["add-port", "br-int", n.port(i), "tag=1"]);
    }
    // A missing netdev: ovs-vsctl exits 0 and prints the error, as with OVS.
    let o = n.d.db.vsctl(&["add-port", "br-int", "tap-missing"]);
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("could not open network device tap-missing (No such device)"),
        "{stderr}"
    );
    assert_eq!(n.ofport("tap-missing"), -1);
    // A tunnel without remote_ip, an unknown type, a bad option value.
    n.d.db.vsctl(&[
        "add-port",
        "br-int",
        "gre-2",
        "--",
        "set",
        "Interface",
        "gre-2",
        "type=gre",
    ]);
    assert_eq!(
        n.d.db.vsctl_ok(&["get", "Interface", "gre-2", "error"]),
        "\"gre-2: gre type requires valid 'remote_ip' argument\""
    );
    n.d.db.vsctl(&[
        "add-port",
        "br-int",
        "gn0",
        "--",
        "set",
        "Interface",
        "gn0",
        "type=geneve",
    ]);
    assert!(n
        .d
        .db
        .vsctl_ok(&["get", "Interface", "gn0", "error"])
        .contains("geneve"));
    n.d.db.vsctl(&[
        "add-port",
        "br-int",
        "vx0",
        "--",
        "set",
        "Interface",
        "vx0",
        "type=vxlan",
        "options:remote_ip=not-an-ip",
    ]);
    assert!(n
        .d
        .db
        .vsctl_ok(&["get", "Interface", "vx0", "error"])
        .contains("remote_ip"));
    // Options xvs does not implement: ignored, with a note in status, not an error.
    n.d.db.vsctl_ok(&[
        "add-port",
        "br-int",
        "vx1",
        "--",
        "set",
        "Interface",
        "vx1",
        "type=vxlan",
        "options:remote_ip=192.0.2.7",
        "options:key=flow",
        "options:df_default=true",
        "options:tos=inherit",
    ]);
    assert!(n.ofport("vx1") >= 1);
    assert_eq!(n.get("vx1", "error"), "[]");
    assert_eq!(
        n.get("vx1", "status"),
        "{xvs_ignored_options=\"df_default,tos\"}"
    );
    // Two interfaces asking for one OpenFlow number: the second is refused.
    n.d.db.vsctl_ok(&[
        "add-port",
        "br-int",
        "pa",
        "--",
        "set",
        "Interface",
        "pa",
        "type=internal",
        "ofport_request=7",
    ]);
    n.d.db.vsctl(&[
        "add-port",
        "br-int",
        "pb",
        "--",
        "set",
        "Interface",
        "pb",
        "type=internal",
        "ofport_request=7",
    ]);
    assert_eq!(n.ofport("pa"), 7);
    assert_eq!(n.ofport("pb"), -1);
    assert!(n
        .d
        .db
        .vsctl_ok(&["get", "Interface", "pb", "error"])
        .contains("7"));
    // A patch port whose peer does not exist yet: a number at once, and an error until
    // the peer appears (the number stays).
    n.d.db.vsctl_ok(&["add-br", "br-tun"]);
    n.d.db.vsctl(&[
        "add-port",
        "br-int",
        "patch-tun",
        "--",
        "set",
        "Interface",
        "patch-tun",
        "type=patch",
        "options:peer=patch-int",
    ]);
    let patch_ofport = n.ofport("patch-tun");
    assert!(patch_ofport >= 1);
    assert!(n
        .d
        .db
        .vsctl_ok(&["get", "Interface", "patch-tun", "error"])
        .contains("patch-int"));
    n.d.db.vsctl_ok(&[
        "add-port",
        "br-tun",
        "patch-int",
        "--",
        "set",
        "Interface",
        "patch-int",
        "type=patch",
        "options:peer=patch-tun",
    ]);
    assert_eq!(
        n.d.db.vsctl_ok(&["get", "Interface", "patch-tun", "error"]),
        "[]"
    );
    assert_eq!(n.ofport("patch-tun"), patch_ofport);
    // xvsd is still there, and the good ports forward.
    assert!(n.d.ok(&["show"]).contains("br-tun"));
    assert!(n.pings(0, 1));
}

#[test]
fn restarts_keep_ofports_and_datapath_ids() {
    let mut n = node("vsctl-restart", 2);
    n.d.db.vsctl_ok(&["add-br", "br-int"]);
    for i in 0..2 {
        n.d.db.vsctl_ok(&["add-port", "br-int", n.port(i), "tag=1"]);
    }
    let before: Vec<i64> = (0..2).map(|i| n.ofport(n.port(i))).collect();
    let dpid = n.d.db.vsctl_ok(&["get", "Bridge", "br-int", "datapath_id"]);
    assert!(n.pings(0, 1));

    n.d.restart();
    // The database applies again (ovs-vsctl's write waits for it).
    n.d.db
        .vsctl_ok(&["set", "Bridge", "br-int", "external_ids:restarted=1"]);
    let after: Vec<i64> = (0..2).map(|i| n.ofport(n.port(i))).collect();
    assert_eq!(before, after);
    assert_eq!(
        n.d.db.vsctl_ok(&["get", "Bridge", "br-int", "datapath_id"]),
        dpid
    );
    assert!(n.pings(0, 1), "traffic is back after an xvsd restart");

    // ovsdb-server goes away and comes back: forwarding never stops meanwhile.
    n.d.db.stop();
    assert!(n.pings(0, 1), "forwarding without the database");
    n.d.db.restart();
    n.d.db.vsctl_ok(&["set", "Port", n.port(1), "tag=2"]);
    assert!(!n.pings(0, 1), "the change after the reconnect applies");
    assert!(n.d.is_running());
}

#[test]
fn a_second_vswitchd_on_the_same_database_is_refused() {
    let mut n = node("vsctl-lock", 1);
    n.d.db.vsctl_ok(&["add-br", "br-int"]);
    let dir2 = Xvsd::dir("vsctl-lock-2");
    let out = Command::new(env!("CARGO_BIN_EXE_xvsd"))
        .arg("--socket")
        .arg(dir2.join("xvsd.sock"))
        .args(["--datapath", "none"])
        .arg(n.d.db.remote())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ovs_vswitchd"), "{err}");
    assert!(n.d.is_running());
    let _ = std::fs::remove_dir_all(dir2);
}

#[test]
fn a_port_whose_mtu_does_not_fit_a_umem_frame_is_refused_with_the_numbers() {
    let n = node("vsctl-mtu", 3);
    n.d.db.vsctl_ok(&["add-br", "br-int"]);
    for i in 0..2 {
        n.d.db.vsctl_ok(&["add-port", "br-int", n.port(i), "tag=1"]);
    }
    // A jumbo MTU: the kernel would drop every frame over one UMEM frame, so the port is
    // refused when attached, and says why.
    let jumbo = n.port(2).to_string();
    n.net.ns_switch.ip(&["link", "set", &jumbo, "mtu", "9000"]);
    n.d.db.vsctl(&["add-port", "br-int", &jumbo, "tag=1"]);
    let error = n.get(&jumbo, "error");
    assert!(
        error.contains("MTU 9000") && error.contains("3818") && error.contains("jumbo"),
        "{error}"
    );
    assert_eq!(n.ofport(&jumbo), -1);
    assert!(n.pings(0, 1), "the other ports keep forwarding");
    // At the largest MTU that fits, the same netdev is taken (a change to the row makes
    // the bridge layer try again).
    n.net.ns_switch.ip(&["link", "set", &jumbo, "mtu", "3818"]);
    n.d.db.vsctl_ok(&["del-port", "br-int", &jumbo]);
    n.d.db.vsctl_ok(&["add-port", "br-int", &jumbo, "tag=1"]);
    assert!(n.ofport(&jumbo) >= 1);
    assert_eq!(n.get(&jumbo, "error"), "[]");
    assert!(n.pings(2, 0), "the port forwards at the largest MTU");
}
