//! xvsd's connection to its database when the server stops answering: inactivity
//! probes as OVS's jsonrpc session sends them (an `echo` after the probe interval with
//! nothing received, the connection dropped and made again when nothing comes within
//! as long again). The server here is the test's own socket, silent or answering only
//! the probes; xvsd runs with `--datapath none`.

mod common;

use std::io::Read;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::daemon::Xvsd;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Accepts one connection within `limit`.
fn accept(l: &UnixListener, limit: Duration) -> UnixStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + limit;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "xvsd did not connect");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// JSON values read from a connection.
struct Peer {
    s: UnixStream,
    buf: Vec<u8>,
}

enum Next {
    Msg(Value),
    Closed,
    Nothing,
}

impl Peer {
    /// The next value, the end of the connection, or nothing within `limit`.
    fn next(&mut self, limit: Duration) -> Next {
        let deadline = Instant::now() + limit;
        loop {
            let mut it = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
            if let Some(Ok(v)) = it.next() {
                let used = it.byte_offset();
                self.buf.drain(..used);
                return Next::Msg(v);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Next::Nothing;
            }
            self.s.set_read_timeout(Some(left)).unwrap();
            let mut b = [0u8; 65536];
            match self.s.read(&mut b) {
                Ok(0) => return Next::Closed,
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Next::Nothing
                }
                Err(_) => return Next::Closed,
            }
        }
    }

    /// Reads until an echo request comes (returned) or `limit` passes (panics).
    fn echo(&mut self, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            match self.next(deadline.saturating_duration_since(Instant::now())) {
                Next::Msg(v) if v["method"] == "echo" => return v,
                Next::Msg(_) => {}
                Next::Closed => panic!("closed before an echo request"),
                Next::Nothing => panic!("no echo request within {limit:?}"),
            }
        }
    }
}

#[test]
fn a_silent_database_is_probed_then_dropped_and_connected_again() {
    let dir = Xvsd::dir("db-probe");
    let path = dir.join("db.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let log = std::fs::File::create(dir.join("xvsd.log")).unwrap();
    let _xvsd = Proc(
        Command::new(env!("CARGO_BIN_EXE_xvsd"))
            .env("OVS_RUNDIR", &dir)
            .arg("--socket")
            .arg(dir.join("xvsd.sock"))
            .args(["--datapath", "none", "--db-inactivity-probe", "1"])
            .arg(format!("unix:{}", path.display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let xvsd_log = || std::fs::read_to_string(dir.join("xvsd.log")).unwrap_or_default();

    // First connection: xvsd asks for its lock and monitor, gets no answer.
    let mut p = Peer {
        s: accept(&listener, Duration::from_secs(10)),
        buf: Vec::new(),
    };
    let t0 = Instant::now();
    let echo = p.echo(Duration::from_secs(3));
    let t1 = t0.elapsed();
    assert_eq!(echo["id"], "echo", "{echo}");
    assert!(
        t1 >= Duration::from_millis(900) && t1 < Duration::from_millis(2500),
        "probe after {t1:?}"
    );
    // Unanswered: the connection goes about a probe interval later.
    let t = Instant::now();
    loop {
        match p.next(Duration::from_secs(4)) {
            Next::Msg(_) => continue,
            Next::Closed => break,
            Next::Nothing => panic!("still connected 4 s after an unanswered probe"),
        }
    }
    let t2 = t.elapsed();
    assert!(
        t2 >= Duration::from_millis(800) && t2 < Duration::from_millis(2500),
        "dropped {t2:?} after the probe"
    );
    // And is made again.
    let mut p = Peer {
        s: accept(&listener, Duration::from_secs(5)),
        buf: Vec::new(),
    };
    // A server that answers the probes (and nothing else) keeps the connection.
    let start = Instant::now();
    let mut echoes = 0;
    while start.elapsed() < Duration::from_millis(3500) {
        match p.next(Duration::from_millis(200)) {
            Next::Msg(v) if v["method"] == "echo" => {
                echoes += 1;
                let reply =
                    serde_json::json!({"result": v["params"], "error": null, "id": v["id"]});
                use std::io::Write;
                p.s.write_all(reply.to_string().as_bytes()).unwrap();
            }
            Next::Msg(_) | Next::Nothing => {}
            Next::Closed => panic!("dropped although the probes were answered: {}", xvsd_log()),
        }
    }
    assert!(echoes >= 2, "{echoes} probes in 3.5 s");
    assert!(
        xvsd_log().contains("no response to inactivity probe after 1 seconds"),
        "{}",
        xvsd_log()
    );
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}
