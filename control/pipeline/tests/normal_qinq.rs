//! 802.1ad service tags (TPID 0x88a8) are VLAN tags, as in OVS with its default
//! `vlan-limit=1`: NORMAL switches on the outer tag whichever its TPID, a QinQ frame on
//! its outer tag, and the VLAN actions keep, remove or choose the TPID as OVS 3.1 does
//! (every expected frame below was checked against `ovs-appctl ofproto/trace` of OVS 3.1
//! with the same ports and flows). Packets in and packets out, through the slow path and
//! through a worker's cache.

mod common;

use common::cached::Cached;
use common::*;
use xvs_pipeline::{PortConfig, PortKind, Switch};

const A: &str = "fa:16:3e:00:00:0a";
const B: &str = "fa:16:3e:00:00:0b";

/// Two access ports on VLAN 1, then two trunks: a flood from a trunk pops the tag for
/// the access ports before the other trunk needs it back.
fn normal_bridge() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge("br0").unwrap();
    for (name, tag) in [
        ("vm1", Some(1)),
        ("vm2", Some(1)),
        ("trunk1", None),
        ("trunk2", None),
    ] {
        let mut p = PortConfig::new(name, PortKind::Netdev);
        if let Some(t) = tag {
            p = p.tag(t);
        }
        sw.add_port("br0", p).unwrap();
    }
    sw
}

/// Ports p1..p4 and no flows.
fn flow_bridge() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge("br0").unwrap();
    for p in ["p1", "p2", "p3", "p4"] {
        sw.add_port("br0", PortConfig::new(p, PortKind::Netdev))
            .unwrap();
    }
    sw
}

type Out = Vec<(String, Vec<u8>)>;

fn out(v: &[(&str, &[u8])]) -> Out {
    v.iter().map(|(n, f)| (n.to_string(), f.to_vec())).collect()
}

/// The same switch twice: one forwarding by the slow path only, one behind a worker's
/// cache. Every frame goes through both, twice through the cache (the second time a hit
/// at the latest), and all must agree.
struct Both {
    slow: Switch,
    cached: Cached,
}

impl Both {
    fn new(build: fn() -> Switch) -> Self {
        Both {
            slow: build(),
            cached: Cached::new(build(), 100),
        }
    }

    fn add_flows(&mut self, bridge: &str, flows: &[&str]) {
        for f in flows {
            self.slow.add_flow(bridge, f, 0).unwrap();
            self.cached.sw.add_flow(bridge, f, 0).unwrap();
        }
        self.cached.fp.commit(&mut self.cached.sw);
        self.cached.housekeeping(0);
    }

    fn send(&mut self, port: &str, frame: &[u8], now: u64) -> Out {
        let slow = send(&mut self.slow, port, frame, now);
        let p = self.cached.sw.dp_port_named(port).unwrap();
        for i in 0..2 {
            let hits = self.cached.worker.stats().snapshot().hits;
            let got: Out = self
                .cached
                .send(p, frame, now)
                .into_iter()
                .map(|(p, f)| (self.cached.sw.dp_port_name(p).unwrap().to_string(), f))
                .collect();
            assert_eq!(got, slow, "through the cache, send {i}");
            if i == 1 {
                let now_hits = self.cached.worker.stats().snapshot().hits;
                assert_eq!(now_hits, hits + 1, "the second send is a hit");
            }
        }
        slow
    }
}

#[test]
fn s_tagged_frame_on_a_trunk_leaves_access_ports_untagged_and_trunks_as_it_came() {
    let mut b = Both::new(normal_bridge);
    let f = s_tagged(&ping(B, A, None, "10.0.0.1", "10.0.0.2"), 1);
    let untagged = untag(&f);
    // OVS: pop_vlan,vm1,vm2,push_vlan(tpid=0x88a8,vid=1,pcp=0),trunk2.
    assert_eq!(
        b.send("trunk1", &f, 0),
        out(&[("vm1", &untagged), ("vm2", &untagged), ("trunk2", &f)])
    );

    // The 802.1Q twin has the same key (the TPID is not in it): the entry the S-tagged
    // frame left serves it at once, and it too leaves the trunk with its own tag.
    let q = tagged(&ping(B, A, None, "10.0.0.1", "10.0.0.2"), 1);
    let misses = b.cached.worker.stats().snapshot().misses;
    assert_eq!(
        b.send("trunk1", &q, 1),
        out(&[("vm1", &untagged), ("vm2", &untagged), ("trunk2", &q)])
    );
    assert_eq!(b.cached.worker.stats().snapshot().misses, misses);

    // A was learned on trunk1 in VLAN 1: the reply goes there only, with the 802.1Q tag
    // NORMAL pushes for an untagged frame (OVS: push_vlan(vid=1,pcp=0)).
    let reply = ping(A, B, None, "10.0.0.2", "10.0.0.1");
    assert_eq!(
        b.send("vm1", &reply, 2),
        out(&[("trunk1", &tagged(&reply, 1))])
    );
    // And B, learned on vm1, gets the S-tagged frame untagged.
    assert_eq!(b.send("trunk1", &f, 3), out(&[("vm1", &untagged)]));

    // A trace has no frame, so no TPID: the tag given back is shown as the received one.
    let trace = normal_bridge()
        .trace(
            "br0",
            &format!("in_port=trunk1,dl_vlan=1,dl_src={A},dl_dst={B}"),
            0,
        )
        .unwrap();
    assert!(
        trace.ends_with(
            "Datapath actions: pop_vlan,1(vm1),2(vm2),push_vlan(tpid=received,vid=1,pcp=0),4(trunk2)\n"
        ),
        "{trace}"
    );
}

