//! Controllers from the database (`ovs-vsctl set-controller`), with a small OpenFlow
//! 1.3 controller in the test: xvsd connects, answers HELLO/FEATURES (the datapath id
//! of `Bridge.datapath_id`)/PORT_DESC/ECHO, `Controller.is_connected` follows,
//! reconnection with backoff, inactivity probes, fail modes (fail-open, secure),
//! flow-restore-wait, `Bridge.protocols`, passive targets. xvsd runs with
//! `--datapath none`. Needs the openvswitch packages; fails loudly without them.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::daemon::Xvsd;
use common::ofconn::*;
use common::ovsdb::Ovsdb;

const DPID: &str = "0000aabbccddeeff";

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The flows of br-int as `dump-flows` prints them, without the header.
fn flows(dir: &Path) -> Vec<String> {
    ofctl_ok(dir, &["dump-flows", "br-int"])
        .lines()
        .skip(1)
        .map(|l| l.split(" priority=").nth(1).unwrap_or(l).to_string())
        .collect()
}

/// A `Controller` column of br-int's (only) controller.
fn column(db: &Ovsdb, col: &str) -> String {
    db.vsctl_ok(&["--bare", &format!("--columns={col}"), "list", "Controller"])
}

/// `ovs-vsctl set-controller br-int TARGET` with the controller's `settings`, in one
/// transaction (a change of settings makes a new connection, as in OVS).
fn set_controller(db: &Ovsdb, target: &str, settings: &[&str]) {
    let mut args = vec!["set-controller", "br-int", target];
    if !settings.is_empty() {
        args.extend(["--", "set", "controller", "br-int"]);
        args.extend(settings);
    }
    db.vsctl_ok(&args);
}

/// xvsd with br-int (fixed datapath id, ports p1 and p2) and `fail_mode`.
fn xvsd(name: &str, fail_mode: &str) -> Xvsd {
    let d = Xvsd::start(&Xvsd::dir(name), &["--datapath", "none"]);
    d.db.vsctl_ok(&[
        "add-br",
        "br-int",
        "--",
        "set",
        "bridge",
        "br-int",
        &format!("other-config:datapath-id={DPID}"),
        &format!("fail_mode={fail_mode}"),
    ]);
    for (p, n) in [("p1", "1"), ("p2", "2")] {
        d.db.vsctl_ok(&[
            "add-port",
            "br-int",
            p,
            "--",
            "set",
            "interface",
            p,
            &format!("ofport_request={n}"),
        ]);
    }
    let mgmt = d.dir.join("br-int.mgmt");
    wait_for("the management socket", Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(&mgmt).is_ok()
    });
    d
}

/// The test's controller: listens on 127.0.0.1.
struct Controller {
    listener: TcpListener,
}

impl Controller {
    fn new() -> Controller {
        Self::on(0)
    }

    fn on(port: u16) -> Controller {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        Controller { listener }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    fn target(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port())
    }

    /// The next connection from xvsd within `limit`, HELLOs exchanged (OF1.3).
    fn accept(&self, limit: Duration) -> Option<OfConn> {
        let start = Instant::now();
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    return Some(OfConn::controller(s, 4));
                }
                Err(_) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => return None,
            }
        }
    }
}

/// What os-ken does after the HELLOs: FEATURES (returns the datapath id) and
/// PORT_DESC (returns the port numbers).
fn features_and_ports(c: &mut OfConn) -> (u64, Vec<u32>) {
    let f = c.request(&msg(4, OFPT_FEATURES_REQUEST, 10, &[]));
    assert_eq!(f.len(), 1);
    assert_eq!((msg_type(&f[0]), xid(&f[0])), (OFPT_FEATURES_REPLY, 10));
    let dpid = u64::from_be_bytes(f[0][8..16].try_into().unwrap());
    let pd = c.request(&msg(
        4,
        OF13_MULTIPART_REQUEST,
        11,
        &[0, 13, 0, 0, 0, 0, 0, 0],
    ));
    assert_eq!(pd.len(), 1);
    assert_eq!((msg_type(&pd[0]), xid(&pd[0])), (OF13_MULTIPART_REPLY, 11));
    let ports = pd[0][16..]
        .chunks(64)
        .map(|p| u32::from_be_bytes(p[..4].try_into().unwrap()))
        .collect();
    (dpid, ports)
}

