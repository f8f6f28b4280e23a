//! NORMAL with OVS's four VLAN modes and priority tags, packets in and packets out,
//! through the slow path and a worker's cache.
//!
//! The expectations are OVS 3.1's: the same bridge built with ovs-vsctl on a netdev
//! bridge of dummy ports (`ovs-vswitchd --enable-dummy`), each case run through
//! `ovs-appctl ofproto/trace` and its datapath actions read port by port.

mod common;

use common::cached::Cached;
use common::*;
use xvs_pipeline::{PortConfig, PortKind, PortVlan, PriorityTags, Switch, VlanMode};

const SRC: &str = "00:00:00:00:00:01";
const DST: &str = "00:00:00:00:00:99";

fn vlan(mode: VlanMode, tag: Option<u16>, trunks: &[u16], priority_tags: PriorityTags) -> PortVlan {
    PortVlan {
        mode,
        tag,
        trunks: trunks.to_vec(),
        priority_tags,
    }
}

/// p1 access 5; p2 trunk of all; p3 native-untagged 5 trunking 6; p4 native-tagged 6;
/// p5 trunk of 0 and 5 with priority-tags=if-nonzero; p6 access 6 with priority-tags=true.
fn sw() -> Switch {
    use PriorityTags::*;
    use VlanMode::*;
    let mut sw = Switch::new();
    sw.add_bridge("br0").unwrap();
    for (name, v) in [
        ("p1", vlan(Access, Some(5), &[], Never)),
        ("p2", vlan(Trunk, None, &[], Never)),
        ("p3", vlan(NativeUntagged, Some(5), &[6], Never)),
        ("p4", vlan(NativeTagged, Some(6), &[], Never)),
        ("p5", vlan(Trunk, None, &[0, 5], IfNonzero)),
        ("p6", vlan(Access, Some(6), &[], IfNonzero)),
    ] {
        let mut c = PortConfig::new(name, PortKind::Netdev);
        c.vlan = v;
        sw.add_port("br0", c).unwrap();
    }
    sw
}

fn frame(tag: Option<(u16, u8)>) -> Vec<u8> {
    let mut f = eth(DST, SRC, tag, 0x88b5);
    f.extend_from_slice(&[0u8; 46]);
    f
}

type Case = (
    &'static str,
    Option<(u16, u8)>,
    &'static [(&'static str, Option<(u16, u8)>)],
);

/// (input port, input tag, [(output port, output tag)]); an empty list is a drop.
const CASES: &[Case] = &[
    // Access in: untagged everywhere VLAN 5 is untagged (native), tagged elsewhere.
    (
        "p1",
        None,
        &[
            ("p2", Some((5, 0))),
            ("p3", None),
            ("p4", Some((5, 0))),
            ("p5", Some((5, 0))),
        ],
    ),
    // An untagged frame on an all-VLAN trunk is VLAN 0: native ports never trunk it.
    ("p2", None, &[("p5", None)]),
    // VLAN 6 with a priority: tagged on trunks, a VID 0 tag on the priority-tags access
    // port.
    (
        "p2",
        Some((6, 3)),
        &[
            ("p3", Some((6, 3))),
            ("p4", Some((6, 3))),
            ("p6", Some((0, 3))),
        ],
    ),
    // Native-untagged in: VLAN 5.
    (
        "p3",
        None,
        &[
            ("p1", None),
            ("p2", Some((5, 0))),
            ("p4", Some((5, 0))),
            ("p5", Some((5, 0))),
        ],
    ),
    // Native-tagged in: VLAN 6; priority 0 leaves p6 untagged.
    (
        "p4",
        None,
        &[("p2", Some((6, 0))), ("p3", Some((6, 0))), ("p6", None)],
    ),
    // A priority tag on a trunk stays one; without a priority it is removed.
    ("p2", Some((0, 5)), &[("p5", Some((0, 5)))]),
    ("p2", Some((0, 0)), &[("p5", None)]),
    // A priority tag on a native port: the native VLAN, the priority kept.
    (
        "p3",
        Some((0, 2)),
        &[
            ("p1", None),
            ("p2", Some((5, 2))),
            ("p4", Some((5, 2))),
            ("p5", Some((5, 2))),
        ],
    ),
    (
        "p1",
        Some((0, 4)),
        &[
            ("p2", Some((5, 4))),
            ("p3", None),
            ("p4", Some((5, 4))),
            ("p5", Some((5, 4))),
        ],
    ),
    // Not the port's VLANs: dropped.
    ("p1", Some((7, 0)), &[]),
    ("p3", Some((7, 0)), &[]),
];

fn expected(case: &Case) -> Vec<(String, Vec<u8>)> {
    case.2
        .iter()
        .map(|(p, t)| (p.to_string(), frame(*t)))
        .collect()
}

#[test]
fn vlan_modes_forward_as_ovs() {
    for case in CASES {
        // A fresh bridge each time: the destination stays unknown, so NORMAL floods.
        let mut s = sw();
        let mut out = send(&mut s, case.0, &frame(case.1), 0);
        out.sort();
        assert_eq!(out, expected(case), "in {} tag {:?}", case.0, case.1);
    }
}

