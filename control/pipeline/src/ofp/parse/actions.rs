//! Action lists and instructions in ovs-ofctl syntax (ovs-actions(7)), as OVS's
//! `ofpacts_parse()` reads them.

use xvs_dataplane::wire::ethertype;
use xvs_dataplane::MacAddr;

use super::learn::parse_learn;
use super::values::{parse_field_mask, parse_field_value, parse_ipv4};
use super::*;
use crate::ofp::field::ones;

pub(super) fn bad_arg(action: &str, argument: &str, reason: impl Into<String>) -> FlowParseError {
    FlowParseError::BadActionArgument {
        action: action.to_string(),
        argument: argument.to_string(),
        reason: reason.into(),
    }
}

/// A port an action sends to: a real port (1..=OFPP_MAX) or a reserved one other than
/// `ANY`.
fn parse_action_port(action: &str, arg: &str, ports: &dyn PortNames) -> Result<OfPort> {
    let p = parse_port(arg, ports)?;
    if (1..=OFPP_MAX).contains(&p) || (OFPP_IN_PORT..OFPP_NONE).contains(&p) {
        Ok(p)
    } else {
        Err(bad_arg(
            action,
            arg,
            "not a valid port to send to (1..65280 or a reserved port)",
        ))
    }
}

/// `output:P` to a port, where `CONTROLLER` is the controller action (as in OVS, which
/// prints it `CONTROLLER:65535`).
fn output_to(p: OfPort) -> Action {
    if p == OFPP_CONTROLLER {
        Action::Controller { max_len: u16::MAX }
    } else {
        Action::Output(p)
    }
}

