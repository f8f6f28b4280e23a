//! The unmodified Debian `ovs-ofctl` against xvsd's management socket
//! (`$OVS_RUNDIR/br-int.mgmt`, no address given), next to a real `ovs-vswitchd
//! --enable-dummy` configured the same way: what it prints must be the same (port
//! addresses, durations and ages aside). Then what only xvs is asked here: malformed
//! messages, bundles that fail whole, a flooding connection and one that does not
//! read. xvsd runs with `--datapath none` (no root, no NIC). Needs the openvswitch
//! packages; fails loudly without them.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::daemon::Xvsd;
use common::ofconn::*;
use common::ovsdb::Ovsdb;
use common::real_ovs::RealOvs;

/// Replaces the digits after each `key` (and a following `.digits`) with `N`.
fn blank_numbers(text: &str, key: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        out.push_str(&rest[..i + key.len()]);
        rest = &rest[i + key.len()..];
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n > 0 {
            out.push('N');
        }
        rest = &rest[n..];
    }
    out.push_str(rest);
    out
}

/// What may differ between two switches: port addresses, durations, ages.
fn normalize(text: &str) -> String {
    let mut t = text.to_string();
    while let Some(i) = t.find("addr:") {
        let end = i + 5 + 17;
        t.replace_range(i..end.min(t.len()), "ADDR=MAC");
    }
    for key in ["duration=", "idle_age=", "hard_age=", "time="] {
        t = blank_numbers(&t, key);
    }
    // The order of flows of the same table is the classifier's in OVS (not by
    // priority): compared as sets.
    if t.contains(" cookie=") {
        let (mut flows, other): (Vec<&str>, Vec<&str>) =
            t.lines().partition(|l| l.starts_with(" cookie="));
        flows.sort_unstable();
        return other
            .into_iter()
            .chain(flows)
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
    }
    t
}

/// Both switches configured alike through ovs-vsctl: br-int (its datapath id and
/// description fixed), ports p1 and qvo-p2 (OpenFlow 1 and 2; a `-` in a name makes
/// `--names` quote it).
fn configure(db: &Ovsdb) {
    db.vsctl_ok(&[
        "add-br",
        "br-int",
        "--",
        "set",
        "bridge",
        "br-int",
        "other-config:datapath-id=0000aabbccddeeff",
        "other-config:dp-desc=test bridge",
    ]);
    for (p, n) in [("p1", "1"), ("qvo-p2", "2")] {
        db.vsctl_ok(&[
            "add-port",
            "br-int",
            p,
            "--",
            "set",
            "interface",
            p,
            "type=internal",
            &format!("ofport_request={n}"),
        ]);
    }
}

fn xvsd(name: &str) -> Xvsd {
    let d = Xvsd::start(&Xvsd::dir(name), &["--datapath", "none"]);
    configure(&d.db);
    wait_for_socket(&d.dir.join("br-int.mgmt"));
    d
}

fn wait_for_socket(p: &Path) {
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(p).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} never came",
            p.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The Neutron OVS agent's kinds of flows (br-int's default tables and per-port ARP
/// and ND protection, a provider network's VLAN push, br-tun's learn, ARP responder
/// and flood flows), in `ovs-ofctl -O OpenFlow13` syntax.
const NEUTRON_FLOWS: &str = "\
table=0,priority=65535,vlan_vid=0x1fff,actions=drop
table=0,priority=0,actions=goto_table:58
table=58,priority=0,actions=goto_table:59
table=60,priority=1,actions=NORMAL
table=23,priority=0,actions=drop
table=0,priority=10,icmp6,in_port=1,icmp_type=136,actions=goto_table:24
table=24,priority=2,icmp6,in_port=1,icmp_type=136,nd_target=fe80::f816:3eff:fe00:1,actions=goto_table:58
table=0,priority=10,arp,in_port=1,actions=goto_table:24
table=24,priority=2,arp,in_port=1,arp_spa=10.0.0.5,actions=goto_table:25
table=25,priority=2,in_port=1,dl_src=fa:16:3e:00:00:01,actions=goto_table:30
table=0,priority=3,in_port=2,vlan_vid=0,actions=push_vlan:0x8100,set_field:4097->vlan_vid,goto_table:58
cookie=0x1234,table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x1234,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1
cookie=0x1234,table=21,priority=1,arp,dl_vlan=1,arp_tpa=10.0.0.9,actions=set_field:2->arp_op,move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:fa:16:3e:00:00:09->arp_sha,set_field:10.0.0.9->arp_spa,move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:fa:16:3e:00:00:09->eth_src,IN_PORT
table=22,priority=1,dl_vlan=1,actions=pop_vlan,set_field:0x3e7->tun_id,output:2
table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff,actions=goto_table:21
table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=goto_table:20
table=1,priority=3,tcp,tp_dst=22,actions=dec_ttl,resubmit(,2)
table=3,priority=1,reg6=0x3,actions=set_field:0x5->reg6,output:1
";

