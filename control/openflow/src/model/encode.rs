//! The flow model's actions and instructions as OVS writes them in each version
//! (`ofpacts_put_openflow_actions()`, `ofpacts_put_openflow_instructions()` and the
//! `encode_*()` functions of lib/ofp-actions.c).
//!
//! What an action becomes in a version is the pipeline's `version::wire_actions()`
//! (`goto_table` is `resubmit(,N)` in 1.0, a 1.0 setter a `set_field` in 1.3, a
//! masked `set_field` one `load` per run of bits, ...); each action of that list
//! is then exactly one wire action, written here. Decoding the bytes back
//! ([`super::actions::decode_action`]) gives that list again.

use xvs_pipeline::ofp::version::{wire_actions, OfVersion};
use xvs_pipeline::ofp::{port_to_ofp11, Action, Match, OFPP_CONTROLLER, OFPP_IN_PORT};

use super::actions::{nxast, ofpat};
use super::fields::{header_of, nxm_word, value_bytes};
use super::learn::encode_learn;
use crate::actions::{ofpit, OFPAT_VENDOR};
use crate::bytes::Put;
use crate::errors::NX_VENDOR_ID;
use crate::version::Version;

fn of_version(v: Version) -> OfVersion {
    match v {
        Version::Of10 => OfVersion::Of10,
        Version::Of13 | Version::Of14 => OfVersion::Of13,
    }
}

/// Starts a standard action of `len` bytes; returns its start.
fn std(b: &mut Vec<u8>, t: u16, len: u16) -> usize {
    let start = b.len();
    b.put_u16(t);
    b.put_u16(len);
    start
}

/// Starts a Nicira action (its length is set by [`finish`]).
fn nx(b: &mut Vec<u8>, subtype: u16) -> usize {
    let start = b.len();
    b.put_u16(OFPAT_VENDOR);
    b.put_u16(0);
    b.put_u32(NX_VENDOR_ID);
    b.put_u16(subtype);
    start
}

/// Pads the action started at `start` to 8 bytes and sets its length.
fn finish(b: &mut Vec<u8>, start: usize) {
    b.pad_to_8(start);
    let len = (b.len() - start) as u16;
    b.set_u16(start + 2, len);
}

fn ofs_nbits(ofs: u32, n_bits: u32) -> u16 {
    ((ofs << 6) | (n_bits.saturating_sub(1) & 0x3f)) as u16
}

