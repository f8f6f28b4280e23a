//! os-ken from PyPI driving xvs the way the Neutron OVS agent does: on each of two nodes
//! (an xvsd in its own namespace, following its private ovsdb-server, on one underlay),
//! a small os-ken app (tests/python/neutron_osken_node.py) runs neutron's own native
//! bridge classes, OVSIntegrationBridge and OVSTunnelBridge, as the agent does: br-int
//! and br-tun made through OVSDB with the app as their controller, their default
//! tables, a GRE and a VXLAN port to the other node, two networks (VXLAN with l2pop
//! unicast flows and ARP responder entries for the remote VM; GRE without, so flooding
//! and learning), a VM port on each bound to its local VLAN with the agent's ARP/MAC/ND
//! spoofing protection. Then:
//! - each bridge holds exactly the flows the app installed: `ovs-ofctl -O OpenFlow13
//!   dump-flows` against the node's management socket, next to what the real OVS's
//!   `ovs-ofctl ofp-print` makes of the FLOW_MODs os-ken sent (the app records them);
//!   os-ken's own parse of the flow statistics gives back what it sent;
//! - VMs ping each other over both tunnels both ways;
//! - the counters grew on the flows the packets had to take (br-int's spoofing tables,
//!   br-tun's tunnel-in tables, learning, l2pop unicast and ARP responder on VXLAN,
//!   flooding and learned flows, `hard_timeout=300`, on GRE), not on the drops, and
//!   nothing but the learned flows was added;
//! - over IPv6 too: neighbour discovery through br-int's ND spoofing protection and
//!   br-tun's learning from neighbour advertisements;
//! - an ARP or NA for an address that is not the VM's, or a frame from another MAC,
//!   stops in br-int (tables 24 and 25) and reaches nobody;
//! - the agent restarting (the app again, new cookies): the same flows under the new
//!   cookies with their counters carried over, the canary found, the old cookies'
//!   flows (learned ones too) cleaned up, and traffic learned again.
//!
//! Needs root, the openvswitch tools and the Python from scripts/test.sh (neutron,
//! os-ken, ovsdbapp); fails loudly without them.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::nodes::{node_ip, Cluster, Node};
use common::ofconn::ofctl_ok;
use common::python::{python, script};
use common::{arp, csum, mac, ping};
use serde_json::{json, Value};

/// The two networks, each with one VM on each node.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Net {
    /// VXLAN, VNI 1001, with l2pop: unicast flows and ARP responder entries for the
    /// remote VM.
    Vxlan,
    /// GRE, key 2002, without l2pop: ARP is flooded, br-tun learns the remote VM.
    Gre,
}

const NETS: [Net; 2] = [Net::Vxlan, Net::Gre];

impl Net {
    fn kind(self) -> &'static str {
        match self {
            Net::Vxlan => "vxlan",
            Net::Gre => "gre",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn seg(self) -> u32 {
        match self {
            Net::Vxlan => 1001,
            Net::Gre => 2002,
        }
    }

    /// Node `n`'s local VLAN for the network: each agent picks its own.
    fn lvid(self, n: usize) -> u16 {
        [[1, 5], [2, 3]][self.index()][n]
    }

    /// The br-tun table that tunnel packets of this type arrive in.
    fn tun_table(self) -> u8 {
        match self {
            Net::Gre => 3,
            Net::Vxlan => 4,
        }
    }

    fn tap(self) -> &'static str {
        ["tapvx", "tapgre"][self.index()]
    }

    fn vm_mac(self, n: usize) -> String {
        format!("fa:16:3e:{:02x}:00:{:02x}", self.index() + 1, n + 1)
    }

    fn vm_ip(self, n: usize) -> String {
        format!("10.{}.0.{}", self.index() + 1, n + 1)
    }

    fn vm_ip6(self, n: usize) -> String {
        format!("fd00:{}::{}", self.index() + 1, n + 1)
    }

    fn l2pop(self) -> bool {
        self == Net::Vxlan
    }
}

