//! Action lists and `learn` specs in ovs-ofctl syntax (ovs-actions(7)).

use super::*;

fn bad_arg(action: &str, argument: &str, reason: impl Into<String>) -> FlowParseError {
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

pub(super) fn parse_action(tok: &str, ports: &dyn PortNames) -> Result<Action> {
    // A quoted word is a port name: output to it.
    if tok.starts_with('"') {
        return Ok(Action::Output(parse_action_port("output", tok, ports)?));
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
                r => r.map(Action::Output),
            }
        }
        "in_port" => no_arg(Action::Output(OFPP_IN_PORT)),
        "normal" => no_arg(Action::Output(OFPP_NORMAL)),
        "flood" => no_arg(Action::Output(OFPP_FLOOD)),
        "all" => no_arg(Action::Output(OFPP_ALL)),
        "local" => no_arg(Action::Output(OFPP_LOCAL)),
        "table" => no_arg(Action::Output(OFPP_TABLE)),
        "controller" => match arg {
            // `CONTROLLER:65535` as OVS prints it: the length to send is not modelled.
            None => Ok(Action::Output(OFPP_CONTROLLER)),
            Some(a) if !paren && parse_u64(a).is_some_and(|n| n <= 0xffff) => {
                Ok(Action::Output(OFPP_CONTROLLER))
            }
            Some(a) => Err(bad_arg(
                action,
                a,
                "only CONTROLLER or CONTROLLER:max_len is supported",
            )),
        },
        "mod_vlan_vid" => {
            let a = need_arg()?;
            match parse_u64(a) {
                Some(v) if v <= 4095 => Ok(Action::ModVlanVid(v as u16)),
                _ => Err(bad_arg(action, a, "VLAN id must be 0..4095")),
            }
        }
        "mod_vlan_pcp" => {
            let a = need_arg()?;
            match parse_u64(a) {
                Some(v) if v <= 7 => Ok(Action::ModVlanPcp(v as u8)),
                _ => Err(bad_arg(action, a, "VLAN priority must be 0..7")),
            }
        }
        "strip_vlan" | "pop_vlan" => no_arg(Action::StripVlan),
        "push_vlan" => {
            let a = need_arg()?;
            match parse_u64(a) {
                Some(t) if t == u64::from(ethertype::VLAN) || t == u64::from(ethertype::QINQ) => {
                    Ok(Action::PushVlan(t as u16))
                }
                _ => Err(bad_arg(action, a, "the tag type must be 0x8100 or 0x88a8")),
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
        "load" => {
            let a = need_arg()?;
            let (v, dst) = a
                .split_once("->")
                .ok_or_else(|| bad_arg(action, a, "expected load:VALUE->FIELD[...]"))?;
            let value = parse_u64(v).ok_or_else(|| bad_arg(action, v, "expected a number"))?;
            let dst = parse_writable(action, dst)?;
            if !fits(value, dst.n_bits) {
                return Err(bad_arg(
                    action,
                    a,
                    format!("value {v} does not fit in the {} bits of {dst}", dst.n_bits),
                ));
            }
            Ok(Action::Load { value, dst })
        }
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
                        "source is {} bits but destination is {} bits",
                        src.n_bits, dst.n_bits
                    ),
                ));
            }
            Ok(Action::Move { src, dst })
        }
        "learn" => {
            if !paren {
                return Err(bad_arg(action, arg.unwrap_or(""), "expected learn(...)"));
            }
            Ok(Action::Learn(Box::new(parse_learn(
                arg.unwrap_or(""),
                ports,
            )?)))
        }
        _ if arg.is_none() => {
            // A bare number or port name outputs there, as in ovs-ofctl.
            match parse_port(tok, ports) {
                Ok(_) => Ok(Action::Output(parse_action_port("output", tok, ports)?)),
                Err(_) => Err(FlowParseError::UnknownAction(tok.to_string())),
            }
        }
        _ => Err(FlowParseError::UnknownAction(name.to_string())),
    }
}

