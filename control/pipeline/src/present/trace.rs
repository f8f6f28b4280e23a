//! `ofproto/trace`: a traced translation as OVS prints it.

use std::fmt::Write as _;

use xvs_dataplane::wire::ethertype;
use xvs_dataplane::{FlowKey, MacAddr};

use super::datapath::{dp_action_text, format_dp_actions};
use crate::ofp::format::{format_actions, format_match};
use crate::ofp::{Match, OfPort};
use crate::topology::{Bridge, Topology};
use crate::xlate::{DropReason, TraceEvent, TraceStep, Translation};

/// How a trace is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceStyle {
    /// OpenFlow ports by name in the flow and the rules (`ofproto/trace --names`).
    pub names: bool,
    /// Datapath ports as `number(name)` in the datapath actions; OVS's trace gives the
    /// number only.
    pub dp_port_names: bool,
}

impl TraceStyle {
    /// `xvsctl trace`: names everywhere.
    pub const XVSCTL: TraceStyle = TraceStyle {
        names: true,
        dp_port_names: true,
    };
    /// `ovs-appctl ofproto/trace`: numbers, as OVS prints them.
    pub const OVS: TraceStyle = TraceStyle {
        names: false,
        dp_port_names: false,
    };
}

/// The whole trace of `key` (whose `in_port` is a datapath port; `of_in` is its
/// OpenFlow number on `bridge`): the flow, every step, the megaflow and the datapath
/// actions, with names (`xvsctl trace`).
pub fn trace_text(
    topo: &Topology,
    bridge: &Bridge,
    key: &FlowKey,
    of_in: OfPort,
    tr: &Translation,
    steps: &[TraceStep],
) -> String {
    trace_text_styled(topo, bridge, key, of_in, tr, steps, TraceStyle::XVSCTL)
}

/// [`trace_text`] in the given style.
pub fn trace_text_styled(
    topo: &Topology,
    bridge: &Bridge,
    key: &FlowKey,
    of_in: OfPort,
    tr: &Translation,
    steps: &[TraceStep],
    style: TraceStyle,
) -> String {
    let names = style.names;
    let mut s = String::new();
    let mut shown = *key;
    shown.in_port = of_in;
    let flow = Match {
        value: shown,
        mask: relevant_fields(&shown),
    };
    let _ = writeln!(s, "Flow: {}", format_match(&flow, None, bridge, names));
    s.push('\n');
    for step in steps {
        let br = topo.bridge_by_id(step.bridge).unwrap_or(bridge);
        let _ = writeln!(s, "{}", step_text_named(step, br, names));
    }
    s.push('\n');
    let mut mega = Match {
        value: key.masked(&tr.cache_mask()),
        mask: tr.cache_mask(),
    };
    mega.value.in_port = of_in;
    mega.mask.in_port = u32::MAX;
    let _ = writeln!(s, "Megaflow: {}", format_match(&mega, None, bridge, names));
    let actions = if style.dp_port_names {
        format_dp_actions(topo, &tr.actions)
    } else if tr.actions.is_empty() {
        "drop".to_string()
    } else {
        let a: Vec<String> = tr.actions.iter().map(dp_action_text).collect();
        a.join(",")
    };
    let _ = writeln!(s, "Datapath actions: {actions}");
    if let Some(e) = tr.error {
        // As OVS's ofproto/trace: which bound, after the (empty) actions.
        let _ = writeln!(s, "Translation failed ({e}), packet is dropped.");
    }
    s
}

/// One step, indented by its resubmit/patch depth; port names are `bridge`'s.
pub fn step_text(step: &TraceStep, bridge: &Bridge) -> String {
    step_text_named(step, bridge, true)
}

/// One step, ports by name (`names`) or number.
fn step_text_named(step: &TraceStep, bridge: &Bridge, names: bool) -> String {
    let indent = "    ".repeat(step.depth as usize);
    let body = match &step.event {
        TraceEvent::Bridge => {
            let title = format!("bridge(\"{}\")", bridge.name);
            let rule = "-".repeat(title.len());
            return format!("{indent}{title}\n{indent}{rule}");
        }
        TraceEvent::Rule {
            table,
            matcher,
            priority,
            cookie,
        } => {
            // As OVS's xlate_report_table(): the match, then its priority and cookie.
            let m = format_match(matcher, None, bridge, names);
            let sep = if m.is_empty() { "" } else { ", " };
            let mut s = format!("{table:>2}. {m}{sep}priority {priority}");
            if *cookie != 0 {
                let _ = write!(s, ", cookie {cookie:#x}");
            }
            s
        }
        TraceEvent::NoMatch { table } => format!("{table:>2}. No match.\n     drop"),
        TraceEvent::NoActions => "    drop".to_string(),
        TraceEvent::Action(a) => {
            format!(
                "    {}",
                format_actions(std::slice::from_ref(a), bridge, names)
            )
        }
        TraceEvent::Learn(l) => {
            let m = format_match(&l.matcher, Some(l.priority), bridge, names);
            let a = format_actions(&l.actions, bridge, names);
            format!("     -> table={} {m} actions={a}", l.table)
        }
        TraceEvent::MacLearned { mac, port, vlan } => {
            format!("     learned {mac} on port {port} in VLAN {vlan}")
        }
        TraceEvent::MacForward { port } => format!("     forwarding to learned port {port}"),
        TraceEvent::Flood { vlan } => format!("     flooding VLAN {vlan}"),
        TraceEvent::Dropped(why) => drop_text(why),
        TraceEvent::Failed(e) => format!("     >>>> {} <<<<", e.trace_text()),
    };
    format!("{indent}{body}")
}