#[test]
fn s_tagged_frame_with_a_vid_on_an_access_port_is_dropped() {
    let mut b = Both::new(normal_bridge);
    let f = ping(B, A, None, "10.0.0.1", "10.0.0.2");
    // Another VLAN, and the port's own: OVS drops both ("dropping VLAN 1 tagged packet
    // received on port vm1 configured as VLAN 1 access port").
    for vid in [5, 1] {
        assert_eq!(b.send("vm1", &s_tagged(&f, vid), 0), out(&[]), "vid {vid}");
    }
    assert!(
        b.slow.tables("br0").unwrap().mac_table.is_empty(),
        "nothing learned"
    );
    // A priority tag (VID 0) is admitted into the port's VLAN; the trunks get the frame
    // with its TPID and PCP and the port's VID (OVS: pop_vlan,vm2,
    // push_vlan(tpid=0x88a8,vid=1,pcp=5),trunk1,trunk2).
    let prio = tag_with(&f, 0x88a8, 5 << 13);
    let on_trunks = tag_with(&f, 0x88a8, 5 << 13 | 1);
    assert_eq!(
        b.send("vm1", &prio, 1),
        out(&[("vm2", &f), ("trunk1", &on_trunks), ("trunk2", &on_trunks)])
    );
}

#[test]
fn qinq_frame_is_switched_on_its_outer_tag() {
    let mut b = Both::new(normal_bridge);
    let c_tagged = tagged(&ping(B, A, None, "10.0.0.1", "10.0.0.2"), 100);
    let f = s_tagged(&c_tagged, 1);
    assert_eq!(&f[12..18], &[0x88, 0xa8, 0, 1, 0x81, 0]);
    // VLAN 1: the access ports get the frame with its C-tag, the S-tag popped.
    assert_eq!(
        b.send("trunk1", &f, 0),
        out(&[("vm1", &c_tagged), ("vm2", &c_tagged), ("trunk2", &f)])
    );
    // VLAN 100 is the inner tag's, not the frame's: S-tag 2 reaches the trunk only.
    let f2 = s_tagged(&c_tagged, 2);
    assert_eq!(b.send("trunk1", &f2, 1), out(&[("trunk2", &f2)]));
}

/// A frame whose ethertype is 0x88a8 (or 0x8100) but too short for the tag: OVS's
/// parse_vlan does not take the tag, so the frame is untagged with dl_type 0x88a8, and
/// NORMAL drops it ("partial VLAN tag", ofproto-dpif-xlate.c xlate_normal). It is not
/// malformed for the datapath: an explicit output still sends it.
#[test]
fn truncated_tag_is_dropped_by_normal_as_a_partial_tag() {
    let mut b = Both::new(normal_bridge);
    for tpid in [0x88a8, 0x8100] {
        let mut f = eth(B, A, None, tpid);
        f.extend_from_slice(&[0, 1, 8]);
        assert_eq!(b.send("trunk1", &f, 0), out(&[]), "{tpid:#x}");
    }
    assert_eq!(b.slow.drops.malformed, 0);
    assert_eq!(b.cached.worker.stats().snapshot().malformed, 0);
}

