//! Numbers, addresses and field values in ovs-ofctl notation (OVS's `mf_parse()`).

use std::net::Ipv6Addr;

use xvs_dataplane::MacAddr;

use super::{parse_port, FlowParseError, Result};
use crate::ofp::field::{ones, Field, ValueFormat};
use crate::ofp::{port_to_ofp11, PortNames};

/// Decimal, or hexadecimal with `0x`. No sign, no white space.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    parse_u128(s).and_then(|v| u64::try_from(v).ok())
}

/// [`parse_u64`] up to 128 bits.
pub(crate) fn parse_u128(s: &str) -> Option<u128> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return u128::from_str_radix(h, 16).ok();
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub(crate) fn parse_uint(key: &str, s: &str, max: u64) -> Result<u64> {
    match parse_u64(s) {
        Some(v) if v <= max => Ok(v),
        Some(_) => Err(FlowParseError::BadValue {
            field: key.to_string(),
            value: s.to_string(),
            reason: format!("must be 0..{max}"),
        }),
        None => Err(FlowParseError::BadValue {
            field: key.to_string(),
            value: s.to_string(),
            reason: "expected a decimal or 0x-prefixed hexadecimal number".to_string(),
        }),
    }
}

pub(crate) fn parse_ipv4(s: &str) -> Option<u32> {
    let mut out = 0u32;
    let mut n = 0;
    for part in s.split('.') {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let o: u32 = part.parse().ok()?;
        if o > 255 {
            return None;
        }
        out = (out << 8) | o;
        n += 1;
    }
    (n == 4).then_some(out)
}

pub(crate) fn parse_ipv6(s: &str) -> Option<u128> {
    s.parse::<Ipv6Addr>().ok().map(u128::from)
}

pub(crate) fn fits(v: u128, bits: u32) -> bool {
    v & !ones(bits) == 0
}

/// A whole-field value in the field's notation: a port for `in_port`, a MAC, a dotted
/// IPv4 or an IPv6 address, else a number that must be a valid value of the field.
pub(crate) fn parse_field_value(
    field: Field,
    key: &str,
    s: &str,
    ports: &dyn PortNames,
) -> Result<u128> {
    let bad = |reason: String| FlowParseError::BadValue {
        field: key.to_string(),
        value: s.to_string(),
        reason,
    };
    let info = field.info();
    match info.format {
        ValueFormat::OfpPort | ValueFormat::OfpPortOxm => {
            let p = parse_port(s, ports)?;
            if p > 0xffff {
                return Err(bad("port numbers are 0..65535".to_string()));
            }
            Ok(if info.format == ValueFormat::OfpPortOxm {
                port_to_ofp11(p).into()
            } else {
                p.into()
            })
        }
        ValueFormat::Ethernet => s
            .parse::<MacAddr>()
            .map(|m| m.to_u64().into())
            .map_err(|_| bad("expected a MAC address like fa:16:3e:00:00:01".to_string())),
        ValueFormat::Ipv4 => parse_ipv4(s)
            .map(u128::from)
            .ok_or_else(|| bad("expected a dotted IPv4 address like 10.0.0.1".to_string())),
        ValueFormat::Ipv6 => parse_ipv6(s).ok_or_else(|| bad("invalid IPv6 address".to_string())),
        ValueFormat::Decimal | ValueFormat::Hexadecimal => {
            let v = parse_u128(s).ok_or_else(|| {
                bad("expected a decimal or 0x-prefixed hexadecimal number".to_string())
            })?;
            if !fits(v, info.n_bytes * 8) {
                return Err(bad(format!(
                    "value too large for {}-byte field {}",
                    info.n_bytes, info.name
                )));
            }
            // dl_vlan=0xffff is OpenFlow 1.0's "no VLAN tag".
            let no_tag = field == Field::DlVlan && v == 0xffff;
            if !(field.is_valid_value(v) || no_tag) {
                return Err(bad(format!(
                    "{s} is not a valid value for field {}",
                    info.name
                )));
            }
            Ok(v)
        }
    }
}

/// A mask in the field's notation: a MAC, `/N` prefix or address for IPv4 and IPv6, or a
/// number. Fields that cannot be masked take none.
pub(crate) fn parse_field_mask(field: Field, key: &str, s: &str) -> Result<u128> {
    let bad = || FlowParseError::BadMask {
        field: key.to_string(),
        mask: s.to_string(),
    };
    let info = field.info();
    if !info.maskable {
        // As OVS's mf_is_mask_valid(): all ones is an exact match, whatever the field.
        let all = ones(info.n_bytes * 8);
        return match parse_u128(s) {
            Some(m) if m == all && info.format != ValueFormat::OfpPort => Ok(m),
            _ => Err(bad()),
        };
    }
    let prefix = |width: u32| -> Option<u128> {
        if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = s.parse().ok()?;
        (n <= width).then(|| ones(width) & !ones(width - n))
    };
    match info.format {
        ValueFormat::Ethernet => s
            .parse::<MacAddr>()
            .map(|m| m.to_u64().into())
            .map_err(|_| bad()),
        ValueFormat::Ipv4 => parse_ipv4(s)
            .map(u128::from)
            .or_else(|| prefix(32))
            .ok_or_else(bad),
        ValueFormat::Ipv6 => {
            if let Some(m) = parse_ipv6(s) {
                return Ok(m);
            }
            if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
                return prefix(128).ok_or_else(|| FlowParseError::BadValue {
                    field: key.to_string(),
                    value: s.to_string(),
                    reason: "IPv6 network prefix bits not between 0 and 128, inclusive".to_string(),
                });
            }
            Err(bad())
        }
        _ => match parse_u128(s) {
            Some(m) if fits(m, info.n_bytes * 8) => Ok(m),
            _ => Err(bad()),
        },
    }
}
