//! The unmodified neutron-openvswitch-agent (neutron 29 from PyPI) on two nodes, each an
//! xvsd in its own namespace following its private ovsdb-server, on one underlay. The
//! only code of ours in the agent's process is a fake neutron-server
//! (tests/python/neutron_agent_node.py) answering its RPC with real Port and Network
//! objects; the test plays nova (plugging VM taps as os-vif does, through ovs-vsctl) and
//! the l2pop driver (telling each node's server where the other node's ports are).
//!
//! Needs root, the openvswitch tools and the Python from scripts/test.sh (neutron,
//! os-ken, ovsdbapp); fails loudly without them.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::path::Path;

use common::agent::{agent_conf, Agent, AgentConfig};
use common::daemon::Xvsd;
use common::nodes::{node_ip, Cluster, Node};
use common::ofconn::ofctl_ok;
use common::ovsdb::Ovsdb;
use common::real_ovs::RealOvs;
use xvs_dataplane::testnet::{unique_name, veth_pair, Netns, VethPair};

/// A tenant network: its id, type and segmentation id.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Net {
    index: usize,
    kind: &'static str,
    seg: u32,
    /// A VLAN provider network's physical network (bridge_mappings).
    physnet: Option<&'static str>,
}

const VXLAN: Net = Net {
    index: 0,
    kind: "vxlan",
    seg: 1001,
    physnet: None,
};
const GRE: Net = Net {
    index: 1,
    kind: "gre",
    seg: 2002,
    physnet: None,
};
/// A VLAN provider network on physnet1, through br-phys and a NIC on the wire.
const VLAN: Net = Net {
    index: 2,
    kind: "vlan",
    seg: 100,
    physnet: Some("physnet1"),
};
/// The tenant networks (each network's VM is the node's VM number `index`).
const NETS: [Net; 2] = [VXLAN, GRE];

impl Net {
    fn id(self) -> String {
        format!(
            "{:08x}-0000-4000-8000-00000000{:04}",
            self.index + 1,
            self.seg
        )
    }

    /// The neutron port of the VM of this network on node `n` (`k`: a later one).
    fn port(self, n: usize, k: usize) -> String {
        format!("{}{n}{k}aaaaa-1111-4222-8333-444455556666", self.index + 1)
    }

    /// Its tap, named as nova names it.
    fn tap(self, n: usize, k: usize) -> String {
        format!("tap{}", &self.port(n, k)[..11])
    }

    fn mac(self, n: usize) -> String {
        format!("fa:16:3e:0{}:00:0{}", self.index + 1, n + 1)
    }

    fn ip(self, n: usize) -> String {
        format!("10.9.{}.{}", self.index + 1, n + 1)
    }
}

/// Plugs the tap of `net`'s VM of node `n` into br-int of the switch whose database is
/// `db`, as os-vif does.
fn plug(db: &Ovsdb, net: Net, n: usize, k: usize) {
    let tap = net.tap(n, k);
    db.vsctl_ok(&[
        "--may-exist",
        "add-port",
        "br-int",
        &tap,
        "--",
        "set",
        "Interface",
        &tap,
        &format!("external_ids:iface-id={}", net.port(n, k)),
        &format!("external_ids:attached-mac={}", net.mac(n)),
        "external_ids:iface-status=active",
        &format!("external_ids:vm-uuid=vm-{}-{n}", net.kind),
    ]);
}

fn unplug(node: &Node, net: Net, n: usize, k: usize) {
    node.xvsd
        .db
        .vsctl_ok(&["--if-exists", "del-port", "br-int", &net.tap(n, k)]);
}

