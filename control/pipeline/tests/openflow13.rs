//! OpenFlow 1.3's instructions and fields through the pipeline, byte-exact frames in
//! and out: goto_table (a tail jump) against resubmit (a call that returns), registers
//! and metadata (pipeline state, zero for every packet, never in a cache key),
//! set_field on the VLAN, Ethernet and ARP fields, dec_ttl and the controller.

mod common;

use common::cached::Cached;
use common::*;
use xvs_dataplane::FlowKey;
use xvs_pipeline::xlate::DropReason;
use xvs_pipeline::{PortConfig, PortKind, Switch};

const A: &str = "fa:16:3e:00:00:0a";
const B: &str = "fa:16:3e:00:00:0b";

/// br0 with netdev ports p1..p4 (OpenFlow 1..4) and `flows`.
fn bridge(flows: &[&str]) -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge_with("br0", false).unwrap();
    for p in ["p1", "p2", "p3", "p4"] {
        sw.add_port("br0", PortConfig::new(p, PortKind::Netdev))
            .unwrap();
    }
    for f in flows {
        sw.add_flow("br0", f, 0)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    sw
}

fn ports(out: &[(String, Vec<u8>)]) -> Vec<&str> {
    out.iter().map(|(p, _)| p.as_str()).collect()
}

fn frame() -> Vec<u8> {
    ping(B, A, None, "10.0.0.1", "10.0.0.2")
}

/// What the cache does with the same packets: the slow path's output, then the same
/// from the cached entry.
fn cached_twice(sw: Switch, port: &str, frame: &[u8]) -> (Vec<String>, Vec<String>) {
    let dp = sw.dp_port_named(port).unwrap();
    let mut c = Cached::new(sw, 64);
    let name = |c: &Cached, out: Vec<(u32, Vec<u8>)>| -> Vec<String> {
        out.into_iter()
            .map(|(p, _)| c.sw.dp_port_name(p).unwrap().to_string())
            .collect()
    };
    let first = c.send(dp, frame, 1000);
    let first = name(&c, first);
    let second = c.send(dp, frame, 1001);
    let second = name(&c, second);
    (first, second)
}

#[test]
fn resubmit_returns_goto_table_does_not() {
    // resubmit: table 1 runs, then the rest of table 0's actions.
    let mut sw = bridge(&[
        "table=0,in_port=p1 actions=resubmit(,1),output:p3",
        "table=1 actions=output:p2",
    ]);
    assert_eq!(ports(&send(&mut sw, "p1", &frame(), 0)), ["p2", "p3"]);

    // goto_table: the rule's actions run first, then table 1; nothing may follow it.
    let mut sw = bridge(&[
        "table=0,in_port=p1 actions=output:p4,goto_table:1",
        "table=1 actions=output:p2",
    ]);
    assert_eq!(ports(&send(&mut sw, "p1", &frame(), 0)), ["p4", "p2"]);
    let e = sw
        .add_flow(
            "br0",
            "table=0,in_port=p2 actions=goto_table:1,output:p3",
            0,
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("invalid instruction ordering: apply_actions must appear before goto_table"),
        "{e}"
    );
    // Only forward, as OVS checks it.
    let e = sw
        .add_flow("br0", "table=3,in_port=p2 actions=goto_table:2", 0)
        .unwrap_err();
    assert!(e.to_string().contains("OFPBIC_BAD_TABLE_ID"), "{e}");

    // A goto chain reached by a resubmit ends where the chain ends; then the resubmit
    // returns and its rule goes on.
    let mut sw = bridge(&[
        "table=0,in_port=p1 actions=resubmit(,5),output:p3",
        "table=5 actions=goto_table:6",
        "table=6 actions=output:p2,goto_table:7",
        "table=7,in_port=p4 actions=output:p4",
    ]);
    assert_eq!(ports(&send(&mut sw, "p1", &frame(), 0)), ["p2", "p3"]);

    // The trace nests the chain as OVS 3.1's does: the tables it reaches one level
    // under the table it started from (" 5. priority 32768" then "     6. ...", and
    // "     7. No match.").
    let trace = sw
        .trace(
            "br0",
            "in_port=p1,dl_src=fa:16:3e:00:00:0a,dl_dst=fa:16:3e:00:00:0b",
            0,
        )
        .unwrap();
    assert!(
        trace.contains("\n 0. in_port=p1, priority 32768\n"),
        "{trace}"
    );
    assert!(trace.contains("\n     5. priority 32768\n"), "{trace}");
    assert!(
        trace.contains("goto_table:6\n         6. priority 32768\n"),
        "{trace}"
    );
    assert!(
        trace.contains("goto_table:7\n         7. No match."),
        "{trace}"
    );

    // The cache forwards the same.
    let sw = bridge(&[
        "table=0,in_port=p1 actions=output:p4,goto_table:1",
        "table=1 actions=output:p2",
    ]);
    let (first, second) = cached_twice(sw, "p1", &frame());
    assert_eq!(first, ["p4", "p2"]);
    assert_eq!(second, first);
}