#[test]
fn ovs_ofctl_prints_for_xvs_what_it_prints_for_ovs() {
    let x = xvsd("ofctl-same");
    let real_dir: PathBuf = Xvsd::dir("ofctl-same-ovs");
    let real = RealOvs::start(&real_dir);
    configure(&real.db);
    wait_for_socket(&real_dir.join("br-int.mgmt"));

    let file = x.dir.join("flows.txt");
    std::fs::write(
        &file,
        "priority=11,in_port=2,actions=output:1\npriority=12,dl_type=0x0800,actions=drop\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    // Flows as the Neutron agent installs them (AGENT-NEEDS.md §2.6), over 1.3.
    let neutron = x.dir.join("neutron.txt");
    std::fs::write(&neutron, NEUTRON_FLOWS).unwrap();
    let neutron = neutron.to_str().unwrap();
    // The same flows with one gone, one whose actions changed, one new.
    let replaced = x.dir.join("replaced.txt");
    let replaced_flows = NEUTRON_FLOWS
        .replace("table=23,priority=0,actions=drop\n", "")
        .replace(
            "table=60,priority=1,actions=NORMAL",
            "table=60,priority=1,actions=output:2",
        )
        + "table=61,priority=3,dl_vlan=5,actions=pop_vlan,output:1\n";
    std::fs::write(&replaced, replaced_flows).unwrap();
    let replaced = replaced.to_str().unwrap();
    // Every command, in order, on both.
    let commands: Vec<Vec<&str>> = vec![
        vec!["show", "br-int"],
        vec!["-O", "OpenFlow13", "show", "br-int"],
        vec!["-O", "OpenFlow14", "show", "br-int"],
        vec!["dump-ports-desc", "br-int"],
        vec!["-O", "OpenFlow13", "dump-ports-desc", "br-int"],
        vec!["dump-tables", "br-int"],
        vec!["-O", "OpenFlow13", "dump-tables", "br-int"],
        vec!["dump-desc", "br-int"],
        vec!["get-frags", "br-int"],
        vec!["dump-flows", "br-int"],
        vec![
            "add-flow",
            "br-int",
            "priority=5,in_port=1,actions=output:2",
        ],
        vec![
            "add-flow",
            "br-int",
            "table=3,priority=7,dl_dst=fa:16:3e:00:00:01,actions=drop",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "add-flow",
            "br-int",
            "priority=6,in_port=2,dl_src=fa:16:3e:00:00:02,actions=LOCAL",
        ],
        vec!["dump-flows", "br-int"],
        vec!["-O", "OpenFlow13", "dump-flows", "br-int"],
        vec!["dump-flows", "br-int", "table=3"],
        vec!["dump-flows", "br-int", "in_port=1"],
        vec!["dump-aggregate", "br-int"],
        vec!["-O", "OpenFlow13", "dump-aggregate", "br-int", "table=3"],
        vec!["dump-tables", "br-int"],
        vec!["mod-flows", "br-int", "in_port=1,actions=output:LOCAL"],
        vec!["del-flows", "--strict", "br-int", "priority=6"],
        vec!["dump-flows", "br-int"],
        vec![
            "del-flows",
            "--strict",
            "br-int",
            "priority=6,in_port=2,dl_src=fa:16:3e:00:00:02",
        ],
        vec!["del-flows", "br-int", "table=3"],
        vec!["dump-flows", "br-int"],
        vec!["--bundle", "add-flows", "br-int", file],
        vec!["dump-flows", "br-int"],
        vec!["del-flows", "br-int"],
        vec!["-O", "OpenFlow13", "--bundle", "add-flows", "br-int", file],
        vec!["-O", "OpenFlow13", "dump-flows", "br-int"],
        vec!["del-flows", "br-int"],
        vec!["dump-flows", "br-int"],
        vec!["-O", "OpenFlow13", "add-flows", "br-int", neutron],
        vec!["dump-flows", "br-int"],
        vec!["-O", "OpenFlow13", "dump-flows", "br-int"],
        vec!["dump-flows", "br-int", "table=24"],
        vec![
            "-O",
            "OpenFlow13",
            "dump-flows",
            "br-int",
            "cookie=0x1234/-1",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "del-flows",
            "br-int",
            "cookie=0x1234/-1",
        ],
        vec![
            "-O",
            "OpenFlow13",
            "del-flows",
            "--strict",
            "br-int",
            "table=0,priority=10,icmp6,in_port=1,icmp_type=136",
        ],
        vec!["-O", "OpenFlow13", "dump-flows", "br-int"],
        // What differs between the switch and a file (exit status 2 when anything
        // does), then the switch made like the file: only the differences are sent.
        vec!["-O", "OpenFlow13", "diff-flows", "br-int", neutron],
        vec!["-O", "OpenFlow13", "diff-flows", "br-int", replaced],
        vec!["-O", "OpenFlow13", "replace-flows", "br-int", replaced],
        vec!["-O", "OpenFlow13", "diff-flows", "br-int", replaced],
        vec!["-O", "OpenFlow13", "dump-flows", "br-int"],
        vec!["replace-flows", "br-int", file],
        vec!["diff-flows", "br-int", file],
        vec!["dump-flows", "br-int"],
        // Port names instead of numbers, quoted when they hold a `-`.
        vec![
            "--names",
            "add-flow",
            "br-int",
            "in_port=\"qvo-p2\",actions=p1",
        ],
        vec!["--names", "dump-flows", "br-int"],
        vec!["--names", "-O", "OpenFlow13", "dump-flows", "br-int"],
        vec!["--names", "dump-ports-desc", "br-int"],
        vec!["--names", "del-flows", "br-int", "in_port=\"qvo-p2\""],
        vec!["--names", "dump-flows", "br-int"],
    ];
    for c in &commands {
        let (ours, theirs) = (ofctl(&x.dir, c), ofctl(&real_dir, c));
        // diff-flows exits with 2 when it finds differences; the rest succeed.
        let expected = match c.contains(&"diff-flows") {
            true => theirs.status.code(),
            false => Some(0),
        };
        assert_eq!(
            (ours.status.code(), theirs.status.code()),
            (expected, expected),
            "ovs-ofctl {c:?}: xvs: {} / ovs: {}",
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&theirs.stderr)
        );
        assert_eq!(
            normalize(&String::from_utf8_lossy(&ours.stdout)),
            normalize(&String::from_utf8_lossy(&theirs.stdout)),
            "ovs-ofctl {c:?} prints differently for xvs (left) and OVS (right)"
        );
    }
    assert!(ofctl(&x.dir, &["probe", "br-int"]).status.success());
    let ping = ofctl_ok(&x.dir, &["ping", "br-int", "3"]);
    // Ten echo requests of 3 bytes each.
    assert_eq!(ping.matches("3 bytes from br-int").count(), 10, "{ping}");

    // Port counters: xvs knows its drops (OVS's dummy ports do not), and has no
    // per-port duration.
    let ports = ofctl_ok(&x.dir, &["dump-ports", "br-int"]);
    assert_eq!(
        ports,
        "OFPST_PORT reply (xid=0x2): 3 ports\n  port  1: rx pkts=0, bytes=0, drop=0, errs=?, frame=?, over=?, crc=?\n           tx pkts=0, bytes=0, drop=0, errs=?, coll=?\n  port  2: rx pkts=0, bytes=0, drop=0, errs=?, frame=?, over=?, crc=?\n           tx pkts=0, bytes=0, drop=0, errs=?, coll=?\n  port LOCAL: rx pkts=0, bytes=0, drop=0, errs=?, frame=?, over=?, crc=?\n           tx pkts=0, bytes=0, drop=0, errs=?, coll=?\n"
    );
    let one = ofctl_ok(&x.dir, &["-O", "OpenFlow13", "dump-ports", "br-int", "2"]);
    assert!(
        one.starts_with("OFPST_PORT reply (OF1.3) (xid=0x2): 1 ports\n  port  2:"),
        "{one}"
    );
}

