//! NXM and OXM match TLVs, kept at the wire level.
//!
//! Both formats are a sequence of TLVs with a 32-bit header `class:16 field:7
//! hasmask:1 length:8` followed by `length` bytes of value (and mask, if hasmask).
//! NXM (Nicira, OF1.0 `nx_match`) uses classes 0x0000/0x0001 and has no framing of
//! its own (its length is in the enclosing message, which pads it to 8 bytes); OXM
//! (OF1.2+ `ofp_match` of type OFPMT_OXM) wraps the TLVs in a 4-byte
//! {type, length} header and pads the whole to 8 bytes; its classes are 0x8000
//! (basic), 0x8001 (packet registers) and 0xffff (experimenter: the 32-bit
//! experimenter id follows the header and is counted in `length`). Actions carry
//! the same headers (NXAST_REG_MOVE, NXAST_LEARN, SET_FIELD) with either prefix.
//!
//! Decoding validates what OVS's `nx_pull_raw` validates without interpreting
//! values: truncated TLVs (OFPBMC_BAD_LEN), headers OVS does not know
//! (OFPBMC_BAD_FIELD; the table of known headers is generated from OVS's
//! `meta-flow.h`), value bits outside the mask (OFPBMC_BAD_WILDCARDS), masks on
//! fields that cannot be masked (OFPBMC_BAD_MASK) and fields given twice
//! (OFPBMC_DUP_FIELD, per OVS field, so `NXM_OF_IN_PORT` + `OXM_OF_IN_PORT`
//! counts, as do the overlapping VLAN TCI and IP TOS fields), values the field
//! cannot have (OFPBMC_BAD_VALUE: `vlan_vid` with PCP bits, `nw_tos` with ECN
//! bits, an `OXM_OF_IN_PORT` outside both port ranges) and prerequisites
//! not met by the TLVs before (OFPBMC_BAD_PREREQ: `ip_src` needs `eth_type=0x0800`
//! first, `nd_target` an ICMPv6 type 135/136; OVS's rules, generated from
//! `meta-flow.h`, checked as `mf_are_match_prereqs_ok` does).

mod valid;

pub use valid::value_is_valid;

use crate::bytes::{be16, be32, be64, round_up8, Put};
use crate::errors::OfError;
use crate::generated::fields::{FIELDS, HEADERS};

/// OXM class of NXM fields from OpenFlow 1.0 (`NXM_OF_*`).
pub const OXM_CLASS_NXM_0: u16 = 0x0000;
/// OXM class of Nicira extension fields (`NXM_NX_*`).
pub const OXM_CLASS_NXM_1: u16 = 0x0001;
/// OpenFlow basic class (`OXM_OF_*`).
pub const OXM_CLASS_OPENFLOW_BASIC: u16 = 0x8000;
/// Packet registers (OF1.5 `OXM_OF_PKT_REG*`).
pub const OXM_CLASS_PACKET_REGS: u16 = 0x8001;
/// Experimenter class: a 32-bit experimenter id follows the header.
pub const OXM_CLASS_EXPERIMENTER: u16 = 0xffff;
/// `ofp_match.type` of an OXM match.
pub const OFPMT_OXM: u16 = 1;
/// `ofp_match.type` of the OF1.1 fixed match.
pub const OFPMT_STANDARD: u16 = 0;

/// A field OVS knows (one entry of its `enum mf_field_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldInfo {
    /// OVS's name, e.g. "in_port", "eth_dst", "tun_id".
    pub name: &'static str,
    /// Width of the value in bytes (the largest, for variable-length fields).
    pub n_bytes: u8,
    /// False for fields that only match exactly (OVS's MFM_NONE).
    pub maskable: bool,
    /// True for the variable-length tunnel metadata fields.
    pub variable: bool,
    /// What earlier TLVs of the match must say for this field to be allowed.
    pub prereq: Prereq,
}

