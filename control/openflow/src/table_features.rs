//! OFPMP_TABLE_FEATURES replies (OpenFlow 1.3/1.4).
//!
//! `ovs-ofctl -O OpenFlow13` reads table names with this request before every
//! command and refuses an empty or malformed reply, so a switch must send one
//! `ofp13_table_features` per table with the eight required properties
//! (instructions, next tables, write/apply actions, match, wildcards, write/apply
//! set-field), plus their table-miss twins as OVS does. [`TableFeatures`] holds
//! them and encodes them in OVS's order (instructions, next tables, write actions,
//! write set-field, apply actions, apply set-field, the same six for table-miss,
//! match, wildcards); [`TableFeatures::ovs`] gives exactly what ovs-vswitchd 3.1
//! sends (lists taken from a capture of its reply by `tools/gen_table_features.py`),
//! and [`encode_table_features_reply`] splits the 1.2 MB of 254 tables into
//! REPLY_MORE messages the way OVS does.

use crate::bytes::{be16, be32, be64, c_string, round_up8, Put};
use crate::generated::table_features as ovs;
use crate::oxm::TlvHeader;
use crate::stats::{ofpst, MultipartReply};
use crate::version::Version;

/// `OFPTFPT13_*` property types.
pub mod ofptfpt {
    pub const INSTRUCTIONS: u16 = 0;
    pub const INSTRUCTIONS_MISS: u16 = 1;
    pub const NEXT_TABLES: u16 = 2;
    pub const NEXT_TABLES_MISS: u16 = 3;
    pub const WRITE_ACTIONS: u16 = 4;
    pub const WRITE_ACTIONS_MISS: u16 = 5;
    pub const APPLY_ACTIONS: u16 = 6;
    pub const APPLY_ACTIONS_MISS: u16 = 7;
    pub const MATCH: u16 = 8;
    pub const WILDCARDS: u16 = 10;
    pub const WRITE_SETFIELD: u16 = 12;
    pub const WRITE_SETFIELD_MISS: u16 = 13;
    pub const APPLY_SETFIELD: u16 = 14;
    pub const APPLY_SETFIELD_MISS: u16 = 15;
}

/// What a table supports for its flows, or for its table-miss flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TableInstructionFeatures {
    /// `OFPIT_*` types.
    pub instructions: Vec<u16>,
    /// Tables `goto_table` may go to.
    pub next_tables: Vec<u8>,
    /// `OFPAT_*` types in write-actions.
    pub write_actions: Vec<u16>,
    /// Fields set-field may set in write-actions.
    pub write_setfields: Vec<TlvHeader>,
    /// `OFPAT_*` types in apply-actions.
    pub apply_actions: Vec<u16>,
    /// Fields set-field may set in apply-actions.
    pub apply_setfields: Vec<TlvHeader>,
}

/// One `ofp13_table_features`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TableFeatures {
    pub table_id: u8,
    /// Cut to 31 bytes on the wire (OVS: "" unless named in OVSDB).
    pub name: String,
    pub metadata_match: u64,
    pub metadata_write: u64,
    /// OF1.4+ `OFPTC14_*` (OVS 3.1: 0); always 0 in OF1.3.
    pub capabilities: u32,
    pub max_entries: u32,
    pub nonmiss: TableInstructionFeatures,
    pub miss: TableInstructionFeatures,
    /// Matchable fields; hasmask set for the ones that can be masked.
    pub matches: Vec<TlvHeader>,
    /// Fields that can be wildcarded.
    pub wildcards: Vec<TlvHeader>,
}

fn headers(list: &[u64]) -> Vec<TlvHeader> {
    list.iter().map(|h| TlvHeader::from_u64(*h)).collect()
}

