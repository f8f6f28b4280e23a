//! The unmodified Debian `ovs-appctl` against xvsd's unixctl socket: found through the
//! pidfile in `$OVS_RUNDIR` as it finds ovs-vswitchd, the errors (and exit status 2)
//! real OVS gives for bad commands, `ofproto/trace` verdicts next to a real
//! `ovs-vswitchd --enable-dummy` configured the same way, `vlog/*` changing what is
//! logged, `exit`; then, on a real AF_XDP datapath in network namespaces, what only
//! packets show: `dpctl/dump-flows`, `pmd-stats-show`/`-clear`, `upcall/show`,
//! `coverage/show`'s drop reasons, `fdb/show` and `fdb/flush`. Needs the openvswitch
//! packages (and root for the last test); fails loudly without them.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::daemon::Xvsd;
use common::ovsdb::Ovsdb;
use common::real_ovs::RealOvs;
use xvs_dataplane::testnet::{require_root, test_frame, SwitchNet};

/// `ovs-appctl ARGS` with `OVS_RUNDIR=dir` (no `-t`: it reads `dir/ovs-vswitchd.pid`).
fn appctl(dir: &Path, args: &[&str]) -> Output {
    Command::new("ovs-appctl")
        .env("OVS_RUNDIR", dir)
        .arg("--timeout=20")
        .args(args)
        .output()
        .expect("ovs-appctl (install openvswitch-common)")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = appctl(dir, args);
    assert!(
        o.status.success(),
        "ovs-appctl {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A command that must fail as ovs-appctl fails on a server's error: status 2, the
/// error text, then ovs-appctl's own line. Returns the error text.
fn fails(dir: &Path, args: &[&str]) -> String {
    let o = appctl(dir, args);
    assert_eq!(o.status.code(), Some(2), "ovs-appctl {args:?}: {o:?}");
    let err = String::from_utf8(o.stderr).unwrap();
    let (text, last) = err
        .trim_end()
        .rsplit_once('\n')
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        last.starts_with("ovs-appctl: ") && last.ends_with(": server returned an error"),
        "{err}"
    );
    text.to_string()
}

fn xvsd(name: &str, extra: &[&str]) -> Xvsd {
    let mut args = vec!["--datapath", "none", "--pidfile"];
    args.extend_from_slice(extra);
    Xvsd::start(&Xvsd::dir(name), &args)
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The unixctl socket of the process whose pid `dir/ovs-vswitchd.pid` holds.
fn ctl_path(dir: &Path) -> PathBuf {
    let pid = std::fs::read_to_string(dir.join("ovs-vswitchd.pid")).unwrap();
    dir.join(format!("ovs-vswitchd.{}.ctl", pid.trim()))
}

#[test]
fn ovs_appctl_finds_xvsd_through_its_pidfile() {
    let d = xvsd("find", &[]);
    let pidfile = d.dir.join("ovs-vswitchd.pid");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", d.pid())
    );
    assert!(ctl_path(&d.dir).exists());
    // The default target (ovs-vswitchd), by name, and by the socket's path.
    for args in [
        vec!["version"],
        vec!["-t", "ovs-vswitchd", "version"],
        vec!["-t", ctl_path(&d.dir).to_str().unwrap(), "version"],
    ] {
        let v = ok(&d.dir, &args);
        assert_eq!(
            v,
            format!(
                "ovs-vswitchd (Open vSwitch) 3.1.0\nxvsd (xvs) {}\n",
                env!("CARGO_PKG_VERSION")
            ),
            "{args:?}"
        );
    }
    let list = ok(&d.dir, &["list-commands"]);
    assert!(list.starts_with("The available commands are:\n"), "{list}");
    for c in [
        "version",
        "exit",
        "ofproto/trace",
        "dpif/show",
        "dpctl/dump-flows",
        "fdb/show",
        "fdb/flush",
        "coverage/show",
        "dpif-netdev/pmd-stats-show",
        "dpif-netdev/pmd-stats-clear",
        "upcall/show",
        "vlog/list",
        "vlog/set",
        "vlog/reopen",
    ] {
        assert!(list.contains(&format!("\n  {c} ")), "{c}: {list}");
    }

    // The pidfile is held: a second xvsd on it refuses to start, and leaves it be.
    let dir2 = Xvsd::dir("find-second");
    let db2 = Ovsdb::start(&dir2);
    let second = Command::new(env!("CARGO_BIN_EXE_xvsd"))
        .env("OVS_RUNDIR", &dir2)
        .args(["--datapath", "none", "--socket"])
        .arg(dir2.join("xvsd.sock"))
        .arg(format!("--pidfile={}", pidfile.display()))
        .arg(db2.remote())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!("already running as pid {}", d.pid())),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", d.pid())
    );
    assert!(ok(&d.dir, &["version"]).starts_with("ovs-vswitchd"));
    drop(db2);
    let _ = std::fs::remove_dir_all(&dir2);

    // --unixctl: a relative name is in OVS_RUNDIR; -t finds it there.
    let e = Xvsd::start(
        &Xvsd::dir("find-unixctl"),
        &["--datapath", "none", "--unixctl=xvs.ctl"],
    );
    assert!(e.dir.join("xvs.ctl").exists());
    let path = e.dir.join("xvs.ctl");
    assert!(ok(&e.dir, &["-t", path.to_str().unwrap(), "version"]).starts_with("ovs-vswitchd"));
    assert!(
        !e.dir.join("ovs-vswitchd.pid").exists(),
        "no --pidfile, no pidfile"
    );
}