#[test]
fn vlan_modes_forward_alike_from_the_cache() {
    for case in CASES {
        let mut c = Cached::new(sw(), 100);
        let port = c.sw.dp_port_named(case.0).unwrap();
        let mut want: Vec<_> = expected(case)
            .into_iter()
            .map(|(p, f)| (c.sw.dp_port_named(&p).unwrap(), f))
            .collect();
        want.sort();
        for now in [1, 2] {
            let mut out = c.send(port, &frame(case.1), now);
            out.sort();
            assert_eq!(out, want, "in {} tag {:?} at {now}", case.0, case.1);
        }
    }
}

#[test]
fn learned_destinations_use_the_bridge_vlan() {
    let mut s = sw();
    // SRC is learned in VLAN 5 on p3 (native, untagged); a reply from p2 tagged 5 goes
    // back to p3 alone, untagged.
    send(&mut s, "p3", &frame(None), 0);
    let mut reply = eth(SRC, DST, Some((5, 0)), 0x88b5);
    reply.extend_from_slice(&[0u8; 46]);
    let mut want = eth(SRC, DST, None, 0x88b5);
    want.extend_from_slice(&[0u8; 46]);
    assert_eq!(
        send(&mut s, "p2", &reply, 1),
        vec![("p3".to_string(), want)]
    );
    // The same reply in VLAN 6 does not know SRC: flooded in VLAN 6.
    let mut other = eth(SRC, DST, Some((6, 0)), 0x88b5);
    other.extend_from_slice(&[0u8; 46]);
    let out = send(&mut s, "p2", &other, 2);
    let mut names: Vec<_> = out.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(names, ["p3", "p4", "p6"]);
}

#[test]
fn a_port_changes_vlan_in_place_keeping_its_numbers_and_forgetting_its_macs() {
    // The Neutron agent binds a port by moving it from the dead VLAN (tag 4095, a trunk
    // of 4095 only) to its network's local VLAN, and kills it the other way. As in OVS
    // (bundle_set), the port stays: the same OpenFlow and datapath numbers, its netdev
    // untouched; NORMAL follows the new VLANs at once, through the cache too, and the
    // MAC addresses learned on the port are forgotten.
    use PriorityTags::Never;
    use VlanMode::*;
    let mut s = Switch::new();
    s.add_bridge("br0").unwrap();
    for (name, v) in [
        ("p1", vlan(Access, Some(1), &[], Never)),
        ("p2", vlan(Access, Some(2), &[], Never)),
        ("p3", vlan(Access, Some(2), &[], Never)),
    ] {
        let mut c = PortConfig::new(name, PortKind::Netdev);
        c.vlan = v;
        s.add_port("br0", c).unwrap();
    }
    let numbers = |s: &Switch| {
        let p = s.bridge("br0").unwrap().port_named("p2").unwrap();
        (p.ofport, p.dp_port)
    };
    let before = numbers(&s);
    let mut c = Cached::new(s, 100);
    let (p1, p2, p3) = (
        c.sw.dp_port_named("p1").unwrap(),
        c.sw.dp_port_named("p2").unwrap(),
        c.sw.dp_port_named("p3").unwrap(),
    );
    // DST learned on p2 in VLAN 2 (p3 reaches it); p1, in VLAN 1, floods to nobody.
    let mut from_dst = eth(SRC, DST, None, 0x88b5);
    from_dst.extend_from_slice(&[0u8; 46]);
    assert_eq!(c.send(p2, &from_dst, 1), vec![(p3, from_dst.clone())]);
    assert_eq!(c.send(p3, &frame(None), 2), vec![(p2, frame(None))]);
    assert_eq!(c.send(p1, &frame(None), 3), vec![]);
    let of_p2 = before.0;
    let mac = |m: &str| m.parse().unwrap();
    assert_eq!(
        c.sw.tables("br0").unwrap().mac_table.lookup(2, mac(DST), 4),
        Some(of_p2)
    );

    // Bound to VLAN 1: p1 and p2 meet, p3 is alone; DST is unknown again.
    c.sw.set_port_vlan("br0", "p2", vlan(Access, Some(1), &[], Never))
        .unwrap();
    c.fp.commit(&mut c.sw);
    c.housekeeping(5);
    assert_eq!(
        numbers(&c.sw),
        before,
        "the same OpenFlow and datapath numbers"
    );
    assert_eq!(
        c.sw.tables("br0").unwrap().mac_table.lookup(2, mac(DST), 5),
        None,
        "what p2 learned is forgotten"
    );
    for now in [6, 7] {
        assert_eq!(c.send(p1, &frame(None), now), vec![(p2, frame(None))]);
        assert_eq!(c.send(p3, &frame(None), now), vec![], "p3 floods to nobody");
    }
    // Killed: tag 4095, a trunk of 4095 only, carries nothing.
    c.sw.set_port_vlan("br0", "p2", vlan(Trunk, Some(4095), &[4095], Never))
        .unwrap();
    c.fp.commit(&mut c.sw);
    c.housekeeping(8);
    assert_eq!(numbers(&c.sw), before);
    assert_eq!(c.send(p1, &frame(None), 9), vec![]);
    assert_eq!(c.send(p2, &frame(None), 10), vec![]);
    // A VLAN id out of range is refused and changes nothing.
    assert!(c
        .sw
        .set_port_vlan("br0", "p2", vlan(Access, Some(4096), &[], Never))
        .is_err());
    assert!(c
        .sw
        .set_port_vlan("br0", "nope", PortVlan::default())
        .is_err());
}
