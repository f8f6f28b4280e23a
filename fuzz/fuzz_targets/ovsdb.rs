//! The OVSDB client's input path on any bytes from the server: JSON-RPC framing
//! (`JsonStream`), the session (`Session::received`: echo, lock, the monitor's snapshot,
//! `update` notifications applied to the replica, transaction replies), and what the
//! bridge layer reads from the replica (`reconcile::wanted_text`) and writes for
//! xvsctl's configuration commands (`vsctl::ops_for`).
//!
//! Beyond "no panic": framing finds the same values whether the bytes come at once or
//! in pieces; an update the session refuses changes nothing in the replica; reading the
//! replica twice gives the same answer.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use xvs_daemon::ovsdb::framing::JsonStream;
use xvs_daemon::ovsdb::session::{Event, Session};
use xvs_daemon::ovsdb::vsctl::{ops_for, ConfigCmd};
use xvs_daemon::reconcile::{monitor_spec, wanted_text};

const LIMIT: usize = 1 << 20;

/// Every value of the stream until it needs more bytes, and whether it then failed.
fn values(bytes: &[u8], chunk: usize) -> (Vec<Value>, bool) {
    let mut s = JsonStream::new(LIMIT);
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        s.feed(piece);
        loop {
            match s.next_value() {
                Ok(Some(v)) => out.push(v),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fn commands() -> Vec<ConfigCmd> {
    let opts = |kv: &[(&str, &str)]| {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    vec![
        ConfigCmd::AddBr {
            bridge: "br-new".into(),
        },
        ConfigCmd::DelBr {
            bridge: "br-int".into(),
        },
        ConfigCmd::AddPort {
            bridge: "br-int".into(),
            port: "tap9".into(),
            options: opts(&[("tag", "5")]),
        },
        ConfigCmd::AddPort {
            bridge: "br-tun".into(),
            port: "gre-9".into(),
            options: opts(&[("type", "gre"), ("remote_ip", "192.0.2.9"), ("key", "flow")]),
        },
        ConfigCmd::DelPort {
            bridge: "br-int".into(),
            port: "tap1".into(),
        },
    ]
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let (whole, failed) = values(bytes, bytes.len());
    let (pieces, failed_pieces) = values(bytes, usize::from(sel));
    assert_eq!(pieces, whole, "the same values in pieces of {sel}");
    assert_eq!(failed_pieces, failed);

    let mut session = Session::new("Open_vSwitch", monitor_spec());
    // Asks for the lock (id 1) and the monitor (id 2), whose reply is the snapshot.
    let _ = session.connected();
    for v in whole {
        let before = session.replica().clone();
        let (_, events) = session.received(v);
        if events.iter().any(|e| matches!(e, Event::ProtocolError(_))) {
            assert_eq!(
                session.replica(),
                &before,
                "a refused message changes nothing"
            );
        }
        if events
            .iter()
            .any(|e| matches!(e, Event::Updated | Event::Snapshot))
        {
            let db = session.replica();
            let w = wanted_text(db);
            assert_eq!(w, wanted_text(db));
            for c in commands() {
                let _ = ops_for(db, &c);
            }
        }
    }
});