/// Both switches alike: br-int with p1 and p2 in VLAN 1, p3 a trunk, p4 in VLAN 2
/// (OpenFlow 1 to 4), and flows that output, drop, resubmit into a table with nothing
/// (a miss), rewrite a tag and a MAC.
fn configure(db: &Ovsdb, dir: &Path) {
    db.vsctl_ok(&["add-br", "br-int"]);
    for (p, n, tag) in [
        ("p1", 1, "1"),
        ("p2", 2, "1"),
        ("p3", 3, ""),
        ("p4", 4, "2"),
    ] {
        let mut args = vec!["add-port".to_string(), "br-int".into(), p.into()];
        if !tag.is_empty() {
            args.push(format!("tag={tag}"));
        }
        args.extend([
            "--".into(),
            "set".into(),
            "interface".into(),
            p.into(),
            "type=internal".into(),
            format!("ofport_request={n}"),
        ]);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        db.vsctl_ok(&a);
    }
    wait_for("br-int.mgmt", || {
        std::os::unix::net::UnixStream::connect(dir.join("br-int.mgmt")).is_ok()
    });
    let flows = "\
priority=10,in_port=1,dl_dst=00:00:00:00:00:99,actions=output:3
priority=10,ip,nw_dst=10.0.0.99,actions=drop
priority=20,tcp,tp_dst=80,actions=resubmit(,1)
table=1,priority=1,actions=mod_vlan_vid:5,output:3
priority=20,udp,tp_dst=53,actions=resubmit(,2)
priority=15,in_port=4,actions=mod_dl_src:00:00:00:00:00:aa,output:2
";
    let file = dir.join("flows.txt");
    std::fs::write(&file, flows).unwrap();
    let o = Command::new("ovs-ofctl")
        .env("OVS_RUNDIR", dir)
        .args(["add-flows", "br-int"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success(), "ovs-ofctl add-flows: {o:?}");
}

/// Datapath port number -> port name, from `dpif/show`.
fn dp_ports(dpif_show: &str) -> BTreeMap<String, String> {
    dpif_show
        .lines()
        .filter(|l| l.starts_with("    "))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?;
            let dp = w.next()?.split('/').nth(1)?.trim_end_matches(':');
            Some((dp.to_string(), name.to_string()))
        })
        .collect()
}

/// The `Datapath actions:` line as what leaves where: each output as `port@vlan`
/// (`-` untagged, VLAN state followed through push/pop/set), other actions as they
/// are; sorted, since NORMAL floods in its own order in each switch.
/// `tag`: the VLAN the packet came in with.
fn verdict(trace: &str, ports: &BTreeMap<String, String>, tag: Option<&str>) -> Vec<String> {
    let line = trace
        .lines()
        .find_map(|l| l.strip_prefix("Datapath actions: "))
        .unwrap_or_else(|| panic!("no datapath actions in {trace}"));
    if line == "drop" {
        return vec!["drop".into()];
    }
    // Split on the commas outside parentheses.
    let mut acts = Vec::new();
    let (mut depth, mut cur) = (0, String::new());
    for c in line.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                acts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    acts.push(cur);
    let mut vlan: Option<String> = tag.map(str::to_string);
    let mut mods: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for a in acts {
        if let Some(rest) = a.strip_prefix("push_vlan(") {
            let vid = rest
                .split("vid=")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap();
            vlan = Some(vid.to_string());
        } else if a == "pop_vlan" {
            vlan = None;
        } else if let Some(name) = ports.get(&a) {
            let mut s = format!("{name}@{}", vlan.as_deref().unwrap_or("-"));
            for m in &mods {
                s.push_str(&format!("+{m}"));
            }
            out.push(s);
        } else {
            mods.push(a);
        }
    }
    out.sort();
    out
}