/// One action as the one wire action it is in `version`.
fn encode_one(a: &Action, version: Version, b: &mut Vec<u8>) {
    let of10 = version == Version::Of10;
    let port = |b: &mut Vec<u8>, p: u32, max_len: u16| {
        if of10 {
            std(b, ofpat::OUTPUT, 8);
            b.put_u16(p as u16);
            b.put_u16(max_len);
        } else {
            std(b, ofpat::OUTPUT, 16);
            b.put_u32(port_to_ofp11(p));
            b.put_u16(max_len);
            b.put_zeros(6);
        }
    };
    let (dl_src, dl_dst, nw_src, nw_dst, nw_tos) = if of10 {
        let o = ofpat::SET_DL_SRC;
        (o, o + 1, o + 2, o + 3, o + 4)
    } else {
        let o = ofpat::OF11_SET_DL_SRC;
        (o, o + 1, o + 2, o + 3, o + 4)
    };
    match a {
        Action::Output(p) => port(b, *p, 0),
        Action::Controller { max_len } => port(b, OFPP_CONTROLLER, *max_len),
        Action::OutputField(src) => {
            let s = nx(b, nxast::OUTPUT_REG);
            b.put_u16(ofs_nbits(src.ofs, src.n_bits));
            b.put_u32(nxm_word(src.field));
            b.put_u16(u16::MAX);
            finish(b, s);
        }
        Action::ModVlanVid(v) | Action::SetVlanVid(v) => {
            std(b, ofpat::SET_VLAN_VID, 8);
            b.put_u16(*v);
            b.put_zeros(2);
        }
        Action::ModVlanPcp(p) | Action::SetVlanPcp(p) => {
            std(b, ofpat::SET_VLAN_PCP, 8);
            b.put_u8(*p);
            b.put_zeros(3);
        }
        Action::StripVlan | Action::PopVlan => {
            std(
                b,
                if of10 {
                    ofpat::STRIP_VLAN
                } else {
                    ofpat::POP_VLAN
                },
                8,
            );
            b.put_zeros(4);
        }
        Action::PushVlan(tpid) => {
            if !of10 {
                std(b, ofpat::PUSH_VLAN, 8);
                b.put_u16(*tpid);
                b.put_zeros(2);
            }
        }
        Action::SetTunnel { id, wide } => {
            if *wide {
                let s = nx(b, nxast::SET_TUNNEL64);
                b.put_zeros(6);
                b.put_u64(*id);
                finish(b, s);
            } else {
                let s = nx(b, nxast::SET_TUNNEL);
                b.put_zeros(2);
                b.put_u32(*id as u32);
                finish(b, s);
            }
        }
        // OVS writes NXAST_RESUBMIT only for one that came as such; every resubmit
        // of flow text (`resubmit:P` too) is an NXAST_RESUBMIT_TABLE.
        Action::Resubmit { port, table } => {
            let s = nx(b, nxast::RESUBMIT_TABLE);
            b.put_u16(port.unwrap_or(OFPP_IN_PORT) as u16);
            b.put_u8(table.unwrap_or(0xff));
            finish(b, s);
        }
        Action::ModDlSrc(m) | Action::ModDlDst(m) => {
            std(
                b,
                if matches!(a, Action::ModDlSrc(_)) {
                    dl_src
                } else {
                    dl_dst
                },
                16,
            );
            b.extend_from_slice(&m.0);
            b.put_zeros(6);
        }
        Action::ModNwSrc(ip) | Action::ModNwDst(ip) => {
            std(
                b,
                if matches!(a, Action::ModNwSrc(_)) {
                    nw_src
                } else {
                    nw_dst
                },
                8,
            );
            b.put_u32(*ip);
        }
        Action::ModNwTos(t) => {
            std(b, nw_tos, 8);
            b.put_u8(*t);
            b.put_zeros(3);
        }
        Action::ModTpSrc(p) | Action::ModTpDst(p) => {
            let t = if matches!(a, Action::ModTpSrc(_)) {
                ofpat::SET_TP_SRC
            } else {
                ofpat::SET_TP_DST
            };
            std(b, t, 8);
            b.put_u16(*p);
            b.put_zeros(2);
        }
        Action::SetField { field, value, .. } => {
            let s = std(b, ofpat::SET_FIELD, 0);
            let n = field.info().n_bytes as usize;
            if let Some(h) = header_of(*field, version.wire()) {
                h.emit(b);
            }
            b.extend_from_slice(&value_bytes(*value, n));
            finish(b, s);
        }
        Action::Load { value, dst } => {
            let s = nx(b, nxast::REG_LOAD);
            b.put_u16(ofs_nbits(dst.ofs, dst.n_bits));
            b.put_u32(nxm_word(dst.field));
            b.put_u64(*value as u64);
            finish(b, s);
        }
        Action::Move { src, dst } => {
            let s = nx(b, nxast::REG_MOVE);
            b.put_u16(dst.n_bits as u16);
            b.put_u16(src.ofs as u16);
            b.put_u16(dst.ofs as u16);
            b.put_u32(nxm_word(src.field));
            b.put_u32(nxm_word(dst.field));
            finish(b, s);
        }
        Action::DecTtl(ids) if ids.is_empty() => {
            if of10 {
                let s = nx(b, nxast::DEC_TTL);
                finish(b, s);
            } else {
                std(b, ofpat::DEC_NW_TTL, 8);
                b.put_zeros(4);
            }
        }
        Action::DecTtl(ids) => {
            let s = nx(b, nxast::DEC_TTL_CNT_IDS);
            b.put_u16(ids.len() as u16);
            b.put_zeros(4);
            for id in ids {
                b.put_u16(*id);
            }
            finish(b, s);
        }
        Action::Note(bytes) => {
            let s = nx(b, nxast::NOTE);
            b.extend_from_slice(bytes);
            finish(b, s);
        }
        Action::Learn(spec) => encode_learn(spec, b),
        Action::WriteMetadata { value, mask } => {
            if of10 {
                let s = nx(b, nxast::WRITE_METADATA);
                b.put_zeros(6);
                b.put_u64(*value);
                b.put_u64(*mask);
                finish(b, s);
            } else {
                b.put_u16(ofpit::WRITE_METADATA);
                b.put_u16(24);
                b.put_zeros(4);
                b.put_u64(*value);
                b.put_u64(*mask);
            }
        }
        Action::GotoTable(t) => {
            if of10 {
                let s = nx(b, nxast::RESUBMIT_TABLE);
                b.put_u16(OFPP_IN_PORT as u16);
                b.put_u8(*t);
                finish(b, s);
            } else {
                b.put_u16(ofpit::GOTO_TABLE);
                b.put_u16(8);
                b.put_u8(*t);
                b.put_zeros(3);
            }
        }
    }
}

