//! Statistics (OF1.0 OFPT_STATS_*, Nicira vendor stats) and multipart (OF1.1+
//! OFPT_MULTIPART_*) requests and replies.
//!
//! Requests decoded here: DESC, FLOW, AGGREGATE, TABLE, PORT, PORT_DESC,
//! TABLE_FEATURES (the request part; see [`crate::table_features`] for the reply)
//! and Nicira's NXST_FLOW / NXST_AGGREGATE. Replies are built as entries (one per
//! flow, table, port) that [`MultipartReply::split`] packs into messages of at
//! most 65535 bytes, setting OFPSF_REPLY_MORE on every message but the last, as
//! OVS's `ofpmp_reserve`/`ofpmp_postappend` do.
//!
//! Reply headers: OF1.0 `ofp10_stats_msg` (12 bytes; NXST: 24 with vendor,
//! subtype, pad), OF1.1+ `ofp11_stats_msg` (16 bytes).

use crate::bytes::{be16, be32, round_up8, view, Put};
use crate::errors::{OfError, NX_VENDOR_ID};
use crate::flow_mod::WireMatch;
use crate::framing::{finish_message, ofpt, Header, MAX_MESSAGE_LEN};
use crate::of10_match::{Of10Match, Of10MatchView};
use crate::oxm::{parse_oxm_match, parse_tlvs, MatchError};
use crate::port::{port_from_ofp11, PortRangeError};
use crate::version::Version;

/// `OFPST_*` / `OFPMP_*` stats types.
pub mod ofpst {
    pub const DESC: u16 = 0;
    pub const FLOW: u16 = 1;
    pub const AGGREGATE: u16 = 2;
    pub const TABLE: u16 = 3;
    pub const PORT: u16 = 4;
    pub const QUEUE: u16 = 5;
    pub const GROUP: u16 = 6;
    pub const GROUP_DESC: u16 = 7;
    pub const GROUP_FEATURES: u16 = 8;
    pub const METER: u16 = 9;
    pub const METER_CONFIG: u16 = 10;
    pub const METER_FEATURES: u16 = 11;
    pub const TABLE_FEATURES: u16 = 12;
    pub const PORT_DESC: u16 = 13;
    pub const TABLE_DESC: u16 = 14;
    pub const QUEUE_DESC: u16 = 15;
    pub const FLOW_MONITOR: u16 = 16;
    pub const VENDOR: u16 = 0xffff;
}

/// Nicira vendor stats subtypes (`NXST_*`).
pub mod nxst {
    pub const FLOW: u32 = 0;
    pub const AGGREGATE: u32 = 1;
    pub const FLOW_MONITOR: u32 = 2;
    pub const IPFIX_BRIDGE: u32 = 3;
    pub const IPFIX_FLOW: u32 = 4;
    pub const GROUP: u32 = 7;
    pub const GROUP_DESC: u32 = 8;
    pub const GROUP_FEATURES: u32 = 9;
}

/// `OFPSF_REPLY_MORE` / `OFPMPF_REPLY_MORE` (and OF1.3's OFPMPF_REQ_MORE).
pub const OFPSF_REPLY_MORE: u16 = 1;

/// Which request a FLOW or AGGREGATE stats request was, which decides the reply's
/// form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowStatsForm {
    /// OFPST_FLOW / OFPST_AGGREGATE of OF1.0 (`ofp10_match`).
    Of10,
    /// NXST_FLOW / NXST_AGGREGATE (NXM match, OF1.0 connections).
    Nx,
    /// OFPMP_FLOW / OFPMP_AGGREGATE of OF1.1+ (OXM match).
    Of11,
}

/// A FLOW or AGGREGATE stats request (OVS's `ofputil_flow_stats_request`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowStatsRequest {
    pub form: FlowStatsForm,
    /// True for AGGREGATE.
    pub aggregate: bool,
    /// A table, or 0xff for all.
    pub table_id: u8,
    /// OF1.0 numbering; OFPP_NONE for no restriction.
    pub out_port: u16,
    /// OF1.1+; OFPG_ANY otherwise.
    pub out_group: u32,
    /// Cookie the flows must have, under `cookie_mask` (0: any). From the request
    /// (OF1.1+) or NXM_NX_COOKIE (NXST); 0/0 for OF1.0.
    pub cookie: u64,
    pub cookie_mask: u64,
    pub wire_match: WireMatch,
}

