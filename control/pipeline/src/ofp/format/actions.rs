//! Actions, instructions and `learn` specs as ovs-ofctl prints them (OVS's
//! `ofpacts_format()` and `learn_format()`).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::{format_port, format_value, hex, reserved_port_name};
use crate::ofp::field::{ones, FieldSlice};
use crate::ofp::{
    Action, LearnItem, LearnSpec, LearnSrc, PortNames, DEFAULT_PRIORITY, OFPP_IN_PORT,
};

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

/// `load:V->DST[..]`, split as OVS prints a load: one `load` per run of at most 64 bits.
fn format_load(value: u128, dst: &FieldSlice) -> String {
    let mut parts = Vec::new();
    let mut ofs = dst.ofs;
    let end = dst.ofs + dst.n_bits;
    while ofs < end {
        let n = (end - ofs).min(64);
        let seg = FieldSlice {
            field: dst.field,
            ofs,
            n_bits: n,
        };
        let v = (value >> (ofs - dst.ofs)) & ones(n);
        parts.push(format!("load:{}->{seg}", hex(v)));
        ofs += n;
    }
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
        Action::Controller { max_len } => format!("CONTROLLER:{max_len}"),
        Action::ModVlanVid(v) => format!("mod_vlan_vid:{v}"),
        Action::SetVlanVid(v) => format!("set_vlan_vid:{v}"),
        Action::ModVlanPcp(p) => format!("mod_vlan_pcp:{p}"),
        Action::SetVlanPcp(p) => format!("set_vlan_pcp:{p}"),
        Action::StripVlan => "strip_vlan".to_string(),
        Action::PopVlan => "pop_vlan".to_string(),
        Action::PushVlan(t) => format!("push_vlan:{t:#x}"),
        Action::SetTunnel { id, wide } => {
            let w = if *wide || *id > u64::from(u32::MAX) {
                "64"
            } else {
                ""
            };
            format!("set_tunnel{w}:{}", hex((*id).into()))
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
        Action::ModNwSrc(ip) => format!("mod_nw_src:{}", Ipv4Addr::from(*ip)),
        Action::ModNwDst(ip) => format!("mod_nw_dst:{}", Ipv4Addr::from(*ip)),
        Action::ModNwTos(t) => format!("mod_nw_tos:{t}"),
        Action::ModTpSrc(p) => format!("mod_tp_src:{p}"),
        Action::ModTpDst(p) => format!("mod_tp_dst:{p}"),
        Action::SetField { field, value, mask } => format!(
            "set_field:{}->{}",
            format_value(*field, *value, Some(*mask), ports, names),
            field.name()
        ),
        Action::Load { value, dst } => format_load(*value, dst),
        Action::Move { src, dst } => format!("move:{src}->{dst}"),
        Action::DecTtl(ids) if ids.is_empty() => "dec_ttl".to_string(),
        Action::DecTtl(ids) => {
            let ids: Vec<String> = ids.iter().map(u16::to_string).collect();
            format!("dec_ttl({})", ids.join(","))
        }
        Action::Note(bytes) => {
            let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("note:{}", hex.join("."))
        }
        Action::Learn(spec) => format_learn(spec, ports, names),
        Action::WriteMetadata { value, mask } => {
            let mut s = format!("write_metadata:{}", hex((*value).into()));
            if *mask != u64::MAX {
                let _ = write!(s, "/{}", hex((*mask).into()));
            }
            s
        }
        Action::GotoTable(t) => format!("goto_table:{t}"),
    }
}

fn learn_src(src: &LearnSrc) -> String {
    match src {
        LearnSrc::Field(s) => s.to_string(),
        LearnSrc::Immediate(v) => hex(*v),
    }
}

/// `learn(table=N,...)` with the options OVS prints (table always; timeouts, priority and
/// cookie only when not the default) and then the items: a whole field matched on a
/// value by its name (`eth_type=0x806`), a slice by its NXM name.
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
        let _ = write!(s, ",cookie={}", hex(spec.cookie.into()));
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
                        format_value(dst.field, *v, None, ports, names)
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
                if src.field != dst.field || src.ofs != dst.ofs {
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
