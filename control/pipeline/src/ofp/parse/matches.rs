//! The match part of flow text: fields, protocol shorthands, masks, and the
//! prerequisites OVS checks (`mf_are_prereqs_ok()`), once the whole match is known.

use xvs_dataplane::wire::ethertype;

use super::values::{parse_field_mask, parse_field_value};
use super::{need_value, FlowParseError, Result};
use crate::ofp::field::{Field, Prerequisite};
use crate::ofp::{Match, PortNames};

/// OVS's `ofp_parse_protocol()` table: shorthand → (dl_type, nw_proto).
const PROTOCOLS: [(&str, u16, Option<u8>); 15] = [
    ("ip", ethertype::IPV4, None),
    ("ipv4", ethertype::IPV4, None),
    ("ip4", ethertype::IPV4, None),
    ("arp", ethertype::ARP, None),
    ("icmp", ethertype::IPV4, Some(1)),
    ("tcp", ethertype::IPV4, Some(6)),
    ("udp", ethertype::IPV4, Some(17)),
    ("sctp", ethertype::IPV4, Some(132)),
    ("ipv6", ethertype::IPV6, None),
    ("ip6", ethertype::IPV6, None),
    ("icmp6", ethertype::IPV6, Some(58)),
    ("tcp6", ethertype::IPV6, Some(6)),
    ("udp6", ethertype::IPV6, Some(17)),
    ("sctp6", ethertype::IPV6, Some(132)),
    ("rarp", ethertype::RARP, None),
];

/// What a match key needs. Some keys name one flow member for several protocols, as
/// ovs-ofctl reads them: `nw_src` is also ARP's sender address, `tp_src` is the port of
/// TCP, UDP or SCTP (and the ICMP type), `icmp_type` is ICMPv6's type under `icmp6`.
fn key_prerequisite(key: &str, field: Field) -> Prerequisite {
    match key {
        "nw_src" | "nw_dst" => Prerequisite::Ipv4OrArp,
        "nw_proto" | "ip_proto" => Prerequisite::NwProtoOrArpOp,
        "tp_src" | "tp_dst" => Prerequisite::L4Ports,
        "icmp_type" | "icmp_code" => Prerequisite::IcmpAny,
        _ => field.prerequisite(),
    }
}

#[derive(Default)]
pub(super) struct MatchBuilder {
    m: Match,
    /// Fields named explicitly, with the key as written, for the prerequisite check.
    used: Vec<(String, Field)>,
}

impl MatchBuilder {
    /// Applies `field = v/m` (OVS's `mf_set()`), refusing to change bits an earlier key
    /// already matched.
    fn set(&mut self, field: Field, v: u128, m: u128, text: &str) -> Result<()> {
        let old = self.m;
        self.m.set_field(field, v, m);
        let still = old.mask.masked(&self.m.mask);
        if old.value.masked(&still) != self.m.value.masked(&still) || still != old.mask {
            return Err(FlowParseError::Conflict {
                field: field.name().to_string(),
                text: text.to_string(),
            });
        }
        Ok(())
    }

    pub(super) fn apply(
        &mut self,
        key: &str,
        value: Option<&str>,
        tok: &str,
        ports: &dyn PortNames,
    ) -> Result<()> {
        if let Some(&(_, dl_type, proto)) = PROTOCOLS.iter().find(|p| p.0 == key) {
            if let Some(v) = value {
                return Err(FlowParseError::BadValue {
                    field: key.to_string(),
                    value: v.to_string(),
                    reason: format!("\"{key}\" takes no value"),
                });
            }
            self.set(Field::DlType, dl_type.into(), u128::MAX, tok)?;
            if let Some(p) = proto {
                self.set(Field::NwProto, p.into(), u128::MAX, tok)?;
            }
            return Ok(());
        }

        let field =
            Field::from_name(key).ok_or_else(|| FlowParseError::UnknownField(key.to_string()))?;
        let v = need_value(key, value)?;
        // A quoted port name may hold a '/'.
        let (val, mask) = match v.split_once('/') {
            Some((a, b)) if !v.starts_with('"') => (a, Some(b)),
            _ => (v, None),
        };
        let value = parse_field_value(field, key, val, ports)?;
        let mask = match mask {
            Some(m) => parse_field_mask(field, key, m)?,
            None => u128::MAX,
        };
        if mask == 0 {
            // `V/0` matches anything: nothing to set, nothing to check.
            return Ok(());
        }
        self.set(field, value, mask, tok)?;
        self.used.push((key.to_string(), field));
        Ok(())
    }

    /// The match, once every field's prerequisites hold.
    pub(super) fn finish(self) -> Result<Match> {
        for (key, field) in &self.used {
            let pre = key_prerequisite(key, *field);
            if !pre.satisfied_by(&self.m.value) {
                return Err(FlowParseError::MissingPrerequisite {
                    field: key.clone(),
                    needs: pre.describe().to_string(),
                });
            }
        }
        Ok(self.m)
    }
}