/// Why a stats request body is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    #[error("stats request: {0}")]
    Match(#[from] MatchError),
    #[error("stats request: {0}")]
    Port(#[from] PortRangeError),
    #[error("stats request body has the wrong length")]
    BadLen,
}

impl StatsError {
    pub fn of_error(self) -> OfError {
        match self {
            StatsError::Match(e) => e.of_error(),
            StatsError::Port(e) => e.of_error(),
            StatsError::BadLen => OfError::OFPBRC_BAD_LEN,
        }
    }
}

view! {
    /// `struct ofp11_flow_stats_request` (followed by an `ofp_match`).
    pub struct Of11FlowStatsRequestView(32) {
        table_id: u8 @ 0,
        out_port: u32 @ 4,
        out_group: u32 @ 8,
        cookie: u64 @ 16,
        cookie_mask: u64 @ 24,
    }
}

view! {
    /// `struct nx_flow_stats_request` (followed by an `nx_match`).
    pub struct NxFlowStatsRequestView(8) {
        out_port: u16 @ 0,
        match_len: u16 @ 2,
        table_id: u8 @ 4,
    }
}

impl FlowStatsRequest {
    /// The body of an OF1.0 OFPST_FLOW/AGGREGATE request (44 bytes: checked by
    /// the caller's length check).
    pub fn decode_of10(body: &[u8], aggregate: bool) -> Result<FlowStatsRequest, StatsError> {
        let v = Of10MatchView::new_checked(body)
            .filter(|_| body.len() >= 44)
            .ok_or(StatsError::BadLen)?;
        Ok(FlowStatsRequest {
            form: FlowStatsForm::Of10,
            aggregate,
            table_id: body[40],
            out_port: be16(body, 42),
            out_group: crate::flow_mod::OFPG_ANY,
            cookie: 0,
            cookie_mask: 0,
            wire_match: WireMatch::Of10(Of10Match::parse(&v)),
        })
    }

    /// The body (after the 24-byte vendor stats header) of NXST_FLOW/AGGREGATE.
    pub fn decode_nx(body: &[u8], aggregate: bool) -> Result<FlowStatsRequest, StatsError> {
        let v = NxFlowStatsRequestView::new_checked(body).ok_or(StatsError::BadLen)?;
        let match_len = usize::from(v.match_len());
        let rest = v.rest();
        if round_up8(match_len) > rest.len() {
            return Err(MatchError::BadMatchLength { length: match_len }.into());
        }
        let m = parse_tlvs(&rest[..match_len], true)?;
        if rest.len() != round_up8(match_len) {
            return Err(StatsError::BadLen);
        }
        Ok(FlowStatsRequest {
            form: FlowStatsForm::Nx,
            aggregate,
            table_id: v.table_id(),
            out_port: v.out_port(),
            out_group: crate::flow_mod::OFPG_ANY,
            cookie: m.cookie.0,
            cookie_mask: m.cookie.1,
            wire_match: WireMatch::Tlvs(m.tlvs),
        })
    }

    /// The body (after the 16-byte multipart header) of OF1.1+ FLOW/AGGREGATE.
    pub fn decode_of11(body: &[u8], aggregate: bool) -> Result<FlowStatsRequest, StatsError> {
        let v = Of11FlowStatsRequestView::new_checked(body).ok_or(StatsError::BadLen)?;
        let out_port = port_from_ofp11(v.out_port())?;
        let (m, _) = parse_oxm_match(v.rest())?;
        Ok(FlowStatsRequest {
            form: FlowStatsForm::Of11,
            aggregate,
            table_id: v.table_id(),
            out_port,
            out_group: v.out_group(),
            cookie: v.cookie(),
            cookie_mask: v.cookie_mask(),
            wire_match: WireMatch::Tlvs(m.tlvs),
        })
    }
}

/// What a multipart reply answers: its type, and the Nicira subtype for NXST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MultipartReply {
    /// The request's version byte (replies use it).
    pub version: Version,
    pub xid: u32,
    /// `OFPST_*` / `OFPMP_*` (0xffff for Nicira vendor stats).
    pub stats_type: u16,
    /// NXST_* subtype when `stats_type` is 0xffff.
    pub nx_subtype: Option<u32>,
}

impl MultipartReply {
    /// A reply of `stats_type` to the request with `xid`.
    pub fn new(version: Version, xid: u32, stats_type: u16) -> MultipartReply {
        MultipartReply {
            version,
            xid,
            stats_type,
            nx_subtype: None,
        }
    }

