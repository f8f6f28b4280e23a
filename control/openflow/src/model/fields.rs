//! Fields between the wire and the flow model: which NXM/OXM header OVS writes for a
//! field in each version (`mf_oxm_header()` of lib/nx-match.c), which model field a
//! header names, and values as big-endian bytes.

use xvs_pipeline::ofp::field::Field;

use crate::errors::OfError;
use crate::oxm::{known_headers, KnownHeader, TlvHeader};

/// The NXM "version" of OVS's header tables: NXM headers only (OpenFlow 1.0 with
/// Nicira extensions, and every Nicira action, which carries NXM-first headers).
pub(crate) const NXM: u8 = 0;

/// The header OVS knows for a model field (its NXM header, else its OXM one).
pub(crate) fn known(f: Field) -> Option<&'static KnownHeader> {
    let h = f.nxm_header().or(f.oxm_header())?;
    TlvHeader::from_u64(u64::from(h) << 32).known()
}

/// The header OVS writes for its field `field_id` in wire version `version`
/// (`NXM` for NXM matches and Nicira actions): OVS's `nxm_field_by_mf_id()`, the
/// field's first header, replaced by each later one that the version has.
pub(crate) fn header_of_id(field_id: u16, version: u8) -> Option<TlvHeader> {
    let mut chosen: Option<&KnownHeader> = None;
    for k in known_headers().iter().filter(|k| k.field_id() == field_id) {
        if chosen.is_none() || version >= k.version {
            chosen = Some(k);
        }
    }
    chosen.map(KnownHeader::header)
}

/// The header OVS writes for a model field in `version`.
pub(crate) fn header_of(f: Field, version: u8) -> Option<TlvHeader> {
    header_of_id(known(f)?.field_id(), version)
}

/// The header OVS writes, in `version`, for the field that has the header named
/// `name` (for OVS fields the model folds into others: `OXM_OF_IP_DSCP` is
/// `ip_dscp`, `OXM_OF_SCTP_SRC` is SCTP's `tp_src`).
pub(crate) fn header_named(name: &str, version: u8) -> Option<TlvHeader> {
    let k = known_headers().iter().find(|k| k.name == name)?;
    header_of_id(k.field_id(), version)
}

/// The 32-bit header word of a model field as Nicira actions carry it
/// (`nxm_header_from_mff()`: the NXM header if there is one).
pub(crate) fn nxm_word(f: Field) -> u32 {
    header_of(f, NXM).map_or(0, |h| h.header)
}

/// The model field a header names (with or without its mask bit), if the model
/// has it. Experimenter headers name no model field.
pub(crate) fn model_field(h: TlvHeader) -> Option<Field> {
    if h.experimenter.is_some() {
        return None;
    }
    Field::from_header(h.exact().header).map(|(f, _)| f)
}

/// The model field of a header that a Nicira action gives as a 32-bit word (OVS's
/// `mf_from_nxm_header()`: the has-mask bit is ignored): `err` when neither OVS
/// nor the model knows it, as OVS answers for a header it does not know.
pub(crate) fn action_field(word: u32, err: OfError) -> Result<Field, OfError> {
    let h = TlvHeader::from_u64(u64::from(word) << 32);
    h.known().ok_or(err)?;
    model_field(h).ok_or(err)
}

/// A big-endian value (at most 16 bytes are significant).
pub(crate) fn be_value(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |a, &x| (a << 8) | u128::from(x))
}

/// `v` as `n` big-endian bytes (at most 16 meaningful; more are leading zeros).
pub(crate) fn value_bytes(v: u128, n: usize) -> Vec<u8> {
    (0..n)
        .rev()
        .map(|i| if i < 16 { (v >> (8 * i)) as u8 } else { 0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_per_version_as_ovs() {
        let w = |f: Field, v: u8| header_of(f, v).map(|h| h.header);
        // in_port: NXM_OF_IN_PORT and OXM_OF_IN_PORT are two OVS fields.
        assert_eq!(w(Field::InPort, NXM), Some(0x0000_0002));
        assert_eq!(w(Field::InPortOxm, 4), Some(0x8000_0004));
        // tun_id: NXM_NX_TUN_ID before OpenFlow 1.3, OXM_OF_TUNNEL_ID from it.
        assert_eq!(w(Field::TunId, NXM), Some(0x0001_2008));
        assert_eq!(w(Field::TunId, 4), Some(0x8000_4c08));
        // metadata has only an OXM header; nw_ttl only an NXM one.
        assert_eq!(w(Field::Metadata, NXM), Some(0x8000_0408));
        assert_eq!(w(Field::NwTtl, 4), Some(0x0001_3a01));
        assert_eq!(w(Field::Reg(6), 4), Some(0x0001_0c04));
        assert_eq!(w(Field::VlanVid, NXM), Some(0x8000_0c02));
        assert_eq!(nxm_word(Field::DlSrc), 0x0000_0406);
        assert_eq!(
            header_named("OXM_OF_SCTP_SRC", NXM).unwrap().header,
            0x8000_2202
        );
        assert_eq!(
            header_named("OXM_OF_IP_DSCP", 4).unwrap().header,
            0x8000_1001
        );
        assert_eq!(
            header_named("NXM_OF_IP_TOS", 4).unwrap().header,
            0x0000_0a01
        );
    }

    #[test]
    fn fields_from_headers() {
        let f = |w: u32| model_field(TlvHeader::from_u64(u64::from(w) << 32));
        assert_eq!(f(0x8000_0806), Some(Field::DlSrc));
        assert_eq!(f(0x8000_070c), Some(Field::DlDst));
        assert_eq!(f(0x0000_0802), Some(Field::VlanTci));
        assert_eq!(f(0x8000_0004), Some(Field::InPortOxm));
        // pkt_mark: OVS knows it, the model does not.
        assert_eq!(f(0x0001_3e04), None);
        assert_eq!(
            action_field(0x0001_3e04, OfError::OFPBAC_BAD_SET_TYPE),
            Err(OfError::OFPBAC_BAD_SET_TYPE)
        );
        assert_eq!(be_value(&[1, 2, 3]), 0x010203);
        assert_eq!(value_bytes(0x010203, 4), vec![0, 1, 2, 3]);
        assert_eq!(value_bytes(u128::MAX, 18)[..2], [0, 0]);
    }
}