/// What the app is told to do on node `n`.
fn app_config(c: &Cluster, n: usize, of_port: u16, restart: bool) -> Value {
    let remote = 1 - n;
    let networks: Vec<Value> = NETS
        .iter()
        .map(|&net| {
            let l2pop: Vec<Value> = if net.l2pop() {
                vec![json!({"mac": net.vm_mac(remote), "ip": net.vm_ip(remote)})]
            } else {
                vec![]
            };
            json!({
                "type": net.kind(),
                "segmentation_id": net.seg(),
                "lvid": net.lvid(n),
                "vm": {
                    "port": net.tap(),
                    "mac": net.vm_mac(n),
                    "ip": net.vm_ip(n),
                    "ip6": net.vm_ip6(n),
                    "iface_id": format!("port-{}-{n}", net.kind()),
                },
                "l2pop": l2pop,
            })
        })
        .collect();
    json!({
        "db": c.nodes[n].xvsd.db.remote(),
        "of_port": of_port,
        "local_ip": node_ip(n),
        "remote_ip": node_ip(remote),
        "networks": networks,
        "restart": restart,
    })
}

/// The app running on one node; killed if still running when dropped.
struct App {
    child: Child,
    out: std::path::PathBuf,
    log: std::path::PathBuf,
}

impl App {
    /// Starts the app in node `n`'s namespace (where xvsd reaches 127.0.0.1:6633);
    /// `restart`: as the agent starting again on a node it programmed.
    fn start(c: &Cluster, n: usize, restart: bool) -> App {
        let node = &c.nodes[n];
        let dir = &node.xvsd.dir;
        let config = dir.join("neutron-node.json");
        std::fs::write(&config, app_config(c, n, 6633, restart).to_string()).unwrap();
        let out = dir.join("neutron-node.out");
        let log = dir.join("neutron-node.log");
        let child = Command::new("ip")
            .args(["netns", "exec", node.ns.name()])
            .arg(python())
            .arg(script("neutron_osken_node.py"))
            .arg(&config)
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&log).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .expect("start the os-ken app");
        App { child, out, log }
    }

    /// Waits for the app's result (at most 120 s).
    fn wait(&mut self, node: &Node) -> Value {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > Duration::from_secs(120) {
                let _ = self.child.kill();
                panic!(
                    "the os-ken app on {} did not finish in 120 s:\n{}\n{}",
                    node.ip,
                    self.log(),
                    node.xvsd.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let text = std::fs::read_to_string(&self.out).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "the os-ken app on {} ({status}) printed no result ({e}): {text}\n{}",
                node.ip,
                self.log()
            )
        });
        assert!(
            status.success() && v.get("error").is_none(),
            "the os-ken app on {} failed ({status}) at {}: {}\n{}\n{}\nxvsd:\n{}",
            node.ip,
            v["step"],
            v["error"],
            v["traceback"].as_str().unwrap_or(""),
            self.log(),
            node.xvsd.log()
        );
        v
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A flow as `ovs-ofctl` prints it, counters aside.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Flow {
    table: u8,
    cookie: String,
    /// `idle_timeout=N`, `hard_timeout=N` when not 0.
    timeouts: Vec<String>,
    /// `priority=N,` and the match.
    rule: String,
    actions: String,
}

/// What the real OVS makes of a FLOW_MOD ADD (hex) os-ken sent: `ovs-ofctl ofp-print`,
/// e.g. `OFPT_FLOW_MOD (OF1.3) (xid=0x7): ADD table:24 priority=2,arp,in_port=5,...
/// cookie:0x1234 out_port:0 actions=goto_table:25`.
fn sent_flow(hex: &str) -> Flow {
    let text = ofctl_ok(Path::new("/nonexistent"), &["ofp-print", hex]);
    let body = text
        .split_once("): ")
        .unwrap_or_else(|| panic!("ofp-print: {text}"))
        .1
        .trim();
    let (head, actions) = body.split_once(" actions=").unwrap();
    let mut tokens = head.split(' ');
    assert_eq!(tokens.next(), Some("ADD"), "{text}");
    let mut flow = Flow {
        table: 0,
        cookie: String::new(),
        timeouts: vec![],
        rule: String::new(),
        actions: actions.to_string(),
    };
    for t in tokens {
        if let Some(v) = t.strip_prefix("table:") {
            flow.table = v.parse().unwrap();
        } else if let Some(v) = t.strip_prefix("cookie:") {
            flow.cookie = v.to_string();
        } else if let Some(v) = t.strip_prefix("idle:") {
            flow.timeouts.push(format!("idle_timeout={v}"));
        } else if let Some(v) = t.strip_prefix("hard:") {
            flow.timeouts.push(format!("hard_timeout={v}"));
        } else if t.starts_with("out_port:") {
        } else if flow.rule.is_empty() && t.starts_with("priority=") {
            flow.rule = t.to_string();
        } else {
            panic!("unexpected {t:?} in {text}");
        }
    }
    flow
}