/// Pings `ip` from the VM namespace `ns`: the number of replies of `count`.
fn ping(ns: &str, ip: &str, count: u32, interval: &str) -> u32 {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-n", "-q"])
        .args(["-c", &count.to_string(), "-i", interval, "-W", "1", ip])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split(", ")
        .find_map(|p| p.strip_suffix(" received"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn vm_ns(c: &Cluster, n: usize, net: Net) -> String {
    c.nodes[n].vms[net.index].ns.name().to_string()
}

/// Pings until one reply comes (the first frames set flows and tunnels up), then
/// requires 5 of 5.
fn pings(c: &Cluster, net: Net, from: usize, to: usize) {
    let ns = vm_ns(c, from, net);
    let start = Instant::now();
    while ping(&ns, &net.ip(to), 1, "0.2") == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{net:?}: the VM on node {from} never reached the one on node {to}\n{}",
            [from, to]
                .iter()
                .flat_map(|&n| {
                    let bridges: &[&str] = match net.physnet {
                        Some(_) => &["br-int", "br-phys"],
                        None => &["br-tun"],
                    };
                    bridges
                        .iter()
                        .map(move |b| format!("node {n} {b}:\n{}", dump(&c.nodes[n], b)))
                })
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert_eq!(
        ping(&ns, &net.ip(to), 5, "0.1"),
        5,
        "{net:?} {from} -> {to}"
    );
}

fn dump(node: &Node, bridge: &str) -> String {
    ofctl_ok(&node.xvsd.dir, &["-O", "OpenFlow13", "dump-flows", bridge])
}

/// The n_packets of the one flow of `bridge` whose text contains every part of `rule`.
fn packets(node: &Node, bridge: &str, rule: &[&str]) -> u64 {
    let flows = dump(node, bridge);
    let hits: Vec<&str> = flows
        .lines()
        .filter(|l| rule.iter().all(|r| l.contains(r)))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "one flow with {rule:?} in {bridge}:\n{flows}"
    );
    let n = hits[0].split("n_packets=").nth(1).unwrap();
    n[..n.find(',').unwrap()].parse().unwrap()
}

/// The tunnel port name the agent gives a tunnel of `kind` to `ip`.
fn tunnel_port(kind: &str, ip: &str) -> String {
    let ip: std::net::Ipv4Addr = ip.parse().unwrap();
    format!("{kind}-{:08x}", u32::from(ip))
}

/// A ping running in the background (every 50 ms, timestamps on), to see what a
/// change interrupts.
struct BackgroundPing {
    child: Child,
}

/// What a background ping saw.
#[derive(Debug)]
struct PingRun {
    sent: u32,
    received: u32,
    /// The longest time between two replies: how long forwarding stopped.
    longest_gap: Duration,
}

impl BackgroundPing {
    fn start(ns: &str, ip: &str) -> BackgroundPing {
        let child = Command::new("ip")
            .args([
                "netns", "exec", ns, "ping", "-n", "-D", "-i", "0.05", "-W", "1", ip,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        BackgroundPing { child }
    }

    /// SIGINT (ping prints its summary), then what it saw.
    fn stop(mut self) -> PingRun {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let stamps: Vec<f64> = text
            .lines()
            .filter(|l| l.contains("bytes from"))
            .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
            .collect();
        let longest_gap = stamps.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        let summary = text
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .unwrap_or_else(|| panic!("no ping summary: {text}"));
        let number = |key: &str| -> u32 {
            summary
                .split(", ")
                .find(|p| p.contains(key))
                .and_then(|p| p.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        PingRun {
            sent: number("transmitted"),
            received: number("received"),
            longest_gap: Duration::from_secs_f64(longest_gap),
        }
    }
}

impl Drop for BackgroundPing {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every cookie of `bridge`'s flows.
fn cookies(node: &Node, bridge: &str) -> std::collections::BTreeSet<String> {
    dump(node, bridge)
        .lines()
        .filter_map(|l| l.split("cookie=").nth(1)?.split(',').next())
        .map(str::to_string)
        .collect()
}

/// Waits until every flow of br-int and br-tun on `node` carries one cookie that is not
/// one of `old`: the agent re-added its flows and deleted the stale ones.
fn wait_one_new_cookie(node: &Node, old: &std::collections::BTreeSet<String>) {
    let start = Instant::now();
    loop {
        let now: Vec<_> = ["br-int", "br-tun"].map(|b| cookies(node, b)).into();
        if now.iter().all(|c| c.len() == 1 && c.is_disjoint(old)) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "stale flows stay on {}: {now:?} (old {old:?})\n{}\n{}",
            node.ip,
            dump(node, "br-int"),
            dump(node, "br-tun")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Tells agent `n`'s server what a neutron-server tells a restarted agent's: the
/// networks and the node's bound ports.
fn tell_model(a: &mut Agent, n: usize, nets: &[Net]) {
    for &net in nets {
        a.network(&net.id(), net.kind, net.seg, net.physnet);
        a.port(&net.port(n, 0), &net.id(), &net.mac(n), &net.ip(n));
    }
}

/// l2pop for node `n`'s agent: the other node's ports of every network.
fn tell_fdb(a: &mut Agent, n: usize, nets: &[Net]) {
    let remote = 1 - n;
    for &net in nets.iter().filter(|net| net.physnet.is_none()) {
        a.fdb(
            true,
            &net.id(),
            &node_ip(remote),
            &[(&net.mac(remote), &net.ip(remote))],
        );
    }
}

/// Node 0's twin on a real OVS (ovs-vswitchd with dummy netdevs, in its own namespace
/// where the agent's tunnel address exists too): the same agent with the same
/// configuration, told the same as node 0's. Its flows are what xvs's must be.
struct Reference {
    agent: Agent,
    ovs: RealOvs,
    _pair: VethPair,
    _ns: Netns,
}

impl Reference {
    /// `name`: the test's, so that tests running at once have their own directories.
    fn start(name: &str, config: &AgentConfig) -> Reference {
        let ns = Netns::new("ref");
        let (a, b) = (unique_name("ra"), unique_name("rb"));
        let pair = veth_pair(&a, &b, Some(&ns), Some(&ns));
        ns.ip(&["addr", "add", &format!("{}/24", node_ip(0)), "dev", &a]);
        let dir = Xvsd::dir(&format!("{name}-ref"));
        let ovs = RealOvs::start_in(Some(ns.name()), &dir);
        if !config.bridge_mappings.is_empty() {
            ovs.db
                .vsctl_ok(&["add-br", "br-phys", "--", "add-port", "br-phys", "eth-phys"]);
        }
        let conf = dir.join("neutron-agent.conf");
        let text = agent_conf(&dir, "node0", &ovs.db.remote(), &node_ip(0), config);
        std::fs::write(&conf, text).unwrap();
        let agent = Agent::start_with(ns.name(), &dir, &conf, "node0", &config.tunnels);
        Reference {
            agent,
            ovs,
            _pair: pair,
            _ns: ns,
        }
    }
}

/// A flow as the agent programmed it, for comparing switches: `ovs-ofctl -O OpenFlow13
/// --names dump-flows` without cookies (random per agent start), durations and counters, and
/// without flows learned from traffic.
/// Local VLANs (each agent picks its own, in its own order) are named by network:
/// `lvids` maps a switch's local VLAN to the network's name.
fn programmed(dir: &Path, bridge: &str, lvids: &[(u16, &str)]) -> Vec<String> {
    // Port names, not numbers: the agent makes tunnel ports in the order its l2pop
    // casts happen to run, so their numbers differ from run to run.
    let dump = ofctl_ok(dir, &["-O", "OpenFlow13", "--names", "dump-flows", bridge]);
    let mut flows: Vec<String> = dump
        .lines()
        .filter(|l| l.starts_with(" cookie=") && !l.contains("hard_timeout=300"))
        .map(|l| {
            let kept: Vec<&str> = l
                .trim()
                .split(", ")
                .filter(|p| {
                    ![
                        "cookie=",
                        "duration=",
                        "n_packets=",
                        "n_bytes=",
                        "idle_age=",
                    ]
                    .iter()
                    .any(|k| p.starts_with(k))
                })
                .collect();
            // The learn action names its cookie too.
            let mut f = kept.join(", ");
            while let Some(i) = f.find("cookie=0x") {
                let end = f[i + 9..]
                    .find(|c: char| !c.is_ascii_hexdigit())
                    .map_or(f.len(), |e| i + 9 + e);
                f.replace_range(i..end, "cookie=C");
            }
            name_local_vlans(&f, lvids)
        })
        .collect();
    flows.sort();
    flows
}

/// `flow` with its local VLAN numbers (`dl_vlan=N`, `set_field:4096+N->vlan_vid`,
/// `mod_vlan_vid:N`) replaced by their network's name.
fn name_local_vlans(flow: &str, lvids: &[(u16, &str)]) -> String {
    let mut out = String::new();
    let mut rest = flow;
    loop {
        let next = ["dl_vlan=", "set_field:", "mod_vlan_vid:"]
            .iter()
            .filter_map(|k| rest.find(k).map(|i| (i, *k)))
            .min();
        let Some((i, key)) = next else { break };
        out.push_str(&rest[..i + key.len()]);
        rest = &rest[i + key.len()..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: Option<u16> = rest[..digits].parse().ok();
        let vid = match (key, number) {
            ("set_field:", Some(n)) if rest[digits..].starts_with("->vlan_vid") => {
                n.checked_sub(4096)
            }
            ("set_field:", _) => None,
            (_, n) => n,
        };
        if let Some((_, name)) = vid.and_then(|v| lvids.iter().find(|(l, _)| *l == v)) {
            out.push_str(&format!("<{name}>"));
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// The local VLAN of each network on the switch whose database is `db`: the tag of its
/// VM port of node `n`.
fn local_vlans(db: &Ovsdb, n: usize, nets: &[Net]) -> Vec<(u16, &'static str)> {
    nets.iter()
        .map(|net| {
            let tag = db.vsctl_ok(&["get", "Port", &net.tap(n, 0), "tag"]);
            (tag.trim().parse().unwrap(), net.kind)
        })
        .collect()
}

/// Waits until node 0 and the reference hold the same programmed flows in `bridges`
/// (the agents work at their own pace), and fails with the difference if they never do.
fn same_flows_as_ovs(node: &Node, reference: &Reference, bridges: &[&str], nets: &[Net]) {
    let start = Instant::now();
    loop {
        let ours_vlans = local_vlans(&node.xvsd.db, 0, nets);
        let theirs_vlans = local_vlans(&reference.ovs.db, 0, nets);
        let diffs: Vec<(String, Vec<String>, Vec<String>)> = bridges
            .iter()
            .map(|b| {
                let (ours, theirs) = (
                    programmed(&node.xvsd.dir, b, &ours_vlans),
                    programmed(&reference.ovs.db.dir, b, &theirs_vlans),
                );
                let only_ours = ours.iter().filter(|f| !theirs.contains(f)).cloned();
                let only_theirs = theirs.iter().filter(|f| !ours.contains(f)).cloned();
                (
                    b.to_string(),
                    only_ours.collect::<Vec<_>>(),
                    only_theirs.collect::<Vec<_>>(),
                )
            })
            .filter(|(_, a, b)| !a.is_empty() || !b.is_empty())
            .collect();
        if diffs.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "flows differ between xvs (node 0) and OVS for the same agent input: \
             (bridge, only on xvs, only on OVS):\n{diffs:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// What a run is made of: the nodes, their agents, node 0's twin on OVS if asked.
struct Run {
    c: Cluster,
    agents: Vec<Agent>,
    reference: Option<Reference>,
    /// The provider network's NICs on the wire (kept until the end).
    _phys: Vec<VethPair>,
    /// Held for the whole run: six agents starting at once on a 2-core machine take
    /// minutes, not seconds.
    _serial: std::sync::MutexGuard<'static, ()>,
}

static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Both nodes, their VMs (one per network of `nets` per node), their agents started
/// with `config` (and, with `reference`, node 0's twin on OVS); every VM's port bound
/// and up, l2pop told.
fn two_nodes(name: &str, config: &AgentConfig, nets: &[Net], reference: bool) -> Run {
    let serial = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut c = Cluster::new(name, 2);
    for n in 0..2 {
        for &net in nets {
            c.add_vm(n, &net.tap(n, 0), &net.mac(n), Some(&net.ip(n)));
        }
    }
    // A provider network's bridge, made by the operator: a NIC on the wire.
    let mut phys = Vec::new();
    if !config.bridge_mappings.is_empty() {
        for (n, node) in c.nodes.iter().enumerate() {
            let (nic, wire_end) = (unique_name(&format!("p{n}")), unique_name("pw"));
            phys.push(veth_pair(&nic, &wire_end, Some(&node.ns), Some(&c.wire)));
            c.wire.ip(&["link", "set", &wire_end, "master", "br0"]);
            // A VLAN tag that crossed the wire's Linux bridge travels beside the frame
            // (the skb's VLAN offload), and XDP on the node's veth never sees it: the
            // wire puts it back in the frame, as a real wire carries it (OVS's AF_XDP
            // has the same limit on veths).
            c.wire.exec("ethtool", &["-K", &wire_end, "txvlan", "off"]);
            node.xvsd
                .db
                .vsctl_ok(&["add-br", "br-phys", "--", "add-port", "br-phys", &nic]);
        }
    }
    let started = Instant::now();
    // Without l2pop, tunnels come from tunnel_sync: the other node's address.
    let config_of = |n: usize| AgentConfig {
        tunnels: if config.l2_population {
            vec![]
        } else {
            vec![node_ip(1 - n)]
        },
        ..config.clone()
    };
    let mut agents: Vec<Agent> = (0..2)
        .map(|n| Agent::start(&c.nodes[n], &format!("node{n}"), &config_of(n)))
        .collect();
    let mut reference = reference.then(|| Reference::start(name, &config_of(0)));
    let mut all: Vec<(usize, &mut Agent, &Ovsdb)> = agents
        .iter_mut()
        .zip(&c.nodes)
        .enumerate()
        .map(|(n, (a, node))| (n, a, &node.xvsd.db))
        .chain(reference.as_mut().map(|r| (0, &mut r.agent, &r.ovs.db)))
        .collect();
    for (_, a, _) in all.iter_mut() {
        // The agent has made its bridges and default flows and entered its rpc_loop.
        a.wait_event(Duration::from_secs(120), |e| e["event"] == "tunnel_sync");
    }
    eprintln!(
        "every agent in its rpc_loop after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (n, a, db) in all.iter_mut() {
        tell_model(a, *n, nets);
        for &net in nets {
            plug(db, net, *n, 0);
        }
    }
    for (n, a, _) in all.iter_mut() {
        a.wait_up(&strs(&node_ports(*n, nets)), Duration::from_secs(60));
    }
    eprintln!(
        "every port bound and up after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if config.l2_population {
        // What the l2pop driver sends once a port is up: each agent learns where the
        // other node's ports of the network are (and that it floods there).
        for (n, a, _) in all.iter_mut() {
            tell_fdb(a, *n, nets);
        }
    }
    Run {
        c,
        agents,
        reference,
        _phys: phys,
        _serial: serial,
    }
}

#[test]
fn the_unmodified_agent_with_l2pop_and_arp_responder_runs_two_nodes_on_xvs() {
    let config = AgentConfig::default();
    let Run {
        mut c,
        mut agents,
        reference,
        _phys,
        _serial,
    } = two_nodes("agent-l2pop", &config, &NETS, true);
    // The agent programmed xvs as it programs OVS.
    same_flows_as_ovs(
        &c.nodes[0],
        reference.as_ref().unwrap(),
        &["br-int", "br-tun"],
        &NETS,
    );
    drop(reference);

    for net in NETS {
        pings(&c, net, 0, 1);
        pings(&c, net, 1, 0);
    }
    for n in 0..2 {
        let node = &c.nodes[n];
        // The tunnel ports l2pop asked for, named and configured by the agent.
        for net in NETS {
            let port = tunnel_port(net.kind, &node_ip(1 - n));
            let ty = node.xvsd.db.vsctl_ok(&["get", "Interface", &port, "type"]);
            assert_eq!(ty.trim(), net.kind, "node {n}: {port}");
        }
        // The ARP responder answered the VM's ARP for the remote VM from br-tun.
        let tun = dump(node, "br-tun");
        let lvid: String = node
            .xvsd
            .db
            .vsctl_ok(&["get", "Port", &VXLAN.tap(n, 0), "tag"])
            .trim()
            .to_string();
        assert!(
            packets(
                node,
                "br-tun",
                &[
                    "table=21,",
                    &format!("dl_vlan={lvid},"),
                    &format!("arp_tpa={}", VXLAN.ip(1 - n))
                ]
            ) > 0,
            "node {n}: the ARP responder did not answer:\n{tun}"
        );
    }

    // Different networks do not reach each other, even with addresses on one link.
    let ns = vm_ns(&c, 0, VXLAN);
    Command::new("ip")
        .args(["netns", "exec", &ns, "ip", "route", "add", "10.9.2.0/24"])
        .args(["dev", &c.nodes[0].vms[VXLAN.index].vm_if])
        .status()
        .unwrap();
    assert_eq!(ping(&ns, &GRE.ip(1), 3, "0.2"), 0, "VXLAN reached GRE");

    agent_restarts_without_loss(&c, &mut agents, &config);
    // While its switch is down, node 1's agent logs errors (as with OVS).
    let before = agents[1].log_mark();
    xvsd_restarts_and_the_agent_reprograms_it(&mut c, &mut agents);
    let switch_down = [(before, agents[1].log_mark())];
    a_port_unplugged_and_plugged_again(&c, &mut agents);
    a_network_deleted(&c, &mut agents);
    a_vm_moved_to_the_other_node(&mut c, &mut agents);

    for (n, a) in agents.iter().enumerate() {
        let excused: &[(usize, usize)] = if n == 1 { &switch_down } else { &[] };
        let errors = a.errors(excused);
        assert!(errors.is_empty(), "agent {}: {errors:#?}", a.host);
    }
}

fn node_ports(n: usize, nets: &[Net]) -> Vec<String> {
    nets.iter().map(|net| net.port(n, 0)).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The agent on node 0 killed and started again: it re-adds every flow under a new
/// cookie and deletes the stale ones, and not one ping between the VMs is lost.
fn agent_restarts_without_loss(c: &Cluster, agents: &mut Vec<Agent>, config: &AgentConfig) {
    let node = &c.nodes[0];
    let mut old = cookies(node, "br-int");
    old.extend(cookies(node, "br-tun"));
    let ping = BackgroundPing::start(&vm_ns(c, 0, VXLAN), &VXLAN.ip(1));
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    drop(agents.remove(0));
    let mut a = Agent::start(node, "node0", config);
    tell_model(&mut a, 0, &NETS);
    a.wait_up(&strs(&node_ports(0, &NETS)), Duration::from_secs(90));
    if config.l2_population {
        tell_fdb(&mut a, 0, &NETS);
    }
    // The agent cleans stale flows in the first loop that processes ports once it
    // knows the node's ports (neutron checks the port set before it fills it in the
    // first loop): a port update from the server, as any change brings, is one.
    a.tell(serde_json::json!({"cmd": "port_update", "id": GRE.port(0, 0)}));
    wait_one_new_cookie(node, &old);
    eprintln!(
        "agent restarted and its stale flows gone after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    agents.insert(0, a);
    std::thread::sleep(Duration::from_millis(500));
    let run = ping.stop();
    assert!(
        run.sent > 20 && run.received + 1 >= run.sent,
        "pings lost while the agent restarted: {run:?}"
    );
    pings(c, GRE, 0, 1);
}

/// xvsd on node 1 killed and started again: it comes back with the database's bridges
/// and ports but no flows; the agent's canary check finds table 23 empty, programs
/// everything again, and the pings resume.
fn xvsd_restarts_and_the_agent_reprograms_it(c: &mut Cluster, agents: &mut [Agent]) {
    let ping = BackgroundPing::start(&vm_ns(c, 0, GRE), &GRE.ip(1));
    std::thread::sleep(Duration::from_millis(500));
    agents[1].drain();
    c.nodes[1].xvsd.crash_and_restart();
    // The agent binds every port again and asks for the tunnels again (l2pop: the
    // server sends its entries).
    agents[1].wait_up(&strs(&node_ports(1, &NETS)), Duration::from_secs(90));
    tell_fdb(&mut agents[1], 1, &NETS);
    pings(c, GRE, 0, 1);
    let run = ping.stop();
    eprintln!(
        "xvsd restart: forwarding stopped for {:.1} s ({} of {} pings answered)",
        run.longest_gap.as_secs_f64(),
        run.received,
        run.sent
    );
    assert!(run.longest_gap < Duration::from_secs(60), "{run:?}");
    pings(c, VXLAN, 1, 0);
}

/// The GRE VM's port on node 0 unplugged: its flows go, nothing reaches it; plugged
/// again: bound again, reachable again.
fn a_port_unplugged_and_plugged_again(c: &Cluster, agents: &mut [Agent]) {
    let (node, port) = (&c.nodes[0], GRE.port(0, 0));
    // Only what the agent reports from now on counts.
    agents[0].drain();
    unplug(node, GRE, 0, 0);
    agents[0].wait_down(&[&port], Duration::from_secs(30));
    // l2pop: its last port there went.
    agents[1].fdb(false, &GRE.id(), &node_ip(0), &[(&GRE.mac(0), &GRE.ip(0))]);
    let int = dump(node, "br-int");
    assert!(
        !int.contains(&GRE.mac(0)),
        "flows of the unplugged port stay:\n{int}"
    );
    assert_eq!(ping(&vm_ns(c, 1, GRE), &GRE.ip(0), 3, "0.2"), 0);

    agents[0].drain();
    plug(&node.xvsd.db, GRE, 0, 0);
    agents[0].wait_up(&[&port], Duration::from_secs(30));
    agents[0].fdb(true, &GRE.id(), &node_ip(1), &[(&GRE.mac(1), &GRE.ip(1))]);
    agents[1].fdb(true, &GRE.id(), &node_ip(0), &[(&GRE.mac(0), &GRE.ip(0))]);
    pings(c, GRE, 1, 0);
    pings(c, GRE, 0, 1);
}

/// The GRE network deleted: its VMs' ports unplugged and deleted on both nodes, l2pop
/// removals: no flow of its segment is left, the GRE tunnel ports go, VXLAN is
/// untouched.
fn a_network_deleted(c: &Cluster, agents: &mut [Agent]) {
    for (n, a) in agents.iter_mut().enumerate() {
        a.drain();
        unplug(&c.nodes[n], GRE, n, 0);
        a.tell(serde_json::json!({"cmd": "port_delete", "id": GRE.port(n, 0)}));
        a.wait_down(&[&GRE.port(n, 0)], Duration::from_secs(30));
    }
    for (n, a) in agents.iter_mut().enumerate() {
        let remote = 1 - n;
        a.fdb(
            false,
            &GRE.id(),
            &node_ip(remote),
            &[(&GRE.mac(remote), &GRE.ip(remote))],
        );
    }
    let seg = format!("0x{:x}", GRE.seg);
    for (n, node) in c.nodes.iter().enumerate() {
        let start = Instant::now();
        loop {
            // Flows learned from the network's traffic stay until their hard timeout,
            // as with OVS: the agent does not delete them.
            let tun = dump(node, "br-tun");
            let programmed = tun.lines().filter(|l| !l.contains("hard_timeout=300"));
            let ports = node.xvsd.db.vsctl_ok(&["list-ports", "br-tun"]);
            if !programmed.clone().any(|l| l.contains(&seg)) && !ports.contains("gre-") {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "node {n}: the deleted network's flows or tunnel stay:\n{tun}\n{ports}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    pings(c, VXLAN, 0, 1);
    pings(c, VXLAN, 1, 0);
}

/// The VXLAN VM of node 0 moves to node 1 (same port, MAC and address): node 0 forgets
/// it, node 1 binds it; the VMs of the network, now both on node 1, reach each other
/// there, and no flow sends the moved MAC to node 0 any more.
fn a_vm_moved_to_the_other_node(c: &mut Cluster, agents: &mut [Agent]) {
    let port = VXLAN.port(0, 0);
    for a in agents.iter_mut() {
        a.drain();
    }
    unplug(&c.nodes[0], VXLAN, 0, 0);
    agents[0].wait_down(&[&port], Duration::from_secs(30));
    agents[1].fdb(
        false,
        &VXLAN.id(),
        &node_ip(0),
        &[(&VXLAN.mac(0), &VXLAN.ip(0))],
    );
    c.nodes[0].ns.ip(&["link", "del", &VXLAN.tap(0, 0)]);
    c.add_vm(1, &VXLAN.tap(0, 0), &VXLAN.mac(0), Some(&VXLAN.ip(0)));
    agents[1].port(&port, &VXLAN.id(), &VXLAN.mac(0), &VXLAN.ip(0));
    plug(&c.nodes[1].xvsd.db, VXLAN, 0, 0);
    agents[1].wait_up(&[&port], Duration::from_secs(30));
    let moved = c.nodes[1].vms.last().unwrap().ns.name().to_string();
    let stayed = vm_ns(c, 1, VXLAN);
    // The moved VM speaks first, as a migrated VM announces itself: br-int's NORMAL
    // learns its MAC on the new port (until then it points at the tunnel, in OVS too).
    assert_eq!(ping(&moved, &VXLAN.ip(1), 5, "0.1"), 5, "from the moved VM");
    assert_eq!(ping(&stayed, &VXLAN.ip(0), 5, "0.1"), 5, "to the moved VM");
    // No l2pop flow sends the moved MAC to node 0 (flows learned from its earlier
    // traffic age out as in OVS).
    let tun = dump(&c.nodes[1], "br-tun");
    assert!(
        !tun.lines()
            .any(|l| l.contains(&VXLAN.mac(0)) && !l.contains("hard_timeout=300")),
        "node 1 still tunnels the moved MAC:\n{tun}"
    );
    let int0 = dump(&c.nodes[0], "br-int");
    assert!(
        !int0.contains(&VXLAN.mac(0)),
        "node 0 keeps the moved VM's flows:\n{int0}"
    );
}

#[test]
fn the_unmodified_agent_floods_and_learns_and_runs_a_vlan_provider_network_on_xvs() {
    let config = AgentConfig {
        l2_population: false,
        arp_responder: false,
        bridge_mappings: vec![("physnet1".into(), "br-phys".into())],
        ..AgentConfig::default()
    };
    let nets = [VXLAN, GRE, VLAN];
    let Run {
        c,
        agents,
        reference,
        _phys,
        _serial,
    } = two_nodes("agent-flood", &config, &nets, true);
    // Tunnels from tunnel_sync, one per type; br-phys joined to br-int by the agent's
    // patch ports: all of it as on OVS.
    same_flows_as_ovs(
        &c.nodes[0],
        reference.as_ref().unwrap(),
        &["br-int", "br-tun", "br-phys"],
        &nets,
    );
    drop(reference);

    for net in nets {
        pings(&c, net, 0, 1);
        pings(&c, net, 1, 0);
    }
    for (n, node) in c.nodes.iter().enumerate() {
        let lvid = |net: Net| -> String {
            node.xvsd
                .db
                .vsctl_ok(&["get", "Port", &net.tap(n, 0), "tag"])
        };
        // Without l2pop, br-tun learned where the other node's VMs are.
        let tun = dump(node, "br-tun");
        for net in [VXLAN, GRE] {
            let learned = format!(
                "hard_timeout=300, priority=1,vlan_tci=0x{:04x}/0x0fff,dl_dst={}",
                lvid(net).parse::<u16>().unwrap(),
                net.mac(1 - n)
            );
            assert!(tun.contains(&learned), "node {n}: no {learned} in\n{tun}");
        }
        // The provider network's frames left through br-phys with its VLAN, and came
        // in translated to the local one.
        let out = packets(
            node,
            "br-phys",
            &[
                &format!("dl_vlan={} ", lvid(VLAN)),
                "set_field:4196->vlan_vid",
            ],
        );
        let int = dump(node, "br-int");
        let inbound = packets(node, "br-int", &["dl_vlan=100 ", "->vlan_vid"]);
        assert!(
            out > 0 && inbound > 0,
            "node {n}: {out} out, {inbound} in:\n{int}"
        );
    }
    // Different networks do not reach each other.
    let ns = vm_ns(&c, 0, VLAN);
    Command::new("ip")
        .args(["netns", "exec", &ns, "ip", "route", "add", "10.9.1.0/24"])
        .args(["dev", &c.nodes[0].vms[VLAN.index].vm_if])
        .status()
        .unwrap();
    assert_eq!(ping(&ns, &VXLAN.ip(1), 3, "0.2"), 0, "VLAN reached VXLAN");
    for a in &agents {
        let errors = a.errors(&[]);
        assert!(errors.is_empty(), "agent {}: {errors:#?}", a.host);
    }
}
