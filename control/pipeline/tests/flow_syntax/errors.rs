//! Errors: each class, and the message names the offending text.

use super::*;

fn assert_msg(e: &FlowParseError, parts: &[&str]) {
    let msg = e.to_string();
    for p in parts {
        assert!(msg.contains(p), "{msg:?} should contain {p:?}");
    }
}

#[test]
fn unknown_field() {
    let e = add_err("priority=5,dl_dsx=fa:16:3e:00:00:01 actions=drop");
    assert_eq!(e, FlowParseError::UnknownField("dl_dsx".into()));
    assert_eq!(e.to_string(), "unknown field \"dl_dsx\"");
    assert_msg(
        &add_err("actions=load:1->NXM_OF_FOO[]"),
        &["\"NXM_OF_FOO\""],
    );
    assert_msg(&add_err("ipv5 actions=drop"), &["\"ipv5\""]);
}

#[test]
fn bad_mask() {
    let e = add_err("dl_dst=01:00:00:00:00:00/zz actions=drop");
    assert_eq!(
        e,
        FlowParseError::BadMask {
            field: "dl_dst".into(),
            mask: "zz".into()
        }
    );
    assert_eq!(e.to_string(), "bad mask \"zz\" for dl_dst");
    assert_msg(
        &add_err("ip,nw_src=10.0.0.0/33 actions=drop"),
        &["\"33\"", "nw_src"],
    );
    assert_msg(
        &add_err("ip,nw_src=10.0.0.0/1.2.3 actions=drop"),
        &["\"1.2.3\"", "nw_src"],
    );
    assert_msg(&add_err("in_port=1/2 actions=drop"), &["\"2\"", "in_port"]);
    assert_msg(
        &add_err("dl_type=0x800/0xff00 actions=drop"),
        &["\"0xff00\"", "dl_type"],
    );
    assert_msg(
        &add_err("vlan_tci=0x1000/0x10000 actions=drop"),
        &["\"0x10000\"", "vlan_tci"],
    );
    assert_msg(&add_err("dl_vlan=5/7 actions=drop"), &["\"7\"", "dl_vlan"]);
}

#[test]
fn bad_values() {
    for (text, part) in [
        ("priority=65536 actions=drop", "\"65536\""),
        ("table=255 actions=drop", "\"255\""),
        ("dl_vlan=4096 actions=drop", "\"4096\""),
        ("dl_vlan_pcp=8 actions=drop", "\"8\""),
        ("dl_src=fa:16:3e:00:00 actions=drop", "\"fa:16:3e:00:00\""),
        ("ip,nw_dst=10.0.0.256 actions=drop", "\"10.0.0.256\""),
        ("dl_type=0x10000 actions=drop", "\"0x10000\""),
        ("ip,nw_proto=256 actions=drop", "\"256\""),
        ("in_port=70000 actions=drop", "\"70000\""),
        ("idle_timeout=-1 actions=drop", "\"-1\""),
        ("priority= actions=drop", "priority"),
        ("ip=1 actions=drop", "\"1\""),
    ] {
        let e = add_err(text);
        assert!(
            matches!(e, FlowParseError::BadValue { .. }),
            "{text}: {e:?}"
        );
        assert_msg(&e, &[part]);
    }
}

#[test]
fn missing_prerequisite() {
    let e = add_err("arp_tpa=10.0.0.1 actions=drop");
    assert_eq!(
        e,
        FlowParseError::MissingPrerequisite {
            field: "arp_tpa".into(),
            needs: "arp (dl_type=0x0806)".into()
        }
    );
    assert_eq!(e.to_string(), "arp_tpa requires arp (dl_type=0x0806)");
    assert_msg(&add_err("ip,arp_op=1 actions=drop"), &["arp_op", "arp"]);
    assert_msg(
        &add_err("nw_src=10.0.0.1 actions=drop"),
        &["nw_src requires ip or arp"],
    );
    assert_msg(
        &add_err("dl_type=0x88cc,nw_proto=6 actions=drop"),
        &["nw_proto"],
    );
    // Inside learn, as OVS's learn_check(): what it reads needs the flow's match to
    // have its prerequisites ...
    let e = add_err("actions=learn(NXM_OF_ARP_TPA[])");
    assert_eq!(
        e,
        FlowParseError::InvalidActions {
            code: OfpErr::OfpbacMatchInconsistent,
            detail: "source field arp_tpa lacks correct prerequisites".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT): source field arp_tpa lacks correct prerequisites"
    );
    // ... and what it matches needs the learned flow to match them first.
    assert_msg(
        &add_err("arp actions=learn(NXM_OF_ARP_TPA[])"),
        &["source field arp_tpa lacks correct prerequisites"],
    );
    add("arp actions=learn(eth_type=0x806,NXM_OF_ARP_TPA[])");
}

