//! Wire actions to the flow model's [`Action`]s, one for one, as OVS's `decode_*()`
//! functions of lib/ofp-actions.c read them in each version, with the checks they
//! make on the way: OpenFlow 1.0's and 1.1+'s standard actions, set-field, and the
//! Nicira extensions (resubmit, reg_load(2), reg_move, set_tunnel(64), learn, note,
//! dec_ttl, output_reg(2), write_metadata) and ONF's copy-field (a `move`). An action's spelling survives: OpenFlow
//! 1.0's `SET_VLAN_VID` is `mod_vlan_vid` (it pushes a tag when there is none),
//! 1.1's is `set_vlan_vid`, `STRIP_VLAN` and `POP_VLAN` stay apart, a reg_load is a
//! `load`, a set-field a `set_field`.
//!
//! Actions OVS takes and xvs's model cannot hold (enqueue, groups, queues, MPLS,
//! multipath, bundle, conntrack, ...) are refused as an OVS that did not know them
//! would refuse them: OFPBAC_BAD_TYPE, or OFPBAC_BAD_VENDOR_TYPE for extensions.

use xvs_dataplane::MacAddr;
use xvs_pipeline::ofp::field::{ones, Field, FieldSlice};
use xvs_pipeline::ofp::{
    port_from_ofp11, Action, OfPort, OFPP_CONTROLLER, OFPP_IN_PORT, OFPP_MAX, OFPP_NONE,
};

use super::fields::{action_field, be_value, model_field};
use super::learn::decode_learn;
use crate::actions::WireAction;
use crate::bytes::{be16, be32, be64};
use crate::errors::{OfError, NX_VENDOR_ID, ONF_VENDOR_ID};
use crate::oxm::{value_is_valid, TlvHeader};
use crate::version::Version;

/// Nicira action subtypes (`NXAST_*`).
pub(crate) mod nxast {
    pub const RESUBMIT: u16 = 1;
    pub const SET_TUNNEL: u16 = 2;
    pub const REG_MOVE: u16 = 6;
    pub const REG_LOAD: u16 = 7;
    pub const NOTE: u16 = 8;
    pub const SET_TUNNEL64: u16 = 9;
    pub const RESUBMIT_TABLE: u16 = 14;
    pub const OUTPUT_REG: u16 = 15;
    pub const LEARN: u16 = 16;
    /// OpenFlow 1.0's dec_ttl (`OFPAT_RAW_DEC_NW_TTL` as a Nicira action).
    pub const DEC_TTL: u16 = 18;
    pub const DEC_TTL_CNT_IDS: u16 = 21;
    pub const WRITE_METADATA: u16 = 22;
    pub const OUTPUT_REG2: u16 = 32;
    pub const REG_LOAD2: u16 = 33;
}

/// ONF's OpenFlow 1.3 extension `ONFACT_COPY_FIELD` (OpenFlow 1.5's copy-field).
const ONFACT_COPY_FIELD: u16 = 3200;

/// `OFPAT_*` numbers: OpenFlow 1.0's, and 1.1+'s where they differ.
pub(crate) mod ofpat {
    pub const OUTPUT: u16 = 0;
    pub const SET_VLAN_VID: u16 = 1;
    pub const SET_VLAN_PCP: u16 = 2;
    pub const STRIP_VLAN: u16 = 3;
    pub const SET_DL_SRC: u16 = 4;
    pub const SET_DL_DST: u16 = 5;
    pub const SET_NW_SRC: u16 = 6;
    pub const SET_NW_DST: u16 = 7;
    pub const SET_NW_TOS: u16 = 8;
    pub const SET_TP_SRC: u16 = 9;
    pub const SET_TP_DST: u16 = 10;
    pub const OF11_SET_DL_SRC: u16 = 3;
    pub const OF11_SET_DL_DST: u16 = 4;
    pub const OF11_SET_NW_SRC: u16 = 5;
    pub const OF11_SET_NW_DST: u16 = 6;
    pub const OF11_SET_NW_TOS: u16 = 7;
    pub const PUSH_VLAN: u16 = 17;
    pub const POP_VLAN: u16 = 18;
    pub const DEC_NW_TTL: u16 = 24;
    pub const SET_FIELD: u16 = 25;
}

