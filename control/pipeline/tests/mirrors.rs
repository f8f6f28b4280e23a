//! Port mirrors (the OVSDB `Mirror` table), packets in and packets out, through the slow
//! path and a worker's cache.
//!
//! The expectations are OVS 3.1's: the same bridges built with ovs-vsctl on a netdev
//! bridge of dummy ports (`ovs-vswitchd --enable-dummy=override`, `datapath_type=dummy`),
//! each case run through `ovs-appctl ofproto/trace` (MACs learned with
//! `netdev-dummy/receive`), its datapath actions read port by port (the bridge's LOCAL
//! port, which these bridges do not have, left out). The recorded actions are in the
//! comments.

mod common;

use common::cached::Cached;
use common::*;
use xvs_pipeline::{MirrorConfig, MirrorOutput, PortConfig, PortKind, Switch};

const BCAST: &str = "ff:ff:ff:ff:ff:ff";

fn frame(dst: &str, src: &str, tag: Option<u16>) -> Vec<u8> {
    let mut f = eth(dst, src, tag.map(|v| (v, 0)), 0x88b5);
    f.extend_from_slice(&[0u8; 46]);
    f
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// What ovs-tcpdump asks for: `m_<port>` selecting the port both ways, to `mi<port>`.
fn tcpdump_mirror(port: &str, out: &str) -> MirrorConfig {
    MirrorConfig {
        name: format!("m_{port}"),
        select_all: false,
        select_src: names(&[port]),
        select_dst: names(&[port]),
        select_vlan: vec![],
        output: Some(MirrorOutput::Port(out.into())),
    }
}

/// br0: p1 and p2 access 1, p3 access 2, t1 a trunk, mi (a trunk) the output of a
/// mirror of p1 in both directions.
fn br0() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge("br0").unwrap();
    for (name, tag) in [
        ("p1", Some(1)),
        ("p2", Some(1)),
        ("p3", Some(2)),
        ("t1", None),
        ("mi", None),
    ] {
        let mut c = PortConfig::new(name, PortKind::Netdev);
        if let Some(t) = tag {
            c = c.tag(t);
        }
        sw.add_port("br0", c).unwrap();
    }
    let r = sw
        .set_mirrors("br0", vec![tcpdump_mirror("p1", "mi")])
        .unwrap();
    assert!(r.errors.is_empty() && r.warnings.is_empty());
    sw
}

fn sorted(mut v: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    v.sort();
    v
}

type Case = (
    &'static str,
    &'static str,
    Option<u16>,
    &'static [(&'static str, Option<u16>)],
);

/// (in port, destination, input tag, [(output port, output tag)]) on br0 with p1's MAC
/// (00:..:01) learned on p1.
const BR0_CASES: &[Case] = &[
    // A broadcast from p1: `push_vlan(vid=1),5,100,pop_vlan,2,push_vlan(vid=1),4`.
    (
        "p1",
        BCAST,
        None,
        &[("mi", Some(1)), ("p2", None), ("t1", Some(1))],
    ),
    // A broadcast into p1 from the trunk: `100,pop_vlan,1,push_vlan(vid=1),5,pop_vlan,2`.
    (
        "t1",
        BCAST,
        Some(1),
        &[("mi", Some(1)), ("p1", None), ("p2", None)],
    ),
    // VLAN 2 does not touch p1: `push_vlan(vid=2),100,4`.
    ("p3", BCAST, None, &[("t1", Some(2))]),
    // Unicast to p1 from p2: `1,push_vlan(vid=1),5`.
    (
        "p2",
        "00:00:00:00:00:01",
        None,
        &[("mi", Some(1)), ("p1", None)],
    ),
    // And from the trunk: `pop_vlan,1,push_vlan(vid=1),5`.
    (
        "t1",
        "00:00:00:00:00:01",
        Some(1),
        &[("mi", Some(1)), ("p1", None)],
    ),
    // The mirror's output port receives nothing: "dropping packet received on port mi,
    // which is reserved exclusively for mirroring".
    ("mi", BCAST, None, &[]),
    // A trunk's untagged frame is VLAN 0: nowhere (`100`).
    ("t1", BCAST, None, &[]),
    // Tagged on an access port: dropped, not mirrored.
    ("p1", BCAST, Some(7), &[]),
];

fn br0_expected(case: &Case, src: &str) -> Vec<(String, Vec<u8>)> {
    sorted(
        case.3
            .iter()
            .map(|(p, t)| (p.to_string(), frame(case.1, src, *t)))
            .collect(),
    )
}

fn learn_p1(send_p1: &mut dyn FnMut(&[u8])) {
    send_p1(&frame(BCAST, "00:00:00:00:00:01", None));
}

const SRC: &str = "00:00:00:00:00:0a";

