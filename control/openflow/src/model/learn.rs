//! `NXAST_LEARN` and the model's [`LearnSpec`], both ways (OVS's
//! `decode_NXAST_RAW_LEARN()`, `decode_LEARN_specs()` and `encode_LEARN()`). Specs
//! name fields by NXM or OXM header alike (os-ken sends `OXM_OF_ETH_SRC` where
//! ovs-ofctl sends `NXM_OF_ETH_SRC`); OVS writes them back with the NXM header
//! where the field has one, and so does [`encode_learn`].

use xvs_pipeline::ofp::field::FieldSlice;
use xvs_pipeline::ofp::{Action, LearnItem, LearnSpec, LearnSrc};

use super::actions::{check_bounds, check_dst};
use super::fields::{action_field, be_value, nxm_word, value_bytes};
use crate::bytes::{be16, be32, be64, Put};
use crate::errors::{OfError, NX_VENDOR_ID};

const SRC_IMMEDIATE: u16 = 1 << 13;
const DST_MASK: u16 = 3 << 11;
const DST_MATCH: u16 = 0;
const DST_LOAD: u16 = 1 << 11;
const DST_OUTPUT: u16 = 2 << 11;
const N_BITS_MASK: u16 = 0x3ff;

/// Bytes an immediate of `n_bits` takes in a spec: whole 16-bit words.
fn imm_len(n_bits: u32) -> usize {
    2 * (n_bits as usize).div_ceil(16)
}

/// Reads a subfield (32-bit header, 16-bit offset) at `b[*p..]`.
fn subfield(b: &[u8], p: &mut usize, n_bits: u32) -> Result<FieldSlice, OfError> {
    let word = be32(b, *p);
    let ofs = u32::from(be16(b, *p + 4));
    *p += 6;
    Ok(FieldSlice {
        field: action_field(word, OfError::OFPBAC_BAD_SET_TYPE)?,
        ofs,
        n_bits,
    })
}

/// Decodes a whole NXAST_LEARN action (`r`, header included; at least 32 bytes).
/// The learned flow's flags and FIN timeouts, which xvs's `learn` does not keep,
/// must be zero (OFPBAC_BAD_ARGUMENT otherwise, as for flags OVS does not know).
pub fn decode_learn(r: &[u8]) -> Result<Action, OfError> {
    let flags = be16(r, 24);
    let table = r[26];
    if r[27] != 0 || table == 0xff || flags & !3 != 0 {
        return Err(OfError::OFPBAC_BAD_ARGUMENT);
    }
    if flags != 0 || be16(r, 28) != 0 || be16(r, 30) != 0 {
        return Err(OfError::OFPBAC_BAD_ARGUMENT);
    }
    let mut spec = LearnSpec {
        table,
        priority: be16(r, 14),
        idle_timeout: be16(r, 10),
        hard_timeout: be16(r, 12),
        cookie: be64(r, 16),
        items: Vec::new(),
    };
    let end = r.len();
    let mut p = 32;
    while p + 2 <= end {
        let header = be16(r, p);
        if header == 0 {
            break;
        }
        p += 2;
        let imm = header & SRC_IMMEDIATE != 0;
        let dst_type = header & DST_MASK;
        let n_bits = u32::from(header & N_BITS_MASK);
        let valid =
            dst_type == DST_MATCH || dst_type == DST_LOAD || (dst_type == DST_OUTPUT && !imm);
        if !valid {
            return Err(OfError::OFPBAC_BAD_ARGUMENT);
        }
        let min_len =
            if imm { imm_len(n_bits) } else { 6 } + if dst_type == DST_OUTPUT { 0 } else { 6 };
        if end - p < min_len {
            return Err(OfError::OFPBAC_BAD_LEN);
        }
        let src = if imm {
            let n = imm_len(n_bits);
            let bytes = &r[p..p + n];
            p += n;
            // OVS keeps the last ceil(n_bits / 8) bytes.
            let keep = (n_bits as usize).div_ceil(8);
            let value = &bytes[n - keep..];
            if value.len() > 16 && value[..value.len() - 16].iter().any(|&x| x != 0) {
                return Err(OfError::OFPBAC_BAD_SET_LEN);
            }
            LearnSrc::Immediate(be_value(&value[value.len().saturating_sub(16)..]))
        } else {
            let s = subfield(r, &mut p, n_bits)?;
            check_bounds(&s)?;
            LearnSrc::Field(s)
        };
        let item = match dst_type {
            DST_OUTPUT => match src {
                LearnSrc::Field(src) => LearnItem::Output { src },
                LearnSrc::Immediate(_) => return Err(OfError::OFPBAC_BAD_ARGUMENT),
            },
            _ => {
                let dst = subfield(r, &mut p, n_bits)?;
                if dst_type == DST_LOAD {
                    check_dst(&dst)?;
                    LearnItem::Load { src, dst }
                } else {
                    check_bounds(&dst)?;
                    LearnItem::Match { dst, src }
                }
            }
        };
        spec.items.push(item);
    }
    if r[p.min(end)..].iter().any(|&x| x != 0) {
        return Err(OfError::OFPBAC_BAD_ARGUMENT);
    }
    Ok(Action::Learn(Box::new(spec)))
}