    /// A reply to an OF1.0 Nicira vendor stats request (NXST_FLOW, NXST_AGGREGATE).
    pub fn nicira(xid: u32, subtype: u32) -> MultipartReply {
        MultipartReply {
            version: Version::Of10,
            xid,
            stats_type: ofpst::VENDOR,
            nx_subtype: Some(subtype),
        }
    }

    /// The reply to a FLOW/AGGREGATE request of `form`.
    pub fn for_flow_stats(
        version: Version,
        xid: u32,
        form: FlowStatsForm,
        aggregate: bool,
    ) -> MultipartReply {
        let (st, nx) = (
            if aggregate {
                ofpst::AGGREGATE
            } else {
                ofpst::FLOW
            },
            if aggregate {
                nxst::AGGREGATE
            } else {
                nxst::FLOW
            },
        );
        match form {
            FlowStatsForm::Nx => MultipartReply::nicira(xid, nx),
            _ => MultipartReply::new(version, xid, st),
        }
    }

    /// Length of this reply's headers.
    pub fn header_len(&self) -> usize {
        match (self.version, self.nx_subtype) {
            (Version::Of10, Some(_)) => 24,
            (Version::Of10, None) => 12,
            (_, Some(_)) => 24,
            (_, None) => 16,
        }
    }

    fn header(&self, more: bool) -> Vec<u8> {
        let msg_type = if self.version == Version::Of10 {
            ofpt::OF10_STATS_REPLY
        } else {
            ofpt::OF11_STATS_REPLY
        };
        let mut buf = Vec::with_capacity(1024);
        Header {
            version: self.version.wire(),
            msg_type,
            length: 0,
            xid: self.xid,
        }
        .emit(&mut buf);
        buf.put_u16(self.stats_type);
        buf.put_u16(if more { OFPSF_REPLY_MORE } else { 0 });
        if self.version != Version::Of10 {
            buf.put_zeros(4);
        }
        if let Some(sub) = self.nx_subtype {
            buf.put_u32(NX_VENDOR_ID);
            buf.put_u32(sub);
            if self.version == Version::Of10 {
                buf.put_zeros(4);
            }
        }
        buf
    }

    /// One reply message holding `body` (which must fit).
    pub fn single(&self, body: &[u8]) -> Vec<u8> {
        let mut m = self.header(false);
        m.extend_from_slice(body);
        finish_message(m)
    }

    /// Packs `entries` into as many reply messages as needed, each at most 65535
    /// bytes, every one but the last with REPLY_MORE set (an empty list gives one
    /// empty reply). An entry that could not fit in any message is left out, as OVS
    /// leaves out (and logs) a flow too big for a reply.
    pub fn split<E: AsRef<[u8]>>(&self, entries: &[E]) -> Vec<Vec<u8>> {
        let hlen = self.header_len();
        let mut out = Vec::new();
        let mut cur = self.header(false);
        for e in entries {
            let e = e.as_ref();
            if e.len() > MAX_MESSAGE_LEN - hlen {
                continue;
            }
            if cur.len() + e.len() > MAX_MESSAGE_LEN {
                cur[10..12].copy_from_slice(&OFPSF_REPLY_MORE.to_be_bytes());
                out.push(finish_message(std::mem::replace(
                    &mut cur,
                    self.header(false),
                )));
            }
            cur.extend_from_slice(e);
        }
        out.push(finish_message(cur));
        out
    }
}

/// OFPST_DESC reply content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DescStats {
    pub mfr_desc: String,
    pub hw_desc: String,
    pub sw_desc: String,
    pub serial_num: String,
    pub dp_desc: String,
}

impl DescStats {
    /// What OVS 3.1 says unless configured otherwise ("Nicira, Inc.", "Open
    /// vSwitch", its version, "None", "None").
    pub fn ovs_defaults(sw_desc: &str) -> DescStats {
        DescStats {
            mfr_desc: "Nicira, Inc.".into(),
            hw_desc: "Open vSwitch".into(),
            sw_desc: sw_desc.into(),
            serial_num: "None".into(),
            dp_desc: "None".into(),
        }
    }

    /// The 1056-byte `ofp_desc_stats`.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.put_c_string(&self.mfr_desc, 256);
        buf.put_c_string(&self.hw_desc, 256);
        buf.put_c_string(&self.sw_desc, 256);
        buf.put_c_string(&self.serial_num, 32);
        buf.put_c_string(&self.dp_desc, 256);
    }

    /// The whole DESC reply.
    pub fn encode_reply(&self, version: Version, xid: u32) -> Vec<u8> {
        let mut b = Vec::with_capacity(1056);
        self.emit(&mut b);
        MultipartReply::new(version, xid, ofpst::DESC).single(&b)
    }
}