#[test]
fn mirror_copies_as_ovs() {
    for case in BR0_CASES {
        let mut s = br0();
        learn_p1(&mut |f| {
            send(&mut s, "p1", f, 0);
        });
        let out = sorted(send(&mut s, case.0, &frame(case.1, SRC, case.2), 1));
        assert_eq!(
            out,
            br0_expected(case, SRC),
            "in {} to {} tag {:?}",
            case.0,
            case.1,
            case.2
        );
    }
}

#[test]
fn mirror_copies_alike_from_the_cache() {
    for case in BR0_CASES {
        let mut c = Cached::new(br0(), 100);
        let p1 = c.sw.dp_port_named("p1").unwrap();
        learn_p1(&mut |f| {
            c.send(p1, f, 0);
        });
        let port = c.sw.dp_port_named(case.0).unwrap();
        let mut want: Vec<_> = br0_expected(case, SRC)
            .into_iter()
            .map(|(p, f)| (c.sw.dp_port_named(&p).unwrap(), f))
            .collect();
        want.sort();
        for now in [1, 2, 3] {
            let mut out = c.send(port, &frame(case.1, SRC, case.2), now);
            out.sort();
            assert_eq!(out, want, "in {} to {} at {now}", case.0, case.1);
        }
    }
}

#[test]
fn explicit_outputs_are_mirrored_with_the_fields_as_they_leave() {
    // `priority=10,in_port=3,actions=mod_dl_src:00:00:00:00:00:33,output:1,output:4`:
    // `set(eth(src=00:00:00:00:00:33)),1,push_vlan(vid=1,pcp=0),5,pop_vlan,4`.
    let mut s = br0();
    s.add_flow(
        "br0",
        "priority=10,in_port=p3,actions=mod_dl_src:00:00:00:00:00:33,output:p1,output:t1",
        0,
    )
    .unwrap();
    let dst = "00:00:00:00:00:99";
    let out = sorted(send(&mut s, "p3", &frame(dst, SRC, None), 1));
    let src = "00:00:00:00:00:33";
    assert_eq!(
        out,
        sorted(vec![
            ("p1".into(), frame(dst, src, None)),
            ("mi".into(), frame(dst, src, Some(1))),
            ("t1".into(), frame(dst, src, None)),
        ])
    );
}

/// br1: q1 access 1, q2 access 2, q3 a trunk, q4 access 9, mj a trunk; mirror `all2`
/// selects every port in VLAN 2 to mj, mirror `rspan` every port in VLAN 1 to VLAN 9.
fn br1() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge("br1").unwrap();
    for (name, tag) in [
        ("q1", Some(1)),
        ("q2", Some(2)),
        ("q3", None),
        ("q4", Some(9)),
        ("mj", None),
    ] {
        let mut c = PortConfig::new(name, PortKind::Netdev);
        if let Some(t) = tag {
            c = c.tag(t);
        }
        sw.add_port("br1", c).unwrap();
    }
    let all = |name: &str, vlan: u16, output: MirrorOutput| MirrorConfig {
        name: name.into(),
        select_all: true,
        select_src: vec![],
        select_dst: vec![],
        select_vlan: vec![vlan],
        output: Some(output),
    };
    let r = sw
        .set_mirrors(
            "br1",
            vec![
                all("all2", 2, MirrorOutput::Port("mj".into())),
                all("rspan", 1, MirrorOutput::Vlan(9)),
            ],
        )
        .unwrap();
    assert!(r.errors.is_empty());
    sw
}

#[test]
fn vlan_selection_and_output_vlan_as_ovs() {
    let cases: &[Case] = &[
        // `push_vlan(vid=2),10,101,8`: once to mj though q3 is selected too.
        ("q2", BCAST, None, &[("mj", Some(2)), ("q3", Some(2))]),
        // `push_vlan(vid=9),101,8,pop_vlan,9,push_vlan(vid=1),101,8`: the copy goes to
        // VLAN 9's ports (mj, a mirror output, excepted), then the frame to VLAN 1's.
        (
            "q1",
            BCAST,
            None,
            &[("q3", Some(9)), ("q4", None), ("q3", Some(1))],
        ),
        // `10,101,pop_vlan,7`.
        ("q3", BCAST, Some(2), &[("mj", Some(2)), ("q2", None)]),
        // VLAN 3: no mirror (`101`).
        ("q3", BCAST, Some(3), &[]),
    ];
    for case in cases {
        let mut s = br1();
        let out = sorted(send(&mut s, case.0, &frame(case.1, SRC, case.2), 1));
        assert_eq!(
            out,
            br0_expected(case, SRC),
            "in {} tag {:?}",
            case.0,
            case.2
        );
    }
}

