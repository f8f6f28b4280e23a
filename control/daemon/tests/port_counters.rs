//! Port counters that tell the truth, and the Prometheus endpoint that shows them: two
//! xvsd nodes in network namespaces (br-int and br-tun joined by patch ports, a GRE
//! tunnel between the nodes over a real underlay), known numbers of real frames, then
//! the unmodified `ovs-ofctl dump-ports` and an HTTP GET of /metrics.
//!
//! Needs root; fails loudly without it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::nodes::{node_ip, Cluster, Node};
use common::ofconn::ofctl_ok;
use common::*;
use xvs_dataplane::testnet::{in_netns, require_root, test_frame, test_frame_tag, RawSocket};

const NET: usize = 0;
const CMP: usize = 1;
const DHCP_MAC: &str = "fa:16:3e:dc:c5:23";
const VM_MAC: &str = "fa:16:3e:7a:7a:07";
const BLOCKED_MAC: &str = "fa:16:3e:bb:bb:09";
const KEY: u32 = 0x3e7;
const METRICS: &str = "127.0.0.1:9478";

/// Frames VM → DHCP across the tunnel, of this many bytes each (untagged, as sent).
const SENT: u64 = 5;
const LEN: u64 = 100;
/// Frames from the blocked port, all dropped by a flow.
const BLOCKED: u64 = 3;