pub(super) fn parse_action(tok: &str, ports: &dyn PortNames) -> Result<Action> {
    // A quoted word is a port name: output to it.
    if tok.starts_with('"') {
        return Ok(output_to(parse_action_port("output", tok, ports)?));
    }
    let (name, arg, paren) = match tok.find([':', '=', '(']) {
        Some(i) if tok[i..].starts_with('(') => {
            let inner = tok[i + 1..].strip_suffix(')').ok_or_else(|| {
                FlowParseError::Syntax(format!("\"{tok}\": expected ')' at the end"))
            })?;
            (&tok[..i], Some(inner), true)
        }
        Some(i) => (&tok[..i], Some(&tok[i + 1..]), false),
        None => (tok, None, false),
    };
    let lname = name.to_ascii_lowercase();
    let action = lname.as_str();
    let need_arg = || -> Result<&str> {
        match arg {
            Some(a) if !a.is_empty() => Ok(a),
            _ => Err(bad_arg(action, "", "an argument is required")),
        }
    };
    let no_arg = |a: Action| -> Result<Action> {
        match arg {
            None => Ok(a),
            Some(x) => Err(bad_arg(action, x, "takes no argument")),
        }
    };
    let number = |max: u64, what: &str| -> Result<u64> {
        let a = need_arg()?;
        match parse_u64(a) {
            Some(v) if v <= max => Ok(v),
            _ => Err(bad_arg(action, a, what)),
        }
    };

    match action {
        "output" => {
            let a = need_arg()?;
            if a.contains('[') {
                return Ok(Action::OutputField(parse_field_slice(a)?));
            }
            match parse_action_port(action, a, ports) {
                // `output:NXM_NX_TUN_ID`, a field without brackets: all of it.
                Err(FlowParseError::UnknownPort(_)) if Field::from_name(a).is_some() => {
                    Ok(Action::OutputField(parse_field_slice(a)?))
                }
                r => r.map(output_to),
            }
        }
        "in_port" => no_arg(Action::Output(OFPP_IN_PORT)),
        "normal" => no_arg(Action::Output(OFPP_NORMAL)),
        "flood" => no_arg(Action::Output(OFPP_FLOOD)),
        "all" => no_arg(Action::Output(OFPP_ALL)),
        "local" => no_arg(Action::Output(OFPP_LOCAL)),
        "table" => no_arg(Action::Output(OFPP_TABLE)),
        "controller" => parse_controller(arg, paren),
        "mod_vlan_vid" | "set_vlan_vid" => {
            let v = number(0xfff, "VLAN id must be 0..4095")? as u16;
            Ok(if action == "mod_vlan_vid" {
                Action::ModVlanVid(v)
            } else {
                Action::SetVlanVid(v)
            })
        }
        "mod_vlan_pcp" | "set_vlan_pcp" => {
            let p = number(7, "VLAN priority must be 0..7")? as u8;
            Ok(if action == "mod_vlan_pcp" {
                Action::ModVlanPcp(p)
            } else {
                Action::SetVlanPcp(p)
            })
        }
        "strip_vlan" => no_arg(Action::StripVlan),
        "pop_vlan" => no_arg(Action::PopVlan),
        "push_vlan" => {
            let a = need_arg()?;
            match parse_u64(a) {
                Some(t) if t == u64::from(ethertype::VLAN) || t == u64::from(ethertype::QINQ) => {
                    Ok(Action::PushVlan(t as u16))
                }
                _ => Err(bad_arg(
                    action,
                    a,
                    "not a valid VLAN ethertype (0x8100 or 0x88a8)",
                )),
            }
        }
        "set_tunnel" => {
            let a = need_arg()?;
            match parse_u64(a) {
                Some(id) if id <= u64::from(u32::MAX) => Ok(Action::SetTunnel { id, wide: false }),
                Some(_) => Err(bad_arg(
                    action,
                    a,
                    "does not fit in 32 bits (use set_tunnel64)",
                )),
                None => Err(bad_arg(action, a, "expected a number")),
            }
        }
        "set_tunnel64" => {
            let a = need_arg()?;
            let id = parse_u64(a).ok_or_else(|| bad_arg(action, a, "expected a 64-bit number"))?;
            Ok(Action::SetTunnel { id, wide: true })
        }
        "resubmit" => parse_resubmit(need_arg()?, paren, ports),
        "mod_dl_src" | "mod_dl_dst" => {
            let a = need_arg()?;
            let mac: MacAddr = a
                .parse()
                .map_err(|_| bad_arg(action, a, "expected a MAC address like fa:16:3e:00:00:01"))?;
            Ok(if action == "mod_dl_src" {
                Action::ModDlSrc(mac)
            } else {
                Action::ModDlDst(mac)
            })
        }
        "mod_nw_src" | "mod_nw_dst" => {
            let a = need_arg()?;
            let ip = parse_ipv4(a)
                .ok_or_else(|| bad_arg(action, a, "expected a dotted IPv4 address"))?;
            Ok(if action == "mod_nw_src" {
                Action::ModNwSrc(ip)
            } else {
                Action::ModNwDst(ip)
            })
        }
        "mod_nw_tos" => {
            let tos = number(0xff, "not a valid TOS")? as u8;
            if tos & 3 != 0 {
                return Err(bad_arg(action, arg.unwrap_or(""), "not a valid TOS"));
            }
            Ok(Action::ModNwTos(tos))
        }
        "mod_tp_src" => Ok(Action::ModTpSrc(number(0xffff, "must be 0..65535")? as u16)),
        "mod_tp_dst" => Ok(Action::ModTpDst(number(0xffff, "must be 0..65535")? as u16)),
        "set_field" => parse_set_field(need_arg()?, ports),
        // `load:...` itself is read by parse_load (it may make several actions).
        "load" => Err(bad_arg(
            action,
            arg.unwrap_or(""),
            "expected load:VALUE->FIELD[...]",
        )),
        "move" => {
            let a = need_arg()?;
            let (s, d) = a
                .split_once("->")
                .ok_or_else(|| bad_arg(action, a, "expected move:SRC[...]->DST[...]"))?;
            let src = parse_field_slice(s)?;
            let dst = parse_writable(action, d)?;
            if src.n_bits != dst.n_bits {
                return Err(bad_arg(
                    action,
                    a,
                    format!(
                        "source field is {} bits wide but destination is {} bits wide",
                        src.n_bits, dst.n_bits
                    ),
                ));
            }
            Ok(Action::Move { src, dst })
        }
        "dec_ttl" => match arg {
            None => Ok(Action::DecTtl(Vec::new())),
            Some(a) if paren && a.is_empty() => Ok(Action::DecTtl(Vec::new())),
            Some(a) if paren => {
                let ids = a
                    .split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(|s| match parse_u64(s) {
                        Some(v) if v <= 0xffff => Ok(v as u16),
                        _ => Err(bad_arg(action, s, "controller ids are 0..65535")),
                    })
                    .collect::<Result<Vec<u16>>>()?;
                if ids.is_empty() {
                    return Err(bad_arg(action, a, "expected at least one controller id"));
                }
                Ok(Action::DecTtl(ids))
            }
            Some(a) => Err(bad_arg(action, a, "expected dec_ttl or dec_ttl(id,...)")),
        },
        "note" => parse_note(arg.unwrap_or("")),
        "learn" => {
            if !paren {
                return Err(bad_arg(action, arg.unwrap_or(""), "expected learn(...)"));
            }
            Ok(Action::Learn(Box::new(parse_learn(
                arg.unwrap_or(""),
                ports,
            )?)))
        }
        "write_metadata" => {
            let a = need_arg()?;
            let (v, m) = match a.split_once('/') {
                Some((v, m)) => (v, Some(m)),
                None => (a, None),
            };
            let num = |s: &str| {
                parse_u64(s).ok_or_else(|| bad_arg(action, s, "expected a 64-bit number"))
            };
            let value = num(v)?;
            let mask = m.map_or(Ok(u64::MAX), num)?;
            Ok(Action::WriteMetadata {
                value: value & mask,
                mask,
            })
        }
        "goto_table" => {
            let t = number(u64::from(N_TABLES) - 1, "table must be 0..254")?;
            Ok(Action::GotoTable(t as u8))
        }
        "apply_actions" => Err(bad_arg(
            action,
            arg.unwrap_or(""),
            "apply_actions is the default instruction",
        )),
        _ if arg.is_none() => {
            // A bare number or port name outputs there, as in ovs-ofctl.
            match parse_port(tok, ports) {
                Ok(_) => Ok(output_to(parse_action_port("output", tok, ports)?)),
                Err(_) => Err(FlowParseError::UnknownAction(tok.to_string())),
            }
        }
        _ => Err(FlowParseError::UnknownAction(name.to_string())),
    }
}

