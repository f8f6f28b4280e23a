//! `learn(...)` specs in ovs-ofctl syntax (OVS's `learn_parse()`, lib/learn.c).

use super::actions::{bad_arg, parse_writable};
use super::values::parse_field_value;
use super::*;
use crate::ofp::{LearnItem, LearnSpec, LearnSrc};

/// A learned value: a field slice or a number.
fn parse_learn_src(text: &str) -> Result<LearnSrc> {
    if let Some(v) = parse_u128(text) {
        return Ok(LearnSrc::Immediate(v));
    }
    Ok(LearnSrc::Field(parse_field_slice(text)?))
}

pub(super) fn parse_learn(arg: &str, ports: &dyn PortNames) -> Result<LearnSpec> {
    const A: &str = "learn";
    let mut spec = LearnSpec::default();

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
                let src = match rhs {
                    None => LearnSrc::Field(dst),
                    Some(r) if r.contains('[') || Field::from_name(r).is_some() => {
                        LearnSrc::Field(parse_field_slice(r)?)
                    }
                    Some(r) => {
                        let v = if dst.is_whole() {
                            parse_field_value(dst.field, lhs, r, ports)?
                        } else {
                            let v = parse_u128(r).ok_or_else(|| {
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