#[test]
fn unknown_port() {
    let e = add_err("in_port=gre-9 actions=drop");
    assert_eq!(e, FlowParseError::UnknownPort("gre-9".into()));
    assert_eq!(e.to_string(), "unknown port \"gre-9\"");
    assert_eq!(
        add_err("actions=output:gre-9"),
        FlowParseError::UnknownPort("gre-9".into())
    );
    assert_eq!(
        add_err("actions=resubmit(gre-9,1)"),
        FlowParseError::UnknownPort("gre-9".into())
    );
    assert_eq!(
        add_err("in_port=\"gre 9\" actions=drop"),
        FlowParseError::UnknownPort("gre 9".into())
    );
    assert_eq!(
        err("out_port=gre-9", ParseMode::Delete),
        FlowParseError::UnknownPort("gre-9".into())
    );
}

#[test]
fn bad_action_argument() {
    let e = add_err("in_port=1 actions=mod_vlan_vid:5000");
    assert_eq!(
        e.to_string(),
        "bad argument \"5000\" for mod_vlan_vid: VLAN id must be 0..4095"
    );
    for (text, part) in [
        ("actions=mod_vlan_pcp:8", "\"8\""),
        ("actions=push_vlan:0x800", "\"0x800\""),
        ("actions=set_tunnel:0x100000000", "set_tunnel64"),
        ("actions=mod_dl_src:zz", "\"zz\""),
        ("actions=output:0", "\"0\""),
        ("actions=output:65281", "\"65281\""),
        ("actions=output:ANY", "\"ANY\""),
        ("actions=resubmit(,255)", "\"255\""),
        ("actions=resubmit:in_port", "resubmit"),
        ("actions=strip_vlan:1", "\"1\""),
        ("actions=load:1->NXM_OF_ETH_TYPE[]", "cannot be written"),
        (
            "actions=move:NXM_OF_ETH_SRC[]->NXM_OF_VLAN_TCI[]",
            "48 bits",
        ),
        ("actions=learn(fin_idle_timeout=5)", "fin_idle_timeout"),
        ("actions=mod_vlan_vid", "mod_vlan_vid"),
    ] {
        let e = add_err(text);
        assert!(
            matches!(e, FlowParseError::BadActionArgument { .. }),
            "{text}: {e:?}"
        );
        assert_msg(&e, &[part]);
    }
}

#[test]
fn load_value_too_wide() {
    let e = add_err("actions=load:0x1000->NXM_OF_VLAN_TCI[0..11]");
    assert!(
        matches!(e, FlowParseError::BadActionArgument { ref action, .. } if action == "load"),
        "{e:?}"
    );
    assert_msg(&e, &["0x1000", "NXM_OF_VLAN_TCI[0..11]", "12 bits"]);
    let e = add_err("actions=learn(load:0x1000->NXM_OF_VLAN_TCI[0..11])");
    assert_msg(&e, &["learn", "0x1000"]);
    let e = add_err("actions=learn(NXM_OF_VLAN_TCI[0..11]=0x1000)");
    assert_msg(&e, &["learn", "0x1000"]);
}

#[test]
fn learn_width_mismatch() {
    let e = add_err("actions=learn(table=20,NXM_OF_VLAN_TCI[0..11]=NXM_OF_ETH_SRC[])");
    assert!(
        matches!(e, FlowParseError::BadActionArgument { ref action, .. } if action == "learn"),
        "{e:?}"
    );
    assert_msg(
        &e,
        &[
            "NXM_OF_VLAN_TCI[0..11]=NXM_OF_ETH_SRC[]",
            "48 bits",
            "12 bits",
        ],
    );
    let e = add_err("actions=learn(load:NXM_NX_TUN_ID[]->NXM_OF_VLAN_TCI[])");
    assert_msg(&e, &["load:NXM_NX_TUN_ID[]->NXM_OF_VLAN_TCI[]"]);
}

