//! [`Match`], [`Action`](super::Action) and [`FlowMod`] → ovs-ofctl text, as
//! `ovs-ofctl dump-flows` (OVS 3.1) prints them (`match_format()`, lib/match.c;
//! `ofpacts_format()`, lib/ofp-actions.c; `mf_format()`, lib/meta-flow.c), so that the
//! text parses back ([`super::parse`]) to the same value. What a flow looks like after
//! travelling through one OpenFlow version is [`super::version`]'s.

mod actions;

pub use actions::{format_action, format_actions, format_learn};

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use xvs_dataplane::flow_key::{VLAN_PCP_MASK, VLAN_PCP_SHIFT, VLAN_PRESENT, VLAN_VID_MASK};
use xvs_dataplane::wire::ethertype;
use xvs_dataplane::{FlowKey, MacAddr};

use super::field::{ones, Field, ValueFormat};
use super::{
    port_from_ofp11, FlowMod, Match, OfPort, PortNames, DEFAULT_PRIORITY, OFPP_ALL,
    OFPP_CONTROLLER, OFPP_FLOOD, OFPP_IN_PORT, OFPP_LOCAL, OFPP_NONE, OFPP_NORMAL, OFPP_TABLE,
};

/// `0x3e7` for nonzero values and `0` for zero, as C's `%#x` (what OVS uses).
pub fn hex(v: u128) -> String {
    if v == 0 {
        "0".to_string()
    } else {
        format!("{v:#x}")
    }
}

pub(crate) fn reserved_port_name(p: OfPort) -> Option<&'static str> {
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

/// `10.0.0.0/24` for a prefix mask, `10.0.0.1/255.0.255.0` otherwise, no mask when exact.
fn ip_masked(ip: u32, mask: u32) -> String {
    let mut s = Ipv4Addr::from(ip).to_string();
    if mask != u32::MAX {
        if mask.leading_ones() + mask.trailing_zeros() == 32 {
            let _ = write!(s, "/{}", mask.leading_ones());
        } else {
            let _ = write!(s, "/{}", Ipv4Addr::from(mask));
        }
    }
    s
}

