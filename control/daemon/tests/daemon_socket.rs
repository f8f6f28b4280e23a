//! xvsd's control socket against bad input, many clients, and restarts: the daemon
//! keeps running, answers with an error that names the problem, and changes nothing.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

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
    assert_eq!(
        served, 48,
        "48 clients are fewer than the daemon serves at once"
    );
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

/// `dp-show --json`'s counters of the control socket.
fn control_stats(d: &Xvsd) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&d.ok(&["--timeout", "10", "--json", "dp-show"])).unwrap();
    v["sockets"]["control"].clone()
}

/// Times an xvsctl request, which must succeed.
fn timed_ok(d: &Xvsd, args: &[&str]) -> Duration {
    let t = Instant::now();
    let mut all = vec!["--timeout", "10"];
    all.extend_from_slice(args);
    d.ok(&all);
    t.elapsed()
}

/// Reads what comes until the daemon closes (or `limit` passes): (text, closed).
fn read_until_closed(s: &mut UnixStream, limit: Duration) -> (String, bool) {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (String::from_utf8_lossy(&got).into(), false);
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut b) {
            Ok(0) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (String::from_utf8_lossy(&got).into(), true),
        }
    }
}

#[test]
fn clients_that_stall_lock_nobody_out_and_are_closed() {
    let d = Xvsd::start(
        &Xvsd::dir("stall"),
        &[
            "--datapath",
            "none",
            "--control-timeout",
            "5",
            "--control-idle-timeout",
            "6",
        ],
    );
    d.ok(&["add-br", "br-int"]);
    let before = Instant::now();
    // 48 clients in the middle of a line, 24 that send nothing.
    let mut half: Vec<UnixStream> = (0..48)
        .map(|_| {
            let mut s = UnixStream::connect(&d.socket).unwrap();
            s.write_all(br#"{"version":1,"command":"dump-fl"#).unwrap();
            s
        })
        .collect();
    let mut idle: Vec<UnixStream> = (0..24)
        .map(|_| UnixStream::connect(&d.socket).unwrap())
        .collect();
    // Every other client is served at once, the configuration workers included.
    for args in [
        &["show"][..],
        &["dump-flows", "br-int"],
        &["add-flow", "br-int", "priority=5,actions=drop"],
        &["add-br", "br-x"],
    ] {
        let t = timed_ok(&d, args);
        assert!(t < Duration::from_secs(2), "{args:?} took {t:?}");
    }
    assert!(
        before.elapsed() < Duration::from_millis(4500),
        "too slow to test the timeout"
    );
    // The half lines: an error that says why, then the end, after the 5 s timeout.
    for s in &mut half {
        let (text, closed) = read_until_closed(s, Duration::from_secs(8));
        assert!(closed, "a client in the middle of a line stayed");
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["error"]["code"], "timeout", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("5 s"),
            "{v}"
        );
    }
    let t = before.elapsed();
    assert!(
        t >= Duration::from_secs(5) && t < Duration::from_secs(10),
        "closed after {t:?}"
    );
    // The silent ones after the 6 s idle timeout, without a word.
    for s in &mut idle {
        let (text, closed) = read_until_closed(s, Duration::from_secs(6));
        assert!(closed && text.is_empty(), "{closed} {text:?}");
    }
    assert!(before.elapsed() >= Duration::from_secs(6));
    let st = control_stats(&d);
    assert_eq!(st["read_timeouts"], 48, "{st}");
    assert_eq!(st["idle_closed"], 24, "{st}");
    let text = d.ok(&["dp-show"]);
    assert!(
        text.contains("xvs@sockets:\n  control: clients:")
            && text.contains(" read-timeouts:48 idle-closed:24 ")
            && text.contains("  openflow: passive connections:"),
        "{text}"
    );
}

#[test]
fn more_clients_than_the_limit_evict_the_longest_waiting() {
    let d = Xvsd::start(&Xvsd::dir("evict"), &["--datapath", "none"]);
    // (The start's own probe connection gone.)
    d.ok(&["show"]);
    std::thread::sleep(Duration::from_millis(100));
    // The limit (128), every one of them silent, half of them in the middle of a line.
    let mut held: Vec<UnixStream> = (0..128)
        .map(|i| {
            let mut s = UnixStream::connect(&d.socket).unwrap();
            if i % 2 == 0 {
                s.write_all(b"{\"version\":1,").unwrap();
            }
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1200));
    let t = timed_ok(&d, &["show"]);
    assert!(t < Duration::from_secs(2), "show took {t:?}");
    let st = control_stats(&d);
    // Show's place, and dp-show's unless show's was free again already.
    let evicted = st["evicted"].as_u64().unwrap();
    assert!((1..=2).contains(&evicted), "{st}");
    assert_eq!(st["refused"], 0, "{st}");
    // As many were closed, with a word; the others are there.
    let mut closed = 0;
    for s in &mut held {
        let (text, gone) = read_until_closed(s, Duration::from_millis(20));
        if gone {
            assert!(text.contains("\"busy\""), "{text}");
            closed += 1;
        }
    }
    assert_eq!(closed, evicted);
}

