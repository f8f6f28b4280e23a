//! ovs-ofctl-style flow commands on a bridge: add, mod, del (strict and not), replace,
//! dump, and bad input that changes nothing.

use xvs_pipeline::ofproto::ReplaceSummary;
use xvs_pipeline::{PortConfig, PortKind, Switch, SwitchError};

fn bridge() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge("br0").unwrap();
    sw.add_port("br0", PortConfig::new("p1", PortKind::Netdev))
        .unwrap();
    sw.add_port("br0", PortConfig::new("p2", PortKind::Netdev))
        .unwrap();
    sw
}

fn dump(sw: &Switch) -> String {
    sw.dump_flows("br0", None, false, 5000).unwrap()
}

#[test]
fn a_new_bridge_is_a_learning_switch() {
    let sw = bridge();
    assert_eq!(
        dump(&sw),
        " cookie=0x0, duration=5.000s, table=0, n_packets=0, n_bytes=0, idle_age=5, priority=0 actions=NORMAL\n"
    );
}

#[test]
fn bad_flow_text_names_the_problem_and_changes_nothing() {
    let mut sw = bridge();
    sw.add_flow("br0", "priority=5,in_port=p1 actions=output:p2", 0)
        .unwrap();
    let before = dump(&sw);
    let cases: [(&str, &str); 6] = [
        ("priority=5,dl_dsx=fa:16:3e:00:00:01 actions=drop", "dl_dsx"),
        ("dl_dst=01:00:00:00:00:00/zz actions=drop", "zz"),
        ("arp_tpa=10.0.0.1 actions=drop", "arp_tpa"),
        ("in_port=gre-9 actions=drop", "gre-9"),
        ("in_port=p1 actions=mod_vlan_vid:5000", "5000"),
        ("in_port=p1 actions=output:p2,frobnicate", "frobnicate"),
    ];
    for (text, culprit) in cases {
        let err = sw.add_flow("br0", text, 10).unwrap_err().to_string();
        assert!(
            err.contains(culprit),
            "error for {text:?} should name {culprit:?}: {err}"
        );
        assert_eq!(dump(&sw), before, "{text:?} changed the table");
    }
    // A file with one bad line adds none of its lines.
    let err = sw
        .add_flows(
            "br0",
            &["priority=9 actions=drop", "priority=8 actions=bogus"],
            10,
        )
        .unwrap_err();
    assert!(
        matches!(err, SwitchError::FlowLine { line: 2, .. }),
        "{err}"
    );
    let err = sw
        .replace_flows(
            "br0",
            &["priority=9 actions=drop", "in_port=nope actions=drop"],
            10,
        )
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    assert_eq!(dump(&sw), before);
    assert!(matches!(
        sw.add_flow("br9", "actions=drop", 0),
        Err(SwitchError::NoSuchBridge(_))
    ));
}

#[test]
fn add_replaces_same_match_and_priority_and_del_strict_is_exact() {
    let mut sw = bridge();
    sw.add_flow("br0", "priority=5,in_port=1 actions=output:2", 0)
        .unwrap();
    sw.add_flow("br0", "priority=5,in_port=1 actions=drop", 0)
        .unwrap();
    sw.add_flow("br0", "priority=6,in_port=1 actions=output:2", 0)
        .unwrap();
    sw.add_flow(
        "br0",
        "table=3,priority=5,in_port=1,dl_vlan=7 actions=output:2",
        0,
    )
    .unwrap();
    let d = dump(&sw);
    assert_eq!(d.lines().count(), 4, "{d}");
    assert!(d.contains("priority=5,in_port=1 actions=drop"), "{d}");

    // Strict: only the exact match and priority.
    assert_eq!(
        sw.del_flows("br0", Some("priority=5,in_port=1"), true)
            .unwrap(),
        1
    );
    // Non-strict: everything within the match, in every table.
    assert_eq!(sw.del_flows("br0", Some("in_port=1"), false).unwrap(), 2);
    assert_eq!(dump(&sw).lines().count(), 1);
    assert_eq!(sw.del_flows("br0", None, false).unwrap(), 1);
    assert_eq!(dump(&sw), "");
}