#[test]
fn a_bundle_with_a_flow_the_switch_refuses_changes_nothing() {
    let x = xvsd("ofctl-bundle");
    ofctl_ok(
        &x.dir,
        &[
            "add-flow",
            "br-int",
            "priority=3,in_port=1,actions=output:2",
        ],
    );
    let before = normalize(&ofctl_ok(&x.dir, &["dump-flows", "br-int"]));
    let file = x.dir.join("bad.txt");
    // The second flow jumps back to its own table: ovs-ofctl cannot tell (no table
    // given), the switch refuses it, as OVS does (OFPBIC_BAD_TABLE_ID).
    std::fs::write(
        &file,
        "priority=9,in_port=2,actions=output:1\npriority=8,in_port=1,actions=goto_table:0\n",
    )
    .unwrap();
    for proto in ["OpenFlow14", "OpenFlow13"] {
        let o = ofctl(
            &x.dir,
            &[
                "-O",
                proto,
                "--bundle",
                "add-flows",
                "br-int",
                file.to_str().unwrap(),
            ],
        );
        assert!(!o.status.success(), "{proto}: the bundle was accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("OFPBIC_BAD_TABLE_ID"), "{proto}: {err}");
        assert_eq!(
            normalize(&ofctl_ok(&x.dir, &["dump-flows", "br-int"])),
            before,
            "{proto}"
        );
    }
}

#[test]
fn malformed_messages_get_ovs_errors_and_the_connection_stays_up() {
    let x = xvsd("ofctl-malformed");
    let real_dir = Xvsd::dir("ofctl-malformed-ovs");
    let real = RealOvs::start(&real_dir);
    configure(&real.db);
    wait_for_socket(&real_dir.join("br-int.mgmt"));

    // OF1.0: a short FLOW_MOD, an unknown type, an unknown vendor, an unknown
    // statistics type. OF1.3: a FLOW_MOD whose OXM in_port has a wrong length (an
    // unknown header for OVS), one whose in_port is cut by the end of the match, one
    // with nd_target but not its prerequisites.
    let mut short = of10_add_flow(1, 1, 1, 2);
    short.truncate(40);
    short[2..4].copy_from_slice(&40u16.to_be_bytes());
    let vendor = msg(1, 4, 3, &[0, 0, 0x12, 0x34, 0, 0, 0, 1]);
    let stats = msg(1, 16, 4, &[0, 77, 0, 0]);
    let of13_flow_mod = |xid: u32, oxm: &[u8]| {
        let mut b = vec![0; 16];
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        b.extend_from_slice(&[0xff; 12]);
        b.extend_from_slice(&[0, 0, 0, 0]);
        let len = 4 + oxm.len();
        b.extend_from_slice(&[0, 1]);
        b.extend_from_slice(&(len as u16).to_be_bytes());
        b.extend_from_slice(oxm);
        b.resize(b.len() + (8 - len % 8) % 8, 0);
        msg(4, OFPT_FLOW_MOD, xid, &b)
    };
    let wrong = of13_flow_mod(5, &[0x80, 0, 0, 2, 0, 1]);
    let cut = of13_flow_mod(7, &[0x80, 0, 0, 4, 0, 1]);
    let mut target = vec![0x80, 0, 0x3e, 0x10];
    target.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    let prereq = of13_flow_mod(6, &target);
    let cases: Vec<(u8, Vec<u8>)> = vec![
        (1, short),
        (1, msg(1, 99, 2, &[])),
        (1, vendor),
        (1, stats),
        (4, wrong),
        (4, cut),
        (4, prereq),
    ];
    let errors = |dir: &Path| -> Vec<(u16, u16)> {
        let mut out = Vec::new();
        for (version, m) in &cases {
            let mut c = OfConn::mgmt(&dir.join("br-int.mgmt"), *version);
            let replies = c.request(m);
            assert_eq!(replies.len(), 1, "one error for {m:?}: {replies:?}");
            assert_eq!(xid(&replies[0]), xid(m));
            out.push(error_code(&replies[0]));
            // Still up.
            let echo = c.request(&msg(*version, OFPT_ECHO_REQUEST, 77, b"hi"));
            assert_eq!(msg_type(&echo[0]), OFPT_ECHO_REPLY);
        }
        out
    };
    let ours = errors(&x.dir);
    assert_eq!(ours, errors(&real_dir), "errors differ from OVS's");
    // BAD_REQUEST/BAD_LEN, BAD_TYPE, BAD_VENDOR, BAD_STAT; BAD_MATCH/BAD_FIELD,
    // BAD_LEN, BAD_PREREQ.
    assert_eq!(
        ours,
        [(1, 6), (1, 1), (1, 3), (1, 2), (4, 6), (4, 1), (4, 9)]
    );
    assert!(ofctl_ok(&x.dir, &["dump-flows", "br-int"]).contains("actions=NORMAL"));
}

/// Bound stated in the README: while one connection floods flow mods, a barrier on
/// another is answered within this (the flood's changes are at most MAX_BATCH flow
/// mods each, and each connection has one request at a time in the control thread's
/// queue).
const BARRIER_BOUND: Duration = Duration::from_millis(500);

#[test]
fn a_flooding_connection_does_not_stall_another() {
    let x = xvsd("ofctl-flood");
    let mgmt = x.dir.join("br-int.mgmt");
    let mut flood = OfConn::mgmt(&mgmt, 1);
    let mut other = OfConn::mgmt(&mgmt, 1);
    let n: u32 = 60_000;
    let mut all = Vec::with_capacity(n as usize * 80);
    for i in 0..n {
        all.extend_from_slice(&of10_add_flow(i, i as u16 + 1, (i % 30) as u16 + 1, 2));
    }
    all.extend_from_slice(&msg(1, OF10_BARRIER_REQUEST, 0xffff_ffff, &[]));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            flood.send(&all);
            // Its barrier reply: the whole flood applied.
            while let Some(m) = flood.recv(Duration::from_secs(60)) {
                if xid(&m) == 0xffff_ffff {
                    break;
                }
            }
            done.store(true, Ordering::Release);
            t.elapsed()
        })
    };
    let mut worst = Duration::ZERO;
    let mut samples = 0;
    let mut x_id = 1;
    while !done.load(Ordering::Acquire) {
        worst = worst.max(other.barrier_rtt(x_id));
        x_id += 1;
        samples += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let flood_time = writer.join().unwrap();
    eprintln!("flood of {n} flow mods: {flood_time:?}; {samples} barriers on another connection meanwhile, the slowest {worst:?}");
    assert!(
        samples >= 3,
        "the flood was too quick to measure anything ({flood_time:?})"
    );
    assert!(
        worst < BARRIER_BOUND,
        "a barrier took {worst:?} during the flood"
    );
    let agg = ofctl_ok(&x.dir, &["dump-aggregate", "br-int"]);
    assert!(agg.contains(&format!("flow_count={}", n + 1)), "{agg}");
}