/// A flow `dump-flows` printed, with its packet counter.
#[derive(Clone, Debug)]
struct Dumped {
    flow: Flow,
    n_packets: u64,
}

/// `ovs-ofctl -O OpenFlow13 --no-names dump-flows BRIDGE` on `node`.
fn dump(node: &Node, bridge: &str) -> Vec<Dumped> {
    let text = ofctl_ok(
        &node.xvsd.dir,
        &["-O", "OpenFlow13", "--no-names", "dump-flows", bridge],
    );
    let mut flows = Vec::new();
    for line in text.lines().map(str::trim) {
        if !line.starts_with("cookie=") {
            continue;
        }
        let (head, actions) = line
            .split_once(" actions=")
            .unwrap_or_else(|| panic!("{line}"));
        let mut parts: Vec<&str> = head.split(", ").collect();
        let rule = parts.pop().unwrap();
        let mut flow = Flow {
            table: 0,
            cookie: String::new(),
            timeouts: vec![],
            rule: rule.to_string(),
            actions: actions.to_string(),
        };
        let mut n_packets = 0;
        for p in parts {
            let (k, v) = p.split_once('=').unwrap_or_else(|| panic!("{p} in {line}"));
            match k {
                "cookie" => flow.cookie = v.to_string(),
                "table" => flow.table = v.parse().unwrap(),
                "n_packets" => n_packets = v.parse().unwrap(),
                "idle_timeout" | "hard_timeout" => flow.timeouts.push(p.to_string()),
                "duration" | "n_bytes" | "idle_age" | "hard_age" => {}
                _ => panic!("unexpected {p:?} in {line}"),
            }
        }
        flows.push(Dumped { flow, n_packets });
    }
    flows
}

/// How many times each flow is in `v`.
fn count(v: &[Flow]) -> BTreeMap<&Flow, usize> {
    let mut m = BTreeMap::new();
    for f in v {
        *m.entry(f).or_default() += 1;
    }
    m
}

/// A flow table 10 learned into table 20 (`hard_timeout=300`, priority 1).
fn is_learned(f: &Flow) -> bool {
    f.table == 20 && f.timeouts == ["hard_timeout=300"] && f.rule.starts_with("priority=1,")
}

/// Checks that `bridge` on `node` holds exactly the flows the app left there (plus, if
/// `learned_ok`, flows learned into table 20). Returns the dump.
fn check_flows(node: &Node, app: &Value, bridge: &str, learned_ok: bool) -> Vec<Dumped> {
    let mut want: Vec<Flow> = app["expected"][bridge]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| sent_flow(h.as_str().unwrap()))
        .collect();
    want.sort();
    let dumped = dump(node, bridge);
    let mut got: Vec<Flow> = dumped
        .iter()
        .map(|d| d.flow.clone())
        .filter(|f| !(learned_ok && is_learned(f)))
        .collect();
    got.sort();
    if got != want {
        let (w, g) = (count(&want), count(&got));
        let missing: Vec<_> = w.keys().filter(|f| !g.contains_key(*f)).collect();
        let extra: Vec<_> = g.keys().filter(|f| !w.contains_key(*f)).collect();
        panic!(
            "{bridge} on {}: {} flows, the app installed {}\nmissing: {missing:#?}\nnot installed by the app: {extra:#?}",
            node.ip,
            got.len(),
            want.len()
        );
    }
    dumped
}

