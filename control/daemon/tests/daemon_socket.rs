//! xvsd's control socket against bad input, many clients, and restarts: the daemon
//! keeps running, answers with an error that names the problem, and changes nothing.

mod common;

use common::daemon::Xvsd;

fn configure(d: &Xvsd) {
    d.ok(&["add-br", "br-int"]);
    d.ok(&["add-br", "br-tun"]);
    d.ok(&[
        "add-port",
        "br-int",
        "patch-tun",
        "type=patch",
        "peer=patch-int",
    ]);
    d.ok(&[
        "add-port",
        "br-tun",
        "patch-int",
        "type=patch",
        "peer=patch-tun",
        "ofport=1",
    ]);
    d.ok(&[
        "add-port",
        "br-tun",
        "gre-1",
        "type=gre",
        "remote_ip=192.168.1.253",
        "key=flow",
        "ofport=2",
    ]);
    d.ok(&[
        "add-flow",
        "br-tun",
        "priority=4,in_port=patch-int,dl_vlan=1 actions=set_tunnel:0x3e7,output:gre-1",
    ]);
}

/// Everything observable about the configuration, for before/after comparisons.
fn snapshot(d: &Xvsd) -> String {
    let flows: String = ["br-int", "br-tun"]
        .iter()
        .map(|b| {
            d.ok(&["--json", "dump-flows", b])
                .lines()
                .filter(|l| !l.contains("duration") && !l.contains("idle_age"))
                .collect::<String>()
        })
        .collect();
    format!(
        "{}{flows}{}{}",
        d.ok(&["show"]),
        d.db.vsctl_ok(&["show"]),
        d.db.vsctl_ok(&["--columns=name,ofport,error", "list", "Interface"])
    )
}

#[test]
fn bad_input_gets_clear_errors_and_changes_nothing() {
    let d = Xvsd::start(&Xvsd::dir("bad-input"), &["--datapath", "none"]);
    configure(&d);
    let before = snapshot(&d);

    let cases: [(&[u8], &str, &str); 7] = [
        (b"garbage\n", "bad-request", "not valid JSON"),
        (b"\xff\xfe\n", "bad-request", "UTF-8"),
        (br#"{"version":1,"command":"frobnicate"}"#, "unknown-command", "frobnicate"),
        (b"{\"version\":9,\"command\":\"show\"}\n", "unsupported-version", "version 9"),
        (b"{\"version\":1,\"command\":\"add-flow\",\"bridge\":\"br-tun\",\"flow\":\"dl_dsx=1 actions=drop\"}\n", "bad-flow", "dl_dsx"),
        (b"{\"version\":1,\"command\":\"add-port\",\"bridge\":\"br-nope\",\"port\":\"x\"}\n", "no-such-bridge", "br-nope"),
        (b"{\"version\":1,\"command\":\"del-port\",\"bridge\":\"br-int\",\"port\":\"ghost\"}\n", "no-such-port", "ghost"),
    ];
    for (bytes, code, culprit) in cases {
        let lines = d.raw(bytes, 1);
        assert_eq!(
            lines.len(),
            1,
            "one answer to {:?}",
            String::from_utf8_lossy(bytes)
        );
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(culprit),
            "{v}"
        );
    }

    // Several requests on one connection, answered in order, ids echoed.
    let lines = d.raw(b"{\"version\":1,\"id\":1,\"command\":\"show\"}\nnope\n{\"version\":1,\"id\":\"three\",\"command\":\"dp-show\"}\n", 3);
    let ids: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![
            serde_json::json!(1),
            serde_json::Value::Null,
            serde_json::json!("three")
        ]
    );

    // A line longer than the limit: an error, and the connection is closed.
    let mut huge = vec![b'x'; xvs_daemon::protocol::MAX_LINE + 10];
    huge.push(b'\n');
    let lines = d.raw(&huge, 2);
    assert_eq!(lines.len(), 1, "one error then close");
    assert!(lines[0].contains("line-too-long"), "{}", lines[0]);

    // The CLI reports errors on stderr with a failing status.
    assert!(d
        .fails(&["add-flow", "br-tun", "in_port=gre-9 actions=drop"])
        .contains("gre-9"));
    assert!(d
        .fails(&["add-port", "br-int", "tapX", "colour=red"])
        .contains("colour"));
    assert!(d.fails(&["add-br", "br-int"]).contains("already exists"));
    assert!(d.fails(&["del-br", "br-nope"]).contains("br-nope"));

    assert_eq!(snapshot(&d), before, "bad input changed the daemon's state");
}

#[test]
fn many_clients_at_once() {
    let d = Xvsd::start(&Xvsd::dir("many-clients"), &["--datapath", "none"]);
    configure(&d);
    // More clients than the daemon serves at once, each holding its connection while
    // it sends a few requests: every one gets answers or a clear "busy".
    let (mut served, mut busy) = (0, 0);
    let threads: Vec<_> = (0..48)
        .map(|i| {
            let sock = d.socket.clone();
            std::thread::spawn(move || {
                use std::io::{BufRead, BufReader, Write};
                let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
                let req = format!(
                    "{{\"version\":1,\"id\":{i},\"command\":\"add-flow\",\"bridge\":\"br-int\",\"flow\":\"priority=7,dl_vlan={} actions=drop\"}}\n{{\"version\":1,\"id\":{i},\"command\":\"dump-flows\",\"bridge\":\"br-int\"}}\n",
                    i % 4000
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
                let _ = s.write_all(req.as_bytes());
                let mut r = BufReader::new(s);
                let mut first = String::new();
                r.read_line(&mut first).unwrap();
                first
            })
        })
        .collect();
    for t in threads {
        let line = t.join().unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["ok"] == true {
            served += 1;
        } else {
            assert_eq!(v["error"]["code"], "busy", "{v}");
            busy += 1;
        }
    }
    assert_eq!(served + busy, 48);
    assert!(served >= 32, "{served} served");
    let dump = d.ok(&["dump-flows", "br-int"]);
    assert_eq!(
        dump.lines().filter(|l| l.contains("priority=7")).count(),
        served,
        "{dump}"
    );
}

#[test]
fn a_restart_restores_bridges_and_ports() {
    let mut d = Xvsd::start(&Xvsd::dir("restart"), &["--datapath", "none"]);
    configure(&d);
    let show = d.ok(&["show"]);
    d.restart();
    assert_eq!(d.ok(&["show"]), show);
    // Flows are the agent's to reprogram, as with OVS: a bridge starts with NORMAL.
    let dump = d.ok(&["dump-flows", "br-tun"]);
    assert_eq!(dump.lines().count(), 1, "{dump}");
    assert!(dump.contains("priority=0 actions=NORMAL"));
    // A crash (SIGKILL) loses nothing either.
    d.kill();
    d.restart();
    assert_eq!(d.ok(&["show"]), show);
    assert!(d.is_running());
}