fn put_subfield(b: &mut Vec<u8>, sf: &FieldSlice) {
    b.put_u32(nxm_word(sf.field));
    b.put_u16(sf.ofs as u16);
}

/// Appends the NXAST_LEARN action OVS writes for `spec`.
pub fn encode_learn(spec: &LearnSpec, b: &mut Vec<u8>) {
    let start = b.len();
    b.put_u16(0xffff);
    b.put_u16(0);
    b.put_u32(NX_VENDOR_ID);
    b.put_u16(super::actions::nxast::LEARN);
    b.put_u16(spec.idle_timeout);
    b.put_u16(spec.hard_timeout);
    b.put_u16(spec.priority);
    b.put_u64(spec.cookie);
    b.put_u16(0);
    b.put_u8(spec.table);
    b.put_u8(0);
    b.put_u32(0);
    for item in &spec.items {
        let (src, dst, dst_type, n_bits) = match item {
            LearnItem::Match { dst, src } => (src, Some(dst), DST_MATCH, dst.n_bits),
            LearnItem::Load { src, dst } => (src, Some(dst), DST_LOAD, dst.n_bits),
            LearnItem::Output { src } => (&LearnSrc::Field(*src), None, DST_OUTPUT, src.n_bits),
        };
        let n = n_bits as u16 & N_BITS_MASK;
        match src {
            LearnSrc::Field(s) => {
                b.put_u16(n | dst_type);
                put_subfield(b, s);
            }
            LearnSrc::Immediate(v) => {
                b.put_u16(n | dst_type | SRC_IMMEDIATE);
                let len = imm_len(n_bits);
                let keep = (n_bits as usize).div_ceil(8);
                b.put_zeros(len - keep);
                b.extend_from_slice(&value_bytes(*v, keep));
            }
        }
        if let Some(d) = dst {
            put_subfield(b, d);
        }
    }
    b.pad_to_8(start);
    let len = (b.len() - start) as u16;
    b.set_u16(start + 2, len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::hex;
    use xvs_pipeline::ofp::field::Field;

    #[test]
    fn os_ken_learn_with_nxm_and_oxm_specs() {
        // AGENT-NEEDS 2.7: table 20, hard 300, priority 1; specs: VLAN_TCI[0..11]
        // (NXM), ETH_DST=ETH_SRC (OXM), load 0 -> VLAN_TCI, load TUNNEL_ID ->
        // TUNNEL_ID (OXM), output OXM_OF_IN_PORT.
        let r = hex(concat!(
            "ffff006000002320001000000 12c0001 0000000000001234 0000 1400 0000 0000",
            "000c 00000802 0000 00000802 0000",
            "0030 80000806 0000 80000606 0000",
            "2810 0000 00000802 0000",
            "0840 80004c08 0000 80004c08 0000",
            "1020 80000004 0000",
            "00000000"
        ));
        let Action::Learn(spec) = decode_learn(&r).unwrap() else {
            panic!()
        };
        assert_eq!(
            (spec.table, spec.hard_timeout, spec.cookie),
            (20, 300, 0x1234)
        );
        assert_eq!(
            spec.items[1],
            LearnItem::Match {
                dst: FieldSlice::whole(Field::DlDst),
                src: LearnSrc::Field(FieldSlice::whole(Field::DlSrc)),
            }
        );
        assert_eq!(
            spec.items[4],
            LearnItem::Output {
                src: FieldSlice::whole(Field::InPortOxm)
            }
        );
        // Written back as OVS does: NXM headers where the field has one.
        let mut out = Vec::new();
        encode_learn(&spec, &mut out);
        let want = hex(concat!(
            "ffff006000002320001000000 12c0001 0000000000001234 0000 1400 0000 0000",
            "000c 00000802 0000 00000802 0000",
            "0030 00000406 0000 00000206 0000",
            "2810 0000 00000802 0000",
            "0840 00012008 0000 00012008 0000",
            "1020 80000004 0000",
            "00000000"
        ));
        assert_eq!(out, want);
    }

    #[test]
    fn bad_learns() {
        let base = "ffff002800002320001000000000800000000000000000000000010000000000";
        // Table 255, flags OVS does not know, a spec past the end, a bad spec type.
        let mut r = hex(base);
        r.extend_from_slice(&[0; 8]);
        r[26] = 0xff;
        assert_eq!(decode_learn(&r), Err(OfError::OFPBAC_BAD_ARGUMENT));
        r[26] = 1;
        r[25] = 4;
        assert_eq!(decode_learn(&r), Err(OfError::OFPBAC_BAD_ARGUMENT));
        r[25] = 0;
        r[32..34].copy_from_slice(&[0x00, 0x20]);
        assert_eq!(decode_learn(&r), Err(OfError::OFPBAC_BAD_LEN));
        r[32..34].copy_from_slice(&[0x30, 0x20]);
        assert_eq!(decode_learn(&r), Err(OfError::OFPBAC_BAD_ARGUMENT));
    }
}