/// The dumped flow of `table` whose rule is `rule`.
fn flow<'a>(flows: &'a [Dumped], table: u8, rule: &str) -> &'a Dumped {
    let found: Vec<&Dumped> = flows
        .iter()
        .filter(|d| d.flow.table == table && d.flow.rule == rule)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "table={table} {rule}: {found:#?} in {flows:#?}"
    );
    found[0]
}

fn used(flows: &[Dumped], table: u8, rule: &str) {
    let f = flow(flows, table, rule);
    assert!(
        f.n_packets > 0,
        "no packet took table={table} {rule}: {flows:#?}"
    );
}

fn unused(flows: &[Dumped], table: u8, rule: &str) {
    let f = flow(flows, table, rule);
    assert_eq!(
        f.n_packets, 0,
        "packets took table={table} {rule}: {flows:#?}"
    );
}

fn ping4(c: &Cluster, net: Net, from: usize, to: usize) {
    let vm = &c.nodes[from].vms[net.index()];
    let out = Command::new("ip")
        .args(["netns", "exec", vm.ns.name()])
        .args(["ping", "-c", "3", "-i", "0.2", "-W", "2", &net.vm_ip(to)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("3 received"),
        "{net:?}: VM on node {from} -> VM on node {to}: {text}{}\nnode {from} br-tun:\n{}\nnode {to} br-tun:\n{}",
        String::from_utf8_lossy(&out.stderr),
        ofctl_ok(&c.nodes[from].xvsd.dir, &["-O", "OpenFlow13", "dump-flows", "br-tun"]),
        ofctl_ok(&c.nodes[to].xvsd.dir, &["-O", "OpenFlow13", "dump-flows", "br-tun"]),
    );
}

/// Gives the VM of `net` on node `n` IPv6 (veths are made without): its address, no
/// DAD and no router solicitations (nothing waits, nothing extra is flooded).
fn enable_ipv6(c: &Cluster, net: Net, n: usize) {
    let vm = &c.nodes[n].vms[net.index()];
    for (key, value) in [
        ("accept_dad", "0"),
        ("router_solicitations", "0"),
        ("disable_ipv6", "0"),
    ] {
        vm.ns.exec(
            "sysctl",
            &[
                "-q",
                "-w",
                &format!("net.ipv6.conf.{}.{key}={value}", vm.vm_if),
            ],
        );
    }
    vm.ns.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{}/64", net.vm_ip6(n)),
        "dev",
        &vm.vm_if,
        "nodad",
    ]);
}