#[test]
fn bad_slices() {
    for (text, part) in [
        (
            "actions=load:1->NXM_OF_VLAN_TCI[0..16]",
            "NXM_OF_VLAN_TCI[0..16]",
        ),
        (
            "actions=load:1->NXM_OF_VLAN_TCI[5..4]",
            "NXM_OF_VLAN_TCI[5..4]",
        ),
        ("actions=load:1->NXM_OF_VLAN_TCI[x]", "NXM_OF_VLAN_TCI[x]"),
        ("actions=output:NXM_OF_IN_PORT[", "NXM_OF_IN_PORT["),
        (
            "actions=move:NXM_OF_IN_PORT[99999999999]->NXM_OF_IN_PORT[]",
            "99999999999",
        ),
    ] {
        let e = add_err(text);
        assert!(
            matches!(e, FlowParseError::BadSlice { .. }),
            "{text}: {e:?}"
        );
        assert_msg(&e, &[part]);
    }
}

#[test]
fn unknown_action() {
    let e = add_err("in_port=1 actions=output:2,frobnicate");
    assert_eq!(e, FlowParseError::UnknownAction("frobnicate".into()));
    assert_eq!(e.to_string(), "unknown action \"frobnicate\"");
    assert_eq!(
        add_err("actions=enqueue:1:2"),
        FlowParseError::UnknownAction("enqueue".into())
    );
}

#[test]
fn missing_and_unexpected_actions() {
    assert_eq!(
        add_err("priority=1,in_port=1"),
        FlowParseError::MissingActions
    );
    assert_eq!(
        err("in_port=1", ParseMode::Modify),
        FlowParseError::MissingActions
    );
    assert_eq!(add_err("in_port=1 actions="), FlowParseError::EmptyActions);
    assert_msg(&add_err("actions=drop,output:1"), &["drop"]);
    let e = err("in_port=1 actions=output:2", ParseMode::Delete);
    assert_eq!(e, FlowParseError::UnexpectedActions("output:2".into()));
    assert_msg(&e, &["output:2"]);
    assert!(matches!(
        err("actions=drop", ParseMode::Dump),
        FlowParseError::UnexpectedActions(_)
    ));
}

#[test]
fn not_allowed_in_mode() {
    let e = add_err("cookie=0x1/0xff actions=drop");
    assert!(
        matches!(
            e,
            FlowParseError::NotAllowedInMode {
                mode: ParseMode::Add,
                ..
            }
        ),
        "{e:?}"
    );
    assert_msg(&e, &["cookie=0x1/0xff", "add-flow"]);
    let e = add_err("out_port=1 actions=drop");
    assert_msg(&e, &["out_port=1", "add-flow"]);
    let e = err("out_port=1 actions=drop", ParseMode::Modify);
    assert_msg(&e, &["out_port=1", "mod-flows"]);
}

#[test]
fn conflicts() {
    let e = add_err("dl_type=0x800,arp actions=drop");
    assert!(matches!(e, FlowParseError::Conflict { .. }), "{e:?}");
    assert_msg(&e, &["eth_type", "\"arp\""]);
    assert_msg(&add_err("in_port=1,in_port=2 actions=drop"), &["in_port=2"]);
    assert_msg(&add_err("tcp,udp actions=drop"), &["\"udp\""]);
    assert_msg(
        &add_err("dl_vlan=0xffff,dl_vlan_pcp=1 actions=drop"),
        &["dl_vlan_pcp=1"],
    );
    assert_msg(
        &add_err("arp,arp_spa=1.1.1.1,nw_src=1.1.1.2 actions=drop"),
        &["nw_src=1.1.1.2"],
    );
}

#[test]
fn syntax_errors() {
    for text in [
        "actions=learn(table=1",
        "actions=resubmit(,1))",
        "in_port=\"patch-int actions=drop",
        "actions=resubmit(,1)x",
        "actions =drop",
    ] {
        let e = add_err(text);
        assert!(matches!(e, FlowParseError::Syntax(_)), "{text}: {e:?}");
    }
}
