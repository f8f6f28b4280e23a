//! [`Match`], [`Action`] and [`FlowMod`] → ovs-ofctl text, as `ovs-ofctl dump-flows`
//! (OVS 3.x) prints them, so that the text parses back ([`super::parse`]) to the same
//! value.

use std::fmt::Write as _;

use xvs_dataplane::flow_key::{VLAN_PCP_MASK, VLAN_PCP_SHIFT, VLAN_PRESENT, VLAN_VID_MASK};
use xvs_dataplane::wire::ethertype;
use xvs_dataplane::MacAddr;

use super::field::{Field, FieldSlice};
use super::{
    Action, FlowMod, LearnItem, LearnSpec, LearnSrc, Match, OfPort, PortNames, DEFAULT_PRIORITY,
    OFPP_ALL, OFPP_CONTROLLER, OFPP_FLOOD, OFPP_IN_PORT, OFPP_LOCAL, OFPP_NONE, OFPP_NORMAL,
    OFPP_TABLE,
};

/// `0x3e7` for nonzero values and `0` for zero, as C's `%#x` (what OVS uses).
fn hex(v: u64) -> String {
    if v == 0 {
        "0".to_string()
    } else {
        format!("{v:#x}")
    }
}

fn reserved_port_name(p: OfPort) -> Option<&'static str> {
    Some(match p {
        OFPP_IN_PORT => "IN_PORT",
        OFPP_TABLE => "TABLE",
        OFPP_NORMAL => "NORMAL",
        OFPP_FLOOD => "FLOOD",
        OFPP_ALL => "ALL",
        OFPP_CONTROLLER => "CONTROLLER",
        OFPP_LOCAL => "LOCAL",
        OFPP_NONE => "ANY",
        _ => return None,
    })
}

/// A port as ovs-ofctl prints it: the reserved name (`LOCAL`), else the bridge's name for
/// it when `names`, else the number. A name is put in double quotes only when it would not
/// read back as itself (it starts with a digit, holds a separator or quote, or is spelled
/// like a reserved port); OVS quotes any name that is not purely alphanumeric, but
/// `in_port=patch-int` is what people write and what xvs prints.
pub fn format_port(p: OfPort, ports: &dyn PortNames, names: bool) -> String {
    if let Some(r) = reserved_port_name(p) {
        return r.to_string();
    }
    if names {
        if let Some(name) = ports.port_name(p) {
            return quote_name(name);
        }
    }
    p.to_string()
}