#[test]
fn lines_over_the_limit_are_refused_and_input_is_bounded() {
    let d = Xvsd::start(
        &Xvsd::dir("bounded"),
        &["--datapath", "none", "--control-timeout", "4"],
    );
    let status = |key: &str| -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
        let l = s.lines().find(|l| l.starts_with(key)).unwrap();
        l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    };
    d.ok(&["show"]);
    let peak_before = status("VmHWM:");
    // Eight clients each sending 15 MiB of one line (under the limit) and never
    // finishing it: 120 MiB offered; the daemon holds its budget's worth (32 MiB)
    // beyond 64 KiB a client.
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let sock = d.socket.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(sock).unwrap();
                let mut line =
                    b"{\"version\":1,\"command\":\"add-flows\",\"bridge\":\"br-int\",\"flows\":[\""
                        .to_vec();
                line.resize(15 << 20, b'x');
                let _ = s.write_all(&line);
                // Closed after the timeout: the rest cannot be written.
                read_until_closed(&mut s, Duration::from_secs(10))
            })
        })
        .collect();
    // Meanwhile others are served.
    std::thread::sleep(Duration::from_millis(500));
    let t = timed_ok(&d, &["show"]);
    assert!(t < Duration::from_secs(2), "show took {t:?}");
    for w in writers {
        let (text, closed) = w.join().unwrap();
        assert!(closed && text.contains("\"timeout\""), "{text}");
    }
    // A line over the limit (16 MiB): a clear error, and the connection is closed.
    let mut huge = vec![b'x'; xvs_daemon::protocol::MAX_LINE + 10];
    huge.push(b'\n');
    let lines = d.raw(&huge, 2);
    assert_eq!(lines.len(), 1, "one error then close");
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["error"]["code"], "line-too-long", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("16777216"),
        "{v}"
    );
    let grown = status("VmHWM:").saturating_sub(peak_before);
    eprintln!("peak RSS grew by {} KiB", grown >> 10);
    assert!(grown < 64 << 20, "peak RSS grew by {grown} bytes");
    let st = control_stats(&d);
    assert_eq!(st["too_long"], 1, "{st}");
    assert_eq!(st["read_timeouts"], 8, "{st}");
    // A request of the largest size that fits is still taken whole.
    let mut flows: Vec<String> = Vec::new();
    let mut size = 0;
    while size < 15 << 20 {
        let f = format!("priority=1,dl_vlan={},actions=drop", flows.len() % 4000);
        size += f.len() + 3;
        flows.push(f);
    }
    let req = serde_json::json!({"version":1,"id":1,"command":"add-flows","bridge":"br-nope","flows":flows});
    let mut line = req.to_string();
    line.push('\n');
    assert!(line.len() > 15 << 20 && line.len() < xvs_daemon::protocol::MAX_LINE);
    let lines = d.raw(line.as_bytes(), 1);
    assert!(lines[0].contains("no-such-bridge"), "{}", lines[0]);
}

#[test]
fn a_client_that_does_not_read_its_replies_is_dropped() {
    let d = Xvsd::start(
        &Xvsd::dir("no-reader"),
        &["--datapath", "none", "--control-timeout", "2"],
    );
    d.ok(&["add-br", "br-int"]);
    let flows: String = (0..3000)
        .map(|i| {
            format!(
                "priority={},dl_vlan={},actions=drop\n",
                i % 100 + 1,
                i % 4000
            )
        })
        .collect();
    let file = d.dir.join("flows.txt");
    std::fs::write(&file, flows).unwrap();
    d.ok(&["add-flows", "br-int", file.to_str().unwrap()]);
    // Many dump requests, none of the replies read: more than the socket holds.
    let mut lazy = UnixStream::connect(&d.socket).unwrap();
    let req = "{\"version\":1,\"command\":\"dump-flows\",\"bridge\":\"br-int\"}\n".repeat(20);
    lazy.set_nonblocking(true).unwrap();
    let _ = lazy.write(req.as_bytes());
    lazy.set_nonblocking(false).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = timed_ok(&d, &["dump-flows", "br-int"]);
    assert!(t < Duration::from_secs(2), "dump-flows took {t:?}");
    std::thread::sleep(Duration::from_millis(2500));
    let st = control_stats(&d);
    assert_eq!(st["slow_readers"], 1, "{st}");
    // What it still reads ends with the end of the connection.
    let (_, closed) = read_until_closed(&mut lazy, Duration::from_secs(5));
    assert!(closed);
}

#[test]
fn xvsctl_gives_up_after_its_timeout() {
    let dir = Xvsd::dir("ctl-timeout");
    let run = |args: &[&str]| {
        let t = Instant::now();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_xvsctl"))
            .args(args)
            .output()
            .unwrap();
        (o, t.elapsed())
    };
    // A server that accepts and never answers.
    let path = dir.join("silent.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().take(2) {
            conns.push(c.unwrap());
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let p = path.to_str().unwrap();
    let (o, t) = run(&["--socket", p, "--timeout", "1", "show"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("no answer") && err.contains("1 s"), "{err}");
    assert!(
        t >= Duration::from_secs(1) && t < Duration::from_millis(2500),
        "{t:?}"
    );
    // The option goes after the command too.
    let (o, t) = run(&["--socket", p, "show", "--timeout", "0.5"]);
    assert!(!o.status.success() && t < Duration::from_secs(2), "{t:?}");
    // No socket: at once.
    let missing = dir.join("missing.sock");
    let (o, t) = run(&[
        "--socket",
        missing.to_str().unwrap(),
        "--timeout",
        "5",
        "show",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("cannot reach"), "{err}");
    assert!(t < Duration::from_millis(500), "{t:?}");
    held.join().unwrap();

    // A stopped xvsd: the same.
    let d = Xvsd::start(&Xvsd::dir("ctl-timeout-xvsd"), &["--datapath", "none"]);
    unsafe { libc::kill(d.pid() as i32, libc::SIGSTOP) };
    let (o, t) = run(&[
        "--socket",
        d.socket.to_str().unwrap(),
        "--timeout",
        "1",
        "dp-show",
    ]);
    unsafe { libc::kill(d.pid() as i32, libc::SIGCONT) };
    assert!(!o.status.success(), "a stopped xvsd answered");
    assert!(t < Duration::from_millis(2500), "{t:?}");
    assert!(timed_ok(&d, &["dp-show"]) < Duration::from_secs(2));
}