/// OVS's `enum mf_prereqs`: what a match must already hold for a field to be
/// matched (e.g. `ip_src` needs `eth_type=0x0800` before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prereq {
    None,
    /// Packet type Ethernet (the default).
    Ethernet,
    /// eth_type ARP or RARP.
    Arp,
    /// A VLAN header (the CFI bit of vlan_tci set).
    VlanVid,
    Ipv4,
    Ipv6,
    /// IPv4 or IPv6.
    IpAny,
    Nsh,
    /// A ct_state that implies a valid connection-tracking entry.
    CtValid,
    Mpls,
    Tcp,
    Udp,
    Sctp,
    Icmpv4,
    Icmpv6,
    /// ICMPv6 neighbor solicitation or advertisement (type 135/136, code 0).
    Nd,
    NdSolicit,
    NdAdvert,
}

/// An NXM/OXM header OVS knows, and its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownHeader {
    /// Experimenter id (0 unless `class` is 0xffff).
    pub experimenter: u32,
    pub class: u16,
    pub field: u8,
    /// `length` of the unmasked header (experimenter id included).
    pub length: u8,
    pub(crate) field_index: u16,
    /// OVS's name, e.g. "NXM_OF_IN_PORT", "OXM_OF_ETH_DST".
    pub name: &'static str,
    /// First OpenFlow wire version with this header (0: any); OVS encodes a field
    /// with the newest header whose version is at most the connection's.
    pub version: u8,
}

impl KnownHeader {
    /// The field this header carries.
    pub fn field_info(&self) -> &'static FieldInfo {
        &FIELDS[usize::from(self.field_index)]
    }

    /// The field's index in OVS's `enum mf_field_id` order: equal for two headers
    /// of one field (e.g. `NXM_NX_TUN_ID` and `OXM_OF_TUNNEL_ID`).
    pub fn field_id(&self) -> u16 {
        self.field_index
    }

    /// The unmasked header.
    pub fn header(&self) -> TlvHeader {
        TlvHeader::new(
            self.class,
            self.field,
            false,
            self.length,
            self.experimenter,
        )
    }
}

/// Every header OVS 3.1 knows.
pub fn known_headers() -> &'static [KnownHeader] {
    &HEADERS
}

/// An NXM/OXM header: the 32-bit word and, for the experimenter class, the
/// experimenter id that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TlvHeader {
    /// `class << 16 | field << 9 | hasmask << 8 | length`.
    pub header: u32,
    /// The experimenter id, present exactly when the class is 0xffff.
    pub experimenter: Option<u32>,
}

impl TlvHeader {
    /// A header from its parts (`experimenter` is used only for class 0xffff).
    pub fn new(class: u16, field: u8, has_mask: bool, length: u8, experimenter: u32) -> TlvHeader {
        let header = (u32::from(class) << 16)
            | (u32::from(field & 0x7f) << 9)
            | (u32::from(has_mask) << 8)
            | u32::from(length);
        TlvHeader {
            header,
            experimenter: (class == OXM_CLASS_EXPERIMENTER).then_some(experimenter),
        }
    }

    /// From OVS's 64-bit form (32-bit header, then experimenter id or 0).
    pub fn from_u64(h: u64) -> TlvHeader {
        let header = (h >> 32) as u32;
        let exp = (header >> 16) as u16 == OXM_CLASS_EXPERIMENTER;
        TlvHeader {
            header,
            experimenter: exp.then_some(h as u32),
        }
    }

    /// OVS's 64-bit form.
    pub fn to_u64(self) -> u64 {
        (u64::from(self.header) << 32) | u64::from(self.experimenter.unwrap_or(0))
    }