fn quote_name(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+'))
        && !matches!(
            name.to_ascii_uppercase().as_str(),
            "IN_PORT"
                | "TABLE"
                | "NORMAL"
                | "FLOOD"
                | "ALL"
                | "CONTROLLER"
                | "LOCAL"
                | "ANY"
                | "NONE"
        );
    if plain {
        return name.to_string();
    }
    let mut s = String::with_capacity(name.len() + 2);
    s.push('"');
    for c in name.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn ip_string(ip: u32) -> String {
    std::net::Ipv4Addr::from(ip).to_string()
}

/// `10.0.0.0/24` for a prefix mask, `10.0.0.1/255.0.255.0` otherwise, no mask when exact.
fn ip_masked(ip: u32, mask: u32) -> String {
    let mut s = ip_string(ip);
    if mask != u32::MAX {
        if mask.leading_ones() + mask.trailing_zeros() == 32 {
            let _ = write!(s, "/{}", mask.leading_ones());
        } else {
            let _ = write!(s, "/{}", ip_string(mask));
        }
    }
    s
}

fn mac_masked(mac: MacAddr, mask: MacAddr) -> String {
    if mask.is_broadcast() {
        mac.to_string()
    } else {
        format!("{mac}/{mask}")
    }
}

/// The match as ovs-ofctl dump-flows prints it: `priority=N` first when given and not the
/// default 32768, then the protocol shorthand (`arp`, `ip`, `tcp`, ...), `tun_id`,
/// `in_port`, the VLAN, `dl_src`, `dl_dst`, `dl_type` (when no shorthand says it), the
/// network addresses (`arp_spa`/`arp_tpa` for ARP), `nw_proto`/`arp_op`, `arp_sha`,
/// `arp_tha`. Comma separated; "" for a catch-all at the default priority.
pub fn format_match(
    m: &Match,
    priority: Option<u16>,
    ports: &dyn PortNames,
    names: bool,
) -> String {
    let (v, k) = (&m.value, &m.mask);
    let mut out: Vec<String> = Vec::new();
    if let Some(p) = priority.filter(|&p| p != DEFAULT_PRIORITY) {
        out.push(format!("priority={p}"));
    }

    let exact_type = k.dl_type == 0xffff;
    let is_arp = exact_type && v.dl_type == ethertype::ARP;
    let mut skip_type = false;
    let mut skip_proto = false;
    if exact_type {
        skip_type = true;
        match v.dl_type {
            ethertype::IPV4 => {
                let proto = (k.nw_proto == 0xff)
                    .then_some(v.nw_proto)
                    .and_then(|p| match p {
                        1 => Some("icmp"),
                        2 => Some("igmp"),
                        6 => Some("tcp"),
                        17 => Some("udp"),
                        132 => Some("sctp"),
                        _ => None,
                    });
                skip_proto = proto.is_some();
                out.push(proto.unwrap_or("ip").to_string());
            }
            ethertype::ARP => out.push("arp".to_string()),
            ethertype::RARP => out.push("rarp".to_string()),
            ethertype::IPV6 => out.push("ipv6".to_string()),
            _ => skip_type = false,
        }
    }

    if k.tun_id != 0 {
        let mut s = format!("tun_id={}", hex(v.tun_id));
        if k.tun_id != u64::MAX {
            let _ = write!(s, "/{}", hex(k.tun_id));
        }
        out.push(s);
    }
    if k.in_port != 0 {
        out.push(format!("in_port={}", format_port(v.in_port, ports, names)));
    }
    if k.vlan_tci != 0 {
        let tci = v.vlan_tci;
        let vid_mask = k.vlan_tci & VLAN_VID_MASK;
        let pcp_mask = k.vlan_tci & VLAN_PCP_MASK;
        let cfi = k.vlan_tci & VLAN_PRESENT;
        if cfi != 0
            && tci & VLAN_PRESENT != 0
            && (vid_mask == 0 || vid_mask == VLAN_VID_MASK)
            && (pcp_mask == 0 || pcp_mask == VLAN_PCP_MASK)
            && (vid_mask != 0 || pcp_mask != 0)
        {
            if vid_mask != 0 {
                out.push(format!("dl_vlan={}", tci & VLAN_VID_MASK));
            }
            if pcp_mask != 0 {
                out.push(format!("dl_vlan_pcp={}", tci >> VLAN_PCP_SHIFT));
            }
        } else if k.vlan_tci == 0xffff {
            out.push(format!("vlan_tci={tci:#06x}"));
        } else {
            out.push(format!("vlan_tci={tci:#06x}/{:#06x}", k.vlan_tci));
        }
    }
    if !k.dl_src.is_zero() {
        out.push(format!("dl_src={}", mac_masked(v.dl_src, k.dl_src)));
    }
    if !k.dl_dst.is_zero() {
        out.push(format!("dl_dst={}", mac_masked(v.dl_dst, k.dl_dst)));
    }
    if !skip_type && k.dl_type != 0 {
        if exact_type {
            out.push(format!("dl_type={:#06x}", v.dl_type));
        } else {
            out.push(format!("dl_type={:#06x}/{:#06x}", v.dl_type, k.dl_type));
        }
    }
    let (src_name, dst_name) = if is_arp {
        ("arp_spa", "arp_tpa")
    } else {
        ("nw_src", "nw_dst")
    };
    if k.nw_src != 0 {
        out.push(format!("{src_name}={}", ip_masked(v.nw_src, k.nw_src)));
    }
    if k.nw_dst != 0 {
        out.push(format!("{dst_name}={}", ip_masked(v.nw_dst, k.nw_dst)));
    }
    if !skip_proto && k.nw_proto != 0 {
        let name = if is_arp { "arp_op" } else { "nw_proto" };
        if k.nw_proto == 0xff {
            out.push(format!("{name}={}", v.nw_proto));
        } else {
            out.push(format!("{name}={:#x}/{:#x}", v.nw_proto, k.nw_proto));
        }
    }
    if !k.arp_sha.is_zero() {
        out.push(format!("arp_sha={}", mac_masked(v.arp_sha, k.arp_sha)));
    }
    if !k.arp_tha.is_zero() {
        out.push(format!("arp_tha={}", mac_masked(v.arp_tha, k.arp_tha)));
    }
    out.join(",")
}

/// The action list as ovs-ofctl prints it: `drop` when empty, else comma separated.
pub fn format_actions(actions: &[Action], ports: &dyn PortNames, names: bool) -> String {
    if actions.is_empty() {
        return "drop".to_string();
    }
    let parts: Vec<String> = actions
        .iter()
        .map(|a| format_action(a, ports, names))
        .collect();
    parts.join(",")
}

/// One action, as in [`format_actions`].
pub fn format_action(a: &Action, ports: &dyn PortNames, names: bool) -> String {
    match a {
        Action::Output(p) => {
            if reserved_port_name(*p).is_some() {
                format_port(*p, ports, names)
            } else {
                format!("output:{}", format_port(*p, ports, names))
            }
        }
        Action::OutputField(s) => format!("output:{s}"),
        Action::ModVlanVid(v) => format!("mod_vlan_vid:{v}"),
        Action::ModVlanPcp(p) => format!("mod_vlan_pcp:{p}"),
        Action::StripVlan => "strip_vlan".to_string(),
        Action::PushVlan(t) => format!("push_vlan:{t:#x}"),
        Action::SetTunnel { id, wide } => {
            let w = if *wide || *id > u64::from(u32::MAX) {
                "64"
            } else {
                ""
            };
            format!("set_tunnel{w}:{}", hex(*id))
        }
        Action::Resubmit { port, table } => {
            let port = port.filter(|&p| p != OFPP_IN_PORT);
            match (port, table) {
                (Some(p), None) => format!("resubmit:{}", format_port(p, ports, names)),
                _ => {
                    let p = port
                        .map(|p| format_port(p, ports, names))
                        .unwrap_or_default();
                    let t = table.map(|t| t.to_string()).unwrap_or_default();
                    format!("resubmit({p},{t})")
                }
            }
        }
        Action::ModDlSrc(m) => format!("mod_dl_src:{m}"),
        Action::ModDlDst(m) => format!("mod_dl_dst:{m}"),
        Action::Load { value, dst } => format!("load:{}->{dst}", hex(*value)),
        Action::Move { src, dst } => format!("move:{src}->{dst}"),
        Action::Learn(spec) => format_learn(spec, ports, names),
    }
}

/// A whole-field value in the field's own notation (MAC, dotted IPv4, port, number).
fn field_value(field: Field, v: u64, ports: &dyn PortNames, names: bool) -> String {
    match field {
        Field::DlSrc | Field::DlDst | Field::ArpSha | Field::ArpTha => {
            MacAddr::from_u64(v).to_string()
        }
        Field::NwSrc | Field::NwDst | Field::ArpSpa | Field::ArpTpa => ip_string(v as u32),
        Field::InPort => format_port(v as OfPort, ports, names),
        Field::NwProto | Field::ArpOp => v.to_string(),
        Field::TunId | Field::VlanTci | Field::DlType => hex(v),
    }
}

fn learn_src(src: &LearnSrc) -> String {
    match src {
        LearnSrc::Field(s) => s.to_string(),
        LearnSrc::Immediate(v) => hex(*v),
    }
}

/// `learn(table=N,...)` with the options OVS prints (table always; timeouts, priority and
/// cookie only when not the default) and then the items.
pub fn format_learn(spec: &LearnSpec, ports: &dyn PortNames, names: bool) -> String {
    let mut s = format!("learn(table={}", spec.table);
    if spec.idle_timeout != 0 {
        let _ = write!(s, ",idle_timeout={}", spec.idle_timeout);
    }
    if spec.hard_timeout != 0 {
        let _ = write!(s, ",hard_timeout={}", spec.hard_timeout);
    }
    if spec.priority != DEFAULT_PRIORITY {
        let _ = write!(s, ",priority={}", spec.priority);
    }
    if spec.cookie != 0 {
        let _ = write!(s, ",cookie={}", hex(spec.cookie));
    }
    for item in &spec.items {
        s.push(',');
        match item {
            LearnItem::Match {
                dst,
                src: LearnSrc::Immediate(v),
            } => {
                if dst.is_whole() {
                    let _ = write!(
                        s,
                        "{}={}",
                        dst.field.name(),
                        field_value(dst.field, *v, ports, names)
                    );
                } else {
                    let _ = write!(s, "{dst}={}", hex(*v));
                }
            }
            LearnItem::Match {
                dst,
                src: LearnSrc::Field(src),
            } => {
                let _ = write!(s, "{dst}");
                if !same_bits(src, dst) {
                    let _ = write!(s, "={src}");
                }
            }
            LearnItem::Load { src, dst } => {
                let _ = write!(s, "load:{}->{dst}", learn_src(src));
            }
            LearnItem::Output { src } => {
                let _ = write!(s, "output:{src}");
            }
        }
    }
    s.push(')');
    s
}

fn same_bits(a: &FieldSlice, b: &FieldSlice) -> bool {
    a.field == b.field && a.ofs == b.ofs && a.n_bits == b.n_bits
}

/// A whole flow in the form [`super::parse_flow`] reads: `cookie`, `table`, the timeouts
/// and `out_port` when set, the match (with its priority), then ` actions=...` when the
/// flow has actions.
pub fn format_flow(fm: &FlowMod, ports: &dyn PortNames, names: bool) -> String {
    let mut parts: Vec<String> = Vec::new();
    if fm.cookie != 0 || fm.cookie_mask != 0 {
        if fm.cookie_mask != 0 {
            parts.push(format!("cookie={}/{}", hex(fm.cookie), hex(fm.cookie_mask)));
        } else {
            parts.push(format!("cookie={}", hex(fm.cookie)));
        }
    }
    if let Some(t) = fm.table {
        parts.push(format!("table={t}"));
    }
    if fm.idle_timeout != 0 {
        parts.push(format!("idle_timeout={}", fm.idle_timeout));
    }
    if fm.hard_timeout != 0 {
        parts.push(format!("hard_timeout={}", fm.hard_timeout));
    }
    if let Some(p) = fm.out_port {
        parts.push(format!("out_port={}", format_port(p, ports, names)));
    }
    let m = format_match(&fm.matcher, Some(fm.priority), ports, names);
    if !m.is_empty() {
        parts.push(m);
    }
    let mut s = parts.join(",");
    if let Some(actions) = &fm.actions {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str("actions=");
        s.push_str(&format_actions(actions, ports, names));
    }
    s
}