/// OVS's `ofpact_check_output_port()` against `OFPP_MAX`.
fn check_output_port(p: OfPort) -> Result<(), OfError> {
    if p < OFPP_MAX || (OFPP_IN_PORT..OFPP_NONE).contains(&p) {
        Ok(())
    } else {
        Err(OfError::OFPBAC_BAD_OUT_PORT)
    }
}

fn output(port: OfPort, max_len: u16) -> Result<Action, OfError> {
    check_output_port(port)?;
    Ok(if port == OFPP_CONTROLLER {
        Action::Controller { max_len }
    } else {
        Action::Output(port)
    })
}

fn mac(b: &[u8], off: usize) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[off..off + 6]);
    MacAddr(m)
}

/// A subfield's bounds, as OVS's `mf_check__()` without a match: OFPBAC_BAD_SET_LEN
/// for no bits or bits beyond the field.
pub(crate) fn check_bounds(sf: &FieldSlice) -> Result<(), OfError> {
    let w = sf.field.width();
    if sf.n_bits == 0 || sf.ofs >= w || sf.ofs + sf.n_bits > w {
        Err(OfError::OFPBAC_BAD_SET_LEN)
    } else {
        Ok(())
    }
}

/// OVS's `mf_check_dst()` without a match: bounds, then writability.
pub(crate) fn check_dst(sf: &FieldSlice) -> Result<(), OfError> {
    check_bounds(sf)?;
    if sf.field.is_writable() {
        Ok(())
    } else {
        Err(OfError::OFPBAC_BAD_SET_ARGUMENT)
    }
}

/// `(ofs << 6) | (n_bits - 1)`.
fn ofs_nbits(v: u16) -> (u32, u32) {
    (u32::from(v >> 6), u32::from(v & 0x3f) + 1)
}

/// Decodes one action of a list received in `version`. The framing (type, length
/// range, alignment) has been checked already (`actions::parse_actions`).
pub fn decode_action(a: &WireAction, version: Version) -> Result<Action, OfError> {
    let r = &a.raw;
    let of10 = version == Version::Of10;
    // What `parse_actions` guarantees, for actions built by other means.
    let (vendor, t) = match (a.vendor, a.subtype) {
        (Some(v), Some(s)) => (v, s),
        _ => (0, a.action_type),
    };
    match crate::actions::action_info(version.wire(), vendor, t) {
        Some(i) if (i.min_len as usize..=i.max_len as usize).contains(&r.len()) => {}
        Some(_) => return Err(OfError::OFPBAC_BAD_LEN),
        None if vendor == 0 => return Err(OfError::OFPBAC_BAD_TYPE),
        None => return Err(OfError::OFPBAC_BAD_VENDOR_TYPE),
    }
    match (a.vendor, a.subtype) {
        (Some(NX_VENDOR_ID), Some(sub)) => decode_nx(sub, r),
        (Some(ONF_VENDOR_ID), Some(ONFACT_COPY_FIELD)) => decode_move(r, 12, 20),
        (Some(_), _) => Err(OfError::OFPBAC_BAD_VENDOR_TYPE),
        (None, _) if of10 => decode_of10(a.action_type, r),
        (None, _) => decode_of11(a.action_type, r),
    }
}

fn decode_of10(t: u16, r: &[u8]) -> Result<Action, OfError> {
    Ok(match t {
        ofpat::OUTPUT => return output(be16(r, 4).into(), be16(r, 6)),
        ofpat::SET_VLAN_VID => {
            let vid = be16(r, 4);
            if vid & !0x0fff != 0 {
                return Err(OfError::OFPBAC_BAD_ARGUMENT);
            }
            Action::ModVlanVid(vid)
        }
        ofpat::SET_VLAN_PCP => {
            if r[4] & !7 != 0 {
                return Err(OfError::OFPBAC_BAD_ARGUMENT);
            }
            Action::ModVlanPcp(r[4])
        }
        ofpat::STRIP_VLAN => Action::StripVlan,
        ofpat::SET_DL_SRC => Action::ModDlSrc(mac(r, 4)),
        ofpat::SET_DL_DST => Action::ModDlDst(mac(r, 4)),
        ofpat::SET_NW_SRC => Action::ModNwSrc(be32(r, 4)),
        ofpat::SET_NW_DST => Action::ModNwDst(be32(r, 4)),
        ofpat::SET_NW_TOS => return nw_tos(r[4]),
        ofpat::SET_TP_SRC => Action::ModTpSrc(be16(r, 4)),
        ofpat::SET_TP_DST => Action::ModTpDst(be16(r, 4)),
        _ => return Err(OfError::OFPBAC_BAD_TYPE),
    })
}