#[test]
fn vlan_actions_keep_remove_or_choose_the_tpid_as_ovs() {
    let mut b = Both::new(flow_bridge);
    b.add_flows(
        "br0",
        &[
            "in_port=p1,dl_vlan=10 actions=mod_vlan_vid:20,output:p2",
            "in_port=p1,dl_vlan=11 actions=mod_vlan_pcp:3,output:p2",
            "in_port=p1,dl_vlan=12 actions=strip_vlan,output:p2",
            "in_port=p1,dl_vlan=13 actions=strip_vlan,mod_vlan_vid:20,output:p2",
            "in_port=p1,dl_vlan=14 actions=strip_vlan,output:p2,mod_vlan_vid:5,output:p3",
            "in_port=p1,dl_vlan=15 actions=mod_vlan_vid:5,output:p2,strip_vlan,output:p3,mod_vlan_vid:15,output:p4",
            "in_port=p1,dl_vlan=16 actions=load:0->NXM_OF_VLAN_TCI[],output:p2,load:0x1011->NXM_OF_VLAN_TCI[],output:p3",
            "in_port=p1,dl_vlan=17 actions=strip_vlan,push_vlan:0x88a8,mod_vlan_vid:17,output:p2",
            "in_port=p1,vlan_tci=0 actions=push_vlan:0x88a8,mod_vlan_vid:20,output:p2,strip_vlan,mod_vlan_vid:21,output:p3",
        ],
    );
    let ip = ping(B, A, None, "10.0.0.1", "10.0.0.2");
    let s = |vid| s_tagged(&ip, vid);
    let q = |vid| tagged(&ip, vid);

    // In place: the TCI changes, the S-tag stays (OVS: pop_vlan,
    // push_vlan(tpid=0x88a8,vid=20,pcp=0)).
    assert_eq!(b.send("p1", &s(10), 0), out(&[("p2", &s(20))]));
    assert_eq!(
        b.send("p1", &s(11), 0),
        out(&[("p2", &tag_with(&ip, 0x88a8, 3 << 13 | 11))])
    );
    // strip_vlan removes the S-tag.
    assert_eq!(b.send("p1", &s(12), 0), out(&[("p2", &ip)]));
    // A tag pushed after strip_vlan is 802.1Q, as OVS's (the stripped TPID is gone).
    assert_eq!(b.send("p1", &s(13), 0), out(&[("p2", &q(20))]));
    assert_eq!(b.send("p1", &s(14), 0), out(&[("p2", &ip), ("p3", &q(5))]));
    assert_eq!(
        b.send("p1", &s(15), 0),
        out(&[("p2", &s(5)), ("p3", &ip), ("p4", &q(15))])
    );
    // A load clears and sets the present bit without forgetting the TPID (OVS:
    // pop_vlan,p2,push_vlan(tpid=0x88a8,vid=17,pcp=0),p3).
    assert_eq!(b.send("p1", &s(16), 0), out(&[("p2", &ip), ("p3", &s(17))]));
    // push_vlan:0x88a8 after a strip of an 802.1Q tag: an S-tag, even with the same VID.
    assert_eq!(b.send("p1", &q(17), 0), out(&[("p2", &s(17))]));
    // push_vlan:0x88a8 on an untagged frame: an S-tag; after a strip, mod_vlan_vid: 802.1Q.
    assert_eq!(b.send("p1", &ip, 0), out(&[("p2", &s(20)), ("p3", &q(21))]));

    // The same frame 802.1Q-tagged hits the S-tagged frame's entries and keeps 0x8100.
    assert_eq!(b.send("p1", &q(10), 0), out(&[("p2", &q(20))]));
    assert_eq!(b.send("p1", &q(16), 0), out(&[("p2", &ip), ("p3", &q(17))]));

    let trace = b.slow.trace("br0", "in_port=p1,dl_vlan=17", 0).unwrap();
    assert!(
        trace.ends_with("Datapath actions: pop_vlan,push_vlan(tpid=0x88a8,vid=17,pcp=0),2(p2)\n"),
        "{trace}"
    );
}

/// A patch peer re-tags the frame; back on this side it must leave with the tag it came
/// with, whose TPID only the frame knows (OVS: pop_vlan,push_vlan(vid=20,pcp=0),p5,
/// pop_vlan,push_vlan(tpid=0x88a8,vid=10,pcp=0),trunk2).
#[test]
fn after_a_patch_peer_re_tags_the_frame_it_gets_its_own_tag_back() {
    fn build() -> Switch {
        let mut sw = Switch::new();
        sw.add_bridge("br0").unwrap();
        sw.add_bridge("br1").unwrap();
        for p in ["trunk1", "trunk2"] {
            sw.add_port("br0", PortConfig::new(p, PortKind::Netdev))
                .unwrap();
        }
        sw.add_port("br1", PortConfig::new("p5", PortKind::Netdev))
            .unwrap();
        sw.add_patch_pair(("br0", "patch-a", None), ("br1", "patch-b", None))
            .unwrap();
        sw
    }
    let mut b = Both::new(build);
    b.add_flows("br0", &["actions=output:patch-a,output:trunk2"]);
    b.add_flows(
        "br1",
        &["in_port=patch-b actions=strip_vlan,mod_vlan_vid:20,output:p5"],
    );
    let ip = ping(B, A, None, "10.0.0.1", "10.0.0.2");
    for tpid in [0x88a8, 0x8100] {
        let f = tag_with(&ip, tpid, 10);
        assert_eq!(
            b.send("trunk1", &f, 0),
            out(&[("p5", &tagged(&ip, 20)), ("trunk2", &f)]),
            "tpid {tpid:#x}"
        );
    }
}
