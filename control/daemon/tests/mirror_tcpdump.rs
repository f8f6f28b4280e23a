//! The unmodified `ovs-tcpdump` (Debian's openvswitch-switch) against xvsd: it creates a
//! tap (or dummy) `mi<port>`, a port for it and a `Mirror` selecting the port both ways
//! through OVSDB, runs tcpdump on the tap, and removes them at exit. The capture (`-w`,
//! a pcap file) is checked byte for byte against the frames sent through the port both
//! ways, on a VM port and on a GRE tunnel port (the inner frames, as OVS mirrors a
//! tunnel port); the datapath's cache entries show the copies on the mirrored port's
//! flows only, and none once ovs-tcpdump is gone.
//!
//! Needs root, the openvswitch packages (ovs-tcpdump, python3-openvswitch) and tcpdump;
//! fails loudly without them.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::daemon::Xvsd;
use common::db_node::DbNode;
use common::nodes::{node_ip, Cluster};
use xvs_dataplane::testnet::{require_root, test_frame, RawSocket};

const OVS_TCPDUMP: &str = "/usr/bin/ovs-tcpdump";

fn require_tools() {
    require_root();
    assert!(
        Path::new(OVS_TCPDUMP).exists(),
        "{OVS_TCPDUMP} is missing: run scripts/install-deps.sh (openvswitch-switch)"
    );
    assert!(
        Command::new("tcpdump")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "tcpdump is missing: run scripts/install-deps.sh"
    );
    assert!(
        Command::new("/usr/bin/python3")
            .args(["-c", "import ovs.db.idl"])
            .status()
            .is_ok_and(|s| s.success()),
        "python3-openvswitch is missing: run scripts/install-deps.sh"
    );
}

/// A running `ovs-tcpdump -i PORT -w FILE -c COUNT` in xvsd's namespace.
struct OvsTcpdump {
    child: Child,
    lines: mpsc::Receiver<String>,
    pcap: PathBuf,
}

impl OvsTcpdump {
    /// Starts it against `d`'s database and waits until tcpdump listens on the mirror
    /// port and xvsd has that port sending its copies (the mirror is in effect).
    fn start(d: &Xvsd, netns: &str, port: &str, count: usize) -> OvsTcpdump {
        let pcap = d.dir.join(format!("{port}.pcap"));
        let _ = std::fs::remove_file(&pcap);
        let mut child = Command::new("ip")
            .args(["netns", "exec", netns, OVS_TCPDUMP])
            .env("OVS_RUNDIR", &d.dir)
            .arg("--db-sock")
            .arg(format!("unix:{}", d.db.socket().display()))
            .args(["-i", port, "-w"])
            .arg(&pcap)
            // tcpdump keeps root (the file is in a directory only root may write to).
            .args(["-Z", "root", "-c", &count.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ovs-tcpdump");
        let (tx, lines) = mpsc::channel();
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(l);
                }
            });
        }
        let mut t = OvsTcpdump { child, lines, pcap };
        let start = Instant::now();
        let mut seen = Vec::new();
        loop {
            if let Ok(l) = t.lines.recv_timeout(Duration::from_millis(50)) {
                let listening = l.contains("listening on");
                seen.push(l);
                if listening {
                    break;
                }
            }
            if let Some(status) = t.child.try_wait().unwrap() {
                panic!("ovs-tcpdump exited with {status}: {seen:#?}\n{}", d.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "tcpdump did not start: {seen:#?}"
            );
        }
        while mirror_port(d).is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no send-only mirror port in xvsd: {}\n{}",
                d.ok(&["show"]),
                d.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        t
    }

    /// Waits for it to exit (tcpdump had its count) and returns the frames captured.
    fn finish(mut self) -> Vec<Vec<u8>> {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "ovs-tcpdump did not exit"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let out: Vec<String> = self.lines.try_iter().collect();
        assert!(status.success(), "ovs-tcpdump: {status}: {out:#?}");
        pcap_frames(&std::fs::read(&self.pcap).expect("the capture file"))
    }
}