#[test]
fn ofproto_trace_gives_real_ovs_verdicts() {
    let d = xvsd("trace", &[]);
    configure(&d.db, &d.dir);
    let ovs_dir = Xvsd::dir("trace-ovs");
    let ovs = RealOvs::start(&ovs_dir);
    configure(&ovs.db, &ovs_dir);
    let ovs_ctl = ovs_dir.join("vswitchd.ctl");
    let ovs_t = ovs_ctl.to_str().unwrap();
    let (xp, op) = (
        dp_ports(&ok(&d.dir, &["dpif/show"])),
        dp_ports(&ok(&ovs_dir, &["-t", ovs_t, "dpif/show"])),
    );
    assert_eq!(
        xp.values().collect::<std::collections::BTreeSet<_>>(),
        op.values().collect(),
        "{xp:?} {op:?}"
    );

    // Flows, and packets in hex (an ICMP echo to 10.0.0.99, a TCP SYN to port 80, an
    // ARP request, a UDP datagram to port 53), as OVS's tests write them.
    let icmp = "00000000000200000000000108004500002400004000400126760a0000010a0000630800161c000100017878787878787878";
    let tcp = "00000000000200000000000108004500002800004000400626cb0a0000010a00000504d200500000000000000000500203e800000000";
    let arp =
        "ffffffffffff000000000001080600010800060400010000000000010a0000010000000000000a000002";
    let udp = "00000000000200000000000108004500002400004000401126ae0a0000010a000005303900350010000078787878787878787878";
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        // NORMAL floods VLAN 1: p2 untagged, the trunks (p3, br-int) tagged.
        (
            vec!["in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02"],
            vec!["br-int@1", "p2@-", "p3@1"],
        ),
        (vec!["in_port=1,dl_dst=00:00:00:00:00:99"], vec!["p3@-"]),
        (vec!["in_port=2,ip,nw_dst=10.0.0.99"], vec!["drop"]),
        (
            vec!["in_port=1,tcp,nw_dst=10.0.0.5,tp_dst=80"],
            vec!["p3@5"],
        ),
        (
            vec!["in_port=4,dl_dst=00:00:00:00:00:01"],
            vec!["p2@-+set(eth(src=00:00:00:00:00:aa))"],
        ),
        // Tagged on the trunk: out untagged on the VLAN's access ports.
        (
            vec!["in_port=3,dl_vlan=1,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:04"],
            vec!["br-int@1", "p1@-", "p2@-"],
        ),
        (
            vec!["in_port=3,dl_vlan=2,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:04"],
            vec!["br-int@2", "p4@-"],
        ),
        (vec!["in_port=2", icmp], vec!["drop"]),
        (vec!["in_port=1", tcp], vec!["p3@5"]),
        (vec!["in_port=1", arp], vec!["br-int@1", "p2@-", "p3@1"]),
        // A resubmit into a table with no flow: dropped there.
        (vec!["in_port=3", udp], vec!["drop"]),
    ];
    for (args, want) in cases {
        let mut a = vec!["ofproto/trace", "br-int"];
        a.extend(&args);
        let xt = ok(&d.dir, &a);
        let mut oa = vec!["-t", ovs_t];
        oa.extend(&a);
        let ot = ok(&ovs_dir, &oa);
        let tag = args[0].split(',').find_map(|f| f.strip_prefix("dl_vlan="));
        assert_eq!(verdict(&ot, &op, tag), want, "OVS, {args:?}:\n{ot}");
        assert_eq!(
            verdict(&xt, &xp, tag),
            want,
            "xvs, {args:?}:\n{xt}\nOVS:\n{ot}"
        );
        // The layout: the flow, the bridge, the megaflow, the verdict.
        assert!(xt.starts_with("Flow: "), "{xt}");
        assert!(
            xt.contains("\nbridge(\"br-int\")\n----------------\n"),
            "{xt}"
        );
        assert!(xt.contains("\nMegaflow: "), "{xt}");
        // With a packet, the flow is the packet's, as OVS extracts it (xvs has no
        // nw_frag or tcp_flags).
        if args.len() == 2 {
            let flow = |t: &str| {
                t.lines()
                    .next()
                    .unwrap()
                    .replace(",nw_frag=no", "")
                    .replace(",tcp_flags=syn", "")
            };
            assert_eq!(flow(&xt), flow(&ot));
        }
    }
    // Ports by name with --names, as OVS.
    let named = ok(
        &d.dir,
        &[
            "ofproto/trace",
            "--names",
            "br-int",
            "in_port=p1,dl_dst=00:00:00:00:00:99",
        ],
    );
    assert!(named.starts_with("Flow: in_port=p1,"), "{named}");
    assert!(named.contains("output:p3"), "{named}");
}