    pub fn class(self) -> u16 {
        (self.header >> 16) as u16
    }
    pub fn field(self) -> u8 {
        ((self.header >> 9) & 0x7f) as u8
    }
    pub fn has_mask(self) -> bool {
        self.header & 0x100 != 0
    }
    /// The header's `length` byte (experimenter id included).
    pub fn length(self) -> u8 {
        self.header as u8
    }
    fn experimenter_len(self) -> usize {
        if self.class() == OXM_CLASS_EXPERIMENTER {
            4
        } else {
            0
        }
    }
    /// Bytes on the wire for the header (4, or 8 with an experimenter id).
    pub fn wire_len(self) -> usize {
        4 + self.experimenter_len()
    }
    /// Bytes of value and mask after the header (and experimenter id).
    pub fn payload_len(self) -> usize {
        usize::from(self.length()).saturating_sub(self.experimenter_len())
    }
    /// Bytes of the value alone.
    pub fn value_len(self) -> usize {
        if self.has_mask() {
            self.payload_len() / 2
        } else {
            self.payload_len()
        }
    }
    /// The unmasked form of this header (OVS's `nxm_make_exact_header`).
    pub fn exact(self) -> TlvHeader {
        let len = self.value_len() + self.experimenter_len();
        TlvHeader::new(
            self.class(),
            self.field(),
            false,
            len as u8,
            self.experimenter.unwrap_or(0),
        )
    }
    /// The masked form of this (unmasked) header (OVS's `nxm_make_wild_header`).
    pub fn masked(self) -> TlvHeader {
        let len = self.payload_len() * 2 + self.experimenter_len();
        TlvHeader::new(
            self.class(),
            self.field(),
            true,
            len as u8,
            self.experimenter.unwrap_or(0),
        )
    }

    /// The header as OVS knows it (OVS's `nxm_field_by_header`): same class, field
    /// and experimenter, and the same value length unless the field's length varies.
    pub fn known(self) -> Option<&'static KnownHeader> {
        let h = self.exact();
        // OVS compares headers without the low 7 bits of `length`.
        let key = |class: u16, field: u8, len: u8, exp: u32| (class, field, len & 0x80, exp);
        let want = key(
            h.class(),
            h.field(),
            h.length(),
            h.experimenter.unwrap_or(0),
        );
        let k = HEADERS
            .iter()
            .find(|k| key(k.class, k.field, k.length, k.experimenter) == want)?;
        (k.length == h.length() || k.field_info().variable).then_some(k)
    }

    /// Appends the header (and experimenter id).
    pub fn emit(self, buf: &mut Vec<u8>) {
        buf.put_u32(self.header);
        if let Some(e) = self.experimenter {
            buf.put_u32(e);
        }
    }

    /// Reads one header from the start of `b` (OVS's `nx_pull_header__` length
    /// checks): `None` if `b` is too short for it or its `length` is smaller than
    /// the experimenter id.
    pub fn parse(b: &[u8]) -> Option<TlvHeader> {
        if b.len() < 4 {
            return None;
        }
        let header = be32(b, 0);
        let experimenter = if (header >> 16) as u16 == OXM_CLASS_EXPERIMENTER {
            if b.len() < 8 || (header as u8) < 4 {
                return None;
            }
            Some(be32(b, 4))
        } else {
            None
        };
        Some(TlvHeader {
            header,
            experimenter,
        })
    }
}

/// The NXM_NX_COOKIE pseudo-field (NXT_FLOW_MOD and NXST flow requests only).
pub const NXM_NX_COOKIE: u32 = 0x0001_3c08;
/// NXM_NX_COOKIE_W.
pub const NXM_NX_COOKIE_W: u32 = 0x0001_3d10;

/// One match TLV.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatchTlv {
    /// The header as on the wire (hasmask set and length doubled when masked).
    pub header: TlvHeader,
    pub value: Vec<u8>,
    pub mask: Option<Vec<u8>>,
}

impl MatchTlv {
    /// An exact-match TLV for the unmasked header `header`.
    pub fn exact(header: TlvHeader, value: Vec<u8>) -> MatchTlv {
        MatchTlv {
            header: header.exact(),
            value,
            mask: None,
        }
    }