#[test]
fn registers_live_across_resubmit_and_start_at_zero() {
    let flows = [
        "table=0,in_port=p1 actions=load:0x2->NXM_NX_REG0[],resubmit(,1),resubmit(,2)",
        "table=0,in_port=p4 actions=resubmit(,2)",
        "table=1,reg0=0x2 actions=set_field:0x7->reg1",
        "table=2,reg1=0x7 actions=output:p2",
        "table=2,reg1=0 actions=output:p3",
    ];
    let mut sw = bridge(&flows);
    assert_eq!(ports(&send(&mut sw, "p1", &frame(), 0)), ["p2"]);
    // Another packet starts with zero registers.
    assert_eq!(ports(&send(&mut sw, "p4", &frame(), 0)), ["p3"]);
    // And the packet from p1 again: registers are not left from the last one.
    assert_eq!(ports(&send(&mut sw, "p1", &frame(), 0)), ["p2"]);

    // The lookups consulted the registers, but no cache key holds them (they are zero
    // in every packet's key).
    let key = FlowKey::extract(sw.dp_port_named("p1").unwrap(), &frame()).unwrap();
    let tr = sw.translate(&key, 0);
    assert_eq!(tr.consulted.regs, [0; 16]);
    assert_eq!(tr.cache_mask().regs, [0; 16]);
    assert_eq!(tr.cache_mask().metadata, 0);

    let (first, second) = cached_twice(bridge(&flows), "p1", &frame());
    assert_eq!(
        (first.as_slice(), second.as_slice()),
        (&["p2".to_string()][..], &["p2".to_string()][..])
    );
    let (first, second) = cached_twice(bridge(&flows), "p4", &frame());
    assert_eq!(first, ["p3"]);
    assert_eq!(second, ["p3"]);

    // A move from a register writes a packet field: the value came from a constant.
    let mut sw = bridge(&[
        "table=0,in_port=p1 actions=load:0x3e0000ff->NXM_NX_REG0[],load:0xfa16->NXM_NX_REG1[0..15],resubmit(,1)",
        "table=1 actions=move:NXM_NX_REG1[0..15]->NXM_OF_ETH_SRC[32..47],move:NXM_NX_REG0[]->NXM_OF_ETH_SRC[0..31],output:p2",
    ]);
    let out = send(&mut sw, "p1", &frame(), 0);
    assert_eq!(
        out,
        vec![(
            "p2".to_string(),
            ping(B, "fa:16:3e:00:00:ff", None, "10.0.0.1", "10.0.0.2")
        )]
    );
}

#[test]
fn write_metadata_is_matched_in_the_next_table() {
    let flows = [
        "table=0,in_port=p1 actions=write_metadata:0x5/0xff,goto_table:1",
        "table=0,in_port=p4 actions=write_metadata:0x1ff,goto_table:1",
        "table=0,in_port=p3 actions=goto_table:1",
        "table=1,metadata=0x5/0xff actions=output:p2",
        "table=1,priority=0 actions=output:p3",
    ];
    let mut sw = bridge(&flows);
    assert_eq!(ports(&send(&mut sw, "p1", &frame(), 0)), ["p2"]);
    // 0x1ff & 0xff is 0xff, not 5.
    assert_eq!(ports(&send(&mut sw, "p4", &frame(), 0)), ["p3"]);
    // Metadata starts at zero.
    assert!(send(&mut sw, "p3", &frame(), 0).is_empty());
    let dumped = sw.dump_flows("br0", Some("table=0"), true, 0).unwrap();
    assert!(
        dumped.contains(" in_port=p1 actions=write_metadata:0x5/0xff,goto_table:1\n"),
        "{dumped}"
    );
    let (first, second) = cached_twice(bridge(&flows), "p1", &frame());
    assert_eq!(first, ["p2"]);
    assert_eq!(second, ["p2"]);
}

