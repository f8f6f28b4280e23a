//! A bridge's `Flow_Table` rows (issue 15) through the real ovsdb-server and the
//! unmodified `ovs-vsctl`: `flow_limit` with `overflow_policy=refuse` makes the
//! unmodified `ovs-ofctl add-flow` fail with OFPFMFC_TABLE_FULL (as a real
//! ovs-vswitchd 3.1 answers, in OpenFlow 1.0 and 1.3), and xvsctl's add-flow with
//! `table-full`; `evict` makes room from the flow that expires soonest; removing the
//! row lifts the limit; `dp-show` counts it all. xvsd runs with `--datapath none` (no
//! root, no NIC). Needs the openvswitch packages; fails loudly without them.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::daemon::Xvsd;
use common::ofconn::*;

fn wait_for_socket(p: &Path) {
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(p).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} never came",
            p.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn add_flow_fails(dir: &Path, args: &[&str]) -> String {
    let o = ofctl(dir, args);
    assert!(!o.status.success(), "ovs-ofctl {args:?} succeeded");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn n_flows(dir: &Path, table: &str) -> usize {
    ofctl_ok(dir, &["dump-flows", "br-int", table])
        .lines()
        .filter(|l| l.contains("actions="))
        .count()
}

#[test]
fn flow_table_rows_limit_openflow_adds() {
    let d = Xvsd::start(&Xvsd::dir("flowlimits"), &["--datapath", "none"]);
    // A secure bridge has no flow of its own: the limit is all the test's.
    d.db.vsctl_ok(&[
        "add-br",
        "br-int",
        "--",
        "set",
        "Bridge",
        "br-int",
        "fail_mode=secure",
    ]);
    let dir = d.dir.clone();
    wait_for_socket(&dir.join("br-int.mgmt"));
    // As the issue's example: ovs-vsctl waits until xvsd has applied it.
    d.db.vsctl_ok(&[
        "--",
        "--id=@ft",
        "create",
        "Flow_Table",
        "name=limited",
        "flow_limit=3",
        "overflow_policy=refuse",
        "--",
        "set",
        "Bridge",
        "br-int",
        "flow_tables:0=@ft",
    ]);
    for p in 1..=3 {
        ofctl_ok(
            &dir,
            &["add-flow", "br-int", &format!("priority={p},actions=drop")],
        );
    }
    let e = add_flow_fails(&dir, &["add-flow", "br-int", "priority=4,actions=drop"]);
    assert!(e.contains("OFPT_ERROR"), "{e}");
    assert!(e.contains("OFPFMFC_TABLE_FULL"), "{e}");
    let e = add_flow_fails(
        &dir,
        &[
            "-O",
            "OpenFlow13",
            "add-flow",
            "br-int",
            "priority=5,actions=drop",
        ],
    );
    assert!(e.contains("OFPT_ERROR (OF1.3)"), "{e}");
    assert!(e.contains("OFPFMFC_TABLE_FULL"), "{e}");
    // Replacing a flow needs no room; another table has no limit.
    ofctl_ok(&dir, &["add-flow", "br-int", "priority=3,actions=NORMAL"]);
    ofctl_ok(&dir, &["add-flow", "br-int", "table=1,actions=drop"]);
    assert_eq!(n_flows(&dir, "table=0"), 3);
    // xvsctl's add-flow is refused alike.
    let e = d.fails(&["add-flow", "br-int", "priority=6,actions=drop"]);
    assert!(e.contains("table 0 is full"), "{e}");
    let show = d.ok(&["dp-show"]);
    assert!(show.contains("flow limits: refused:3 evicted:0"), "{show}");
    // dump-tables shows the row's name and limit, as OVS's.
    let tables = ofctl_ok(&dir, &["dump-tables", "br-int"]);
    assert!(
        tables.contains(
            "  table 0 (\"limited\"):\n    active=3, lookup=0, matched=0\n    max_entries=3\n"
        ),
        "{tables:.600}"
    );
    let features = ofctl_ok(&dir, &["-O", "OpenFlow13", "dump-table-features", "br-int"]);
    assert!(
        features.contains("  table 0 (\"limited\"):"),
        "{features:.600}"
    );
    assert!(features.contains("    max_entries=3\n"), "{features:.600}");

    // evict in table 1: the flow that expires soonest makes room.
    d.db.vsctl_ok(&[
        "--",
        "--id=@ft",
        "create",
        "Flow_Table",
        "flow_limit=2",
        "overflow_policy=evict",
        "--",
        "set",
        "Bridge",
        "br-int",
        "flow_tables:1=@ft",
    ]);
    ofctl_ok(
        &dir,
        &[
            "add-flow",
            "br-int",
            "table=1,priority=2,hard_timeout=100,actions=drop",
        ],
    );
    // The permanent flow and the 100 s one: the 100 s one goes for a new one.
    ofctl_ok(
        &dir,
        &[
            "add-flow",
            "br-int",
            "table=1,priority=3,hard_timeout=300,actions=drop",
        ],
    );
    let dump = ofctl_ok(&dir, &["dump-flows", "br-int", "table=1"]);
    assert_eq!(n_flows(&dir, "table=1"), 2, "{dump}");
    assert!(dump.contains("priority=3"), "{dump}");
    assert!(!dump.contains("priority=2"), "{dump}");
    let show = d.ok(&["dp-show"]);
    assert!(show.contains("flow limits: refused:3 evicted:1"), "{show}");

    // The row removed from the bridge: no limit any more.
    d.db.vsctl_ok(&["remove", "Bridge", "br-int", "flow_tables", "0"]);
    ofctl_ok(&dir, &["add-flow", "br-int", "priority=4,actions=drop"]);
    assert_eq!(n_flows(&dir, "table=0"), 4);
}