/// `controller`, `controller:MAX_LEN`, `controller(max_len=N)`.
fn parse_controller(arg: Option<&str>, paren: bool) -> Result<Action> {
    const A: &str = "controller";
    let len = |s: &str| match parse_u64(s) {
        Some(n) if n <= 0xffff => Ok(n as u16),
        _ => Err(bad_arg(A, s, "max_len must be 0..65535")),
    };
    match arg {
        None => Ok(Action::Controller { max_len: u16::MAX }),
        Some(a) if !paren => Ok(Action::Controller { max_len: len(a)? }),
        Some(a) => {
            let mut max_len = u16::MAX;
            for kv in a.split(',').filter(|s| !s.is_empty()) {
                match kv.split_once('=') {
                    Some(("max_len", v)) => max_len = len(v)?,
                    _ => return Err(bad_arg(A, kv, "only max_len is supported by xvs")),
                }
            }
            Ok(Action::Controller { max_len })
        }
    }
}

/// `set_field:VALUE[/MASK]->FIELD`, as OVS's `set_field_parse__()`: the field by its
/// name (not NXM/OXM), writable, the value valid for it.
fn parse_set_field(a: &str, ports: &dyn PortNames) -> Result<Action> {
    const A: &str = "set_field";
    let (v, name) = a
        .split_once("->")
        .ok_or_else(|| bad_arg(A, a, format!("{a}: missing `->'")))?;
    if name.is_empty() {
        return Err(bad_arg(
            A,
            a,
            format!("{a}: missing field name following `->'"),
        ));
    }
    let field = crate::ofp::field::ALL_FIELDS
        .iter()
        .copied()
        .find(|f| f.name() == name || f.info().aliases.contains(&name))
        .ok_or_else(|| bad_arg(A, name, format!("{name} is not a valid OXM field name")))?;
    if !field.is_writable() {
        return Err(bad_arg(A, name, format!("{name} is read-only")));
    }
    let (val, mask) = match v.split_once('/') {
        Some((x, m)) if !v.starts_with('"') => (x, Some(m)),
        _ => (v, None),
    };
    let value = parse_field_value(field, name, val, ports)?;
    if !field.is_valid_value(value) {
        return Err(bad_arg(
            A,
            val,
            format!("{val} is not a valid value for field {name}"),
        ));
    }
    let mask = match mask {
        Some(m) => parse_field_mask(field, name, m)?,
        None => ones(field.info().n_bytes * 8),
    };
    Ok(Action::SetField {
        field,
        value: value & mask,
        mask,
    })
}