/// One flow in a FLOW stats reply (OVS's `ofputil_flow_stats`). The match and
/// the actions/instructions come already encoded for the reply's form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FlowStatsEntry {
    pub table_id: u8,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    /// `OFPFF_*` (OF1.3+ replies only).
    pub flags: u16,
    /// OF1.4+ replies only.
    pub importance: u16,
    pub cookie: u64,
    /// `u64::MAX` = unknown (sent as 0 in OF1.0/OF1.1+ forms, as is in NXST).
    pub packet_count: u64,
    pub byte_count: u64,
    /// NXST only: seconds since the flow last matched / was last modified
    /// (`None`: unknown, sent as 0; otherwise sent + 1, at most 65535).
    pub idle_age: Option<u32>,
    pub hard_age: Option<u32>,
    /// The match: 40-byte `ofp10_match` (OF1.0), the NXM TLVs without padding
    /// (NXST), or the TLVs of the OXM match (OF1.1+: this crate adds the
    /// `ofp_match` header and padding).
    pub match_bytes: Vec<u8>,
    /// OF1.0/NXST: the actions. OF1.1+: the instructions.
    pub actions_bytes: Vec<u8>,
}

fn unknown_to_zero(c: u64) -> u64 {
    if c == u64::MAX {
        0
    } else {
        c
    }
}

fn age(a: Option<u32>) -> u16 {
    match a {
        None => 0,
        Some(a) if a < 0xffff => a as u16 + 1,
        Some(_) => 0xffff,
    }
}

impl FlowStatsEntry {
    /// Encodes the entry for a reply of `form` in `version` (`ofp10_flow_stats`,
    /// `nx_flow_stats` or `ofp11_flow_stats`).
    pub fn encode(&self, version: Version, form: FlowStatsForm) -> Vec<u8> {
        let mut b = Vec::with_capacity(128 + self.match_bytes.len() + self.actions_bytes.len());
        match form {
            FlowStatsForm::Of10 => {
                b.put_u16(0);
                b.put_u8(self.table_id);
                b.put_u8(0);
                let mut m = self.match_bytes.clone();
                m.resize(Of10Match::LEN, 0);
                b.extend_from_slice(&m);
                b.put_u32(self.duration_sec);
                b.put_u32(self.duration_nsec);
                b.put_u16(self.priority);
                b.put_u16(self.idle_timeout);
                b.put_u16(self.hard_timeout);
                b.put_zeros(6);
                b.put_u64(self.cookie);
                b.put_u64(unknown_to_zero(self.packet_count));
                b.put_u64(unknown_to_zero(self.byte_count));
                b.extend_from_slice(&self.actions_bytes);
            }
            FlowStatsForm::Nx => {
                b.put_u16(0);
                b.put_u8(self.table_id);
                b.put_u8(0);
                b.put_u32(self.duration_sec);
                b.put_u32(self.duration_nsec);
                b.put_u16(self.priority);
                b.put_u16(self.idle_timeout);
                b.put_u16(self.hard_timeout);
                b.put_u16(self.match_bytes.len() as u16);
                b.put_u16(age(self.idle_age));
                b.put_u16(age(self.hard_age));
                b.put_u64(self.cookie);
                b.put_u64(self.packet_count);
                b.put_u64(self.byte_count);
                let start = b.len();
                b.extend_from_slice(&self.match_bytes);
                b.pad_to_8(start);
                b.extend_from_slice(&self.actions_bytes);
            }
            FlowStatsForm::Of11 => {
                b.put_u16(0);
                b.put_u8(self.table_id);
                b.put_u8(0);
                b.put_u32(self.duration_sec);
                b.put_u32(self.duration_nsec);
                b.put_u16(self.priority);
                b.put_u16(self.idle_timeout);
                b.put_u16(self.hard_timeout);
                b.put_u16(self.flags);
                b.put_u16(if version >= Version::Of14 {
                    self.importance
                } else {
                    0
                });
                b.put_zeros(2);
                b.put_u64(self.cookie);
                b.put_u64(unknown_to_zero(self.packet_count));
                b.put_u64(unknown_to_zero(self.byte_count));
                let start = b.len();
                b.put_u16(crate::oxm::OFPMT_OXM);
                b.put_u16(4 + self.match_bytes.len() as u16);
                b.extend_from_slice(&self.match_bytes);
                b.pad_to_8(start);
                b.extend_from_slice(&self.actions_bytes);
            }
        }
        let len = b.len().min(0xffff) as u16;
        b.set_u16(0, len);
        b
    }
}