impl Drop for OvsTcpdump {
    fn drop(&mut self) {
        // A failed test: its teardown (ports and mirror) runs on SIGTERM.
        if self.child.try_wait().ok().flatten().is_none() {
            // SAFETY: a plain signal to our own child.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let _ = self.child.wait();
        }
    }
}

/// The frames of a pcap file (libpcap's format, as tcpdump -w writes it), checked.
fn pcap_frames(b: &[u8]) -> Vec<Vec<u8>> {
    assert!(b.len() >= 24, "pcap header: {} bytes", b.len());
    let magic = u32::from_le_bytes(b[0..4].try_into().unwrap());
    assert!(
        magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d,
        "pcap magic {magic:#x}"
    );
    assert_eq!(
        u32::from_le_bytes(b[20..24].try_into().unwrap()),
        1,
        "Ethernet"
    );
    let mut at = 24;
    let mut frames = Vec::new();
    while at < b.len() {
        assert!(at + 16 <= b.len(), "record header cut at {at}");
        let incl = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        let orig = u32::from_le_bytes(b[at + 12..at + 16].try_into().unwrap()) as usize;
        assert_eq!(incl, orig, "a whole frame captured");
        at += 16;
        assert!(at + incl <= b.len(), "record cut at {at}");
        frames.push(b[at..at + incl].to_vec());
        at += incl;
    }
    frames
}

/// The send-only port (a mirror's output) and its datapath port, from xvsd's `show`.
fn mirror_port(d: &Xvsd) -> Option<(String, u32)> {
    let show = d.ok(&["show"]);
    let mut port = None;
    for l in show.lines() {
        let t = l.trim();
        if let Some(p) = t.strip_prefix("Port ") {
            port = p.split_whitespace().next().map(str::to_string);
        }
        if let Some(rest) = t.strip_prefix("datapath: port ") {
            if rest.contains("send-only") {
                let dp = rest.split(',').next()?.trim().parse().ok()?;
                return Some((port?, dp));
            }
        }
    }
    None
}

/// Port `name`'s datapath port, from xvsd's `show`.
fn dp_port(d: &Xvsd, name: &str) -> u32 {
    let show = d.ok(&["show"]);
    let mut lines = show.lines().skip_while(|l| {
        l.trim() != format!("Port {name}") && !l.contains(&format!("Port {name} "))
    });
    lines
        .find_map(|l| l.trim().strip_prefix("datapath: port "))
        .and_then(|r| r.split(',').next()?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no datapath port for {name}: {show}"))
}

/// `ovs-appctl dpctl/dump-flows` against xvsd: every cache entry, one a line.
fn dump_flows(d: &Xvsd) -> Vec<String> {
    let ctl = d.dir.join(format!("ovs-vswitchd.{}.ctl", d.pid()));
    let o = Command::new("ovs-appctl")
        .arg("-t")
        .arg(&ctl)
        .arg("dpctl/dump-flows")
        .output()
        .expect("ovs-appctl");
    assert!(o.status.success(), "dpctl/dump-flows: {o:?}");
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.contains("actions:"))
        .map(str::to_string)
        .collect()
}

/// The datapath ports a cache entry's actions output to.
fn outputs(entry: &str) -> Vec<u32> {
    let actions = entry.rsplit("actions:").next().unwrap();
    actions
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect()
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `frame` with an 802.1Q tag of `vid` after its addresses.
fn tagged(frame: &[u8], vid: u16) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&[0x81, 0x00]);
    f.extend_from_slice(&vid.to_be_bytes());
    f.extend_from_slice(&frame[12..]);
    f
}