#[test]
fn bad_commands_get_ovs_errors_and_change_nothing() {
    let d = xvsd("bad", &[]);
    configure(&d.db, &d.dir);
    let ovs_dir = Xvsd::dir("bad-ovs");
    let ovs = RealOvs::start(&ovs_dir);
    configure(&ovs.db, &ovs_dir);
    let ovs_ctl = ovs_dir.join("vswitchd.ctl");
    let before = (
        ok(&d.dir, &["vlog/list"]),
        d.ok(&["dump-flows", "br-int"]),
        ok(&d.dir, &["fdb/show", "br-int"]),
    );
    for args in [
        vec!["nosuch"],
        vec!["version", "extra"],
        vec!["fdb/show"],
        vec!["fdb/show", "br-nope"],
        vec!["fdb/flush", "br-nope"],
        vec!["vlog/set", "foo"],
        vec!["vlog/set", "warn:info"],
        vec!["vlog/set", "console:file"],
        vec!["ofproto/trace", "br-nope", "in_port=1"],
        vec!["ofproto/trace", "br-int", "in_port=1", "00zz"],
        vec!["ofproto/trace", "br-int", "in_port=1", "0000"],
        vec!["ofproto/trace", "br-int", "in_port=1", "-x"],
        vec!["ofproto/trace", "a", "b", "c", "d"],
    ] {
        let ours = fails(&d.dir, &args);
        let mut o = vec!["-t", ovs_ctl.to_str().unwrap()];
        o.extend(&args);
        let theirs = fails(&ovs_dir, &o);
        assert_eq!(ours, theirs, "{args:?}");
    }
    // Where xvs says it in its own words: a flow it cannot parse.
    assert!(fails(&d.dir, &["ofproto/trace", "br-int", "foo=bar"])
        .starts_with("Bad openflow flow syntax: "),);
    // A target that does not exist: ovs-appctl's own failure.
    let o = appctl(&d.dir, &["-t", "/nonexistent.ctl", "version"]);
    assert!(!o.status.success());
    let after = (
        ok(&d.dir, &["vlog/list"]),
        d.ok(&["dump-flows", "br-int"]),
        ok(&d.dir, &["fdb/show", "br-int"]),
    );
    // Durations and ages move on.
    let strip = |s: &str| {
        s.lines()
            .map(|l| {
                l.split(", ")
                    .filter(|t| !t.starts_with("duration=") && !t.starts_with("idle_age="))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(before.0, after.0);
    assert_eq!(strip(&before.1), strip(&after.1));
    assert_eq!(before.2, after.2);
}

/// Whether xvsd's log has a line with `needle` after its first `from` bytes.
fn logged_since(d: &Xvsd, from: usize, needle: &str) -> bool {
    d.log().get(from..).is_some_and(|l| l.contains(needle))
}

#[test]
fn vlog_set_changes_what_is_logged_and_reopen_follows_the_file() {
    let dir = Xvsd::dir("vlog");
    let file = dir.join("vswitchd.log");
    let d = Xvsd::start(
        &dir,
        &[
            "--datapath",
            "none",
            "--pidfile",
            &format!("--log-file={}", file.display()),
        ],
    );
    let list = ok(&d.dir, &["vlog/list"]);
    let mut lines = list.lines();
    assert_eq!(
        lines.next(),
        Some("                 console    syslog    file")
    );
    assert_eq!(
        lines.next(),
        Some("                 -------    ------    ------")
    );
    let unixctl = |l: &str| {
        l.lines()
            .find(|l| l.starts_with("unixctl "))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        unixctl(&list),
        "unixctl           INFO        OFF       INFO"
    );

    // Requests are logged at DBG: not at INFO.
    let mark = d.log().len();
    ok(&d.dir, &["version"]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!logged_since(&d, mark, "received request version"));
    assert_eq!(ok(&d.dir, &["vlog/set", "unixctl:console:dbg"]), "");
    assert_eq!(
        unixctl(&ok(&d.dir, &["vlog/list"])),
        "unixctl            DBG        OFF       INFO"
    );
    let mark = d.log().len();
    ok(&d.dir, &["version"]);
    wait_for("the request logged", || {
        logged_since(&d, mark, "received request version[], id=0")
    });
    assert!(
        !std::fs::read_to_string(&file)
            .unwrap()
            .contains("received request version"),
        "the file stays at INFO"
    );
    // OVS's spellings: any case, ANY, a space-separated spec.
    ok(&d.dir, &["vlog/set", "ANY:Console:Info"]);
    assert!(ok(&d.dir, &["vlog/list"])
        .lines()
        .skip(2)
        .all(|l| l.split_whitespace().nth(1) == Some("INFO")));
    let mark = d.log().len();
    ok(&d.dir, &["version"]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!logged_since(&d, mark, "received request"));
    ok(&d.dir, &["vlog/set", "file unixctl dbg"]);
    ok(&d.dir, &["version"]);
    wait_for("the file has it", || {
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("received request version")
    });

    // logrotate: the file moved away; reopen makes a new one.
    let rotated = dir.join("vswitchd.log.1");
    std::fs::rename(&file, &rotated).unwrap();
    assert_eq!(ok(&d.dir, &["vlog/reopen"]), "");
    ok(&d.dir, &["version"]);
    wait_for("a new log file", || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.contains("received request version"))
    });

    // Without a log file, reopen is OVS's error.
    let e = xvsd("vlog-nofile", &[]);
    assert_eq!(
        fails(&e.dir, &["vlog/reopen"]),
        "Logging to file not configured"
    );
}

#[test]
fn exit_stops_xvsd_and_removes_pidfile_and_socket() {
    let mut d = xvsd("exit", &[]);
    d.db.vsctl_ok(&["add-br", "br-int"]);
    let ctl = ctl_path(&d.dir);
    let pidfile = d.dir.join("ovs-vswitchd.pid");
    let o = appctl(&d.dir, &["exit"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    // Answered once stopped: what leads to xvsd is gone already.
    assert!(!pidfile.exists());
    assert!(!ctl.exists());
    assert!(!d.socket.exists());
    wait_for("xvsd exits", || !d.is_running());
    assert!(
        d.log().contains("stopping (ovs-appctl exit)"),
        "{}",
        d.log()
    );
    // ovs-appctl now fails as it does for a stopped ovs-vswitchd.
    let o = appctl(&d.dir, &["version"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read pidfile"));
}

fn coverage(dir: &Path) -> BTreeMap<String, u64> {
    ok(dir, &["coverage/show"])
        .lines()
        .filter_map(|l| {
            let name = l.split_whitespace().next()?;
            let total = l.split("total: ").nth(1)?.trim().parse().ok()?;
            Some((name.to_string(), total))
        })
        .collect()
}

/// A number after `key` in `text` (the first one).
fn figure(text: &str, key: &str) -> u64 {
    text.split(key)
        .nth(1)
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn afxdp_cache_entries_pmd_stats_drops_and_mac_table_after_traffic() {
    require_root();
    let net = SwitchNet::new(3);
    // pmd-stats counts what the workers forward: with the XDP tier a hot flow's frames
    // never reach them (dpif/show counts them; `xdp_tier.rs` tests the tier).
    let d = Xvsd::start_in(
        Some(net.ns_switch.name()),
        &Xvsd::dir("afxdp"),
        &["--pidfile", "--xdp-tier", "off"],
    );
    d.ok(&["add-br", "br-int"]);
    for (i, tag) in [(0, "1"), (1, "1"), (2, "2")] {
        d.ok(&[
            "add-port",
            "br-int",
            &net.hosts[i].switch_if,
            &format!("tag={tag}"),
        ]);
    }
    let dir = d.dir.clone();
    let (h0, h1, h2) = (&net.hosts[0], &net.hosts[1], &net.hosts[2]);
    let (s0, s1, s2) = (net.host_socket(0), net.host_socket(1), net.host_socket(2));
    let ofport = |i: usize| {
        d.db.vsctl_ok(&["get", "Interface", &net.hosts[i].switch_if, "ofport"])
    };
    let dpif = ok(&dir, &["dpif/show"]);
    let dp = dp_ports(&dpif);
    let dp_of = |i: usize| {
        dp.iter()
            .find(|(_, n)| **n == net.hosts[i].switch_if)
            .map(|(d, _)| d.clone())
            .unwrap()
    };
    assert!(
        dpif.starts_with("xvs@datapath: hit:0 missed:0\n  br-int:\n"),
        "{dpif}"
    );

    // h0 -> h1 (flooded: h1 unknown), h1 -> h0 (h1 learned: the flooding entry goes),
    // then h0 -> h1 again: one miss, then 19 hits on the entry it made.
    s0.send(&test_frame(h1.host_mac, h0.host_mac, 0, 80))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s1.send(&test_frame(h0.host_mac, h1.host_mac, 1, 80))
        .unwrap();
    // Later (the MAC table's clock counts milliseconds): h0 is the most recently seen.
    std::thread::sleep(Duration::from_millis(100));
    for n in 0..20u32 {
        s0.send(&test_frame(h1.host_mac, h0.host_mac, 10 + n, 80))
            .unwrap();
        if n == 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(s1.recv_all(Duration::from_millis(300)).len() >= 21);
    let _ = s0.recv_all(Duration::from_millis(100));

    // The MAC table, least recently seen first, by OpenFlow port.
    let fdb = ok(&dir, &["fdb/show", "br-int"]);
    let mac = |m: [u8; 6]| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let rows: Vec<&str> = fdb.lines().collect();
    assert_eq!(rows[0], " port  VLAN  MAC                Age", "{fdb}");
    assert_eq!(rows.len(), 3, "{fdb}");
    assert!(
        rows[1].starts_with(&format!("{:>5}     1  {}  ", ofport(1), mac(h1.host_mac))),
        "{fdb}"
    );
    assert!(
        rows[2].starts_with(&format!("{:>5}     1  {}  ", ofport(0), mac(h0.host_mac))),
        "{fdb}"
    );

    // The cache entries: h0's frames to h1 hit one of them 19 times.
    let flows = ok(&dir, &["dpctl/dump-flows"]);
    assert!(flows.starts_with("flow-dump from worker 0:\n"), "{flows}");
    let to_h1 = flows
        .lines()
        .find(|l| {
            l.contains(&format!("in_port({})", dp_of(0)))
                && l.contains(&format!("dst={}", mac(h1.host_mac)))
        })
        .unwrap_or_else(|| panic!("{flows}"));
    assert!(
        to_h1.ends_with(&format!(", actions:{}", dp_of(1))),
        "{to_h1}"
    );
    assert_eq!(figure(to_h1, "packets:"), 19, "{to_h1}");
    assert_eq!(figure(to_h1, "bytes:"), 19 * 80, "{to_h1}");
    let used = to_h1.split(", used:").nth(1).unwrap();
    assert!(
        used.split(',').next().unwrap().ends_with('s') && !used.starts_with("never"),
        "{to_h1}"
    );
    let named = ok(&dir, &["dpctl/dump-flows", "--names"]);
    assert!(
        named.contains(&format!("in_port({})", h0.switch_if)),
        "{named}"
    );

    let upcall = ok(&dir, &["upcall/show"]);
    assert!(
        upcall.starts_with("xvs@datapath:\n  flows         : (current 2) "),
        "{upcall}"
    );
    assert!(upcall.contains("  0: (keys 2)\n"), "{upcall}");

    // Per worker, since the last clear.
    let pmd = ok(&dir, &["dpif-netdev/pmd-stats-show"]);
    assert!(pmd.starts_with("pmd thread worker 0:\n"), "{pmd}");
    assert!(figure(&pmd, "megaflow hits:") >= 19, "{pmd}");
    assert!(figure(&pmd, "miss with success upcall:") >= 2, "{pmd}");
    assert!(figure(&pmd, "packets received:") >= 21, "{pmd}");
    assert!(pmd.contains("  processing cycles: "), "{pmd}");
    assert_eq!(ok(&dir, &["dpif-netdev/pmd-stats-clear"]), "");
    let pmd = ok(&dir, &["dpif-netdev/pmd-stats-show"]);
    assert_eq!(figure(&pmd, "megaflow hits:"), 0, "{pmd}");
    for n in 0..5 {
        s0.send(&test_frame(h1.host_mac, h0.host_mac, 100 + n, 80))
            .unwrap();
    }
    let _ = s1.recv_all(Duration::from_millis(200));
    assert_eq!(
        figure(&ok(&dir, &["dpif-netdev/pmd-stats-show"]), "megaflow hits:"),
        5
    );
    let dpif = ok(&dir, &["dpif/show"]);
    assert!(figure(&dpif, "hit:") >= 24, "{dpif}");

    // Drop reasons, by name, counted for every packet (cached or not).
    let before = coverage(&dir);
    let c = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    let h2_in = format!("in_port={}", h2.switch_if);
    d.ok(&[
        "add-flow",
        "br-int",
        &format!("priority=100,{h2_in},udp,actions=drop"),
    ]);
    d.ok(&[
        "add-flow",
        "br-int",
        &format!("priority=100,{h2_in},tcp,actions=resubmit(,7)"),
    ]);
    d.ok(&[
        "add-flow",
        "br-int",
        &format!("priority=100,{h2_in},icmp,actions=resubmit(,0)"),
    ]);
    let ip_frame = |proto: u8| {
        let mut f = test_frame(h0.host_mac, h2.host_mac, 7, 80);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = [
            0x45, 0, 0, 66, 0, 0, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 3, 10, 0, 0, 1,
        ];
        f[14..34].copy_from_slice(&ip);
        f
    };
    for (proto, n) in [(17u8, 3), (6, 4), (1, 2)] {
        for _ in 0..n {
            s2.send(&ip_frame(proto)).unwrap();
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = coverage(&dir);
    assert_eq!(
        c(&after, "drop_action_of_pipeline") - c(&before, "drop_action_of_pipeline"),
        3,
        "{after:?}"
    );
    assert_eq!(
        c(&after, "drop_action_no_flow") - c(&before, "drop_action_no_flow"),
        4,
        "{after:?}"
    );
    assert_eq!(
        c(&after, "drop_action_recursion_too_deep") - c(&before, "drop_action_recursion_too_deep"),
        2,
        "{after:?}"
    );
    assert!(c(&after, "dpif_flow_put") > c(&before, "dpif_flow_put"));
    let text = ok(&dir, &["coverage/show"]);
    assert!(
        text.starts_with(
            "Event coverage, avg rate over last: 5 seconds, last minute, last hour,  hash="
        ),
        "{text}"
    );
    assert!(text.trim_end().ends_with("events never hit"), "{text}");

    // fdb/flush empties the table; the next frames teach it again.
    assert_eq!(
        ok(&dir, &["fdb/flush", "br-int"]),
        "table successfully flushed\n"
    );
    assert_eq!(ok(&dir, &["fdb/show", "br-int"]).lines().count(), 1);
    s1.send(&test_frame(h0.host_mac, h1.host_mac, 1000, 80))
        .unwrap();
    let _ = s0.recv_all(Duration::from_millis(200));
    let fdb = ok(&dir, &["fdb/show", "br-int"]);
    assert!(fdb.contains(&mac(h1.host_mac)), "{fdb}");
    assert!(!fdb.contains(&mac(h0.host_mac)), "{fdb}");
    drop(s2);

    // exit --cleanup: stopped, and the bridge's internal port is gone with it (a plain
    // exit, like SIGTERM, leaves it for the next start).
    let link = || {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                net.ns_switch.name(),
                "ip",
                "link",
                "show",
                "br-int",
            ])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(link());
    assert_eq!(ok(&dir, &["exit", "--cleanup"]), "");
    assert!(!link(), "br-int's netdev removed");
    assert!(!dir.join("ovs-vswitchd.pid").exists());
}

/// Reads what the server sends until it closes the connection (or `wait` passes).
fn read_until_closed(s: &mut std::os::unix::net::UnixStream, wait: Duration) -> (Vec<u8>, bool) {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while start.elapsed() < wait {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

#[test]
fn stalled_oversized_and_broken_clients_hold_up_no_one() {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let d = xvsd("bounds", &["--control-timeout", "1"]);
    let ctl = ctl_path(&d.dir);
    let connect = || UnixStream::connect(&ctl).unwrap();
    let timed_version = || {
        let t = Instant::now();
        assert!(ok(&d.dir, &["version"]).starts_with("ovs-vswitchd"));
        t.elapsed()
    };

    // Pipelined requests are answered in order, byte for byte as OVS answers.
    let mut p = connect();
    p.write_all(
        br#"{"id":1,"method":"version","params":[]}{"id":"two","method":"nosuch","params":[]}"#,
    )
    .unwrap();
    p.shutdown(std::net::Shutdown::Write).unwrap();
    let (got, closed) = read_until_closed(&mut p, Duration::from_secs(5));
    assert!(closed);
    let want = format!(
        "{{\"id\":1,\"result\":\"ovs-vswitchd (Open vSwitch) 3.1.0\\nxvsd (xvs) {}\\n\",\"error\":null}}{{\"id\":\"two\",\"error\":\"\\\"nosuch\\\" is not a valid command (use \\\"list-commands\\\" to see a list of valid commands)\\n\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(String::from_utf8(got).unwrap(), want);

    // Half a message, then silence: closed after the request timeout (1 s here), and
    // nobody waits for it meanwhile.
    let mut half: Vec<UnixStream> = (0..10)
        .map(|_| {
            let mut s = connect();
            s.write_all(br#"{"id":0,"method":"vers"#).unwrap();
            s
        })
        .collect();
    assert!(timed_version() < Duration::from_millis(900));
    for s in &mut half {
        let (got, closed) = read_until_closed(s, Duration::from_secs(5));
        assert!(closed && got.is_empty());
    }

    // A message over 1 MiB, and anything that is not a request: closed, no answer.
    let mut big = connect();
    let junk = vec![b'['; 2 << 20];
    let _ = big.write_all(&junk);
    assert!(read_until_closed(&mut big, Duration::from_secs(5)).1);
    for msg in [
        &br#"{"method":"version","params":[]}"#[..],
        br#"{"id":0,"result":"x","error":null}"#,
        b"not json",
    ] {
        let mut s = connect();
        s.write_all(msg).unwrap();
        let (got, closed) = read_until_closed(&mut s, Duration::from_secs(5));
        assert!(
            closed && got.is_empty(),
            "{:?}",
            String::from_utf8_lossy(msg)
        );
    }

    // More connections than the limit (64): the ones idle longest make room.
    let idle: Vec<UnixStream> = (0..70).map(|_| connect()).collect();
    std::thread::sleep(Duration::from_millis(1100));
    assert!(timed_version() < Duration::from_secs(2));
    drop(idle);

    // One that never reads its replies holds up no one either.
    let mut greedy = connect();
    greedy.set_nonblocking(true).unwrap();
    let req = br#"{"id":0,"method":"list-commands","params":[]}"#;
    for _ in 0..2000 {
        if greedy.write(req).is_err() {
            break;
        }
    }
    assert!(timed_version() < Duration::from_secs(2));
    assert!(d.log().lines().all(|l| !l.contains("panicked")));
}

/// The labels of `label: value` lines, in order.
fn labels(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect()
}

/// The answers that exist in both switches keep OVS's layout: compared line by line
/// with a real ovs-vswitchd's, numbers and names aside.
#[test]
fn answers_keep_ovs_layout() {
    let d = xvsd("layout", &[]);
    configure(&d.db, &d.dir);
    let ovs_dir = Xvsd::dir("layout-ovs");
    let ovs = RealOvs::start(&ovs_dir);
    configure(&ovs.db, &ovs_dir);
    let ovs_ctl = ovs_dir.join("vswitchd.ctl");
    let theirs = |args: &[&str]| {
        let mut a = vec!["-t", ovs_ctl.to_str().unwrap()];
        a.extend(args);
        ok(&ovs_dir, &a)
    };
    let ours = |args: &[&str]| ok(&d.dir, args);

    // Word for word.
    for args in [
        &["fdb/show", "br-int"][..],
        &["fdb/flush", "br-int"],
        &["fdb/flush"],
        &["vlog/set", "ANY:syslog:warn"],
        &["dpif-netdev/pmd-stats-clear"],
    ] {
        assert_eq!(ours(args), theirs(args), "{args:?}");
    }
    assert_eq!(
        ours(&["version"]).lines().next(),
        theirs(&["version"]).lines().next()
    );
    assert_eq!(
        ours(&["list-commands"]).lines().next(),
        theirs(&["list-commands"]).lines().next()
    );

    // vlog/list: the same header, every line the same columns (OVS's `%-16s  %4s
    // %4s       %4s`: the levels end at columns 22, 33 and 44).
    let (x, o) = (ours(&["vlog/list"]), theirs(&["vlog/list"]));
    assert_eq!(
        x.lines().take(2).collect::<Vec<_>>(),
        o.lines().take(2).collect::<Vec<_>>()
    );
    let ends = |l: &str| {
        let b = l.as_bytes();
        (1..b.len())
            .filter(|&i| b[i - 1] != b' ' && b[i] == b' ')
            .chain(std::iter::once(b.len()))
            .skip(1)
            .collect::<Vec<_>>()
    };
    for l in o.lines().skip(2).take(5).chain(x.lines().skip(2)) {
        assert_eq!(ends(l), vec![22, 33, 44], "{l:?}");
    }
    assert!(
        x.contains("\nunixctl           INFO       WARN        OFF\n"),
        "{x}"
    );

    // coverage/show: the header (but the hash) and the last line.
    let (x, o) = (ours(&["coverage/show"]), theirs(&["coverage/show"]));
    let head = |t: &str| {
        t.lines()
            .next()
            .unwrap()
            .split("hash=")
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(head(&x), head(&o));
    for t in [&x, &o] {
        let last = t.lines().last().unwrap();
        assert!(last.ends_with(" events never hit"), "{last}");
        for l in t.lines().skip(1).filter(|l| l.contains("total: ")) {
            assert_eq!(l.split_whitespace().count(), 6, "{l}");
            assert!(l.contains("/sec ") && l.contains("/sec   total: "), "{l}");
        }
    }

    // upcall/show: OVS's lines first.
    let (x, o) = (ours(&["upcall/show"]), theirs(&["upcall/show"]));
    let numbers = |l: &str| {
        let mut out = String::new();
        let mut prev = false;
        for c in l.chars() {
            if c.is_ascii_digit() {
                if !prev {
                    out.push('N');
                }
                prev = true;
            } else {
                out.push(c);
                prev = false;
            }
        }
        out
    };
    let first = |t: &str| t.lines().skip(1).take(2).map(numbers).collect::<Vec<_>>();
    assert_eq!(first(&x), first(&o));

    // pmd-stats-show: OVS's labels, in OVS's order (xvs leaves out what it does not
    // count).
    let (x, o) = (
        labels(&ours(&["dpif-netdev/pmd-stats-show"])),
        labels(&theirs(&["dpif-netdev/pmd-stats-show"])),
    );
    let mut it = o.iter().skip(1);
    for l in x.iter().skip(1) {
        assert!(it.any(|m| m == l), "{l} not in OVS's order: {o:?}");
    }

    // dpif/show: the head line, the bridge, each port as `name ofport/dp: (type...)`.
    let (x, o) = (ours(&["dpif/show"]), theirs(&["dpif/show"]));
    let ports = |t: &str| {
        t.lines()
            .skip(2)
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (
                    w[0].to_string(),
                    w[1].split('/').next().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(ports(&x), ports(&o));
    assert_eq!(x.lines().nth(1), o.lines().nth(1));
    for t in [&x, &o] {
        let l = t.lines().next().unwrap();
        assert!(l.contains(": hit:") && l.contains(" missed:"), "{l}");
    }
}