    /// A masked TLV for the unmasked header `header`.
    pub fn masked(header: TlvHeader, value: Vec<u8>, mask: Vec<u8>) -> MatchTlv {
        MatchTlv {
            header: header.exact().masked(),
            value,
            mask: Some(mask),
        }
    }

    /// The field, if OVS knows the header.
    pub fn known(&self) -> Option<&'static KnownHeader> {
        self.header.known()
    }

    /// Bytes on the wire.
    pub fn wire_len(&self) -> usize {
        self.header.wire_len() + self.value.len() + self.mask.as_ref().map_or(0, Vec::len)
    }

    /// Appends the TLV.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        self.header.emit(buf);
        buf.extend_from_slice(&self.value);
        if let Some(m) = &self.mask {
            buf.extend_from_slice(m);
        }
    }
}

/// Why a match could not be decoded; [`MatchError::of_error`] is what OVS replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("partial NXM/OXM header at offset {offset}")]
    TruncatedHeader { offset: usize },
    #[error("NXM/OXM entry {header:08x} at offset {offset} calls for more bytes than follow")]
    TruncatedPayload { header: u32, offset: usize },
    #[error("NXM/OXM header {header:08x} is unknown")]
    UnknownField { header: u32 },
    #[error("NXM/OXM entry {header:08x} has 1-bits in its value where its mask has 0-bits")]
    InconsistentMask { header: u32 },
    #[error("NXM/OXM entry {header:08x} has a mask but its field cannot be masked")]
    BadMask { header: u32 },
    #[error("field of NXM/OXM entry {header:08x} given twice")]
    DuplicateField { header: u32 },
    #[error("NXM/OXM entry {header:08x} has a value its field cannot have")]
    BadValue { header: u32 },
    #[error("prerequisites of NXM/OXM entry {header:08x} not met by the entries before it")]
    BadPrereq { header: u32 },
    #[error("ofp_match type {match_type} is not OXM")]
    BadMatchType { match_type: u16 },
    #[error("match length {length} does not fit in the message")]
    BadMatchLength { length: usize },
}

impl MatchError {
    /// The error OVS sends for this.
    pub fn of_error(self) -> OfError {
        match self {
            MatchError::TruncatedHeader { .. }
            | MatchError::TruncatedPayload { .. }
            | MatchError::BadMatchLength { .. } => OfError::OFPBMC_BAD_LEN,
            MatchError::UnknownField { .. } => OfError::OFPBMC_BAD_FIELD,
            MatchError::InconsistentMask { .. } => OfError::OFPBMC_BAD_WILDCARDS,
            MatchError::BadMask { .. } => OfError::OFPBMC_BAD_MASK,
            MatchError::DuplicateField { .. } => OfError::OFPBMC_DUP_FIELD,
            MatchError::BadValue { .. } => OfError::OFPBMC_BAD_VALUE,
            MatchError::BadPrereq { .. } => OfError::OFPBMC_BAD_PREREQ,
            MatchError::BadMatchType { .. } => OfError::OFPBMC_BAD_TYPE,
        }
    }
}

/// A decoded match's TLVs, and the NXM_NX_COOKIE pseudo-field where one is allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlvMatch {
    /// The TLVs in wire order, the cookie pseudo-field excluded.
    pub tlvs: Vec<MatchTlv>,
    /// (cookie, cookie_mask) from NXM_NX_COOKIE(_W); (0, 0) when absent.
    pub cookie: (u64, u64),
}

/// Which flow bits a field's TLV covers, for OVS's duplicate check
/// (`mf_is_all_wild` before `mf_set`): fields sharing storage conflict.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Storage {
    Field(u16),
    InPort,
    VlanTci,
    NwTos,
}