#[test]
fn bad_mirrors_are_refused_alone() {
    let mut s = br0();
    let mut no_output = tcpdump_mirror("p2", "mi");
    no_output.output = None;
    let r = s
        .set_mirrors(
            "br0",
            vec![
                tcpdump_mirror("p1", "nowhere"),
                no_output,
                tcpdump_mirror("p3", "mi"),
            ],
        )
        .unwrap();
    assert_eq!(
        r.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        [
            "bridge br0: mirror m_p1 outputs to port not on bridge",
            "bridge br0: mirror m_p2 does not specify output; ignoring",
        ]
    );
    // p1 is no longer mirrored, p3 is.
    let out = sorted(send(&mut s, "p1", &frame(BCAST, SRC, None), 1));
    assert!(out.iter().all(|(p, _)| p != "mi"), "{out:?}");
    let out = sorted(send(&mut s, "p3", &frame(BCAST, SRC, None), 2));
    assert_eq!(
        out,
        sorted(vec![
            ("mi".into(), frame(BCAST, SRC, Some(2))),
            ("t1".into(), frame(BCAST, SRC, Some(2))),
        ])
    );
    assert!(s.set_mirrors("nobridge", vec![]).is_err());
}

#[test]
fn adding_and_removing_a_mirror_invalidates_cached_entries() {
    // The flow (p2 to p1's MAC) is cached without a copy; the mirror comes: the next
    // packet has its copy (through the revalidator's removals, not a stale entry); the
    // mirror goes: no copy.
    let mut sw = br0();
    sw.set_mirrors("br0", vec![]).unwrap();
    let mut c = Cached::new(sw, 100);
    let p1 = c.sw.dp_port_named("p1").unwrap();
    let p2 = c.sw.dp_port_named("p2").unwrap();
    let mi = c.sw.dp_port_named("mi").unwrap();
    learn_p1(&mut |f| {
        c.send(p1, f, 0);
    });
    let f = frame("00:00:00:00:00:01", SRC, None);
    let outs = |v: &[(u32, Vec<u8>)]| {
        let mut p: Vec<u32> = v.iter().map(|x| x.0).collect();
        p.sort();
        p
    };
    let hits = c.worker.stats().snapshot().hits;
    let mut now = 1;
    for _ in 0..2 {
        assert_eq!(outs(&c.send(p2, &f, now)), [p1]);
        now += 1;
    }
    assert_eq!(c.worker.stats().snapshot().hits, hits + 1);
    c.sw.set_mirrors("br0", vec![tcpdump_mirror("p1", "mi")])
        .unwrap();
    c.housekeeping(now);
    for _ in 0..2 {
        assert_eq!(outs(&c.send(p2, &f, now)), [p1, mi]);
        now += 1;
    }
    // Setting the same mirrors again changes nothing and invalidates nothing.
    let hits = c.worker.stats().snapshot().hits;
    c.sw.set_mirrors("br0", vec![tcpdump_mirror("p1", "mi")])
        .unwrap();
    c.housekeeping(now);
    assert_eq!(outs(&c.send(p2, &f, now)), [p1, mi]);
    assert_eq!(c.worker.stats().snapshot().hits, hits + 1);
    c.sw.set_mirrors("br0", vec![]).unwrap();
    c.housekeeping(now);
    assert_eq!(outs(&c.send(p2, &f, now)), [p1]);
}

#[test]
fn a_mirror_follows_its_output_port() {
    // The output port goes: the mirror stops (OVS destroys it, and configures it again
    // once the port is back).
    let mut s = br0();
    s.del_port("br0", "mi").unwrap();
    let out = send(&mut s, "p1", &frame(BCAST, SRC, None), 1);
    assert_eq!(out.len(), 2, "{out:?}");
    s.add_port("br0", PortConfig::new("mi", PortKind::Netdev))
        .unwrap();
    let out = send(&mut s, "p1", &frame(BCAST, SRC, None), 2);
    assert!(out.iter().any(|(p, _)| p == "mi"), "{out:?}");
}

mod tunnels {
    //! `ovs-tcpdump -i gre-1` on br-tun: as OVS mirrors a tunnel port, the copies are
    //! the inner frames, as they leave through the tunnel (after br-tun's flows) and as
    //! they come out of it (decapsulated), each once. OVS 3.1 on dummy ports (br-t: vm
    //! 1, gre0 2 with `key=flow`, migre0 3, the mirror of gre0 both ways to migre0;
    //! `in_port=1 actions=set_tunnel:5,output:2`, `in_port=2,tun_id=5 actions=output:1`)
    //! traces `15,16` for vm's frame (the tunnel, then the copy: the frame as the flows
    //! left it, untunnelled) and `16,14` for one from gre0 (the copy first, the frame as
    //! it came out of the tunnel).
    use super::*;
    use common::neutron::{int_and_tun_bridges, BrTun, Network, Underlay};