/// An OF1.3 FLOW_MOD ADD: in_port exact, output to `out` (as os-ken sends it).
fn of13_add_flow(xid: u32, priority: u16, in_port: u32, out: u32) -> Vec<u8> {
    let mut b = vec![0; 16];
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&priority.to_be_bytes());
    b.extend_from_slice(&[0xff; 12]);
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&[0, 1, 0, 12, 0x80, 0, 0, 4]);
    b.extend_from_slice(&in_port.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&[0, 4, 0, 24, 0, 0, 0, 0]); // APPLY_ACTIONS
    b.extend_from_slice(&[0, 0, 0, 16]);
    b.extend_from_slice(&out.to_be_bytes());
    b.extend_from_slice(&[0; 8]);
    msg(4, OFPT_FLOW_MOD, xid, &b)
}

#[test]
fn a_controller_gets_the_switch_and_is_reconnected_with_backoff() {
    let x = xvsd("ctl-basic", "secure");
    let ctl = Controller::new();
    let target = ctl.target();
    set_controller(&x.db, &target, &["max_backoff=1000"]);
    let mut c = ctl.accept(Duration::from_secs(10)).expect("xvsd connects");
    let (dpid, ports) = features_and_ports(&mut c);
    assert_eq!(format!("{dpid:016x}"), DPID);
    assert_eq!(
        x.db.vsctl_ok(&["get", "bridge", "br-int", "datapath_id"]),
        format!("\"{DPID}\"")
    );
    assert_eq!(
        ports,
        [1, 2, 0xffff_fffe],
        "LOCAL is 0xfffffffe in OpenFlow 1.3"
    );
    let echo = c.request(&msg(4, OFPT_ECHO_REQUEST, 12, b"os-ken"));
    assert_eq!(
        (msg_type(&echo[0]), &echo[0][8..]),
        (OFPT_ECHO_REPLY, &b"os-ken"[..])
    );
    wait_for("is_connected", Duration::from_secs(5), || {
        column(&x.db, "is_connected") == "true"
    });
    assert_eq!(column(&x.db, "role"), "other");
    assert!(
        column(&x.db, "status").contains("state=ACTIVE"),
        "{}",
        column(&x.db, "status")
    );
    // Roles: os-ken does not ask, but other controllers do.
    let mut role = vec![0, 0, 0, 2, 0, 0, 0, 0];
    role.extend_from_slice(&7u64.to_be_bytes());
    let r = c.request(&msg(4, 24, 14, &role));
    assert_eq!(
        (msg_type(&r[0]), &r[0][8..12]),
        (25, &[0, 0, 0, 2][..]),
        "ROLE_REPLY master"
    );
    wait_for("role master", Duration::from_secs(5), || {
        column(&x.db, "role") == "master"
    });
    // A flow from the controller shows in ovs-ofctl's dump.
    assert!(c.request(&of13_add_flow(13, 9, 1, 2)).is_empty());
    assert_eq!(flows(&x.dir), ["9,in_port=1 actions=output:2"]);

    // The controller goes: not connected any more.
    let port = ctl.port();
    drop(c);
    drop(ctl);
    wait_for("is_connected false", Duration::from_secs(5), || {
        column(&x.db, "is_connected") == "false"
    });
    let status = column(&x.db, "status");
    assert!(status.contains("last_error="), "{status}");
    // It comes back: xvsd reconnects (max_backoff 1 s).
    let ctl = Controller::on(port);
    let t = Instant::now();
    let mut c = ctl.accept(Duration::from_secs(5)).expect("xvsd reconnects");
    eprintln!("reconnected after {:?}", t.elapsed());
    let (dpid, _) = features_and_ports(&mut c);
    assert_eq!(format!("{dpid:016x}"), DPID);
    wait_for("is_connected again", Duration::from_secs(5), || {
        column(&x.db, "is_connected") == "true"
    });
    assert_eq!(
        flows(&x.dir),
        ["9,in_port=1 actions=output:2"],
        "secure: the flows stayed"
    );
}