/// (storage, bits checked for "already set", bits set) for a TLV of field `k`.
fn storage(k: &KnownHeader, mask: Option<&[u8]>) -> (Storage, u16, u16) {
    let mask16 = mask.filter(|m| m.len() == 2).map_or(0xffff, |m| be16(m, 0));
    match k.field_info().name {
        "in_port" | "in_port_oxm" => (Storage::InPort, 1, 1),
        "vlan_tci" => (Storage::VlanTci, 0xffff, mask16),
        "dl_vlan" => (Storage::VlanTci, 0x0fff, 0x1fff),
        "vlan_vid" => (Storage::VlanTci, 0x1fff, mask16 & 0x1fff),
        "dl_vlan_pcp" | "vlan_pcp" => (Storage::VlanTci, 0xe000, 0xf000),
        "nw_tos" | "ip_dscp" => (Storage::NwTos, 0xfc, 0xfc),
        "nw_ecn" => (Storage::NwTos, 0x03, 0x03),
        _ => (Storage::Field(k.field_index), 1, 1),
    }
}

/// What the prerequisite checks need of the match decoded so far (the fields of
/// OVS's `struct flow` that `mf_are_prereqs_ok` reads), values masked.
#[derive(Default)]
struct PrereqState {
    packet_type: u32,
    dl_type: u16,
    tci: u16,
    nw_proto: u8,
    nw_frag: u8,
    tp_src: u16,
    tp_dst: u16,
    ct_state: u32,
    ct_state_mask: u32,
}

fn masked_be(value: &[u8], mask: Option<&[u8]>) -> u64 {
    value.iter().enumerate().fold(0u64, |acc, (i, v)| {
        let m = mask.and_then(|m| m.get(i)).copied().unwrap_or(0xff);
        (acc << 8) | u64::from(v & m)
    })
}

impl PrereqState {
    /// OVS's `get_dl_type`.
    fn dl_type(&self) -> u16 {
        if self.packet_type == 0 {
            self.dl_type
        } else if self.packet_type >> 16 == 1 {
            self.packet_type as u16
        } else {
            0
        }
    }

    fn is_ip_any(&self) -> bool {
        matches!(self.dl_type(), 0x0800 | 0x86dd)
    }

    fn is_ip_proto(&self, proto: u8) -> bool {
        self.is_ip_any() && self.nw_proto == proto
    }

    fn is_icmpv6(&self) -> bool {
        self.dl_type() == 0x86dd && self.nw_proto == 58
    }

    fn is_nd(&self) -> bool {
        self.is_icmpv6() && self.tp_dst == 0 && matches!(self.tp_src, 135 | 136)
    }

    /// OVS's `mf_are_prereqs_ok__` for a match.
    fn ok(&self, p: Prereq) -> bool {
        const CS_VALID: u32 = 0x01 | 0x02 | 0x04 | 0x08 | 0x40 | 0x80;
        const CS_INVALID: u32 = 0x10;
        const CS_TRACKED: u32 = 0x20;
        const FRAG_LATER: u8 = 2;
        let not_later = self.nw_frag & FRAG_LATER == 0;
        match p {
            Prereq::None => true,
            Prereq::Ethernet => self.packet_type == 0,
            Prereq::Arp => matches!(self.dl_type(), 0x0806 | 0x8035),
            Prereq::VlanVid => self.packet_type == 0 && self.tci & 0x1000 != 0,
            Prereq::Ipv4 => self.dl_type() == 0x0800,
            Prereq::Ipv6 => self.dl_type() == 0x86dd,
            Prereq::IpAny => self.is_ip_any(),
            Prereq::Nsh => self.dl_type() == 0x894f,
            Prereq::CtValid => {
                self.ct_state & CS_VALID != 0
                    || (self.ct_state & CS_TRACKED != 0
                        && self.ct_state_mask & CS_INVALID != 0
                        && self.ct_state & CS_INVALID == 0)
            }
            Prereq::Mpls => matches!(self.dl_type(), 0x8847 | 0x8848),
            Prereq::Tcp => self.is_ip_proto(6) && not_later,
            Prereq::Udp => self.is_ip_proto(17) && not_later,
            Prereq::Sctp => self.is_ip_proto(132) && not_later,
            Prereq::Icmpv4 => self.dl_type() == 0x0800 && self.nw_proto == 1,
            Prereq::Icmpv6 => self.is_icmpv6(),
            Prereq::Nd => self.is_nd(),
            Prereq::NdSolicit => self.is_nd() && self.tp_src == 135,
            Prereq::NdAdvert => self.is_nd() && self.tp_src == 136,
        }
    }