#[test]
fn a_peer_that_does_not_read_is_throttled_and_blocks_nobody() {
    let x = xvsd("ofctl-throttle");
    let mgmt = x.dir.join("br-int.mgmt");
    let mut lazy = OfConn::mgmt(&mgmt, 4);
    let echo = msg(4, OFPT_ECHO_REQUEST, 1, &vec![0u8; 60_000]);
    // Write echo requests, never reading the replies, until xvsd stops taking them.
    let mut written = 0usize;
    let start = Instant::now();
    let mut stuck_since = None;
    while start.elapsed() < Duration::from_secs(20) {
        let n = lazy.try_send(&echo[written % echo.len()..]);
        if n == 0 {
            let s = *stuck_since.get_or_insert_with(Instant::now);
            if s.elapsed() > Duration::from_secs(1) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        } else {
            stuck_since = None;
            written += n;
        }
    }
    assert!(stuck_since.is_some(), "xvsd kept reading ({written} bytes)");
    eprintln!("xvsd took {written} bytes from a peer that does not read");
    assert!(written < 24 << 20, "{written} bytes taken: not bounded");
    // Another connection is served meanwhile.
    let mut other = OfConn::mgmt(&mgmt, 1);
    assert!(other.barrier_rtt(5) < BARRIER_BOUND);
    assert!(ofctl(&x.dir, &["show", "br-int"]).status.success());
}