#[test]
fn mod_flows_keeps_counters_and_cookies_select() {
    let mut sw = bridge();
    sw.del_flows("br0", None, false).unwrap();
    sw.add_flow(
        "br0",
        "cookie=0x10,priority=5,in_port=1 actions=output:2",
        0,
    )
    .unwrap();
    sw.add_flow(
        "br0",
        "cookie=0x20,priority=5,in_port=2 actions=output:1",
        0,
    )
    .unwrap();
    let frame = [
        [0xffu8; 6].as_slice(),
        &[2, 0, 0, 0, 0, 1],
        &[0x88, 0xb5],
        &[0u8; 46],
    ]
    .concat();
    let p1 = sw.dp_port_named("p1").unwrap();
    assert_eq!(sw.process(p1, &frame, 100).len(), 1);

    assert_eq!(
        sw.mod_flows("br0", "cookie=0x10/0xff,in_port=1 actions=drop", false, 200)
            .unwrap(),
        1
    );
    let d = dump(&sw);
    assert!(d.contains("cookie=0x10, duration=5.000s, table=0, n_packets=1, n_bytes=60, idle_age=4, hard_age=4, priority=5,in_port=1 actions=drop"), "{d}");
    assert!(d.contains("priority=5,in_port=2 actions=output:1"), "{d}");
    assert_eq!(sw.process(p1, &frame, 300), vec![]);

    // Delete by cookie.
    assert_eq!(
        sw.del_flows("br0", Some("cookie=0x20/-1"), false).unwrap(),
        1
    );
    assert_eq!(dump(&sw).lines().count(), 1);
}

#[test]
fn replace_flows_keeps_unchanged_flows_and_their_counters() {
    let mut sw = bridge();
    let s = sw
        .replace_flows(
            "br0",
            &[
                "priority=5,in_port=1 actions=output:2",
                "priority=5,in_port=2 actions=output:1",
            ],
            0,
        )
        .unwrap();
    // The bridge's NORMAL flow went.
    let summary = |added, removed, modified, kept| ReplaceSummary {
        added,
        removed,
        modified,
        kept,
    };
    assert_eq!(s, summary(2, 1, 0, 0));
    let frame = [
        [0xffu8; 6].as_slice(),
        &[2, 0, 0, 0, 0, 1],
        &[0x88, 0xb5],
        &[0u8; 46],
    ]
    .concat();
    let p1 = sw.dp_port_named("p1").unwrap();
    sw.process(p1, &frame, 100);
    let s = sw
        .replace_flows(
            "br0",
            &[
                "priority=5,in_port=1 actions=output:2",
                "priority=7 actions=drop",
            ],
            1000,
        )
        .unwrap();
    assert_eq!(s, summary(1, 1, 0, 1));
    let d = dump(&sw);
    assert_eq!(d.lines().count(), 2, "{d}");
    assert!(
        d.contains("n_packets=1, n_bytes=60, idle_age=4, priority=5,in_port=1 actions=output:2"),
        "{d}"
    );
    assert!(d.contains("priority=7 actions=drop"), "{d}");
    assert!(!d.contains("NORMAL"), "{d}");
    // The same match and priority with other actions: modified.
    let s = sw
        .replace_flows("br0", &["priority=5,in_port=1 actions=drop"], 2000)
        .unwrap();
    assert_eq!(s, summary(0, 1, 1, 0));
}

#[test]
fn dumped_flows_fed_back_give_the_same_flows() {
    let mut sw = bridge();
    let flows = [
        "table=0,priority=4,in_port=1,dl_vlan=1 actions=set_tunnel:0x3e7,output:2",
        "cookie=0x9,table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff actions=resubmit(,21)",
        "table=21,priority=1,arp,dl_vlan=1,arp_tpa=10.0.0.1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:fa:16:3e:f1:5e:7d,load:0x2->NXM_OF_ARP_OP[],IN_PORT",
        "table=10,priority=1,idle_timeout=30,hard_timeout=60 actions=learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:1",
    ];
    sw.add_flows("br0", &flows, 0).unwrap();
    let first = dump(&sw);
    let lines: Vec<String> = first.lines().map(str::to_string).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut again = bridge();
    again.replace_flows("br0", &refs, 0).unwrap();
    assert_eq!(dump(&again), first);
}

#[test]
fn idle_and_hard_timeouts_expire_flows() {
    let mut sw = bridge();
    sw.add_flow(
        "br0",
        "priority=5,idle_timeout=10,in_port=1 actions=output:2",
        0,
    )
    .unwrap();
    sw.add_flow(
        "br0",
        "priority=5,hard_timeout=20,in_port=2 actions=output:1",
        0,
    )
    .unwrap();
    let frame = [
        [0xffu8; 6].as_slice(),
        &[2, 0, 0, 0, 0, 1],
        &[0x88, 0xb5],
        &[0u8; 46],
    ]
    .concat();
    let p1 = sw.dp_port_named("p1").unwrap();
    sw.process(p1, &frame, 9_000); // keeps the idle one alive
    assert_eq!(sw.expire(15_000), 0);
    assert_eq!(sw.expire(19_000), 1, "idle 10 s since the packet at 9 s");
    assert_eq!(sw.expire(20_000), 1, "hard 20 s");
}