/// br-int with an access port per VM (tag `tag`), br-tun with the patch pair and a GRE
/// port (OpenFlow 2) toward `remote`, and the agent's br-tun flows for one network.
fn configure(c: &mut Cluster, node: usize, remote: usize, vms: &[(&str, u16, &str)]) {
    for &(tap, _, mac) in vms {
        c.add_vm(node, tap, mac, None);
    }
    let n = &c.nodes[node];
    n.add_int_and_tun_bridges();
    for &(tap, tag, _) in vms {
        n.ctl(&["add-port", "br-int", tap, &format!("tag={tag}")]);
    }
    let gre = format!("gre-{node}");
    n.ctl(&[
        "add-port",
        "br-tun",
        &gre,
        "type=gre",
        &format!("remote_ip={}", node_ip(remote)),
        &format!("local_ip={}", node_ip(node)),
        "key=flow",
        "ofport=2",
    ]);
    let (_, vlan, _) = vms[0];
    let mac = if node == NET { DHCP_MAC } else { VM_MAC };
    let flows = format!(
        "priority=4,in_port=patch-int,dl_vlan={vlan} actions=set_tunnel:{KEY:#x},output:{gre}
priority=3,tun_id={KEY:#x},dl_dst={mac} actions=mod_vlan_vid:{vlan},output:patch-int
priority=1 actions=drop
"
    );
    let file = n.xvsd.dir.join("br-tun.flows");
    std::fs::write(&file, flows).unwrap();
    n.ctl(&["replace-flows", "br-tun", file.to_str().unwrap()]);
}

fn cluster(name: &str) -> Cluster {
    require_root();
    let mut c = Cluster::with_args(name, 2, &["--metrics", METRICS]);
    configure(&mut c, NET, CMP, &[("tap-dhcp", 1, DHCP_MAC)]);
    configure(
        &mut c,
        CMP,
        NET,
        &[("tap-vm", 7, VM_MAC), ("tap-blocked", 9, BLOCKED_MAC)],
    );
    c.nodes[CMP].ctl(&[
        "add-flow",
        "br-int",
        "priority=100,in_port=tap-blocked,actions=drop",
    ]);
    for n in &c.nodes {
        n.wait_tunnels_resolved();
    }
    c
}

/// `ovs-ofctl dump-ports BRIDGE PORT` on node `n`, the reply's header dropped.
fn dump_port(n: &Node, bridge: &str, port: &str) -> String {
    let out = ofctl_ok(&n.xvsd.dir, &["dump-ports", bridge, port]);
    out.split_once('\n')
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(out)
}

/// What ovs-ofctl prints for one port's counters; `None` is OVS's "?".
fn port_text(ofport: &str, rx: (u64, u64, Option<u64>), tx: (u64, u64, Option<u64>)) -> String {
    let n = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
    format!(
        "  port {ofport:>2}: rx pkts={}, bytes={}, drop={}, errs=?, frame=?, over=?, crc=?\n           tx pkts={}, bytes={}, drop={}, errs=?, coll=?\n",
        rx.0,
        rx.1,
        n(rx.2),
        tx.0,
        tx.1,
        n(tx.2)
    )
}

/// The OpenFlow number of `port` on `bridge` of node `n`.
fn ofport(n: &Node, bridge: &str, port: &str) -> String {
    let desc = ofctl_ok(&n.xvsd.dir, &["dump-ports-desc", bridge]);
    desc.lines()
        .find_map(|l| {
            let (num, rest) = l.trim().split_once('(')?;
            rest.starts_with(&format!("{port})"))
                .then(|| num.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {port} on {bridge}:\n{desc}"))
}

/// One HTTP exchange with the node's metrics endpoint (from inside its namespace).
fn http(n: &Node, request: &str) -> String {
    let request = request.to_string();
    in_netns(&n.ns, move || {
        let mut s = TcpStream::connect(METRICS).expect("connect to the metrics endpoint");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
}

fn scrape(n: &Node) -> String {
    let r = http(n, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let (head, body) = r.split_once("\r\n\r\n").expect("a response head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    body.to_string()
}

/// The value of the sample `name{labels}` (exactly as written) in a scrape.
fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == series).then(|| v.parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

fn port_series(name: &str, bridge: &str, port: &str, ofport: &str, kind: &str) -> String {
    format!(r#"{name}{{bridge="{bridge}",port="{port}",ofport="{ofport}",type="{kind}"}}"#)
}

/// Our frames on `s` until `n` came (at most 5 s).
fn receive(s: &RawSocket, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = 0;
    while got < n {
        match s.recv(deadline.saturating_duration_since(Instant::now())) {
            Some(f) if test_frame_tag(&f).is_some() => got += 1,
            Some(_) => {}
            None => break,
        }
    }
    got
}

#[test]
fn patch_and_tunnel_ports_count_what_crossed_them_and_drops_show_where_they_came_in() {
    let c = cluster("counters");
    let (net, cmp) = (&c.nodes[NET], &c.nodes[CMP]);
    let dhcp = net.vms[0].socket();
    let vm = cmp.vms[0].socket();
    let blocked = cmp.vms[1].socket();
    for i in 0..SENT {
        vm.send(&test_frame(
            mac(DHCP_MAC),
            mac(VM_MAC),
            i as u32,
            LEN as usize,
        ))
        .unwrap();
    }
    assert_eq!(
        receive(&dhcp, SENT as usize),
        SENT as usize,
        "{}",
        net.xvsd.log()
    );
    for i in 0..BLOCKED {
        blocked
            .send(&test_frame(
                mac(DHCP_MAC),
                mac(BLOCKED_MAC),
                100 + i as u32,
                LEN as usize,
            ))
            .unwrap();
    }

    // The compute node: the frames left br-int by patch-tun, entered br-tun by
    // patch-int (tagged by NORMAL on the way: 4 bytes more, as OVS counts the datapath
    // flow's bytes, which are the frame's as it came in: untagged) and went into gre-1.
    let (p, b) = (SENT, SENT * LEN);
    let tun_patch = ofport(cmp, "br-int", "patch-tun");
    assert_eq!(
        dump_port(cmp, "br-int", &tun_patch),
        port_text(&tun_patch, (0, 0, None), (p, b, None))
    );
    assert_eq!(
        dump_port(cmp, "br-tun", "1"),
        port_text("1", (p, b, None), (0, 0, None))
    );
    assert_eq!(
        dump_port(cmp, "br-tun", "2"),
        port_text("2", (0, 0, Some(0)), (p, b, None))
    );
    // The blocked port: its frames came in (the datapath counted them) and a flow
    // dropped them, which its drop counter says (after the datapath's, which are 0).
    let blocked_port = ofport(cmp, "br-int", "tap-blocked");
    let deadline = Instant::now() + Duration::from_secs(5);
    let want_blocked = port_text(
        &blocked_port,
        (BLOCKED, BLOCKED * LEN, Some(BLOCKED)),
        (0, 0, Some(0)),
    );
    while dump_port(cmp, "br-int", &blocked_port) != want_blocked && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(dump_port(cmp, "br-int", &blocked_port), want_blocked);

    // The network node: gre-0 decapsulated them (inner frames, tagged: 4 bytes more),
    // patch-int sent them to br-int, patch-tun took them in, the tap sent them untagged.
    let (p, b) = (SENT, SENT * (LEN + 4));
    assert_eq!(
        dump_port(net, "br-tun", "2"),
        port_text("2", (p, b, Some(0)), (0, 0, None))
    );
    assert_eq!(
        dump_port(net, "br-tun", "1"),
        port_text("1", (0, 0, None), (p, b, None))
    );
    let net_patch = ofport(net, "br-int", "patch-tun");
    assert_eq!(
        dump_port(net, "br-int", &net_patch),
        port_text(&net_patch, (p, b, None), (0, 0, None))
    );
    let tap = ofport(net, "br-int", "tap-dhcp");
    assert_eq!(
        dump_port(net, "br-int", &tap),
        port_text(&tap, (0, 0, Some(0)), (SENT, SENT * LEN, Some(0)))
    );
    // xvsctl's dump-ports reads the same counters.
    let xvsctl = net.ctl(&["dump-ports", "br-tun"]);
    assert!(
        xvsctl.contains(&format!("(gre-0): rx pkts={p}, bytes={b}, drop=0")),
        "{xvsctl}"
    );

    // So does the datapath's view of the tunnel's port (ovs-appctl dpctl/show -s).
    let unixctl = net
        .xvsd
        .dir
        .join(format!("ovs-vswitchd.{}.ctl", net.xvsd.pid()));
    let out = Command::new("ovs-appctl")
        .arg("-t")
        .arg(&unixctl)
        .args(["dpctl/show", "-s"])
        .output()
        .unwrap();
    let show = String::from_utf8_lossy(&out.stdout);
    assert!(
        show.contains(&format!(
            "gre-0 (gre)\n    RX packets:{p} errors:? dropped:0 overruns:? frame:?\n    TX packets:0 "
        )) && show.contains(&format!("RX bytes:{b}  TX bytes:0")),
        "{show}"
    );

    // The metrics say the same, and name every drop reason.
    let m = scrape(cmp);
    let s = |name: &str, bridge: &str, port: &str, of: &str, kind: &str| {
        sample(&m, &port_series(name, bridge, port, of, kind))
    };
    assert_eq!(
        s(
            "ovs_interface_tx_packets_total",
            "br-int",
            "patch-tun",
            &tun_patch,
            "patch"
        ),
        SENT
    );
    assert_eq!(
        s(
            "ovs_interface_tx_bytes_total",
            "br-int",
            "patch-tun",
            &tun_patch,
            "patch"
        ),
        SENT * LEN
    );
    assert_eq!(
        s(
            "ovs_interface_rx_packets_total",
            "br-tun",
            "patch-int",
            "1",
            "patch"
        ),
        SENT
    );
    assert_eq!(
        s(
            "ovs_interface_tx_packets_total",
            "br-tun",
            "gre-1",
            "2",
            "gre"
        ),
        SENT
    );
    assert_eq!(
        s(
            "ovs_interface_tx_bytes_total",
            "br-tun",
            "gre-1",
            "2",
            "gre"
        ),
        SENT * LEN
    );
    assert_eq!(
        s(
            "ovs_interface_rx_dropped_total",
            "br-int",
            "tap-blocked",
            &blocked_port,
            "system"
        ),
        BLOCKED
    );
    assert_eq!(
        s(
            "ovs_interface_rx_packets_total",
            "br-int",
            "tap-vm",
            &ofport(cmp, "br-int", "tap-vm"),
            "system"
        ),
        SENT
    );
    assert_eq!(
        sample(&m, r#"ovs_coverage_total{event="drop_action_of_pipeline"}"#),
        BLOCKED
    );
    // Every counter coverage/show knows is a sample, zero or not.
    for event in [
        "datapath_drop_rx_invalid_packet",
        "datapath_drop_upcall_error",
        "drop_action_no_flow",
        "drop_action_of_pipeline",
        "drop_action_bridge_not_found",
        "drop_action_recursion_too_deep",
        "drop_action_too_many_resubmit",
        "drop_action_invalid_ttl",
        "drop_action_forwarding_disabled",
    ] {
        sample(&m, &format!(r#"ovs_coverage_total{{event="{event}"}}"#));
    }
    let hits = sample(&m, r#"ovs_pmd_lookups_hit_total{pmd="0"}"#);
    let missed = sample(&m, r#"ovs_pmd_lookups_missed_total{pmd="0"}"#);
    assert_eq!(hits + missed, SENT + BLOCKED, "{m}");
    assert!(missed >= 2, "one miss per flow at least: {m}");
    assert_eq!(sample(&m, r#"ovs_pmd_lookups_lost_total{pmd="0"}"#), 0);
    assert!(sample(&m, r#"ovs_pmd_flows{pmd="0"}"#) >= 2, "{m}");
    assert_eq!(sample(&m, "ovs_upcall_handled_total"), missed);
    assert_eq!(
        sample(&m, r#"ovs_bridge_flows{bridge="br-tun",table="0"}"#),
        3
    );
    assert!(m.contains("ovs_pmd_busy_cycles_total{pmd=\"0\"} "), "{m}");

    // dp-show --clear: the workers' figures so far, then from zero; as OVS's
    // pmd-stats-clear, the ports' counters stay, and the metrics' totals never go back.
    let shown = cmp.ctl(&["dp-show", "--clear"]);
    assert!(
        shown.contains(&format!(
            "worker 0: lookups: hit:{hits} missed:{missed} lost:0"
        )),
        "{shown}"
    );
    let shown = cmp.ctl(&["dp-show"]);
    assert!(
        shown.contains("worker 0: lookups: hit:0 missed:0 lost:0"),
        "{shown}"
    );
    let again = scrape(cmp);
    assert_eq!(
        sample(&again, r#"ovs_pmd_lookups_hit_total{pmd="0"}"#),
        hits
    );
    assert_eq!(
        dump_port(cmp, "br-tun", "2"),
        port_text("2", (0, 0, Some(0)), (SENT, SENT * LEN, None))
    );

    let m = scrape(net);
    assert_eq!(
        sample(
            &m,
            &port_series(
                "ovs_interface_rx_bytes_total",
                "br-tun",
                "gre-0",
                "2",
                "gre"
            )
        ),
        SENT * (LEN + 4)
    );
    assert_eq!(
        sample(
            &m,
            &port_series(
                "ovs_interface_tx_packets_total",
                "br-int",
                "tap-dhcp",
                &tap,
                "system"
            )
        ),
        SENT
    );
}

#[test]
fn the_metrics_endpoint_serves_get_metrics_only_and_no_client_stalls_it() {
    let c = cluster("metrics-http");
    let (net, cmp) = (&c.nodes[NET], &c.nodes[CMP]);
    assert!(http(net, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    assert!(http(net, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
    assert!(http(net, "GET /metrics FTP/1\r\n\r\n").starts_with("HTTP/1.1 400 "));
    let head = http(net, "HEAD /metrics HTTP/1.0\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"),
        "{head}"
    );

    // A client that sends half a request and waits, and one that asks and never reads:
    // each holds a connection until its deadline, and nothing else waits for them.
    let (slow, deaf) = in_netns(&net.ns, || {
        let mut slow = TcpStream::connect(METRICS).unwrap();
        slow.write_all(b"GET /metr").unwrap();
        let mut deaf = TcpStream::connect(METRICS).unwrap();
        deaf.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        (slow, deaf)
    });
    let started = Instant::now();
    let m = scrape(net);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a scrape waited {:?}",
        started.elapsed()
    );
    assert!(m.contains("ovs_interface_rx_packets_total"), "{m}");
    // The switch forwards meanwhile.
    let dhcp = net.vms[0].socket();
    let vm = cmp.vms[0].socket();
    vm.send(&test_frame(mac(DHCP_MAC), mac(VM_MAC), 7, 64))
        .unwrap();
    assert_eq!(receive(&dhcp, 1), 1);
    // The half-open client is closed at its deadline (5 s from its connect).
    let mut slow = slow;
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(buf.is_empty(), "nothing is answered to half a request");
    assert!(
        waited < Duration::from_secs(8),
        "the half-open client was closed after {waited:?}"
    );
    drop(deaf);
    // Too many at once: those over the limit are closed at once, the rest served.
    let (held, refused) = in_netns(&net.ns, || {
        let held: Vec<TcpStream> = (0..4)
            .map(|_| TcpStream::connect(METRICS).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let mut extra = TcpStream::connect(METRICS).unwrap();
        extra
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut b = Vec::new();
        let r = extra.read_to_end(&mut b);
        (held, r.is_ok() && b.is_empty())
    });
    assert!(refused, "a fifth connection is closed, not left waiting");
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    scrape(net);
}

#[test]
fn metrics_only_on_a_loopback_address() {
    for (arg, why) in [
        ("0.0.0.0:9478", "0.0.0.0 is not a loopback address"),
        (
            "192.168.1.254:9478",
            "192.168.1.254 is not a loopback address",
        ),
        ("localhost:9478", "is not ADDR:PORT"),
        ("127.0.0.1:0", "is not a port number"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_xvsd"))
            .args(["--datapath", "none", "--metrics", arg])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "xvsd --metrics {arg} started");
        assert!(err.contains(why), "--metrics {arg}: {err}");
    }
}