/// The actions of a flow with match `m` as OVS writes them in `version`, as an
/// action list (OpenFlow 1.0 flow stats, NXST_FLOW).
pub fn encode_actions(actions: &[Action], m: &Match, version: Version) -> Vec<u8> {
    let mut b = Vec::new();
    for a in wire_actions(actions, m, of_version(version)) {
        encode_one(&a, version, &mut b);
    }
    b
}

/// The actions of a flow with match `m` as OpenFlow 1.1+ instructions: the actions
/// in one APPLY_ACTIONS (none when there are no actions), then WRITE_METADATA and
/// GOTO_TABLE, as OVS's `ofpacts_put_openflow_instructions()`.
pub fn encode_instructions(actions: &[Action], m: &Match, version: Version) -> Vec<u8> {
    let mut b = Vec::new();
    let mut apply: Option<usize> = None;
    let close = |b: &mut Vec<u8>, apply: &mut Option<usize>| {
        if let Some(s) = apply.take() {
            if b.len() == s + 8 {
                b.truncate(s);
            } else {
                let len = (b.len() - s) as u16;
                b.set_u16(s + 2, len);
            }
        }
    };
    for a in wire_actions(actions, m, of_version(version)) {
        if a.is_instruction() {
            close(&mut b, &mut apply);
        } else if apply.is_none() {
            apply = Some(b.len());
            b.put_u16(ofpit::APPLY_ACTIONS);
            b.put_u16(0);
            b.put_zeros(4);
        }
        encode_one(&a, version, &mut b);
    }
    close(&mut b, &mut apply);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::hex;
    use xvs_pipeline::ofp::field::{Field, FieldSlice};

    #[test]
    fn as_ovs_writes_them() {
        let m = Match::default();
        // goto_table over 1.0: NXAST_RESUBMIT_TABLE(IN_PORT, 20).
        assert_eq!(
            encode_actions(&[Action::GotoTable(20)], &m, Version::Of10),
            hex("ffff001000002320000efff814000000")
        );
        // set_field:3->reg6 over 1.0 (a load) and 1.3 (OFPAT_SET_FIELD, NXM header).
        let sf = Action::SetField {
            field: Field::Reg(6),
            value: 3,
            mask: 0xffff_ffff,
        };
        assert_eq!(
            encode_actions(std::slice::from_ref(&sf), &m, Version::Of10),
            hex("ffff0018000023200007001f00010c040000000000000003")
        );
        assert_eq!(
            encode_instructions(&[sf, Action::GotoTable(61)], &m, Version::Of13),
            hex("000400180000000000190010 00010c04 00000003 00000000 000100083d000000")
        );
        // pop_vlan, set_field tun_id, output:2, goto_table:5 over 1.3 (the capture of
        // xvs-openflow's flow_mod tests).
        let acts = [
            Action::PopVlan,
            Action::SetField {
                field: Field::TunId,
                value: 0x64,
                mask: u64::MAX.into(),
            },
            Action::Output(2),
            Action::GotoTable(5),
        ];
        assert_eq!(
            encode_instructions(&acts, &m, Version::Of13),
            hex(concat!(
                "000400300000000000120008000000000019001080004c08000000000000006400000010",
                "0000000200000000000000000001000805000000"
            ))
        );
        // move, as ovs-ofctl writes it (NXM headers).
        let mv = Action::Move {
            src: FieldSlice::whole(Field::DlSrc),
            dst: FieldSlice::whole(Field::DlDst),
        };
        assert_eq!(
            encode_actions(&[mv], &m, Version::Of13),
            hex("ffff00180000232000060030000000000000040600000206")
        );
        assert!(encode_instructions(&[], &m, Version::Of13).is_empty());
    }
}