fn nw_tos(tos: u8) -> Result<Action, OfError> {
    if tos & !0xfc != 0 {
        Err(OfError::OFPBAC_BAD_ARGUMENT)
    } else {
        Ok(Action::ModNwTos(tos))
    }
}

fn decode_of11(t: u16, r: &[u8]) -> Result<Action, OfError> {
    Ok(match t {
        ofpat::OUTPUT => {
            let port = port_from_ofp11(be32(r, 4)).ok_or(OfError::OFPBAC_BAD_OUT_PORT)?;
            return output(port, be16(r, 8));
        }
        // OpenFlow 1.1's forms: they change a tag the packet has, push none.
        ofpat::SET_VLAN_VID => {
            let vid = be16(r, 4);
            if vid & !0x0fff != 0 {
                return Err(OfError::OFPBAC_BAD_ARGUMENT);
            }
            Action::SetVlanVid(vid)
        }
        ofpat::SET_VLAN_PCP => {
            if r[4] & !7 != 0 {
                return Err(OfError::OFPBAC_BAD_ARGUMENT);
            }
            Action::SetVlanPcp(r[4])
        }
        ofpat::OF11_SET_DL_SRC => Action::ModDlSrc(mac(r, 4)),
        ofpat::OF11_SET_DL_DST => Action::ModDlDst(mac(r, 4)),
        ofpat::OF11_SET_NW_SRC => Action::ModNwSrc(be32(r, 4)),
        ofpat::OF11_SET_NW_DST => Action::ModNwDst(be32(r, 4)),
        ofpat::OF11_SET_NW_TOS => return nw_tos(r[4]),
        ofpat::SET_TP_SRC => Action::ModTpSrc(be16(r, 4)),
        ofpat::SET_TP_DST => Action::ModTpDst(be16(r, 4)),
        ofpat::PUSH_VLAN => {
            let tpid = be16(r, 4);
            if tpid != 0x8100 && tpid != 0x88a8 {
                return Err(OfError::OFPBAC_BAD_ARGUMENT);
            }
            Action::PushVlan(tpid)
        }
        ofpat::POP_VLAN => Action::PopVlan,
        ofpat::DEC_NW_TTL => Action::DecTtl(Vec::new()),
        ofpat::SET_FIELD => return decode_set_field(r),
        _ => return Err(OfError::OFPBAC_BAD_TYPE),
    })
}

/// An entry's field, OVS's name of it, value and mask.
type Entry<'a> = (Field, &'static str, &'a [u8], Option<&'a [u8]>);

/// An NXM/OXM entry of a set-field or reg_load2 action (OVS's `nx_pull_entry()`
/// for actions): its field (OFPBAC_BAD_SET_TYPE when neither OVS nor the model
/// knows it, OFPBAC_BAD_SET_LEN for a known field of another length), value,
/// mask (`None` without one; OFPBMC_BAD_MASK when `may_mask` is false) and the
/// bytes after it, which must be zero (OFPBAC_BAD_SET_ARGUMENT).
fn pull_entry(b: &[u8], may_mask: bool) -> Result<Entry<'_>, OfError> {
    let h = TlvHeader::parse(b).ok_or(OfError::OFPBMC_BAD_LEN)?;
    let Some(known) = h.exact().known() else {
        let h = h.exact();
        let same_field = crate::oxm::known_headers().iter().any(|k| {
            k.class == h.class()
                && k.field == h.field()
                && k.experimenter == h.experimenter.unwrap_or(0)
        });
        return Err(if same_field && h.length() > 0 {
            OfError::OFPBAC_BAD_SET_LEN
        } else {
            OfError::OFPBAC_BAD_SET_TYPE
        });
    };
    let field = model_field(h).ok_or(OfError::OFPBAC_BAD_SET_TYPE)?;
    let start = h.wire_len();
    let payload = h.payload_len();
    if b.len() < start + payload {
        return Err(OfError::OFPBMC_BAD_LEN);
    }
    let width = h.value_len();
    let value = &b[start..start + width];
    let mask = if h.has_mask() {
        let mask = &b[start + width..start + payload];
        if value.iter().zip(mask).any(|(v, m)| v & !m != 0) {
            return Err(OfError::OFPBMC_BAD_WILDCARDS);
        }
        if !may_mask {
            return Err(OfError::OFPBMC_BAD_MASK);
        }
        Some(mask)
    } else {
        None
    };
    if b[start + payload..].iter().any(|&x| x != 0) {
        return Err(OfError::OFPBAC_BAD_SET_ARGUMENT);
    }
    Ok((field, known.field_info().name, value, mask))
}