#[test]
fn an_unanswered_inactivity_probe_drops_the_connection() {
    let x = xvsd("ctl-probe", "secure");
    let ctl = Controller::new();
    set_controller(
        &x.db,
        &ctl.target(),
        &["inactivity_probe=5000", "max_backoff=1000"],
    );
    let mut c = ctl.accept(Duration::from_secs(10)).expect("xvsd connects");
    let t = Instant::now();
    let probe = loop {
        let m = c.recv(Duration::from_secs(10)).expect("an echo request");
        if msg_type(&m) == OFPT_ECHO_REQUEST {
            break t.elapsed();
        }
    };
    assert!(
        probe >= Duration::from_millis(4500) && probe < Duration::from_secs(7),
        "probe after {probe:?}"
    );
    // Unanswered: dropped one interval later. xvsd times it from when it sent the
    // probe; this thread may have read it late on a busy machine (a run with the
    // machine loaded saw 4.4 s), hence the slack.
    let t = Instant::now();
    assert!(c.closed_within(Duration::from_secs(8)), "not dropped");
    let dropped = t.elapsed();
    assert!(
        dropped >= Duration::from_millis(3500),
        "dropped after {dropped:?}"
    );
    wait_for(
        "the probe in status:last_error",
        Duration::from_secs(3),
        || column(&x.db, "status").contains("no response to inactivity probe"),
    );
    // And reconnected.
    assert!(ctl.accept(Duration::from_secs(5)).is_some());
}

#[test]
fn standalone_fails_open_when_its_controller_is_gone_and_recovers() {
    let x = xvsd("ctl-failopen", "standalone");
    assert_eq!(
        flows(&x.dir),
        ["0 actions=NORMAL"],
        "standalone, no controller"
    );
    ofctl_ok(
        &x.dir,
        &[
            "add-flow",
            "br-int",
            "priority=3,in_port=1,actions=output:2",
        ],
    );
    // A controller nobody answers at yet, probes off: fail-open after 1 s.
    let port = Controller::new().port();
    let target = format!("tcp:127.0.0.1:{port}");
    set_controller(&x.db, &target, &["inactivity_probe=0", "max_backoff=1000"]);
    // Getting a controller flushed the flows (no NORMAL: there is a controller).
    wait_for("flows flushed", Duration::from_secs(5), || {
        flows(&x.dir).is_empty()
    });
    let trace = || x.ok(&["trace", "br-int", "in_port=1,dl_dst=fa:16:3e:00:00:09"]);
    wait_for("fail-open", Duration::from_secs(10), || {
        trace().contains("priority 65535")
    });
    let t = trace();
    assert!(t.contains("NORMAL"), "{t}");
    assert!(flows(&x.dir).is_empty(), "the fail-open rule is hidden");
    assert!(x.log().contains("failing open"));

    // The controller comes and sends a flow: admitted, fail-open ends.
    let ctl = Controller::on(port);
    let mut c = ctl.accept(Duration::from_secs(5)).expect("xvsd connects");
    features_and_ports(&mut c);
    assert!(c.request(&of13_add_flow(20, 4, 2, 1)).is_empty());
    wait_for("fail-open over", Duration::from_secs(5), || {
        !trace().contains("priority 65535")
    });
    assert_eq!(flows(&x.dir), ["4,in_port=2 actions=output:1"]);

    // No controller any more: flushed, NORMAL back.
    x.db.vsctl_ok(&["del-controller", "br-int"]);
    wait_for("NORMAL back", Duration::from_secs(5), || {
        flows(&x.dir) == ["0 actions=NORMAL"]
    });
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "the removed controller's connection stays"
    );
}