/// `load:VALUE->DST[a..b]`, as OVS's `parse_reg_load()`: one `load` per 64 bits of the
/// destination, as OVS prints (and sends) a wider one, so that the text prints back as
/// it reads.
pub(super) fn parse_load(a: &str) -> Result<Vec<Action>> {
    const A: &str = "load";
    let (v, dst) = a
        .split_once("->")
        .ok_or_else(|| bad_arg(A, a, "expected load:VALUE->FIELD[...]"))?;
    let value = parse_u128(v).ok_or_else(|| bad_arg(A, v, "cannot parse integer value"))?;
    let dst = parse_writable(A, dst)?;
    if !fits(value, dst.n_bits) {
        // As OVS: the value in the field's notation (4097 for vlan_vid, 0x1000 for
        // vlan_tci).
        let shown = crate::ofp::format::format_value(
            dst.field,
            value,
            None,
            &crate::ofp::NoPortNames,
            false,
        );
        return Err(bad_arg(
            A,
            a,
            format!("value {shown} does not fit into {} bits", dst.n_bits),
        ));
    }
    let mut out = Vec::new();
    let mut ofs = 0;
    while ofs < dst.n_bits {
        let n = (dst.n_bits - ofs).min(64);
        out.push(Action::Load {
            value: (value >> ofs) & ones(n),
            dst: FieldSlice {
                field: dst.field,
                ofs: dst.ofs + ofs,
                n_bits: n,
            },
        });
        ofs += n;
    }
    Ok(out)
}

/// `note:HEX[.HEX...]`: bytes in hexadecimal, optionally separated by dots.
fn parse_note(a: &str) -> Result<Action> {
    let digits: Vec<u8> = a.bytes().filter(|&b| b != b'.').collect();
    if !digits.len().is_multiple_of(2) || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad_arg("note", a, "bad hex digit in `note' argument"));
    }
    let bytes = digits
        .chunks(2)
        .map(|p| {
            let hex = std::str::from_utf8(p).unwrap_or("00");
            u8::from_str_radix(hex, 16).unwrap_or(0)
        })
        .collect();
    Ok(Action::Note(bytes))
}

pub(super) fn parse_writable(action: &str, text: &str) -> Result<FieldSlice> {
    let dst = parse_field_slice(text)?;
    if !dst.field.is_writable() {
        return Err(bad_arg(
            action,
            text,
            format!(
                "{} cannot be written (destination field {} is not writable)",
                dst.field.nxm_name(),
                dst.field.name()
            ),
        ));
    }
    Ok(dst)
}

/// `resubmit:P`, `resubmit(P,T)`, `resubmit(,T)`, `resubmit(P,)`.
fn parse_resubmit(arg: &str, paren: bool, ports: &dyn PortNames) -> Result<Action> {
    const A: &str = "resubmit";
    let port_of = |p: &str| -> Result<Option<OfPort>> {
        if p.is_empty() {
            return Ok(None);
        }
        let port = parse_action_port(A, p, ports)?;
        Ok((port != OFPP_IN_PORT).then_some(port))
    };
    if !paren {
        let port = port_of(arg)?;
        if port.is_none() {
            return Err(bad_arg(
                A,
                arg,
                "resubmit to in_port needs a table: resubmit(,T)",
            ));
        }
        return Ok(Action::Resubmit { port, table: None });
    }
    let (p, t) = arg.split_once(',').unwrap_or((arg, ""));
    if t.contains(',') {
        return Err(bad_arg(A, arg, "only resubmit(PORT,TABLE) is supported"));
    }
    let port = port_of(p)?;
    let table = if t.is_empty() {
        None
    } else {
        match parse_u64(t) {
            Some(n) if n < u64::from(N_TABLES) => Some(n as u8),
            _ => return Err(bad_arg(A, t, "table must be 0..254")),
        }
    };
    if port.is_none() && table.is_none() {
        return Err(bad_arg(
            A,
            arg,
            "at least one of port and table must be given",
        ));
    }
    Ok(Action::Resubmit { port, table })
}