/// OVS's `decode_ofpat_set_field()` for OpenFlow 1.2-1.4 (no mask allowed).
fn decode_set_field(r: &[u8]) -> Result<Action, OfError> {
    let (field, name, value, _) = pull_entry(&r[4..], false).map_err(|e| {
        if e == OfError::OFPBMC_BAD_MASK {
            OfError::OFPBAC_BAD_SET_MASK
        } else {
            e
        }
    })?;
    if field == Field::InPortOxm || !field.is_writable() {
        return Err(OfError::OFPBAC_BAD_SET_ARGUMENT);
    }
    let v = be_value(value);
    if !value_is_valid(name, value) || (field == Field::VlanVid && v & 0x1000 == 0) {
        return Err(OfError::OFPBAC_BAD_SET_ARGUMENT);
    }
    Ok(Action::SetField {
        field,
        value: v,
        mask: ones(8 * value.len() as u32),
    })
}

/// OVS's `decode_NXAST_RAW_REG_LOAD2()`: a field, a value and maybe a mask. It is
/// the model's (masked) `set_field`, which OVS prints the same way; written back,
/// it is what a `set_field` is in the version (OVS would write a reg_load2 again).
fn decode_reg_load2(r: &[u8]) -> Result<Action, OfError> {
    let (field, _, value, mask) = pull_entry(&r[10..], true)?;
    if !field.is_writable() {
        return Err(OfError::OFPBAC_BAD_SET_ARGUMENT);
    }
    let all = ones(8 * value.len() as u32);
    let mask = mask.map_or(all, be_value);
    Ok(Action::SetField {
        field,
        value: be_value(value) & mask,
        mask,
    })
}

/// A Nicira action header word, as the model's field (OVS's
/// `mf_vl_mff_mf_from_nxm_header()`: OFPBAC_BAD_SET_TYPE when unknown).
fn nx_field(word: u32) -> Result<Field, OfError> {
    action_field(word, OfError::OFPBAC_BAD_SET_TYPE)
}