fn drop_text(why: &DropReason) -> String {
    match why {
        DropReason::NoBridgeForDpPort(dp) => format!("No bridge port has datapath port {dp}: drop"),
        DropReason::SecondVlanTag => {
            "     >> a second VLAN tag is not supported: push_vlan ignored".into()
        }
        DropReason::ReservedPort => {
            "     >> this reserved port is not supported: nothing sent".into()
        }
        DropReason::OutputToInputPort => "     >> skipping output to input port".into(),
        DropReason::NoSuchPort(p) => format!("     >> no port {p} on this bridge: nothing sent"),
        DropReason::NoUnderlayRoute(r) => format!("     >> no underlay route to {r}: nothing sent"),
        DropReason::NoPatchPeer(peer) => {
            format!("     >> patch peer \"{peer}\" does not exist: nothing sent")
        }
        DropReason::NormalPartialVlanTag => "     >> partial VLAN tag, dropping".into(),
        DropReason::NormalInPortNotOnBridge => {
            "     >> NORMAL: input port is not on this bridge: drop".into()
        }
        DropReason::NormalTaggedOnAccessPort(vid) => {
            format!("     >> NORMAL: VLAN {vid} tagged frame on an access port: drop")
        }
        DropReason::NormalVlanNotTrunked(vlan) => {
            format!("     >> NORMAL: port does not trunk VLAN {vlan}: drop")
        }
        DropReason::InputIsMirrorOutput(port) => format!(
            "     >> dropping packet received on port {port}, which is reserved exclusively for mirroring"
        ),
        DropReason::NormalInputIsMirrorOutput => {
            "     >> NORMAL: input port is mirror output port, dropping".into()
        }
        DropReason::NormalLearnedPortIsMirrorOutput => {
            "     >> NORMAL: learned port is a mirror port, dropping".into()
        }
        DropReason::NormalDestinationIsInPort => {
            "     >> NORMAL: destination is on the input port: drop".into()
        }
        DropReason::Controller => {
            "     >> output to the controller is not supported: nothing sent (counted)".into()
        }
        DropReason::InvalidTtl { ipv6 } => format!(
            "     >> IPv{} decrement TTL exception (invalid ttl): dropped, not sent to a controller (counted)",
            if *ipv6 { 6 } else { 4 }
        ),
        DropReason::GotoTableNotForward { from, to } => {
            format!("     >> goto_table:{to} from table {from} does not go forward: drop")
        }
        DropReason::NormalReservedDestination(mac) => format!(
            "     >> NORMAL: reserved destination {mac} (BPDU or other control frame) not forwarded without forward-bpdu: drop"
        ),
    }
}

/// The fields that mean something for this packet, for showing it, as OVS's
/// `flow_wildcards_init_for_packet`: L2 always, the tunnel id when it came from a
/// tunnel, and the network and transport fields of its type.
fn relevant_fields(key: &FlowKey) -> FlowKey {
    let mut m = FlowKey {
        in_port: u32::MAX,
        vlan_tci: u16::MAX,
        dl_src: MacAddr::BROADCAST,
        dl_dst: MacAddr::BROADCAST,
        dl_type: u16::MAX,
        ..FlowKey::default()
    };
    if key.tun_id != 0 {
        m.tun_id = u64::MAX;
    }
    let transport = |m: &mut FlowKey, icmp: u8| {
        if matches!(key.nw_proto, 6 | 17 | 132) || key.nw_proto == icmp {
            (m.tp_src, m.tp_dst) = (u16::MAX, u16::MAX);
        }
    };
    match key.dl_type {
        ethertype::IPV4 => {
            (m.nw_src, m.nw_dst, m.nw_proto) = (u32::MAX, u32::MAX, u8::MAX);
            (m.nw_tos, m.nw_ttl) = (u8::MAX, u8::MAX);
            transport(&mut m, 1);
        }
        ethertype::IPV6 => {
            (m.ipv6_src, m.ipv6_dst, m.nw_proto) = (u128::MAX, u128::MAX, u8::MAX);
            (m.nw_tos, m.nw_ttl) = (u8::MAX, u8::MAX);
            transport(&mut m, 58);
            // Neighbour Discovery: the target and the link-layer addresses.
            if key.nw_proto == 58 && matches!(key.tp_src, 135 | 136) && key.tp_dst == 0 {
                m.nd_target = u128::MAX;
                (m.arp_sha, m.arp_tha) = (MacAddr::BROADCAST, MacAddr::BROADCAST);
            }
        }
        ethertype::ARP | ethertype::RARP => {
            (m.nw_src, m.nw_dst, m.nw_proto) = (u32::MAX, u32::MAX, u8::MAX);
            (m.arp_sha, m.arp_tha) = (MacAddr::BROADCAST, MacAddr::BROADCAST);
        }
        _ => {}
    }
    m
}