fn parse_writable(action: &str, text: &str) -> Result<FieldSlice> {
    let dst = parse_field_slice(text)?;
    if !dst.field.is_writable() {
        return Err(bad_arg(
            action,
            text,
            format!("{} cannot be written", dst.field.nxm_name()),
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

/// A learned value: a field slice or a number.
fn parse_learn_src(text: &str) -> Result<LearnSrc> {
    if parse_u64(text).is_some() {
        return Ok(LearnSrc::Immediate(parse_u64(text).unwrap_or(0)));
    }
    Ok(LearnSrc::Field(parse_field_slice(text)?))
}

fn parse_learn(arg: &str, ports: &dyn PortNames) -> Result<LearnSpec> {
    const A: &str = "learn";
    let mut spec = LearnSpec::default();
    // The match the learned flow will have, so far: for the prerequisite check.
    let mut learned = Match::default();

    for item in split_top(arg, |c| c == ',')? {
        let item = item.trim();
        if let Some(rest) = item.strip_prefix("load:") {
            let (s, d) = rest
                .split_once("->")
                .ok_or_else(|| bad_arg(A, item, "expected load:SRC->DST[...]"))?;
            let src = parse_learn_src(s)?;
            let dst = parse_writable(A, d)?;
            check_learn_width(item, &src, &dst)?;
            spec.items.push(LearnItem::Load { src, dst });
            continue;
        }
        if let Some(rest) = item.strip_prefix("output:") {
            let src = parse_field_slice(rest)?;
            spec.items.push(LearnItem::Output { src });
            continue;
        }
        let (lhs, rhs) = match item.split_once('=') {
            Some((l, r)) => (l, Some(r)),
            None => (item, None),
        };
        match lhs {
            "table" => spec.table = parse_table("learn table", need_value(lhs, rhs)?)?,
            "priority" => {
                spec.priority = parse_uint("learn priority", need_value(lhs, rhs)?, 0xffff)? as u16
            }
            "idle_timeout" => {
                spec.idle_timeout =
                    parse_uint("learn idle_timeout", need_value(lhs, rhs)?, 0xffff)? as u16
            }
            "hard_timeout" => {
                spec.hard_timeout =
                    parse_uint("learn hard_timeout", need_value(lhs, rhs)?, 0xffff)? as u16
            }
            "cookie" => spec.cookie = parse_uint("learn cookie", need_value(lhs, rhs)?, u64::MAX)?,
            "fin_idle_timeout" | "fin_hard_timeout" | "send_flow_rem" | "delete_learned"
            | "limit" | "result_dst" => {
                return Err(bad_arg(
                    A,
                    item,
                    format!("\"{lhs}\" is not supported by xvs"),
                ))
            }
            _ => {
                let dst = parse_field_slice(lhs)?;
                let pre = dst.field.prerequisite();
                if !pre.satisfied_by(&learned) {
                    return Err(FlowParseError::MissingPrerequisite {
                        field: format!("learn({lhs})"),
                        needs: pre.describe().to_string(),
                    });
                }
                let src = match rhs {
                    None => LearnSrc::Field(dst),
                    Some(r) if r.contains('[') || Field::from_name(r).is_some() => {
                        LearnSrc::Field(parse_field_slice(r)?)
                    }
                    Some(r) => {
                        let v = if dst.is_whole() {
                            parse_field_value(dst.field, lhs, r, ports)?
                        } else {
                            let v = parse_u64(r).ok_or_else(|| {
                                bad_arg(A, item, format!("\"{r}\" is not a field or a number"))
                            })?;
                            if !fits(v, dst.n_bits) {
                                return Err(bad_arg(
                                    A,
                                    item,
                                    format!("value {r} does not fit in {} bits", dst.n_bits),
                                ));
                            }
                            v
                        };
                        learned.set_masked(dst.field, v << dst.ofs, dst.field_mask());
                        LearnSrc::Immediate(v)
                    }
                };
                check_learn_width(item, &src, &dst)?;
                spec.items.push(LearnItem::Match { dst, src });
            }
        }
    }
    Ok(spec)
}

fn check_learn_width(item: &str, src: &LearnSrc, dst: &FieldSlice) -> Result<()> {
    match *src {
        LearnSrc::Field(s) if s.n_bits != dst.n_bits => Err(bad_arg(
            "learn",
            item,
            format!("{s} is {} bits but {dst} is {} bits", s.n_bits, dst.n_bits),
        )),
        LearnSrc::Immediate(v) if !fits(v, dst.n_bits) => Err(bad_arg(
            "learn",
            item,
            format!(
                "value {v:#x} does not fit in the {} bits of {dst}",
                dst.n_bits
            ),
        )),
        _ => Ok(()),
    }
}