impl TableFeatures {
    /// What ovs-vswitchd 3.1 sends for `table_id` of a bridge with `n_tables`
    /// tables (254): every table can go to every later one, and supports every
    /// instruction (but goto_table in the last), OVS's actions and fields.
    pub fn ovs(table_id: u8, n_tables: u8) -> TableFeatures {
        let next: Vec<u8> = (table_id.saturating_add(1)..n_tables).collect();
        let mut instructions: Vec<u16> = (1..=6).collect();
        if next.is_empty() {
            instructions.retain(|&i| i != crate::actions::ofpit::GOTO_TABLE);
        }
        let f = TableInstructionFeatures {
            instructions,
            next_tables: next,
            write_actions: ovs::ACTIONS.to_vec(),
            write_setfields: headers(&ovs::SET_FIELDS),
            apply_actions: ovs::ACTIONS.to_vec(),
            apply_setfields: headers(&ovs::SET_FIELDS),
        };
        TableFeatures {
            table_id,
            name: String::new(),
            metadata_match: u64::MAX,
            metadata_write: u64::MAX,
            capabilities: 0,
            max_entries: 1_000_000,
            miss: f.clone(),
            nonmiss: f,
            matches: headers(&ovs::MATCH),
            wildcards: headers(&ovs::WILDCARDS),
        }
    }

    /// Encodes the entry (`ofp13_table_features` and its properties).
    pub fn encode(&self, version: Version) -> Vec<u8> {
        let mut b = Vec::with_capacity(5200);
        b.put_u16(0);
        b.put_u8(self.table_id);
        b.put_u8(0); // command: OF1.5+ only
        b.put_zeros(4);
        b.put_c_string(&self.name, 32);
        b.put_u64(self.metadata_match);
        b.put_u64(self.metadata_write);
        b.put_u32(if version >= Version::Of14 {
            self.capabilities
        } else {
            0
        });
        b.put_u32(self.max_entries);
        for (f, miss) in [(&self.nonmiss, 0), (&self.miss, 1)] {
            put_ids(&mut b, ofptfpt::INSTRUCTIONS + miss, &f.instructions);
            let start = prop_start(&mut b, ofptfpt::NEXT_TABLES + miss);
            b.extend_from_slice(&f.next_tables);
            prop_end(&mut b, start);
            put_ids(&mut b, ofptfpt::WRITE_ACTIONS + miss, &f.write_actions);
            put_headers(&mut b, ofptfpt::WRITE_SETFIELD + miss, &f.write_setfields);
            put_ids(&mut b, ofptfpt::APPLY_ACTIONS + miss, &f.apply_actions);
            put_headers(&mut b, ofptfpt::APPLY_SETFIELD + miss, &f.apply_setfields);
        }
        put_headers(&mut b, ofptfpt::MATCH, &self.matches);
        put_headers(&mut b, ofptfpt::WILDCARDS, &self.wildcards);
        let len = b.len() as u16;
        b.set_u16(0, len);
        b
    }