#[test]
fn secure_keeps_its_flows_when_the_controller_goes() {
    let x = xvsd("ctl-secure", "secure");
    assert!(flows(&x.dir).is_empty(), "secure: no NORMAL");
    let ctl = Controller::new();
    set_controller(&x.db, &ctl.target(), &["inactivity_probe=0"]);
    let mut c = ctl.accept(Duration::from_secs(10)).expect("xvsd connects");
    assert!(c.request(&of13_add_flow(1, 7, 1, 2)).is_empty());
    drop(c);
    drop(ctl);
    wait_for("is_connected false", Duration::from_secs(5), || {
        column(&x.db, "is_connected") == "false"
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(flows(&x.dir), ["7,in_port=1 actions=output:2"]);
    let t = x.ok(&["trace", "br-int", "in_port=1,dl_dst=fa:16:3e:00:00:09"]);
    assert!(
        !t.contains("priority 65535"),
        "a secure bridge never fails open: {t}"
    );
}

#[test]
fn flow_restore_wait_withholds_controllers_and_keeps_the_restored_flows() {
    let mut x = xvsd("ctl-restore", "secure");
    let ctl = Controller::new();
    set_controller(&x.db, &ctl.target(), &[]);
    assert!(ctl.accept(Duration::from_secs(10)).is_some());
    x.stop();
    x.db.vsctl_ok(&[
        "--no-wait",
        "set",
        "open_vswitch",
        ".",
        "other_config:flow-restore-wait=true",
    ]);
    while ctl.accept(Duration::from_millis(100)).is_some() {}
    x.restart();
    let mgmt = x.dir.join("br-int.mgmt");
    wait_for("the management socket", Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(&mgmt).is_ok()
    });
    // Flows are restored through the management socket; no controller meanwhile.
    ofctl_ok(
        &x.dir,
        &[
            "add-flow",
            "br-int",
            "priority=8,in_port=2,actions=output:1",
        ],
    );
    assert!(
        ctl.accept(Duration::from_secs(3)).is_none(),
        "connected during flow-restore-wait"
    );
    assert_eq!(column(&x.db, "is_connected"), "false");
    x.db.vsctl_ok(&[
        "remove",
        "open_vswitch",
        ".",
        "other_config",
        "flow-restore-wait",
    ]);
    let mut c = ctl
        .accept(Duration::from_secs(10))
        .expect("connects once the wait is over");
    features_and_ports(&mut c);
    assert_eq!(
        flows(&x.dir),
        ["8,in_port=2 actions=output:1"],
        "the restored flows stay"
    );
}

#[test]
fn versions_come_from_bridge_protocols_and_a_change_renegotiates() {
    let x = xvsd("ctl-protocols", "secure");
    x.db.vsctl_ok(&["set", "bridge", "br-int", "protocols=OpenFlow13"]);
    let o = ofctl(&x.dir, &["show", "br-int"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("version negotiation failed"), "{err}");
    assert!(ofctl_ok(&x.dir, &["-O", "OpenFlow13", "show", "br-int"]).contains(DPID));

    let ctl = Controller::new();
    set_controller(&x.db, &ctl.target(), &[]);
    let mut c = ctl.accept(Duration::from_secs(10)).expect("xvsd connects");
    features_and_ports(&mut c);
    x.db.vsctl_ok(&[
        "set",
        "bridge",
        "br-int",
        "protocols=OpenFlow10,OpenFlow13,OpenFlow14",
    ]);
    assert!(c.closed_within(Duration::from_secs(5)), "not renegotiated");
    let mut c = ctl
        .accept(Duration::from_secs(5))
        .expect("xvsd reconnects at once");
    features_and_ports(&mut c);
    assert!(ofctl(&x.dir, &["show", "br-int"]).status.success());
}

#[test]
fn a_passive_target_is_listened_on() {
    let x = xvsd("ctl-passive", "secure");
    let port = Controller::new().port();
    x.db.vsctl_ok(&[
        "set-controller",
        "br-int",
        &format!("ptcp:{port}:127.0.0.1"),
    ]);
    let start = Instant::now();
    let s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("ptcp:{port}: {e}"),
        }
    };
    let mut c = OfConn::controller(s, 4);
    let (dpid, _) = features_and_ports(&mut c);
    assert_eq!(format!("{dpid:016x}"), DPID);
    // OVS reports nothing of passive targets.
    assert_eq!(column(&x.db, "is_connected"), "false");
    // A passive target is a service, not a controller: NORMAL is not flushed away
    // from a standalone bridge for it (this bridge is secure: nothing to see), and
    // it does not count for fail-open.
    x.db.vsctl_ok(&["del-controller", "br-int"]);
    assert!(c.closed_within(Duration::from_secs(5)));
}