#[test]
fn set_field_on_the_vlan() {
    let mut sw = bridge(&[
        // Rewrite a tag (OpenFlow 1.3's vlan_vid carries OFPVID_PRESENT).
        "in_port=p1,vlan_vid=0x1005 actions=set_field:0x1007->vlan_vid,output:p2",
        // Tag an untagged packet (vlan_vid=0 is "no tag"), as the agent's flat networks.
        "in_port=p1,vlan_vid=0 actions=push_vlan:0x8100,set_field:0x1003->vlan_vid,output:p2",
        // Untag.
        "in_port=p2,vlan_vid=0x1003 actions=pop_vlan,output:p1",
        // set_field:vlan_vid does nothing to an untagged packet (OVS: prerequisites).
        "in_port=p3 actions=set_vlan_vid:9,output:p4",
    ]);
    let f = frame();
    let out = send(&mut sw, "p1", &tagged(&f, 5), 0);
    assert_eq!(out, vec![("p2".to_string(), tagged(&f, 7))]);
    let out = send(&mut sw, "p1", &f, 0);
    assert_eq!(out, vec![("p2".to_string(), tagged(&f, 3))]);
    let out = send(&mut sw, "p2", &tagged(&f, 3), 0);
    assert_eq!(out, vec![("p1".to_string(), f.clone())]);
    let out = send(&mut sw, "p3", &f, 0);
    assert_eq!(out, vec![("p4".to_string(), f.clone())]);
    let out = send(&mut sw, "p3", &tagged(&f, 4), 0);
    assert_eq!(out, vec![("p4".to_string(), tagged(&f, 9))]);
    // A tag's PCP through set_field.
    let mut sw = bridge(&["in_port=p1,dl_vlan=5 actions=set_field:3->vlan_pcp,output:p2"]);
    let out = send(&mut sw, "p1", &tagged(&f, 5), 0);
    assert_eq!(out, vec![("p2".to_string(), tag_with(&f, 0x8100, 0x6005))]);
}

#[test]
fn set_field_on_ethernet_and_arp_answers_an_arp_request() {
    const ROUTER: &str = "fa:16:3e:f1:5e:7d";
    // The agent's ARP responder as os-ken sends it (set_field and move).
    let mut sw = bridge(&[
        "in_port=p2 actions=set_field:fa:16:3e:00:00:99->eth_src,output:p3",
        "table=0,priority=1,arp,arp_tpa=10.0.0.1 actions=set_field:2->arp_op,move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:fa:16:3e:f1:5e:7d->arp_sha,set_field:10.0.0.1->arp_spa,move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:fa:16:3e:f1:5e:7d->eth_src,IN_PORT",
    ]);
    let out = send(&mut sw, "p2", &frame(), 0);
    assert_eq!(
        out,
        vec![(
            "p3".to_string(),
            ping(B, "fa:16:3e:00:00:99", None, "10.0.0.1", "10.0.0.2")
        )]
    );
    let req = arp(
        "ff:ff:ff:ff:ff:ff",
        A,
        None,
        1,
        A,
        "10.0.0.5",
        "00:00:00:00:00:00",
        "10.0.0.1",
    );
    let out = send(&mut sw, "p1", &req, 0);
    let reply = arp(A, ROUTER, None, 2, ROUTER, "10.0.0.1", A, "10.0.0.5");
    assert_eq!(out, vec![("p1".to_string(), reply)]);
}

#[test]
fn set_field_on_arp_fields_needs_arp() {
    // OVS refuses set_field on a field whose prerequisites the match lacks.
    let mut sw = bridge(&[]);
    let e = sw
        .add_flow("br0", "actions=set_field:2->arp_op,output:p2", 0)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("set_field arp_op lacks correct prerequisites"),
        "{e}"
    );
    // A load is the same action for OVS.
    assert!(sw
        .add_flow("br0", "actions=load:2->NXM_OF_ARP_OP[],output:p2", 0)
        .is_err());
}