    /// Records what a matched field says (OVS's `mf_set` on the few fields the
    /// checks read).
    fn set(&mut self, name: &str, value: &[u8], mask: Option<&[u8]>) {
        let v = masked_be(value, mask);
        let m = mask.map_or(u64::MAX, |m| masked_be(m, None));
        match name {
            "packet_type" => self.packet_type = v as u32,
            "eth_type" => self.dl_type = v as u16,
            "vlan_tci" => self.tci = v as u16,
            "dl_vlan" => {
                self.tci = if v as u16 == 0xffff {
                    0
                } else {
                    (self.tci & !0x0fff) | 0x1000 | (v as u16 & 0x0fff)
                }
            }
            "vlan_vid" => self.tci = (self.tci & !0x1fff) | (v as u16 & 0x1fff),
            "dl_vlan_pcp" | "vlan_pcp" => {
                self.tci = (self.tci & 0x0fff) | 0x1000 | ((v as u16 & 7) << 13)
            }
            "nw_proto" => self.nw_proto = v as u8,
            "ip_frag" => self.nw_frag = v as u8,
            "icmp_type" | "icmpv6_type" | "tcp_src" | "udp_src" | "sctp_src" => {
                self.tp_src = v as u16
            }
            "icmp_code" | "icmpv6_code" | "tcp_dst" | "udp_dst" | "sctp_dst" => {
                self.tp_dst = v as u16
            }
            "ct_state" => {
                self.ct_state = v as u32;
                self.ct_state_mask = m as u32;
            }
            _ => {}
        }
    }
}

