//! The Neutron agent's OVSDB library, ovsdbapp from PyPI, against xvsd: a bridge and a
//! port created as the agent creates them (each write waits for `cur_cfg`), and the
//! port's `ofport` read back. The Python environment comes from scripts/test.sh
//! (target/pyvenv, or XVS_PYTHON); without it the test fails and says so.

mod common;

use std::process::Command;

use common::daemon::Xvsd;
use common::python::{python, script};

#[test]
fn ovsdbapp_creates_a_bridge_and_a_port_and_reads_the_ofport() {
    let python = python();
    let d = Xvsd::start(&Xvsd::dir("ovsdbapp"), &["--datapath", "none"]);
    let out = Command::new(&python)
        .arg(script("ovsdbapp_port.py"))
        .args([&d.db.remote(), "br-py", "tap-py"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ovsdbapp failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["ofport"].as_i64().unwrap() >= 1, "{v}");
    assert_eq!(v["datapath_id"].as_str().unwrap().len(), 16, "{v}");
    assert_eq!(v["cur_cfg"], v["next_cfg"], "{v}");
    // The switch has what the library asked for.
    let show = d.ok(&["show"]);
    assert!(show.contains("Bridge br-py"), "{show}");
    assert!(show.contains("tap-py"), "{show}");
    assert!(show.contains("tag: 5"), "{show}");
    // A secure bridge: no flow of its own.
    assert_eq!(d.ok(&["dump-flows", "br-py"]), "");
}
