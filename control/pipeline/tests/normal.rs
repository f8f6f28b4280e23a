//! NORMAL: per-VLAN MAC learning, access and trunk ports, moves, aging, and the table
//! size limit, packets in and packets out.

mod common;

use common::*;
use xvs_pipeline::{PortConfig, PortKind, Switch};

const A: &str = "fa:16:3e:00:00:0a";
const B: &str = "fa:16:3e:00:00:0b";

fn sw() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge("br-int").unwrap();
    sw.add_port("br-int", PortConfig::new("vm1", PortKind::Netdev).tag(1))
        .unwrap();
    sw.add_port("br-int", PortConfig::new("vm2", PortKind::Netdev).tag(1))
        .unwrap();
    sw.add_port("br-int", PortConfig::new("vm3", PortKind::Netdev).tag(2))
        .unwrap();
    sw.add_port("br-int", PortConfig::new("trunk", PortKind::Netdev))
        .unwrap();
    let mut limited = PortConfig::new("trunk12", PortKind::Netdev);
    limited.vlan.trunks = vec![2];
    sw.add_port("br-int", limited).unwrap();
    sw
}

fn names(out: &[(String, Vec<u8>)]) -> Vec<&str> {
    out.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn flood_within_the_vlan_tagging_on_trunks_only() {
    let mut s = sw();
    let f = ping(B, A, None, "10.0.0.1", "10.0.0.2");
    let out = send(&mut s, "vm1", &f, 0);
    // Unknown destination: VLAN 1's other access port untagged, the all-VLAN trunk
    // tagged 1; not vm3 (VLAN 2), not the trunk that carries VLAN 2 only.
    assert_eq!(
        out,
        vec![
            ("vm2".to_string(), f.clone()),
            ("trunk".to_string(), tagged(&f, 1))
        ]
    );
}

#[test]
fn learned_unicast_goes_to_one_port_and_follows_a_move() {
    let mut s = sw();
    send(&mut s, "vm1", &ping(B, A, None, "10.0.0.1", "10.0.0.2"), 0);
    let reply = ping(A, B, None, "10.0.0.2", "10.0.0.1");
    assert_eq!(
        send(&mut s, "vm2", &reply, 10),
        vec![("vm1".to_string(), reply.clone())]
    );
    // B was learned on vm2; from the trunk (VLAN 1) to B goes to vm2, untagged.
    let f = tagged(&ping(B, A, None, "10.0.0.1", "10.0.0.2"), 1);
    assert_eq!(
        send(&mut s, "trunk", &f, 20),
        vec![("vm2".to_string(), untag(&f))]
    );
    // ...which taught the bridge that A is now behind the trunk: a move.
    assert_eq!(
        send(&mut s, "vm2", &reply, 30),
        vec![("trunk".to_string(), tagged(&reply, 1))]
    );
    let fdb = s.tables("br-int").unwrap().mac_table.dump(30);
    assert_eq!(fdb.len(), 2);
}

#[test]
fn the_same_mac_in_two_vlans_is_two_entries() {
    let mut s = sw();
    send(&mut s, "vm1", &ping(B, A, None, "10.0.0.1", "10.0.0.2"), 0);
    send(&mut s, "vm3", &ping(B, A, None, "10.0.0.1", "10.0.0.2"), 0);
    let to_a = ping(A, B, None, "10.0.0.2", "10.0.0.1");
    assert_eq!(names(&send(&mut s, "vm2", &to_a, 5)), ["vm1"]);
    let to_a_vlan2 = tagged(&to_a, 2);
    assert_eq!(names(&send(&mut s, "trunk12", &to_a_vlan2, 5)), ["vm3"]);
}

#[test]
fn frames_a_port_may_not_carry_are_dropped() {
    let mut s = sw();
    let f = ping(B, A, None, "10.0.0.1", "10.0.0.2");
    assert_eq!(
        send(&mut s, "vm1", &tagged(&f, 5), 0),
        vec![],
        "tagged frame on an access port"
    );
    assert_eq!(
        send(&mut s, "trunk12", &tagged(&f, 1), 0),
        vec![],
        "VLAN outside trunks="
    );
    assert!(
        s.tables("br-int").unwrap().mac_table.is_empty(),
        "dropped frames teach nothing"
    );
}

#[test]
fn entries_age_out_after_300_seconds() {
    let mut s = sw();
    send(&mut s, "vm1", &ping(B, A, None, "10.0.0.1", "10.0.0.2"), 0);
    let to_a = ping(A, B, None, "10.0.0.2", "10.0.0.1");
    assert_eq!(names(&send(&mut s, "vm2", &to_a, 299_000)), ["vm1"]);
    // vm2's frame refreshed B, not A: A ages out at 300 s and A's traffic floods again.
    assert_eq!(
        names(&send(&mut s, "vm2", &to_a, 300_000)),
        ["vm1", "trunk"]
    );
}

#[test]
fn the_table_is_bounded() {
    let mut s = sw();
    let max = s.tables("br-int").unwrap().mac_table.max_entries;
    for i in 0..max + 100 {
        let src = format!(
            "fa:16:3e:{:02x}:{:02x}:{:02x}",
            i >> 16,
            (i >> 8) & 0xff,
            i & 0xff
        );
        send(
            &mut s,
            "vm1",
            &ping(B, &src, None, "10.0.0.1", "10.0.0.2"),
            i as u64,
        );
    }
    let t = &s.tables("br-int").unwrap().mac_table;
    assert_eq!(t.len(), max);
    assert_eq!(t.n_evicted, 100);
}

#[test]
fn a_patch_pair_is_added_whole_or_not_at_all() {
    let mut s = sw();
    s.add_bridge("br-tun").unwrap();
    // The second end's name is taken (vm1): neither end stays.
    let err = s
        .add_patch_pair(("br-int", "patch-tun", None), ("br-tun", "vm1", None))
        .unwrap_err();
    assert!(
        matches!(err, xvs_pipeline::SwitchError::PortExists(_)),
        "{err}"
    );
    assert!(s
        .bridge("br-int")
        .unwrap()
        .port_named("patch-tun")
        .is_none());
    s.add_patch_pair(
        ("br-int", "patch-tun", None),
        ("br-tun", "patch-int", Some(1)),
    )
    .unwrap();
    assert_eq!(
        s.bridge("br-tun")
            .unwrap()
            .port_named("patch-int")
            .unwrap()
            .ofport,
        1
    );
    assert!(s
        .bridge("br-int")
        .unwrap()
        .port_named("patch-tun")
        .is_some());
}