#[test]
fn the_management_socket_follows_the_bridge_and_goes_at_exit() {
    let mut x = xvsd("ofctl-socket");
    let tun = x.dir.join("br-tun.mgmt");
    x.db.vsctl_ok(&["add-br", "br-tun"]);
    wait_for_socket(&tun);
    assert!(ofctl_ok(&x.dir, &["show", "br-tun"]).contains("LOCAL(br-tun)"));
    x.db.vsctl_ok(&["del-br", "br-tun"]);
    let start = Instant::now();
    while tun.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "br-tun.mgmt stayed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!ofctl(&x.dir, &["show", "br-tun"]).status.success());
    // A connection open when the bridge goes is closed.
    let mut c = OfConn::mgmt(&x.dir.join("br-int.mgmt"), 1);
    x.db.vsctl_ok(&["del-br", "br-int"]);
    assert!(c.closed_within(Duration::from_secs(5)));
    x.db.vsctl_ok(&["add-br", "br-int"]);
    wait_for_socket(&x.dir.join("br-int.mgmt"));
    x.stop();
    assert!(!x.dir.join("br-int.mgmt").exists(), "left behind at exit");
}

/// `dp-show --json`'s counters of the passive OpenFlow sockets.
fn openflow_stats(x: &Xvsd) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&x.ok(&["--json", "dp-show"])).unwrap();
    v["sockets"]["openflow"].clone()
}