/// `2001:db8::/32` for a prefix mask, `fe80::1/ffff::ff` otherwise, none when exact.
fn ipv6_masked(ip: u128, mask: u128) -> String {
    let mut s = Ipv6Addr::from(ip).to_string();
    if mask != u128::MAX {
        if mask.leading_ones() + mask.trailing_zeros() == 128 {
            let _ = write!(s, "/{}", mask.leading_ones());
        } else {
            let _ = write!(s, "/{}", Ipv6Addr::from(mask));
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

/// A field's value (and mask, unless all ones) in the field's notation, as OVS's
/// `mf_format()`: `set_field:4097->vlan_vid`, `set_field:0x3->reg6`, `nd_target=fe80::1`.
pub fn format_value(
    field: Field,
    v: u128,
    mask: Option<u128>,
    ports: &dyn PortNames,
    names: bool,
) -> String {
    let info = field.info();
    let mask = mask.filter(|&m| m != ones(info.n_bytes * 8));
    let mac = |x: u128| MacAddr::from_u64(x as u64);
    match (info.format, mask) {
        (ValueFormat::OfpPort, None) => format_port(v as OfPort, ports, names),
        (ValueFormat::OfpPortOxm, None) => {
            format_port(port_from_ofp11(v as u32).unwrap_or(v as u32), ports, names)
        }
        (ValueFormat::Ethernet, m) => mac_masked(mac(v), m.map_or(MacAddr::BROADCAST, mac)),
        (ValueFormat::Ipv4, m) => ip_masked(v as u32, m.map_or(u32::MAX, |m| m as u32)),
        (ValueFormat::Ipv6, m) => ipv6_masked(v, m.unwrap_or(u128::MAX)),
        (ValueFormat::Hexadecimal, m) => {
            let mut s = hex(v);
            if let Some(m) = m {
                let _ = write!(s, "/{}", hex(m));
            }
            s
        }
        (_, m) => {
            let mut s = v.to_string();
            if let Some(m) = m {
                let _ = write!(s, "/{}", hex(m));
            }
            s
        }
    }
}

/// `name=V` or `name=0xV/0xM` for a 16-bit field (OVS's `format_be16_masked()`).
fn be16_masked(out: &mut Vec<String>, name: &str, v: u16, m: u16) {
    match m {
        0 => {}
        u16::MAX => out.push(format!("{name}={v}")),
        _ => out.push(format!("{name}={v:#x}/{m:#x}")),
    }
}

/// `name=0xV[/0xM]` (OVS's `format_uint32_masked()` and `format_be64_masked()`).
fn hex_masked(out: &mut Vec<String>, name: &str, v: u128, m: u128, all: u128) {
    if m != 0 {
        let mut s = format!("{name}={}", hex(v));
        if m != all {
            let _ = write!(s, "/{}", hex(m));
        }
        out.push(s);
    }
}

/// The protocol shorthand for an exact `dl_type` (and `nw_proto`), as OVS prints it;
/// whether `nw_proto` is said by it.
fn shorthand(v: &FlowKey, k: &FlowKey) -> Option<(&'static str, bool)> {
    if k.dl_type != u16::MAX {
        return None;
    }
    let proto = (k.nw_proto != 0).then_some(v.nw_proto);
    Some(match v.dl_type {
        ethertype::IPV4 => match proto {
            Some(1) => ("icmp", true),
            Some(6) => ("tcp", true),
            Some(17) => ("udp", true),
            Some(132) => ("sctp", true),
            _ => ("ip", false),
        },
        ethertype::IPV6 => match proto {
            Some(58) => ("icmp6", true),
            Some(6) => ("tcp6", true),
            Some(17) => ("udp6", true),
            Some(132) => ("sctp6", true),
            _ => ("ipv6", false),
        },
        ethertype::ARP => ("arp", false),
        ethertype::RARP => ("rarp", false),
        _ => return None,
    })
}

fn format_vlan(out: &mut Vec<String>, tci: u16, mask: u16) {
    if mask == 0 {
        return;
    }
    let vid_mask = mask & VLAN_VID_MASK;
    let pcp_mask = mask & VLAN_PCP_MASK;
    if mask & VLAN_PRESENT != 0
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
    } else if mask == 0xffff {
        out.push(format!("vlan_tci={tci:#06x}"));
    } else {
        out.push(format!("vlan_tci={tci:#06x}/{mask:#06x}"));
    }
}

/// The match as ovs-ofctl dump-flows prints it (OVS's `match_format()`): `priority=N`
/// when given and not 32768, the protocol shorthand (`arp`, `tcp6`, ...), `reg0`..,
/// `tun_id`, `metadata`, `in_port`, the VLAN, `dl_src`, `dl_dst`, `dl_type` (when no
/// shorthand says it), the addresses (`ipv6_*`, `arp_spa`/`arp_tpa` or `nw_*`),
/// `nw_proto`/`arp_op`, `arp_sha`/`arp_tha`, `nw_tos`, `nw_ecn`, `nw_ttl`, then
/// `icmp_type`/`icmp_code` (and ND fields under `icmp6`) or `tp_src`/`tp_dst`. Comma
/// separated; "" for a catch-all at the default priority.
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
    let short = shorthand(v, k);
    if let Some((s, _)) = short {
        out.push(s.to_string());
    }
    for (i, (&r, &rm)) in v.regs.iter().zip(&k.regs).enumerate() {
        hex_masked(
            &mut out,
            &format!("reg{i}"),
            r.into(),
            rm.into(),
            u32::MAX.into(),
        );
    }
    hex_masked(
        &mut out,
        "tun_id",
        v.tun_id.into(),
        k.tun_id.into(),
        u64::MAX.into(),
    );
    hex_masked(
        &mut out,
        "metadata",
        v.metadata.into(),
        k.metadata.into(),
        u64::MAX.into(),
    );
    if k.in_port != 0 {
        out.push(format!("in_port={}", format_port(v.in_port, ports, names)));
    }
    format_vlan(&mut out, v.vlan_tci, k.vlan_tci);
    if !k.dl_src.is_zero() {
        out.push(format!("dl_src={}", mac_masked(v.dl_src, k.dl_src)));
    }
    if !k.dl_dst.is_zero() {
        out.push(format!("dl_dst={}", mac_masked(v.dl_dst, k.dl_dst)));
    }
    if short.is_none() && k.dl_type != 0 {
        if k.dl_type == u16::MAX {
            out.push(format!("dl_type={:#06x}", v.dl_type));
        } else {
            out.push(format!("dl_type={:#06x}/{:#06x}", v.dl_type, k.dl_type));
        }
    }
    let t = v.dl_type;
    let is_arp = t == ethertype::ARP || t == ethertype::RARP;
    if t == ethertype::IPV6 {
        for (name, a, am) in [
            ("ipv6_src", v.ipv6_src, k.ipv6_src),
            ("ipv6_dst", v.ipv6_dst, k.ipv6_dst),
        ] {
            if am != 0 {
                out.push(format!("{name}={}", ipv6_masked(a, am)));
            }
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
    if !short.is_some_and(|(_, said)| said) && k.nw_proto != 0 {
        let name = if is_arp { "arp_op" } else { "nw_proto" };
        if k.nw_proto == 0xff {
            out.push(format!("{name}={}", v.nw_proto));
        } else {
            out.push(format!("{name}={:#x}/{:#x}", v.nw_proto, k.nw_proto));
        }
    }
    let icmp4 = t == ethertype::IPV4 && v.nw_proto == 1;
    let icmp6 = t == ethertype::IPV6 && v.nw_proto == 58;
    if !icmp6 {
        for (name, a, am) in [
            ("arp_sha", v.arp_sha, k.arp_sha),
            ("arp_tha", v.arp_tha, k.arp_tha),
        ] {
            if !am.is_zero() {
                out.push(format!("{name}={}", mac_masked(a, am)));
            }
        }
    }
    if k.nw_tos & 0xfc != 0 {
        out.push(format!("nw_tos={}", v.nw_tos & 0xfc));
    }
    if k.nw_tos & 0x03 != 0 {
        out.push(format!("nw_ecn={}", v.nw_tos & 0x03));
    }
    if k.nw_ttl != 0 {
        out.push(format!("nw_ttl={}", v.nw_ttl));
    }
    if icmp4 || icmp6 {
        be16_masked(&mut out, "icmp_type", v.tp_src, k.tp_src);
        be16_masked(&mut out, "icmp_code", v.tp_dst, k.tp_dst);
    } else {
        be16_masked(&mut out, "tp_src", v.tp_src, k.tp_src);
        be16_masked(&mut out, "tp_dst", v.tp_dst, k.tp_dst);
    }
    if icmp6 {
        if k.nd_target != 0 {
            out.push(format!(
                "nd_target={}",
                ipv6_masked(v.nd_target, k.nd_target)
            ));
        }
        for (name, a, am) in [
            ("nd_sll", v.arp_sha, k.arp_sha),
            ("nd_tll", v.arp_tha, k.arp_tha),
        ] {
            if !am.is_zero() {
                out.push(format!("{name}={}", mac_masked(a, am)));
            }
        }
    }
    out.join(",")
}

/// The flags as OpenFlow 1.3 dumps print them: `send_flow_rem reset_counts ` (each
/// followed by a space).
pub fn format_flags(flags: super::FlowFlags) -> String {
    let mut s = String::new();
    for (f, name) in super::FlowFlags::NAMES {
        if flags.has(f) {
            s.push_str(name);
            s.push(' ');
        }
    }
    s
}

/// A whole flow in the form [`super::parse_flow`] reads: `cookie`, `table`, the timeouts,
/// the flags and `out_port` when set, the match (with its priority), then ` actions=...`
/// when the flow has actions.
pub fn format_flow(fm: &FlowMod, ports: &dyn PortNames, names: bool) -> String {
    let mut parts: Vec<String> = Vec::new();
    if fm.cookie != 0 || fm.cookie_mask != 0 {
        if fm.cookie_mask != 0 {
            parts.push(format!(
                "cookie={}/{}",
                hex(fm.cookie.into()),
                hex(fm.cookie_mask.into())
            ));
        } else {
            parts.push(format!("cookie={}", hex(fm.cookie.into())));
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
    for (f, name) in super::FlowFlags::NAMES {
        if fm.flags.has(f) {
            parts.push(name.to_string());
        }
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