/// Encodes the reply messages to a FLOW stats request: every entry in the
/// request's form, split as needed.
pub fn encode_flow_stats_reply(
    version: Version,
    xid: u32,
    form: FlowStatsForm,
    flows: &[FlowStatsEntry],
) -> Vec<Vec<u8>> {
    let entries: Vec<Vec<u8>> = flows.iter().map(|f| f.encode(version, form)).collect();
    MultipartReply::for_flow_stats(version, xid, form, false).split(&entries)
}

/// AGGREGATE reply content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AggregateStats {
    /// `u64::MAX` = unknown (sent as 0 to OF1.0 OFPST_AGGREGATE requests).
    pub packet_count: u64,
    pub byte_count: u64,
    pub flow_count: u32,
}

impl AggregateStats {
    /// The reply to an AGGREGATE request of `form`.
    pub fn encode_reply(&self, version: Version, xid: u32, form: FlowStatsForm) -> Vec<u8> {
        let (p, b) = if form == FlowStatsForm::Of10 {
            (
                unknown_to_zero(self.packet_count),
                unknown_to_zero(self.byte_count),
            )
        } else {
            (self.packet_count, self.byte_count)
        };
        let mut body = Vec::with_capacity(24);
        body.put_u64(p);
        body.put_u64(b);
        body.put_u32(self.flow_count);
        body.put_zeros(4);
        MultipartReply::for_flow_stats(version, xid, form, true).single(&body)
    }
}

/// One table in a TABLE stats reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableStats {
    pub table_id: u8,
    /// OF1.0 only (OVS 3.1 sends "" unless a table is named in OVSDB).
    pub name: String,
    /// OF1.0 only: `OFPFW10_*` bits the table can wildcard (OVS: 0x3fffff).
    pub wildcards: u32,
    /// OF1.0 only (OVS: 1000000).
    pub max_entries: u32,
    pub active_count: u32,
    pub lookup_count: u64,
    pub matched_count: u64,
}

impl TableStats {
    /// What OVS 3.1 reports for a table with `active_count` flows and counters.
    pub fn ovs(
        table_id: u8,
        active_count: u32,
        lookup_count: u64,
        matched_count: u64,
    ) -> TableStats {
        TableStats {
            table_id,
            name: String::new(),
            wildcards: crate::of10_match::ofpfw10::ALL,
            max_entries: 1_000_000,
            active_count,
            lookup_count,
            matched_count,
        }
    }

    /// `ofp10_table_stats` (64 bytes) or `ofp13_table_stats` (24 bytes).
    pub fn encode(&self, version: Version) -> Vec<u8> {
        let mut b = Vec::with_capacity(64);
        b.put_u8(self.table_id);
        b.put_zeros(3);
        if version == Version::Of10 {
            b.put_c_string(&self.name, 32);
            b.put_u32(self.wildcards);
            b.put_u32(self.max_entries);
        }
        b.put_u32(self.active_count);
        b.put_u64(self.lookup_count);
        b.put_u64(self.matched_count);
        b
    }
}

/// The TABLE stats reply (split if needed: 254 OF1.0 tables take 16268 bytes).
pub fn encode_table_stats_reply(version: Version, xid: u32, tables: &[TableStats]) -> Vec<Vec<u8>> {
    let entries: Vec<Vec<u8>> = tables.iter().map(|t| t.encode(version)).collect();
    MultipartReply::new(version, xid, ofpst::TABLE).split(&entries)
}

/// The PORT stats reply.
pub fn encode_port_stats_reply(
    version: Version,
    xid: u32,
    ports: &[crate::port::PortStats],
) -> Vec<Vec<u8>> {
    let entries: Vec<Vec<u8>> = ports
        .iter()
        .map(|p| {
            let mut b = Vec::with_capacity(128);
            match version {
                Version::Of10 => p.emit_of10(&mut b),
                Version::Of13 => p.emit_of13(&mut b),
                Version::Of14 => p.emit_of14(&mut b),
            }
            b
        })
        .collect();
    MultipartReply::new(version, xid, ofpst::PORT).split(&entries)
}