fn decode_nx(sub: u16, r: &[u8]) -> Result<Action, OfError> {
    Ok(match sub {
        nxast::RESUBMIT => Action::Resubmit {
            port: Some(be16(r, 10).into()),
            table: None,
        },
        nxast::RESUBMIT_TABLE => {
            if r[13..16].iter().any(|&x| x != 0) {
                return Err(OfError::OFPBAC_BAD_ARGUMENT);
            }
            let port = OfPort::from(be16(r, 10));
            Action::Resubmit {
                port: (port != OFPP_IN_PORT).then_some(port),
                table: (r[12] != 0xff).then_some(r[12]),
            }
        }
        nxast::SET_TUNNEL => Action::SetTunnel {
            id: be32(r, 12).into(),
            wide: false,
        },
        nxast::SET_TUNNEL64 => Action::SetTunnel {
            id: be64(r, 16),
            wide: true,
        },
        nxast::REG_MOVE => return decode_move(r, 10, 16),
        nxast::REG_LOAD2 => return decode_reg_load2(r),
        nxast::OUTPUT_REG2 => {
            let (ofs, n_bits) = ofs_nbits(be16(r, 10));
            let (field, used) = move_header(&r[14..])?;
            if r[14 + used..].iter().any(|&x| x != 0) {
                return Err(OfError::NXBRC_MUST_BE_ZERO);
            }
            let src = FieldSlice { field, ofs, n_bits };
            check_bounds(&src)?;
            Action::OutputField(src)
        }
        nxast::REG_LOAD => {
            let (ofs, n_bits) = ofs_nbits(be16(r, 10));
            let dst = FieldSlice {
                field: nx_field(be32(r, 12))?,
                ofs,
                n_bits,
            };
            check_dst(&dst)?;
            let value = be64(r, 16);
            if n_bits < 64 && value >> n_bits != 0 {
                return Err(OfError::OFPBAC_BAD_ARGUMENT);
            }
            Action::Load {
                value: value.into(),
                dst,
            }
        }
        nxast::NOTE => Action::Note(r[10..].to_vec()),
        nxast::OUTPUT_REG => {
            if r[18..24].iter().any(|&x| x != 0) {
                return Err(OfError::OFPBAC_BAD_ARGUMENT);
            }
            let (ofs, n_bits) = ofs_nbits(be16(r, 10));
            let src = FieldSlice {
                field: nx_field(be32(r, 12))?,
                ofs,
                n_bits,
            };
            check_bounds(&src)?;
            Action::OutputField(src)
        }
        nxast::LEARN => return decode_learn(r),
        nxast::DEC_TTL => Action::DecTtl(Vec::new()),
        nxast::DEC_TTL_CNT_IDS => {
            let n = usize::from(be16(r, 10));
            if r[12..16].iter().any(|&x| x != 0) {
                return Err(OfError::NXBRC_MUST_BE_ZERO);
            }
            if r.len() - 16 < 2 * n {
                return Err(OfError::OFPBAC_BAD_LEN);
            }
            Action::DecTtl((0..n).map(|i| be16(r, 16 + 2 * i)).collect())
        }
        nxast::WRITE_METADATA => {
            if r[10..16].iter().any(|&x| x != 0) {
                return Err(OfError::NXBRC_MUST_BE_ZERO);
            }
            Action::WriteMetadata {
                value: be64(r, 16),
                mask: be64(r, 24),
            }
        }
        _ => return Err(OfError::OFPBAC_BAD_VENDOR_TYPE),
    })
}

/// One header of a reg_move (OVS's `nx_pull_header()`: OFPBMC_BAD_LEN when cut
/// short, OFPBMC_BAD_FIELD when unknown, OFPBMC_BAD_MASK when masked); returns the
/// field and the bytes it took.
fn move_header(b: &[u8]) -> Result<(Field, usize), OfError> {
    let h = TlvHeader::parse(b).ok_or(OfError::OFPBMC_BAD_LEN)?;
    h.known().ok_or(OfError::OFPBMC_BAD_FIELD)?;
    if h.has_mask() {
        return Err(OfError::OFPBMC_BAD_MASK);
    }
    let f = model_field(h).ok_or(OfError::OFPBMC_BAD_FIELD)?;
    Ok((f, h.wire_len()))
}