/// Sends `frame` from `from` and waits until `to` has it, byte for byte (so that frames
/// cross the switch, and reach the capture, in the order sent).
fn send_and_receive(from: &RawSocket, to: &RawSocket, frame: &[u8]) {
    from.send(frame).unwrap();
    let start = Instant::now();
    loop {
        let left = Duration::from_secs(3).saturating_sub(start.elapsed());
        match to.recv(left) {
            Some(f) if f == frame => return,
            Some(_) => continue,
            None => panic!("frame not forwarded: {frame:02x?}"),
        }
    }
}

const BCAST: [u8; 6] = [0xff; 6];

#[test]
fn ovs_tcpdump_shows_a_ports_traffic_both_ways() {
    require_tools();
    // Hosts 0 and 1 on VLAN 1, host 2 on VLAN 2; port 0 is the one looked at.
    let n = DbNode::new("mirror-tcpdump", 3);
    // The tap ovs-tcpdump makes would carry the namespace's IPv6 chatter.
    for key in ["all", "default"] {
        n.net.ns_switch.exec(
            "sysctl",
            &["-qw", &format!("net.ipv6.conf.{key}.disable_ipv6=1")],
        );
    }
    n.d.db.vsctl_ok(&["add-br", "br-int"]);
    for (i, tag) in [(0, 1), (1, 1), (2, 2)] {
        n.d.db
            .vsctl_ok(&["add-port", "br-int", n.port(i), &format!("tag={tag}")]);
    }
    let socks: Vec<RawSocket> = (0..3).map(|i| n.net.host_socket(i)).collect();
    let mac: Vec<[u8; 6]> = (0..3).map(|i| n.net.hosts[i].host_mac).collect();

    // Through port 0 both ways: broadcasts (which teach the MACs), then unicast.
    let mut through = vec![
        (0, 1, test_frame(BCAST, mac[0], 1, 60)),
        (1, 0, test_frame(BCAST, mac[1], 2, 60)),
    ];
    for k in 0..3 {
        through.push((
            0,
            1,
            test_frame(mac[1], mac[0], 10 + k, 100 + 100 * k as usize),
        ));
        through.push((1, 0, test_frame(mac[0], mac[1], 20 + k, 1000 + k as usize)));
    }
    let last = (0, 1, test_frame(mac[1], mac[0], 99, 1514));

    let capture = OvsTcpdump::start(&n.d, n.net.ns_switch.name(), n.port(0), through.len() + 1);
    let (mirror_name, mirror_dp) = mirror_port(&n.d).unwrap();
    // The Mirror row ovs-tcpdump made, as it makes it.
    let mirror = n.d.db.vsctl_ok(&[
        "--columns=name,select_src_port,select_dst_port,output_port",
        "list",
        "Mirror",
    ]);
    assert!(mirror.contains(&format!("m_{}", n.port(0))), "{mirror}");
    // Host 2's VLAN does not cross port 0: not mirrored (its broadcast reaches no host).
    socks[2].send(&test_frame(BCAST, mac[2], 3, 60)).unwrap();
    for (from, to, f) in &through {
        send_and_receive(&socks[*from], &socks[*to], f);
    }
    // The copies are in the cached actions of port 0's flows, and only there.
    let flows = dump_flows(&n.d);
    let dp: Vec<u32> = (0..3).map(|i| dp_port(&n.d, n.port(i))).collect();
    let entry = |in_dp: u32, dst: [u8; 6]| {
        flows
            .iter()
            .find(|l| {
                l.contains(&format!("in_port({in_dp})"))
                    && l.contains(&format!("dst={}", mac_text(dst)))
            })
            .unwrap_or_else(|| panic!("no entry from {in_dp} to {dst:02x?}: {flows:#?}"))
            .clone()
    };
    let mut a = outputs(&entry(dp[0], mac[1]));
    a.sort_unstable();
    let mut want = vec![dp[1], mirror_dp];
    want.sort_unstable();
    assert_eq!(a, want, "port 0 to host 1: {flows:#?}");
    let mut a = outputs(&entry(dp[1], mac[0]));
    a.sort_unstable();
    let mut want = vec![dp[0], mirror_dp];
    want.sort_unstable();
    assert_eq!(a, want, "host 1 to port 0: {flows:#?}");
    let unmirrored = entry(dp[2], BCAST);
    assert!(
        !outputs(&unmirrored).contains(&mirror_dp),
        "an unmirrored port's entry has no copy: {unmirrored}"
    );
    // Mirror.statistics: what it copied, written back as OVS does.
    let mirror_row = format!("m_{}", n.port(0));
    let bytes: usize = through.iter().map(|(_, _, f)| f.len()).sum();
    let want = format!("{{tx_bytes={bytes}, tx_packets={}}}", through.len());
    let start = Instant::now();
    loop {
        let got =
            n.d.db
                .vsctl_ok(&["get", "Mirror", &mirror_row, "statistics"]);
        if got.trim() == want {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "statistics {got} want {want}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    send_and_receive(&socks[0], &socks[1], &last.2);

    let frames = capture.finish();
    // Each frame once, in order, in its VLAN (the mirror port is a trunk: the copies
    // are tagged with the port's VLAN, as OVS's).
    let want: Vec<Vec<u8>> = through
        .iter()
        .chain(std::iter::once(&last))
        .map(|(_, _, f)| tagged(f, 1))
        .collect();
    assert_eq!(frames.len(), want.len(), "{frames:02x?}");
    for (i, (got, want)) in frames.iter().zip(&want).enumerate() {
        assert_eq!(got, want, "frame {i}");
    }

    // ovs-tcpdump has removed its mirror and port: no copies any more.
    let mirrors = n.d.db.vsctl_ok(&["list", "Mirror"]);
    assert!(mirrors.trim().is_empty(), "{mirrors}");
    let start = Instant::now();
    while mirror_port(&n.d).is_some() || n.d.ok(&["show"]).contains(&format!("Port {mirror_name}"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            n.d.ok(&["show"])
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    send_and_receive(&socks[0], &socks[1], &test_frame(mac[1], mac[0], 100, 60));
    let flows = dump_flows(&n.d);
    let e = flows
        .iter()
        .find(|l| {
            l.contains(&format!("in_port({})", dp[0]))
                && l.contains(&format!("dst={}", mac_text(mac[1])))
        })
        .unwrap_or_else(|| panic!("{flows:#?}"));
    assert_eq!(outputs(e), vec![dp[1]], "{e}");
    assert!(n.d.log().contains("mirrors set (Mirror)"), "{}", n.d.log());
}

#[test]
fn ovs_tcpdump_on_a_gre_port_shows_the_inner_frames_both_ways() {
    require_tools();
    let mut c = Cluster::new("mirror-gre", 2);
    let tun_id = 0x3e7;
    for i in 0..2 {
        let mac = format!("fa:16:3e:00:00:0{}", i + 1);
        c.add_vm(i, "tap-vm", &mac, None);
        let n = &c.nodes[i];
        n.ns.exec("sysctl", &["-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        n.ns.exec("sysctl", &["-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        n.add_int_and_tun_bridges();
        n.ctl(&["add-port", "br-int", "tap-vm", "tag=1"]);
        let gre = format!("gre-{}", 1 - i);
        n.ctl(&[
            "add-port",
            "br-tun",
            &gre,
            "type=gre",
            &format!("remote_ip={}", node_ip(1 - i)),
            &format!("local_ip={}", node_ip(i)),
            "key=flow",
            "ofport=2",
        ]);
        let flows = format!(
            "priority=4,in_port=patch-int,dl_vlan=1 actions=strip_vlan,set_tunnel:{tun_id:#x},output:{gre}
priority=3,tun_id={tun_id:#x} actions=mod_vlan_vid:1,output:patch-int
priority=1 actions=drop
"
        );
        let file = n.xvsd.dir.join("br-tun.flows");
        std::fs::write(&file, flows).unwrap();
        n.ctl(&["replace-flows", "br-tun", file.to_str().unwrap()]);
    }
    for n in &c.nodes {
        n.wait_tunnels_resolved();
    }
    let vm: Vec<RawSocket> = (0..2).map(|i| c.nodes[i].vms[0].socket()).collect();
    let mac: Vec<[u8; 6]> = (0..2).map(|i| c.nodes[i].vms[0].mac).collect();
    let mut through = vec![
        (0, 1, test_frame(BCAST, mac[0], 1, 60)),
        (1, 0, test_frame(BCAST, mac[1], 2, 60)),
    ];
    for k in 0..2 {
        through.push((0, 1, test_frame(mac[1], mac[0], 10 + k, 200)));
        through.push((1, 0, test_frame(mac[0], mac[1], 20 + k, 300)));
    }
    // On node 0's GRE port: what goes into the tunnel and what comes out of it.
    let n0 = &c.nodes[0];
    let capture = OvsTcpdump::start(&n0.xvsd, n0.ns.name(), "gre-1", through.len());
    for (from, to, f) in &through {
        send_and_receive(&vm[*from], &vm[*to], f);
    }
    let frames = capture.finish();
    // br-tun strips the local VLAN before the tunnel and the frames come out of it
    // untagged: the copies are the frames as the VMs sent them, each once.
    let want: Vec<&Vec<u8>> = through.iter().map(|(_, _, f)| f).collect();
    assert_eq!(frames.len(), want.len(), "{frames:02x?}");
    for (i, (got, want)) in frames.iter().zip(want).enumerate() {
        assert_eq!(got, want, "frame {i}");
    }
    let mirrors = n0.xvsd.db.vsctl_ok(&["list", "Mirror"]);
    assert!(mirrors.trim().is_empty(), "{mirrors}");
}

#[test]
fn a_bad_mirror_is_logged_and_changes_nothing_else() {
    require_tools();
    let n = DbNode::new("mirror-bad", 3);
    n.d.db.vsctl_ok(&["add-br", "br-int"]);
    n.d.db.vsctl_ok(&["add-br", "br-other"]);
    for i in 0..2 {
        n.d.db.vsctl_ok(&["add-port", "br-int", n.port(i), "tag=1"]);
    }
    n.d.db.vsctl_ok(&["add-port", "br-other", n.port(2)]);
    // Output to a port of another bridge, and no output at all: both refused, as OVS
    // refuses them (same words in the log).
    n.d.db.vsctl_ok(&[
        "--",
        "--id=@p",
        "get",
        "port",
        n.port(0),
        "--",
        "--id=@o",
        "get",
        "port",
        n.port(2),
        "--",
        "--id=@m",
        "create",
        "mirror",
        "name=elsewhere",
        "select_src_port=@p",
        "output_port=@o",
        "--",
        "--id=@n",
        "create",
        "mirror",
        "name=nowhere",
        "select_all=true",
        "--",
        "add",
        "bridge",
        "br-int",
        "mirrors",
        "@m",
        "@n",
    ]);
    let start = Instant::now();
    let wanted = [
        "bridge br-int: mirror elsewhere outputs to port not on bridge",
        "bridge br-int: mirror nowhere does not specify output; ignoring",
    ];
    while !wanted.iter().all(|w| n.d.log().contains(w)) {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", n.d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing else changed: the ports forward, with no copy anywhere.
    let socks: Vec<RawSocket> = (0..3).map(|i| n.net.host_socket(i)).collect();
    let mac: Vec<[u8; 6]> = (0..3).map(|i| n.net.hosts[i].host_mac).collect();
    send_and_receive(&socks[0], &socks[1], &test_frame(BCAST, mac[0], 1, 60));
    send_and_receive(&socks[1], &socks[0], &test_frame(mac[0], mac[1], 2, 60));
    assert!(socks[2].recv_all(Duration::from_millis(200)).is_empty());
    assert!(mirror_port(&n.d).is_none(), "{}", n.d.ok(&["show"]));
    for i in 0..3 {
        assert!(n.ofport(n.port(i)) >= 1);
    }
}