#[test]
fn silent_and_half_sent_connections_lock_nobody_out_and_are_dropped() {
    let x = Xvsd::start(
        &Xvsd::dir("ofctl-stall"),
        &["--datapath", "none", "--mgmt-inactivity-probe", "5"],
    );
    configure(&x.db);
    let mgmt = x.dir.join("br-int.mgmt");
    wait_for_socket(&mgmt);
    std::thread::sleep(Duration::from_millis(1200));
    let before = openflow_stats(&x);
    let t0 = Instant::now();
    // 50 connections that never send their HELLO, 40 that send it and then half a
    // FLOW_MOD (its header says 80 bytes; 20 come).
    let mut silent: Vec<std::os::unix::net::UnixStream> = (0..50)
        .map(|_| std::os::unix::net::UnixStream::connect(&mgmt).unwrap())
        .collect();
    let mut half: Vec<OfConn> = (0..40)
        .map(|_| {
            let mut c = OfConn::mgmt(&mgmt, 1);
            c.send(&of10_add_flow(7, 1, 1, 2)[..20]);
            c
        })
        .collect();
    // ovs-ofctl is served at once.
    let t = Instant::now();
    assert!(ofctl_ok(&x.dir, &["dump-flows", "br-int"]).contains("priority=0"));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // No HELLO within 1 s (OVS's rconn CONNECTING timeout): closed, after the switch's
    // own HELLO.
    for s in &mut silent {
        use std::io::Read;
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        assert_eq!(got.len(), 16, "the switch's HELLO, then the end: {got:?}");
        assert_eq!(got[1], OFPT_HELLO);
    }
    let t = t0.elapsed();
    assert!(
        t >= Duration::from_secs(1) && t < Duration::from_secs(4),
        "{t:?}"
    );
    // Part of a message is no answer: an echo request after the probe interval (5 s
    // here, 60 s by default as OVS), then the end as long again later.
    for c in &mut half {
        let m = c.recv(Duration::from_secs(8)).expect("an echo request");
        assert_eq!(m[1], OFPT_ECHO_REQUEST, "{m:?}");
        assert!(
            c.closed_within(Duration::from_secs(8)),
            "a half-sent message kept it"
        );
    }
    let t = t0.elapsed();
    assert!(
        t >= Duration::from_secs(10) && t < Duration::from_secs(16),
        "{t:?}"
    );
    let st = openflow_stats(&x);
    let delta = |k: &str| st[k].as_u64().unwrap() - before[k].as_u64().unwrap();
    assert_eq!(delta("hello_timeouts"), 50, "{st}");
    assert_eq!(delta("probe_timeouts"), 40, "{st}");

    // At most 128 connections per socket: one more is closed at once, logged, counted.
    let start = Instant::now();
    while openflow_stats(&x)["open"] != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "connections stayed open"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let held: Vec<OfConn> = (0..128).map(|_| OfConn::mgmt(&mgmt, 1)).collect();
    let mut extra = std::os::unix::net::UnixStream::connect(&mgmt).unwrap();
    {
        use std::io::Read;
        extra
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        let _ = extra.read_to_end(&mut got);
        assert!(got.is_empty(), "refused without a word: {got:?}");
    }
    let st = openflow_stats(&x);
    assert_eq!(st["open"], 128, "{st}");
    assert_eq!(
        st["refused"].as_u64().unwrap() - before["refused"].as_u64().unwrap(),
        1,
        "{st}"
    );
    assert!(
        x.log().contains("too many OpenFlow connections"),
        "{}",
        x.log()
    );
    drop(held);
    let start = Instant::now();
    while !ofctl(&x.dir, &["show", "br-int"]).status.success() {
        assert!(start.elapsed() < Duration::from_secs(5), "no room again");
        std::thread::sleep(Duration::from_millis(50));
    }
}
