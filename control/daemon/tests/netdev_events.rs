//! Ports following their netdevs through rtnetlink link notifications: a port added
//! before its netdev exists (os-vif adds it before libvirt creates the tap) is attached
//! the moment the netdev appears; a netdev deleted and created again under traffic is
//! attached again, with the same OpenFlow number, without any command. Under the real
//! ovsdb-server, configured with the unmodified ovs-vsctl and with xvsctl.
//! Needs root and the openvswitch packages; fails loudly without them.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::daemon::Xvsd;
use common::db_node::DbNode;
use xvs_dataplane::testnet::{
    mac_of, require_root, run, test_frame, test_frame_tag, unique_name, Netns, SwitchNet,
};

/// A background ping, killed on drop (also when the test fails).
struct Pinger(Child);

impl Pinger {
    /// `ping -i 0.05` from `ns` to `ip`, until dropped.
    fn start(ns: &Netns, ip: &str) -> Pinger {
        Pinger(
            Command::new("ip")
                .args(["netns", "exec", ns.name(), "ping", "-q", "-i", "0.05", ip])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ping_once(ns: &Netns, ip: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns.name(), "ping", "-c", "1", "-W", "1", ip])
        .output()
        .unwrap()
        .status
        .success()
}

/// How long until host `ns` reaches `ip` (a ping every 50 ms; panics after 10 s).
fn time_to_ping(ns: &Netns, ip: &str) -> Duration {
    let start = Instant::now();
    loop {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns.name(),
                "ping",
                "-c",
                "1",
                "-W",
                "0.2",
                ip,
            ])
            .output()
            .unwrap();
        if o.status.success() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{ip} still unreachable after 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `cond` every 5 ms until it holds; how long that took (panics after `limit`).
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if cond() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A veth pair `sw_if` (in `sw`) <-> `host_if` (in `host`), created in one `ip link add`,
/// the host end with `mac` when given. Removed with the namespaces.
fn create_pair(sw: &Netns, sw_if: &str, host: &Netns, host_if: &str, mac: Option<&str>) {
    let mut args = vec!["link", "add", sw_if, "netns", sw.name()];
    args.extend(["type", "veth", "peer", "name", host_if]);
    if let Some(m) = mac {
        args.extend(["address", m]);
    }
    args.extend(["netns", host.name()]);
    run("ip", &args);
}

/// The rest of what a test veth needs, after [`create_pair`]: IPv6 off, up, GRO on, and
/// the host's address.
fn configure_pair(sw: &Netns, sw_if: &str, host: &Netns, host_if: &str, ip: &str) {
    for (ns, i) in [(sw, sw_if), (host, host_if)] {
        ns.disable_ipv6(i);
        ns.ip(&["link", "set", i, "up"]);
        ns.gro_on(i);
    }
    host.ip(&["addr", "add", &format!("{ip}/24"), "dev", host_if]);
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ifindex_in(ns: &Netns, ifname: &str) -> i64 {
    let out = ns.ip(&["-o", "link", "show", ifname]);
    out.split(':').next().unwrap().trim().parse().unwrap()
}

/// xvsd under a private ovsdb-server in the switch namespace of `hosts` hosts, each
/// already a port of br-int on VLAN 1 with 10.0.0.(i+1).
fn db_node(name: &str, hosts: usize) -> DbNode {
    DbNode::with_br_int(name, hosts)
}

#[test]
fn a_port_added_before_its_netdev_is_attached_when_the_netdev_appears() {
    let n = db_node("late-tap", 1);
    let vm = Netns::new("vm");
    let (tap, vm_if) = (unique_name("tp"), unique_name("vi"));
    // os-vif first: the port, before libvirt creates the tap.
    let o = n.d.db.vsctl(&["add-port", "br-int", &tap, "tag=1"]);
    assert!(o.status.success());
    assert_eq!(n.ofport(&tap), -1);
    assert!(
        n.get(&tap, "error").contains(&format!(
            "could not open network device {tap} (No such device)"
        )),
        "{}",
        n.get(&tap, "error")
    );

    // ovs-vsctl wait-until, connected before the tap exists, returns when xvsd has
    // written the new ofport back.
    let mut waiter = Command::new("ovs-vsctl")
        .env("OVS_RUNDIR", &n.d.db.dir)
        .arg(format!("--db={}", n.d.db.remote()))
        .args(["--timeout=10", "wait-until", "Interface", &tap, "ofport>0"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let created = Instant::now();
    create_pair(&n.net.ns_switch, &tap, &vm, &vm_if, None);
    let status = waiter.wait().unwrap();
    let latency = created.elapsed();
    assert!(status.success(), "wait-until failed: {}", n.d.log());
    eprintln!("attach latency (ip link add returned -> ofport in the database, through ovs-vsctl wait-until): {latency:?}");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    let ofport = n.ofport(&tap);
    assert!(ofport >= 1);
    assert_eq!(n.get(&tap, "error"), "[]");

    // The tap was attached while still down; libvirt brings it up afterwards.
    configure_pair(&n.net.ns_switch, &tap, &vm, &vm_if, "10.0.0.9");
    assert!(
        ping_once(&n.net.hosts[0].ns, "10.0.0.9"),
        "{}",
        n.d.ok(&["show"])
    );
    // What ovs-vswitchd writes back about the netdev.
    wait_for("link_state up", Duration::from_secs(2), || {
        n.get(&tap, "link_state") == "up"
    });
    assert_eq!(
        n.get(&tap, "mac_in_use"),
        format!("\"{}\"", mac_text(mac_of(Some(&n.net.ns_switch), &tap)))
    );
    assert_eq!(
        n.get(&tap, "ifindex").parse::<i64>().unwrap(),
        ifindex_in(&n.net.ns_switch, &tap)
    );
    assert_eq!(n.get(&tap, "mtu"), "1500");
    // The VM side going down drops the carrier: link_state follows.
    vm.ip(&["link", "set", &vm_if, "down"]);
    wait_for("link_state down", Duration::from_secs(2), || {
        n.get(&tap, "link_state") == "down"
    });
    vm.ip(&["link", "set", &vm_if, "up"]);
    wait_for("link_state up again", Duration::from_secs(2), || {
        n.get(&tap, "link_state") == "up"
    });
    assert_eq!(n.ofport(&tap), ofport);
}

#[test]
fn a_netdev_deleted_and_created_again_under_traffic_is_attached_again() {
    let mut n = db_node("recreate", 2);
    let (sw, h1) = (&n.net.ns_switch, &n.net.hosts[1]);
    assert!(ping_once(&n.net.hosts[0].ns, "10.0.0.2"));
    let ofport = n.ofport(&h1.switch_if);
    let ofport0 = n.ofport(&n.net.hosts[0].switch_if);
    let host_mac = mac_text(h1.host_mac);
    // Traffic all along: pings every 50 ms, and a stream of raw frames from h0 to h1's
    // MAC (bursts of 16 every millisecond), sent to the port while it dies and returns.
    let _pings = Pinger::start(&n.net.hosts[0].ns, "10.0.0.2");
    let stop = AtomicBool::new(false);
    let sent = AtomicU32::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let sock = n.net.host_socket(0);
            let (dst, src) = (n.net.hosts[1].host_mac, n.net.hosts[0].host_mac);
            let mut tag = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..16 {
                    let _ = sock.send(&test_frame(dst, src, tag, 60));
                    tag += 1;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            sent.store(tag, Ordering::Relaxed);
        });
        // A failed assertion below must end the sender too, or the scope never ends.
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop_sender = StopOnDrop(&stop);
        std::thread::sleep(Duration::from_millis(300));

        // Deleting the switch side deletes the pair.
        sw.ip(&["link", "del", &h1.switch_if]);
        let detached = wait_for("ofport -1", Duration::from_secs(2), || {
            n.ofport(&h1.switch_if) == -1
        });
        eprintln!("netdev deleted -> ofport -1 in the database: {detached:?}");
        assert!(n.get(&h1.switch_if, "error").contains("(No such device)"));
        assert!(n.d.ok(&["show"]).contains("No such device"));
        assert!(!ping_once(&n.net.hosts[0].ns, "10.0.0.2"));

        // Created again with the same names (and the VM's MAC): no ovs-vsctl command.
        let created = Instant::now();
        create_pair(sw, &h1.switch_if, &h1.ns, &h1.host_if, Some(&host_mac));
        let attached = wait_for("the same ofport again", Duration::from_secs(2), || {
            n.ofport(&h1.switch_if) == ofport
        });
        eprintln!("netdev created again -> ofport {ofport} back in the database: {attached:?} (polled with ovs-vsctl get, ~10 ms each; from the ip link add returning: {:?})", created.elapsed());
        assert_eq!(n.get(&h1.switch_if, "error"), "[]");
        configure_pair(sw, &h1.switch_if, &h1.ns, &h1.host_if, "10.0.0.2");
        let resumed = time_to_ping(&n.net.hosts[0].ns, "10.0.0.2");
        eprintln!(
                "forwarding resumed {resumed:?} after the pair was configured ({:?} after it was created)",
                created.elapsed()
            );
        assert!(
            resumed < Duration::from_secs(2),
            "{resumed:?}: {}",
            n.d.ok(&["show"])
        );
        assert_eq!(n.ofport(&h1.switch_if), ofport);
        assert_eq!(
            n.get(&h1.switch_if, "ifindex").parse::<i64>().unwrap(),
            ifindex_in(sw, &h1.switch_if)
        );
        // Both directions, and the other port never noticed.
        assert!(ping_once(&h1.ns, "10.0.0.1"));
        assert_eq!(n.ofport(&n.net.hosts[0].switch_if), ofport0);
        // The stream reaches the new netdev too.
        // (The pings arrive there too: any frame of the stream will do.)
        let rx = n.net.host_socket(1);
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut others = 0;
        let mut streamed = false;
        while !streamed && Instant::now() < deadline {
            match rx.recv(Duration::from_millis(100)) {
                Some(f) if test_frame_tag(&f).is_some() => streamed = true,
                Some(_) => others += 1,
                None => {}
            }
        }
        stop.store(true, Ordering::Relaxed);
        assert!(
            streamed,
            "no streamed frame reached the re-created netdev ({others} other frames)"
        );
    });
    eprintln!(
        "{} raw frames streamed from h0 towards the port during the test",
        sent.load(Ordering::Relaxed)
    );
    assert!(n.d.is_running());
}

#[test]
fn configured_through_xvsctl_a_port_follows_its_netdev_too() {
    require_root();
    let net = SwitchNet::new(2);
    let mut d = Xvsd::start_in(
        Some(net.ns_switch.name()),
        &Xvsd::dir("recreate-state"),
        &[],
    );
    d.ok(&["add-br", "br-int"]);
    for (i, h) in net.hosts.iter().enumerate() {
        d.ok(&["add-port", "br-int", &h.switch_if, "tag=1"]);
        h.ns.ip(&[
            "addr",
            "add",
            &format!("10.0.0.{}/24", i + 1),
            "dev",
            &h.host_if,
        ]);
    }
    let (sw, h1) = (&net.ns_switch, &net.hosts[1]);
    let host_mac = mac_text(h1.host_mac);
    assert!(ping_once(&net.hosts[0].ns, "10.0.0.2"));
    let before = d.ok(&["show"]);

    sw.ip(&["link", "del", &h1.switch_if]);
    wait_for("the port detached", Duration::from_secs(2), || {
        d.ok(&["show"]).contains(&format!(
            "could not open network device {} (No such device)",
            h1.switch_if
        ))
    });
    // Still configured, with its number: the configuration did not change.
    assert!(d.ok(&["show"]).contains(&format!("Port {}", h1.switch_if)));
    create_pair(sw, &h1.switch_if, &h1.ns, &h1.host_if, Some(&host_mac));
    let attached = wait_for("the port attached again", Duration::from_secs(2), || {
        !d.ok(&["show"]).contains("No such device")
    });
    eprintln!("through xvsctl: netdev created again -> attached (xvsctl show): {attached:?}");
    configure_pair(sw, &h1.switch_if, &h1.ns, &h1.host_if, "10.0.0.2");
    assert!(ping_once(&net.hosts[0].ns, "10.0.0.2"));
    assert_eq!(d.ok(&["show"]), before);

    // Restored without its netdev (xvsd restarted meanwhile): the database says why,
    // as ovs-vswitchd's would; then the netdev appears.
    sw.ip(&["link", "del", &h1.switch_if]);
    d.restart();
    let error = || d.db.vsctl_ok(&["get", "Interface", &h1.switch_if, "error"]);
    assert!(error().contains("No such device"), "{}", error());
    create_pair(sw, &h1.switch_if, &h1.ns, &h1.host_if, Some(&host_mac));
    wait_for("the restored port attached", Duration::from_secs(2), || {
        error() == "[]"
    });
    configure_pair(sw, &h1.switch_if, &h1.ns, &h1.host_if, "10.0.0.2");
    assert!(ping_once(&net.hosts[0].ns, "10.0.0.2"));
    assert_eq!(d.ok(&["show"]), before);
}