/// The PORT_DESC reply.
pub fn encode_port_desc_reply(
    version: Version,
    xid: u32,
    ports: &[crate::port::PortDesc],
) -> Vec<Vec<u8>> {
    let entries: Vec<Vec<u8>> = ports
        .iter()
        .map(|p| {
            let mut b = Vec::with_capacity(72);
            match version {
                Version::Of10 => p.emit_of10(&mut b),
                Version::Of13 => p.emit_of11(&mut b),
                Version::Of14 => p.emit_of14(&mut b),
            }
            b
        })
        .collect();
    MultipartReply::new(version, xid, ofpst::PORT_DESC).split(&entries)
}

/// The port a PORT stats request asks for (OF1.0 numbering; OFPP_NONE: all).
pub fn decode_port_stats_request(version: Version, body: &[u8]) -> Result<u16, StatsError> {
    match version {
        Version::Of10 if body.len() >= 2 => Ok(be16(body, 0)),
        Version::Of13 | Version::Of14 if body.len() >= 4 => Ok(port_from_ofp11(be32(body, 0))?),
        _ => Err(StatsError::BadLen),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::{hex, to_hex};

    #[test]
    fn flow_stats_requests_from_ovs_ofctl() {
        // dump-flows br0 (NXST_FLOW, all tables) and dump-flows cookie=0x99/-1.
        let r = FlowStatsRequest::decode_nx(&hex("ffff0000ff000000"), false).unwrap();
        assert_eq!((r.table_id, r.out_port, r.cookie_mask), (0xff, 0xffff, 0));
        let r = FlowStatsRequest::decode_nx(
            &hex("ffff000cff00000000013c08000000000000009900000000"),
            false,
        )
        .unwrap();
        assert_eq!((r.cookie, r.cookie_mask), (0x99, u64::MAX));
        // -O OpenFlow13 dump-flows br0 table=2.
        let r = FlowStatsRequest::decode_of11(
            &hex(
                "02000000ffffffffffffffff00000000000000000000000000000000000000000001000400000000",
            ),
            false,
        )
        .unwrap();
        assert_eq!(
            (r.table_id, r.out_port, r.out_group),
            (2, 0xffff, 0xffffffff)
        );
        assert_eq!(r.wire_match, WireMatch::Tlvs(vec![]));
        // NXST request with bytes after the match.
        assert_eq!(
            FlowStatsRequest::decode_nx(&hex("ffff0000ff0000000000000000000000"), false)
                .unwrap_err()
                .of_error(),
            OfError::OFPBRC_BAD_LEN
        );
    }

    #[test]
    fn split_packs_entries_like_ovs() {
        let r = MultipartReply::new(Version::Of13, 7, ofpst::TABLE_FEATURES);
        let entries = vec![
            vec![1u8; 30000],
            vec![2u8; 30000],
            vec![3u8; 30000],
            vec![4u8; 8],
        ];
        let msgs = r.split(&entries);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].len(), 16 + 60000);
        assert_eq!(&msgs[0][8..12], &hex("000c0001")[..]);
        assert_eq!(msgs[1].len(), 16 + 30008);
        assert_eq!(&msgs[1][8..12], &hex("000c0000")[..]);
        // An entry that exactly fills a message.
        let msgs = r.split(&[vec![0u8; MAX_MESSAGE_LEN - 16]]);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].len(), MAX_MESSAGE_LEN);
        // Too big: left out.
        let msgs = r.split(&[vec![0u8; MAX_MESSAGE_LEN - 15]]);
        assert_eq!(msgs, vec![hex("0413001000000007000c000000000000")]);
        // OF1.0 header.
        let r = MultipartReply::new(Version::Of10, 2, ofpst::TABLE);
        assert_eq!(
            to_hex(&r.split::<Vec<u8>>(&[])[0]),
            "0111000c0000000200030000"
        );
        let r = MultipartReply::nicira(4, nxst::FLOW);
        assert_eq!(
            to_hex(&r.single(&[])),
            "0111001800000004ffff0000000023200000000000000000"
        );
    }

    #[test]
    fn desc_reply_is_ovs_reply() {
        // dump-desc br0 (OF1.0): ovs-vswitchd 3.1.0's reply, 12 + 1056 bytes.
        let m = DescStats::ovs_defaults("3.1.0").encode_reply(Version::Of10, 2);
        assert_eq!(m.len(), 0x42c);
        assert_eq!(
            to_hex(&m[..24]),
            "0111042c00000002000000004e69636972612c20496e632e"
        );
        let m13 = DescStats::ovs_defaults("3.1.0").encode_reply(Version::Of13, 2);
        assert_eq!(to_hex(&m13[..16]), "04130430000000020000000000000000");
    }
}