    /// Reads one entry back (to check captures and round trips); `None` if it is
    /// malformed or has properties other than the ones [`TableFeatures`] holds.
    pub fn parse(e: &[u8]) -> Option<TableFeatures> {
        if e.len() < 64 || usize::from(be16(e, 0)) != e.len() {
            return None;
        }
        let mut t = TableFeatures {
            table_id: e[2],
            name: c_string(&e[8..40]),
            metadata_match: be64(e, 40),
            metadata_write: be64(e, 48),
            capabilities: be32(e, 56),
            max_entries: be32(e, 60),
            ..Default::default()
        };
        let mut p = 64;
        while p < e.len() {
            if e.len() - p < 4 {
                return None;
            }
            let (ty, len) = (be16(e, p), usize::from(be16(e, p + 2)));
            if len < 4 || p + round_up8(len) > e.len() {
                return None;
            }
            let v = &e[p + 4..p + len];
            let f = if ty & 1 == 1 && ty != ofptfpt::MATCH && ty != ofptfpt::WILDCARDS {
                &mut t.miss
            } else {
                &mut t.nonmiss
            };
            match ty {
                ofptfpt::INSTRUCTIONS | ofptfpt::INSTRUCTIONS_MISS => f.instructions = ids(v)?,
                ofptfpt::NEXT_TABLES | ofptfpt::NEXT_TABLES_MISS => f.next_tables = v.to_vec(),
                ofptfpt::WRITE_ACTIONS | ofptfpt::WRITE_ACTIONS_MISS => f.write_actions = ids(v)?,
                ofptfpt::APPLY_ACTIONS | ofptfpt::APPLY_ACTIONS_MISS => f.apply_actions = ids(v)?,
                ofptfpt::WRITE_SETFIELD | ofptfpt::WRITE_SETFIELD_MISS => {
                    f.write_setfields = parse_headers(v)?
                }
                ofptfpt::APPLY_SETFIELD | ofptfpt::APPLY_SETFIELD_MISS => {
                    f.apply_setfields = parse_headers(v)?
                }
                ofptfpt::MATCH => t.matches = parse_headers(v)?,
                ofptfpt::WILDCARDS => t.wildcards = parse_headers(v)?,
                _ => return None,
            }
            p += round_up8(len);
        }
        Some(t)
    }
}

fn prop_start(b: &mut Vec<u8>, ty: u16) -> usize {
    let start = b.len();
    b.put_u16(ty);
    b.put_u16(4);
    start
}

/// OVS's `ofpprop_end`: the length without padding, then padding to 8.
fn prop_end(b: &mut Vec<u8>, start: usize) {
    let len = (b.len() - start) as u16;
    b.set_u16(start + 2, len);
    b.pad_to_8(start);
}

/// A list of instruction or action types: one {type, len = 4} element each
/// (OVS's `ofpprop_put_bitmap`).
fn put_ids(b: &mut Vec<u8>, ty: u16, ids: &[u16]) {
    let start = prop_start(b, ty);
    for id in ids {
        b.put_u16(*id);
        b.put_u16(4);
    }
    prop_end(b, start);
}

fn put_headers(b: &mut Vec<u8>, ty: u16, hs: &[TlvHeader]) {
    let start = prop_start(b, ty);
    for h in hs {
        h.emit(b);
    }
    prop_end(b, start);
}

fn ids(v: &[u8]) -> Option<Vec<u16>> {
    v.len()
        .is_multiple_of(4)
        .then(|| v.chunks(4).map(|c| be16(c, 0)).collect())
}

fn parse_headers(mut v: &[u8]) -> Option<Vec<TlvHeader>> {
    let mut out = Vec::new();
    while !v.is_empty() {
        let h = TlvHeader::parse(v)?;
        v = &v[h.wire_len()..];
        out.push(h);
    }
    Some(out)
}

/// The whole TABLE_FEATURES reply to the request (`version`, `xid`): one entry
/// per table, split into REPLY_MORE messages as OVS's `ofpmp_postappend` does.
pub fn encode_table_features_reply(
    version: Version,
    xid: u32,
    tables: &[TableFeatures],
) -> Vec<Vec<u8>> {
    let entries: Vec<Vec<u8>> = tables.iter().map(|t| t.encode(version)).collect();
    MultipartReply::new(version, xid, ofpst::TABLE_FEATURES).split(&entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_shape() {
        let t = TableFeatures::ovs(0, 254);
        let e = t.encode(Version::Of13);
        assert_eq!(e.len(), 5152);
        assert_eq!(TableFeatures::parse(&e).unwrap(), t);
        let last = TableFeatures::ovs(253, 254);
        assert_eq!(last.nonmiss.instructions, vec![2, 3, 4, 5, 6]);
        assert!(last.nonmiss.next_tables.is_empty());
        assert_eq!(last.encode(Version::Of13).len(), 4624);
        assert_eq!(t.matches.len(), 178);
        assert_eq!(t.nonmiss.apply_setfields.len(), 155);
    }
}