/// OVS's `decode_NXAST_RAW_REG_MOVE()` and `decode_copy_field__()` (ONF's
/// copy-field, a `move` too) with `nxm_reg_move_check()`: n_bits, source and
/// destination offsets from `at`, the two headers from `headers`.
fn decode_move(r: &[u8], at: usize, headers: usize) -> Result<Action, OfError> {
    let n_bits = u32::from(be16(r, at));
    let (src_ofs, dst_ofs) = (u32::from(be16(r, at + 2)), u32::from(be16(r, at + 4)));
    let b = &r[headers..];
    let (src, used) = move_header(b)?;
    let (dst, used2) = move_header(&b[used..])?;
    if b[used + used2..].iter().any(|&x| x != 0) {
        return Err(OfError::NXBRC_MUST_BE_ZERO);
    }
    let src = FieldSlice {
        field: src,
        ofs: src_ofs,
        n_bits,
    };
    let dst = FieldSlice {
        field: dst,
        ofs: dst_ofs,
        n_bits,
    };
    check_bounds(&src)?;
    check_dst(&dst)?;
    Ok(Action::Move { src, dst })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::parse_actions;
    use crate::bytes::test_util::hex;

    fn one(v: Version, h: &str) -> Result<Action, OfError> {
        let a = parse_actions(v, &hex(h)).expect("framing");
        decode_action(&a[0], v)
    }

    #[test]
    fn os_ken_reg_move_with_oxm_headers() {
        // AGENT-NEEDS 2.7: arp_sha -> arp_tha, 48 bits, OXM headers.
        let a = one(
            Version::Of13,
            "ffff00180000232000060030000000008000300680003206",
        )
        .unwrap();
        assert_eq!(
            a,
            Action::Move {
                src: FieldSlice::whole(Field::ArpSha),
                dst: FieldSlice::whole(Field::ArpTha),
            }
        );
    }

    #[test]
    fn errors_as_ovs() {
        // 13 bits into vlan_vid's 12: OFPBAC_BAD_SET_LEN (recorded from OVS).
        let e = one(
            Version::Of13,
            "ffff0018000023200006000d00000000000008028000 0c02",
        );
        assert_eq!(e, Err(OfError::OFPBAC_BAD_SET_LEN));
        // load 0x1ffffffff into reg0's 32 bits: OFPBAC_BAD_ARGUMENT.
        let e = one(
            Version::Of13,
            "ffff0018000023200007001f000100040000000 1ffffffff",
        );
        assert_eq!(e, Err(OfError::OFPBAC_BAD_ARGUMENT));
        // push_vlan 0x0800, output to 0xff00, set_field of eth_type.
        assert_eq!(
            one(Version::Of13, "0011000808000000"),
            Err(OfError::OFPBAC_BAD_ARGUMENT)
        );
        assert_eq!(
            one(Version::Of10, "00000008ff000000"),
            Err(OfError::OFPBAC_BAD_OUT_PORT)
        );
        assert_eq!(
            one(Version::Of13, "0019001080000a020001000000000000"),
            Err(OfError::OFPBAC_BAD_SET_ARGUMENT)
        );
        // An unknown field, a known one with a wrong length.
        assert_eq!(
            one(Version::Of13, "001900108000f0040000000100000000"),
            Err(OfError::OFPBAC_BAD_SET_TYPE)
        );
        assert_eq!(
            one(Version::Of13, "001900108000060300000100000000 00"),
            Err(OfError::OFPBAC_BAD_SET_LEN)
        );
        // enqueue: OVS takes it, xvs's model has no queues.
        assert_eq!(
            one(Version::Of10, "000b001000010000000000000000 0001"),
            Err(OfError::OFPBAC_BAD_TYPE)
        );
    }

    #[test]
    fn short_actions_built_by_hand_are_refused() {
        let a = WireAction {
            action_type: 0,
            vendor: None,
            subtype: None,
            raw: vec![0, 0, 0, 4],
        };
        assert_eq!(
            decode_action(&a, Version::Of10),
            Err(OfError::OFPBAC_BAD_LEN)
        );
        let a = WireAction {
            action_type: 0xffff,
            vendor: Some(NX_VENDOR_ID),
            subtype: Some(nxast::LEARN),
            raw: vec![0; 16],
        };
        assert_eq!(
            decode_action(&a, Version::Of13),
            Err(OfError::OFPBAC_BAD_LEN)
        );
    }

    #[test]
    fn spellings_survive() {
        assert_eq!(
            one(Version::Of10, "0001000800050000"),
            Ok(Action::ModVlanVid(5))
        );
        assert_eq!(
            one(Version::Of13, "0001000800050000"),
            Ok(Action::SetVlanVid(5))
        );
        assert_eq!(
            one(Version::Of10, "0003000800000000"),
            Ok(Action::StripVlan)
        );
        assert_eq!(one(Version::Of13, "0012000800000000"), Ok(Action::PopVlan));
        assert_eq!(
            one(Version::Of13, "00000010fffffffd0064000000000000"),
            Ok(Action::Controller { max_len: 100 })
        );
        assert_eq!(
            one(Version::Of10, "ffff001000002320000efff814000000"),
            Ok(Action::Resubmit {
                port: None,
                table: Some(20)
            })
        );
    }
}