#[test]
fn dec_ttl_decrements_or_stops_the_rule() {
    let flows = [
        "table=0,in_port=p1 actions=resubmit(,1),output:p4",
        "table=1,ip actions=dec_ttl,output:p2",
        "table=1,arp actions=dec_ttl,output:p3",
    ];
    let sw = bridge(&flows);
    let p1 = sw.dp_port_named("p1").unwrap();
    let mut key = FlowKey::extract(p1, &frame()).unwrap();
    // (The TTL is what the key says; extracting it is the datapath's part.)
    key.nw_ttl = 64;
    let tr = sw.translate(&key, 0);
    assert!(tr.to_controller.is_empty());
    assert_eq!(tr.consulted.nw_ttl, u8::MAX);
    assert_eq!(tr.consulted.dl_type, u16::MAX);
    let p2 = sw.dp_port_named("p2").unwrap();
    let p4 = sw.dp_port_named("p4").unwrap();
    let outputs = |tr: &xvs_pipeline::xlate::Translation| -> Vec<u32> {
        tr.actions
            .iter()
            .filter_map(|a| match a {
                xvs_dataplane::DpAction::Output(p) => Some(*p),
                _ => None,
            })
            .collect()
    };
    assert_eq!(outputs(&tr), [p2, p4]);

    // TTL 1: OVS sends the packet to the controller and stops the rule's actions; the
    // resubmit returns and table 0 goes on. xvs counts it.
    key.nw_ttl = 1;
    let tr = sw.translate(&key, 0);
    assert_eq!(tr.to_controller, [DropReason::InvalidTtl { ipv6: false }]);
    assert_eq!(outputs(&tr), [p4]);
    let mut sw = sw;
    sw.apply_side_effects(&tr, 3, 300, 0);
    assert_eq!(sw.drops.invalid_ttl, 3);
    let trace = {
        let steps = xvs_pipeline::xlate::translate(sw.topology(), sw.ofproto(), &key, 0, true).1;
        let br = sw.bridge("br0").unwrap();
        steps
            .iter()
            .map(|s| xvs_pipeline::present::trace::step_text(s, br))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(trace.contains("IPv4 decrement TTL exception"), "{trace}");

    // Not IP: nothing to decrement, nothing consulted but the type.
    let arp_req = arp(
        "ff:ff:ff:ff:ff:ff",
        A,
        None,
        1,
        A,
        "10.0.0.5",
        "00:00:00:00:00:00",
        "10.0.0.1",
    );
    let key = FlowKey::extract(p1, &arp_req).unwrap();
    let tr = sw.translate(&key, 0);
    assert_eq!(tr.consulted.nw_ttl, 0);
    assert_eq!(outputs(&tr).len(), 2);
}

#[test]
fn the_controller_is_counted() {
    let mut sw = bridge(&["in_port=p1 actions=CONTROLLER:128,output:p2"]);
    let out = send(&mut sw, "p1", &frame(), 0);
    assert_eq!(ports(&out), ["p2"]);
    assert_eq!(sw.drops.controller, 1);
    let dumped = sw.dump_flows("br0", None, true, 0).unwrap();
    assert!(
        dumped.contains("actions=CONTROLLER:128,output:p2"),
        "{dumped}"
    );
}

#[test]
fn learn_on_registers_and_the_32_bit_in_port() {
    let mut sw = bridge(&[
        "table=0,in_port=p1 actions=load:0x7->NXM_NX_REG3[],learn(table=2,priority=5,NXM_NX_REG3[],eth_dst=fa:16:3e:00:00:0a,NXM_OF_ETH_SRC[]=NXM_OF_ETH_DST[],load:NXM_NX_REG3[]->NXM_NX_REG4[],load:0x1->OXM_OF_METADATA[0..7],output:OXM_OF_IN_PORT[]),output:p2",
    ]);
    assert_eq!(ports(&send(&mut sw, "p1", &frame(), 1000)), ["p2"]);
    let learned = sw.dump_flows("br0", Some("table=2"), true, 1000).unwrap();
    assert!(
        learned.contains(
            "priority=5,reg3=0x7,dl_src=fa:16:3e:00:00:0b,dl_dst=fa:16:3e:00:00:0a actions=load:0x7->NXM_NX_REG4[],load:0x1->OXM_OF_METADATA[0..7],output:p1"
        ),
        "{learned}"
    );
}