    const LOCAL_IP: &str = "192.168.1.254";
    const REMOTE_1: &str = "192.168.1.253";
    const REMOTE_2: &str = "192.168.1.252";
    const LOCAL_UL_MAC: &str = "52:54:00:00:01:fe";
    const NEXT_HOP_MAC: &str = "52:54:00:00:01:01";
    const VM_MAC: &str = "fa:16:3e:11:11:11";
    const REMOTE_VM_MAC: &str = "fa:16:3e:22:22:22";

    fn node() -> Switch {
        let mut sw = Switch::new();
        int_and_tun_bridges(
            &mut sw,
            vec![PortConfig::new("tap-vm", PortKind::Netdev).tag(1)],
        );
        let underlay = Underlay::add(&mut sw, "eth1", LOCAL_IP, LOCAL_UL_MAC, NEXT_HOP_MAC);
        underlay.add_tunnel(&mut sw, "gre-1", false, 2, REMOTE_1);
        underlay.add_tunnel(&mut sw, "gre-2", false, 3, REMOTE_2);
        BrTun {
            tunnel_ports: vec![2, 3],
            tunnel_table: 3,
            networks: vec![Network {
                tun_id: 0x3e7,
                lvid: 1,
                flood: vec![2, 3],
            }],
            learn_hard_timeout: 300,
            learn_cookie: None,
            learn_in_port: "NXM_OF_IN_PORT",
            arp_responder: None,
        }
        .program(&mut sw);
        // What ovs-tcpdump adds: a port for the copies and the mirror, on gre-1's bridge.
        sw.add_port("br-tun", PortConfig::new("migre-1", PortKind::Netdev))
            .unwrap();
        sw.set_mirrors("br-tun", vec![tcpdump_mirror("gre-1", "migre-1")])
            .unwrap();
        sw
    }

    #[test]
    fn a_tunnel_port_is_mirrored_as_inner_frames_both_ways() {
        let mut sw = node();
        let bcast = ping("ff:ff:ff:ff:ff:ff", VM_MAC, None, "10.0.0.5", "10.0.0.255");
        let out = send(&mut sw, "tap-vm", &bcast, 1000);
        let gre_out = |remote| gre(NEXT_HOP_MAC, LOCAL_UL_MAC, LOCAL_IP, remote, 0x3e7, &bcast);
        assert_eq!(
            out,
            vec![
                ("eth1".to_string(), gre_out(REMOTE_1)),
                ("migre-1".to_string(), bcast.clone()),
                ("eth1".to_string(), gre_out(REMOTE_2)),
            ]
        );
        // From the remote behind gre-1: the decapsulated frame, before br-tun's flows.
        let to_vm = ping(VM_MAC, REMOTE_VM_MAC, None, "10.0.0.9", "10.0.0.5");
        let from_1 = gre(
            LOCAL_UL_MAC,
            NEXT_HOP_MAC,
            REMOTE_1,
            LOCAL_IP,
            0x3e7,
            &to_vm,
        );
        let out = send(&mut sw, "eth1", &from_1, 2000);
        assert_eq!(
            out,
            vec![
                ("migre-1".to_string(), to_vm.clone()),
                ("tap-vm".to_string(), to_vm.clone()),
            ]
        );
        // gre-2's traffic is not gre-1's.
        let from_2 = gre(
            LOCAL_UL_MAC,
            NEXT_HOP_MAC,
            REMOTE_2,
            LOCAL_IP,
            0x3e7,
            &to_vm,
        );
        let out = send(&mut sw, "eth1", &from_2, 3000);
        assert_eq!(out, vec![("tap-vm".to_string(), to_vm.clone())]);
    }
}

#[test]
fn mirrors_count_what_they_copy_cached_or_not() {
    // OVS's `Mirror.statistics`: tx_packets and tx_bytes, for every packet copied,
    // through the slow path or a cache entry.
    let mut c = Cached::new(br0(), 100);
    let p1 = c.sw.dp_port_named("p1").unwrap();
    let p3 = c.sw.dp_port_named("p3").unwrap();
    let f = frame(BCAST, SRC, None);
    for now in 1..=3 {
        c.send(p1, &f, now);
        // VLAN 2: not mirrored, not counted.
        c.send(p3, &f, now);
    }
    c.housekeeping(4);
    assert_eq!(
        c.sw.mirror_stats("br0").unwrap(),
        vec![("m_p1".to_string(), 3, 3 * f.len() as u64)]
    );
    // Configured again alike: the counts stay; gone: so are they.
    c.sw.set_mirrors("br0", vec![tcpdump_mirror("p1", "mi")])
        .unwrap();
    assert_eq!(c.sw.mirror_stats("br0").unwrap()[0].1, 3);
    c.sw.set_mirrors("br0", vec![]).unwrap();
    assert!(c.sw.mirror_stats("br0").unwrap().is_empty());
}