/// Decodes a sequence of NXM/OXM TLVs (an `nx_match`, or the inside of an OXM
/// `ofp_match`) as OVS's `nx_pull_raw` does, in order, stopping at the first error.
/// With `allow_cookie` (NXT_FLOW_MOD, NXST_FLOW, NXST_AGGREGATE) NXM_NX_COOKIE(_W)
/// is taken out into [`TlvMatch::cookie`]; elsewhere it is an unknown field.
pub fn parse_tlvs(b: &[u8], allow_cookie: bool) -> Result<TlvMatch, MatchError> {
    let mut out = TlvMatch::default();
    let mut set: Vec<(Storage, u16)> = Vec::new();
    let mut state = PrereqState::default();
    let mut ofs = 0;
    while ofs < b.len() {
        let rest = &b[ofs..];
        let header = TlvHeader::parse(rest).ok_or(MatchError::TruncatedHeader { offset: ofs })?;
        let hword = header.header;
        let known = header.known();
        let is_cookie = allow_cookie
            && header.experimenter.is_none()
            && (hword == NXM_NX_COOKIE || hword == NXM_NX_COOKIE_W);
        let start = header.wire_len();
        let payload_len = header.payload_len();
        if rest.len() < start + payload_len {
            return Err(MatchError::TruncatedPayload {
                header: hword,
                offset: ofs,
            });
        }
        let payload = &rest[start..start + payload_len];
        let width = header.value_len();
        let (value, mask) = if header.has_mask() {
            let (v, m) = (&payload[..width], &payload[width..2 * width]);
            if v.iter().zip(m).any(|(v, m)| v & !m != 0) {
                return Err(MatchError::InconsistentMask { header: hword });
            }
            (v, Some(m))
        } else {
            (payload, None)
        };
        ofs += start + payload_len;

        if is_cookie {
            if payload_len != 8 * if header.has_mask() { 2 } else { 1 } {
                return Err(MatchError::UnknownField { header: hword });
            }
            if out.cookie.1 != 0 {
                return Err(MatchError::DuplicateField { header: hword });
            }
            out.cookie = (be64(value, 0), mask.map_or(u64::MAX, |m| be64(m, 0)));
            continue;
        }
        let Some(k) = known else {
            return Err(MatchError::UnknownField { header: hword });
        };
        let info = k.field_info();
        if let Some(m) = mask {
            let n = m.len().min(usize::from(info.n_bytes));
            let m = &m[..n];
            // A field that cannot be masked takes only "exact" and "wild" masks.
            let exact_or_wild = m.iter().all(|&x| x == 0) || m.iter().all(|&x| x == 0xff);
            if !(info.maskable || exact_or_wild) {
                return Err(MatchError::BadMask { header: hword });
            }
        }
        if !value_is_valid(info.name, value) {
            return Err(MatchError::BadValue { header: hword });
        }
        if !state.ok(info.prereq) {
            return Err(MatchError::BadPrereq { header: hword });
        }
        let (st, check, bits) = storage(k, mask);
        if set.iter().any(|(s, b)| *s == st && b & check != 0) {
            return Err(MatchError::DuplicateField { header: hword });
        }
        state.set(info.name, value, mask);
        // A zero mask leaves the field wildcarded (OVS's mf_set_wild).
        let zero_mask = mask.is_some_and(|m| m.iter().all(|&x| x == 0));
        if !zero_mask && bits != 0 {
            set.push((st, bits));
        }
        out.tlvs.push(MatchTlv {
            header,
            value: value.to_vec(),
            mask: mask.map(<[u8]>::to_vec),
        });
    }
    Ok(out)
}

/// Decodes an OF1.2+ `ofp_match` at the start of `b` (OVS's
/// `ofputil_pull_ofp11_match` for OFPMT_OXM): returns the TLVs and the bytes the
/// match takes, padding included.
pub fn parse_oxm_match(b: &[u8]) -> Result<(TlvMatch, usize), MatchError> {
    if b.len() < 4 {
        return Err(MatchError::BadMatchLength { length: b.len() });
    }
    let (match_type, length) = (be16(b, 0), usize::from(be16(b, 2)));
    if match_type == OFPMT_STANDARD && (length != 88 || b.len() < 88) {
        // OVS wants exactly the 88 bytes of an ofp11_match.
        return Err(MatchError::BadMatchLength { length });
    }
    if match_type != OFPMT_OXM {
        // A well-formed OF1.1 standard match, which OVS would decode in any
        // version, is not supported here: reported as an unsupported match type.
        return Err(MatchError::BadMatchType { match_type });
    }
    if length < 4 || round_up8(length) > b.len() {
        return Err(MatchError::BadMatchLength { length });
    }
    let m = parse_tlvs(&b[4..length], false)?;
    Ok((m, round_up8(length)))
}

/// Appends an OXM `ofp_match` holding `tlvs`, padded to 8 bytes.
pub fn emit_oxm_match(tlvs: &[MatchTlv], buf: &mut Vec<u8>) {
    let start = buf.len();
    buf.put_u16(OFPMT_OXM);
    buf.put_u16(0);
    for t in tlvs {
        t.emit(buf);
    }
    let len = (buf.len() - start) as u16;
    buf.set_u16(start + 2, len);
    buf.pad_to_8(start);
}

/// Appends the TLVs of an `nx_match` (no padding: the enclosing structure holds
/// `match_len` and pads).
pub fn emit_tlvs(tlvs: &[MatchTlv], buf: &mut Vec<u8>) {
    for t in tlvs {
        t.emit(buf);
    }
}

#[cfg(test)]
mod tests;