fn ping6(c: &Cluster, net: Net, from: usize, to: usize) {
    let vm = &c.nodes[from].vms[net.index()];
    // Forget the neighbour, so that it is asked (NS) and answers (NA) again.
    vm.ns.ip(&["-6", "neigh", "flush", "dev", &vm.vm_if]);
    let out = Command::new("ip")
        .args(["netns", "exec", vm.ns.name()])
        .args([
            "ping",
            "-6",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
            &net.vm_ip6(to),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("3 received"),
        "{net:?}: VM on node {from} -> VM on node {to} over IPv6: {text}{}\nnode {from} br-int:\n{}\nnode {to} br-int:\n{}",
        String::from_utf8_lossy(&out.stderr),
        ofctl_ok(&c.nodes[from].xvsd.dir, &["-O", "OpenFlow13", "dump-flows", "br-int"]),
        ofctl_ok(&c.nodes[to].xvsd.dir, &["-O", "OpenFlow13", "dump-flows", "br-int"]),
    );
}

/// An unsolicited neighbour advertisement for `target` from `src_mac`/`src` to all
/// nodes (ff02::1), with its target link-layer address option.
fn neighbour_advertisement(src_mac: &str, src: &str, target: &str) -> Vec<u8> {
    let src: std::net::Ipv6Addr = src.parse().unwrap();
    let dst: std::net::Ipv6Addr = "ff02::1".parse().unwrap();
    let mut icmp = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
    icmp.extend_from_slice(&target.parse::<std::net::Ipv6Addr>().unwrap().octets());
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(&mac(src_mac));
    let mut pseudo = src.octets().to_vec();
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(&icmp);
    let c = csum(&pseudo);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = mac("33:33:00:00:00:01").to_vec();
    f.extend_from_slice(&mac(src_mac));
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend(icmp);
    f
}

/// The packet counter of the dumped flow of `table` whose rule is `rule`.
fn packets(node: &Node, bridge: &str, table: u8, rule: &str) -> u64 {
    flow(&dump(node, bridge), table, rule).n_packets
}

#[test]
fn neutrons_bridge_classes_on_os_ken_program_two_nodes_and_vms_ping_over_gre_and_vxlan() {
    let started = Instant::now();
    let mut c = Cluster::new("osken", 2);
    for n in 0..2 {
        for net in NETS {
            c.add_vm(n, net.tap(), &net.vm_mac(n), Some(&net.vm_ip(n)));
        }
    }

    // Both nodes' apps at once: each makes its bridges and flows.
    let mut apps: Vec<App> = (0..2).map(|n| App::start(&c, n, false)).collect();
    let results: Vec<Value> = apps
        .iter_mut()
        .zip(&c.nodes)
        .map(|(a, node)| a.wait(node))
        .collect();
    eprintln!(
        "both nodes programmed by neutron's classes after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    for (n, r) in results.iter().enumerate() {
        let node = &c.nodes[n];
        for bridge in ["br-int", "br-tun"] {
            let diffs = r["read_back"][bridge].as_array().unwrap();
            assert!(
                diffs.is_empty(),
                "node {n}: os-ken reads back from {bridge} other than it wrote: {diffs:#?}"
            );
            check_flows(node, r, bridge, false);
        }
        // The tunnel ports carry the agent's names and options.
        for net in NETS {
            let port = format!(
                "{}-{:08x}",
                net.kind(),
                u32::from(node_ip(1 - n).parse::<std::net::Ipv4Addr>().unwrap())
            );
            assert!(
                r["ofports"][&port].as_i64().is_some(),
                "node {n}: no {port}: {}",
                r["ofports"]
            );
        }
    }
    for node in &c.nodes {
        node.wait_tunnels_resolved();
    }

    for net in NETS {
        ping4(&c, net, 0, 1);
        ping4(&c, net, 1, 0);
    }

    for (n, r) in results.iter().enumerate() {
        let node = &c.nodes[n];
        let remote = 1 - n;
        let ofport = |name: &str| r["ofports"][name].as_i64().unwrap();
        let int = check_flows(node, r, "br-int", false);
        let tun = check_flows(node, r, "br-tun", true);
        let cookie = r["cookies"]["br-tun"].as_str().unwrap();

        for net in NETS {
            let tap = ofport(net.tap());
            let lvid = net.lvid(n);
            let seg = net.seg();
            let tunnel = format!(
                "{}-{:08x}",
                net.kind(),
                u32::from(node_ip(remote).parse::<std::net::Ipv4Addr>().unwrap())
            );
            let tun_port = ofport(&tunnel);
            // br-int: the VM's frames through the spoofing checks to NORMAL.
            used(&int, 0, &format!("priority=9,in_port={tap}"));
            used(&int, 0, &format!("priority=10,arp,in_port={tap}"));
            used(
                &int,
                24,
                &format!("priority=2,arp,in_port={tap},arp_spa={}", net.vm_ip(n)),
            );
            used(
                &int,
                25,
                &format!("priority=2,in_port={tap},dl_src={}", net.vm_mac(n)),
            );
            // br-tun: in from the tunnel, local VLAN, learning.
            used(&tun, 0, &format!("priority=1,in_port={tun_port}"));
            used(
                &tun,
                net.tun_table(),
                &format!("priority=1,tun_id={seg:#x}"),
            );
            // What br-tun learned from the remote VM's frames.
            let learned: Vec<&Dumped> = tun
                .iter()
                .filter(|d| {
                    is_learned(&d.flow)
                        && d.flow.rule
                            == format!(
                                "priority=1,vlan_tci={lvid:#06x}/0x0fff,dl_dst={}",
                                net.vm_mac(remote)
                            )
                })
                .collect();
            assert_eq!(
                learned.len(),
                1,
                "node {n} {net:?}: learned {learned:#?} in {tun:#?}"
            );
            let l = learned[0];
            assert_eq!(l.flow.cookie, cookie, "the learn action's cookie");
            assert_eq!(
                l.flow.actions,
                format!(
                    "load:0->NXM_OF_VLAN_TCI[],load:{seg:#x}->NXM_NX_TUN_ID[],output:{tun_port}"
                )
            );
            if net.l2pop() {
                // l2pop: the ARP responder answers, unicast goes straight to the tunnel,
                // nothing is flooded, and the learned flow stays below l2pop's.
                used(
                    &tun,
                    21,
                    &format!(
                        "priority=1,arp,dl_vlan={lvid},arp_tpa={}",
                        net.vm_ip(remote)
                    ),
                );
                used(
                    &tun,
                    20,
                    &format!("priority=2,dl_vlan={lvid},dl_dst={}", net.vm_mac(remote)),
                );
                unused(&tun, 22, &format!("priority=1,dl_vlan={lvid}"));
                assert_eq!(l.n_packets, 0, "below l2pop's flow: {l:?}");
            } else {
                // No l2pop: node 0's VM, which asks first, floods its ARP request to the
                // tunnel (node 1's learns from it and does not ask); unicast follows the
                // learned flows both ways.
                if n == 0 {
                    used(&tun, 21, "priority=0");
                    used(&tun, 22, &format!("priority=1,dl_vlan={lvid}"));
                }
                assert!(
                    l.n_packets > 0,
                    "the learned flow carries the unicast: {l:?}"
                );
            }
        }
        used(&tun, 10, "priority=1");
        used(&int, 60, "priority=1");
        // Nothing was dropped.
        unused(&int, 24, "priority=0");
        for table in [0, 3, 4, 6, 22] {
            unused(&tun, table, "priority=0");
        }
    }

    // IPv6: neighbour discovery through the ND spoofing protection (br-int table 24
    // lets each VM advertise its own address) and br-tun's learning from NAs (table 10).
    for n in 0..2 {
        for net in NETS {
            enable_ipv6(&c, net, n);
        }
    }
    for net in NETS {
        ping6(&c, net, 0, 1);
        ping6(&c, net, 1, 0);
    }
    for (n, r) in results.iter().enumerate() {
        let node = &c.nodes[n];
        let int = check_flows(node, r, "br-int", false);
        let tun = check_flows(node, r, "br-tun", true);
        for net in NETS {
            let tap = r["ofports"][net.tap()].as_i64().unwrap();
            used(
                &int,
                0,
                &format!("priority=10,icmp6,in_port={tap},icmp_type=136"),
            );
            used(
                &int,
                24,
                &format!(
                    "priority=2,icmp6,in_port={tap},icmp_type=136,nd_target={}",
                    net.vm_ip6(n)
                ),
            );
        }
        used(&tun, 10, "priority=2,icmp6,icmp_type=136");
        unused(&int, 24, "priority=0");
    }

    // Spoofing: what a VM sends for an address that is not its own stops in br-int.
    let node0 = &c.nodes[0];
    let net = Net::Gre;
    let tap = results[0]["ofports"][net.tap()].as_i64().unwrap();
    let vm = c.nodes[0].vms[net.index()].socket();
    let peer = c.nodes[1].vms[net.index()].socket();
    peer.recv_all(Duration::from_millis(300));
    let flood = format!("priority=1,dl_vlan={}", net.lvid(0));
    let flooded = packets(node0, "br-tun", 22, &flood);
    let dropped = packets(node0, "br-int", 24, "priority=0");
    let spoofed = [
        arp(
            "ff:ff:ff:ff:ff:ff",
            &net.vm_mac(0),
            None,
            2,
            &net.vm_mac(0),
            "10.2.0.99",
            "ff:ff:ff:ff:ff:ff",
            "10.2.0.99",
        ),
        neighbour_advertisement(&net.vm_mac(0), &net.vm_ip6(0), "fd00:2::99"),
    ];
    for f in &spoofed {
        vm.send(f).unwrap();
    }
    assert_eq!(
        peer.recv_all(Duration::from_millis(500)),
        Vec::<Vec<u8>>::new(),
        "nothing spoofed reaches the other node's VM"
    );
    assert_eq!(
        packets(node0, "br-int", 24, "priority=0"),
        dropped + 2,
        "the spoofed ARP and NA are dropped in table 24"
    );
    assert_eq!(
        packets(node0, "br-tun", 22, &flood),
        flooded,
        "nothing flooded"
    );
    // A frame from a MAC that is not the port's stops in table 25 (no flow: dropped).
    let from_mac = packets(node0, "br-int", 0, &format!("priority=9,in_port={tap}"));
    vm.send(&ping(
        &net.vm_mac(1),
        "fa:16:3e:66:66:66",
        None,
        &net.vm_ip(0),
        &net.vm_ip(1),
    ))
    .unwrap();
    assert_eq!(
        peer.recv_all(Duration::from_millis(500)),
        Vec::<Vec<u8>>::new(),
        "a frame from a spoofed MAC does not reach the other node's VM"
    );
    assert_eq!(
        packets(node0, "br-int", 0, &format!("priority=9,in_port={tap}")),
        from_mac + 1
    );

    // The agent restarts on both nodes: every flow again under a new cookie (an ADD
    // replacing a flow keeps its counters, as in OVS), then its rpc_loop finds the
    // canary flow and deletes the flows of other cookies, the learned ones included.
    let before: Vec<Vec<Dumped>> = c.nodes.iter().map(|n| dump(n, "br-tun")).collect();
    drop(apps);
    let mut apps: Vec<App> = (0..2).map(|n| App::start(&c, n, true)).collect();
    let again: Vec<Value> = apps
        .iter_mut()
        .zip(&c.nodes)
        .map(|(a, node)| a.wait(node))
        .collect();
    for (n, r) in again.iter().enumerate() {
        let node = &c.nodes[n];
        assert_eq!(
            r["canary"], 1,
            "node {n}: the canary table says OVS_NORMAL (1)"
        );
        assert_eq!(r["ofports"], results[n]["ofports"], "node {n}: same ports");
        for bridge in ["br-int", "br-tun"] {
            assert_ne!(r["cookies"][bridge], results[n]["cookies"][bridge]);
            let diffs = r["read_back"][bridge].as_array().unwrap();
            assert!(
                diffs.is_empty(),
                "node {n} {bridge} after the restart: {diffs:#?}"
            );
            check_flows(node, r, bridge, false);
        }
        let after = dump(node, "br-tun");
        let mut carried = 0;
        for b in &before[n] {
            if let Some(a) = after
                .iter()
                .find(|a| a.flow.table == b.flow.table && a.flow.rule == b.flow.rule)
            {
                assert!(
                    a.n_packets >= b.n_packets,
                    "node {n}: table={} {} had {} packets, {} after the restart",
                    b.flow.table,
                    b.flow.rule,
                    b.n_packets,
                    a.n_packets
                );
                carried += usize::from(b.n_packets > 0);
            }
        }
        assert!(
            carried >= 8,
            "node {n}: only {carried} counters to carry over"
        );
    }
    for net in NETS {
        ping4(&c, net, 0, 1);
        ping4(&c, net, 1, 0);
    }
    for (n, r) in again.iter().enumerate() {
        let tun = check_flows(&c.nodes[n], r, "br-tun", true);
        let learned: Vec<&Dumped> = tun.iter().filter(|d| is_learned(&d.flow)).collect();
        assert_eq!(learned.len(), 2, "node {n}: {learned:#?}");
        for l in learned {
            assert_eq!(l.flow.cookie, r["cookies"]["br-tun"].as_str().unwrap());
        }
    }
    eprintln!("whole test: {:.1} s", started.elapsed().as_secs_f64());
}
