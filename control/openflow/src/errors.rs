//! OpenFlow errors as Open vSwitch 3.1 numbers them per version, and OFPT_ERROR
//! messages.
//!
//! [`OfError`] is the version-independent identity of an error (OVS's
//! `enum ofperr`, with OVS's names as constants: `OfError::OFPBRC_BAD_TYPE`, ...).
//! Its wire form ([`WireError`]: vendor, type, code) depends on the version: OpenFlow
//! 1.0 numbers most types differently from 1.1+ (1.0 has no BAD_INSTRUCTION or
//! BAD_MATCH types), and errors that a version lacks are sent as Nicira vendor
//! errors (OF1.0/1.1: type NXET_VENDOR 0xb0c2 + `nx_vendor_error`) or experimenter
//! errors (OF1.2+: type 0xffff, code = experimenter type, then the experimenter id).
//! The table is generated from OVS's `ofp-errors.h` by `tools/gen_tables.py`, so it
//! is OVS's mapping, not a transcription. An error that OVS cannot express in a
//! version goes out as NXBRC_UNENCODABLE_ERROR, as OVS does.
//!
//! OVS copies the whole offending message into the error's data (as much as fits in
//! 65535 bytes), not only its first 64 bytes: [`encode_error`] does the same.

use std::fmt;

use crate::bytes::{be16, be32, Put};
use crate::framing::{finish_message, ofpt, Header, HEADER_LEN, MAX_MESSAGE_LEN};
use crate::generated::errors::{DESCRIPTIONS, NAMES, N_ERRORS, TRIPLETS};

/// Nicira vendor id (`NX_VENDOR_ID`).
pub const NX_VENDOR_ID: u32 = 0x0000_2320;
/// Open Networking Foundation experimenter id (`ONF_VENDOR_ID`).
pub const ONF_VENDOR_ID: u32 = 0x4f4e_4600;
/// OF1.0/1.1 error type carrying a vendor error (`NXET_VENDOR`).
pub const NXET_VENDOR: u16 = 0xb0c2;
/// OF1.2+ error type carrying an experimenter error (`OFPET12_EXPERIMENTER`).
pub const OFPET12_EXPERIMENTER: u16 = 0xffff;

/// An OpenFlow error, independent of version (OVS's `enum ofperr`). The constants
/// (`OfError::OFPBRC_BAD_LEN`, `OfError::OFPBMC_DUP_FIELD`, ...) are generated from
/// OVS's `ofp-errors.h` and carry its descriptions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfError(pub(crate) u16);

/// An error as it is numbered in one OpenFlow version: `vendor` 0 for a standard
/// error, else the vendor/experimenter whose `err_type`/`code` these are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WireError {
    pub vendor: u32,
    pub err_type: u16,
    pub code: u16,
}

fn domain(version: u8) -> Option<usize> {
    matches!(version, 1..=6).then(|| usize::from(version) - 1)
}

impl OfError {
    /// OVS's name without the `OFPERR_` prefix, e.g. "OFPBRC_BAD_TYPE".
    pub fn name(self) -> &'static str {
        NAMES[usize::from(self.0)]
    }

    /// OVS's description, e.g. "ofp_header.type not supported.".
    pub fn description(self) -> &'static str {
        DESCRIPTIONS[usize::from(self.0)]
    }

    /// The error named `name` (with or without the `OFPERR_` prefix).
    pub fn from_name(name: &str) -> Option<OfError> {
        let name = name.strip_prefix("OFPERR_").unwrap_or(name);
        NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| OfError(i as u16))
    }

    /// How `self` is numbered in wire version `version` (1.0 = 0x01 ... 1.5 =
    /// 0x06), or `None` if OVS cannot express it in that version.
    pub fn wire(self, version: u8) -> Option<WireError> {
        let (vendor, t, c) = TRIPLETS[domain(version)?][usize::from(self.0)];
        (vendor >= 0).then_some(WireError {
            vendor: vendor as u32,
            err_type: t as u16,
            code: c as u16,
        })
    }

    /// The error numbered `vendor`/`err_type`/`code` in `version`, as OVS decodes it
    /// (the first one in OVS's order, where a version merges two errors).
    pub fn from_wire(version: u8, w: WireError) -> Option<OfError> {
        let d = &TRIPLETS[domain(version)?];
        let want = (w.vendor as i32, i32::from(w.err_type), i32::from(w.code));
        d.iter().position(|t| *t == want).map(|i| OfError(i as u16))
    }

    /// Every error OVS defines, in its order.
    pub fn all() -> impl Iterator<Item = OfError> {
        (0..N_ERRORS as u16).map(OfError)
    }
}

impl fmt::Debug for OfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for OfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.description())
    }
}

/// Encodes an OFPT_ERROR message for `error` as OVS 3.1's `ofperr_encode_msg__`
/// does: numbered for `version` (an unknown version falls back to OpenFlow 1.0's
/// numbering and header version), vendor errors in the Nicira (OF1.0/1.1) or
/// experimenter (OF1.2+) form, then `data` (normally the offending message) cut
/// to what fits in 65535 bytes.
pub fn encode_error(version: u8, xid: u32, error: OfError, data: &[u8]) -> Vec<u8> {
    let header_version = if domain(version).is_some() {
        version
    } else {
        0x01
    };
    let w = match error.wire(header_version) {
        Some(w) => w,
        None => OfError::NXBRC_UNENCODABLE_ERROR
            .wire(header_version)
            .expect("NXBRC_UNENCODABLE_ERROR is encodable in every version"),
    };
    let mut buf = Vec::with_capacity(HEADER_LEN + 16 + data.len());
    Header {
        version: header_version,
        msg_type: ofpt::ERROR,
        length: 0,
        xid,
    }
    .emit(&mut buf);
    if w.vendor == 0 {
        buf.put_u16(w.err_type);
        buf.put_u16(w.code);
    } else if version <= 0x02 {
        buf.put_u16(NXET_VENDOR);
        buf.put_u16(0); // NXVC_VENDOR_ERROR
        buf.put_u32(w.vendor);
        buf.put_u16(w.err_type);
        buf.put_u16(w.code);
    } else {
        buf.put_u16(OFPET12_EXPERIMENTER);
        buf.put_u16(w.err_type);
        buf.put_u32(w.vendor);
    }
    let room = MAX_MESSAGE_LEN - buf.len();
    buf.extend_from_slice(&data[..data.len().min(room)]);
    finish_message(buf)
}

/// The OFPT_ERROR reply to the request `msg` (whole message, header included):
/// the request's version and xid, and the request as data. `msg` shorter than a
/// header gets version 0x01 and xid 0.
pub fn encode_error_reply(error: OfError, msg: &[u8]) -> Vec<u8> {
    let (version, xid) = Header::parse(msg).map_or((0x01, 0), |h| (h.version, h.xid));
    encode_error(version, xid, error, msg)
}

/// A decoded OFPT_ERROR message (switches rarely receive them; useful to read what
/// a peer or a test capture says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMsg {
    pub version: u8,
    pub xid: u32,
    /// The error in the message's numbering (vendor errors unwrapped).
    pub wire: WireError,
    /// What it is, if OVS knows that number in that version.
    pub error: Option<OfError>,
    /// The data after the error (and vendor) header.
    pub data: Vec<u8>,
}

/// Why an OFPT_ERROR message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ErrorMsgError {
    #[error("not an OFPT_ERROR message")]
    NotAnError,
    #[error("OFPT_ERROR message too short")]
    Truncated,
}

impl ErrorMsg {
    /// Reads an OFPT_ERROR message (whole message, header included).
    pub fn parse(msg: &[u8]) -> Result<ErrorMsg, ErrorMsgError> {
        let h = Header::parse(msg).ok_or(ErrorMsgError::Truncated)?;
        if h.msg_type != ofpt::ERROR {
            return Err(ErrorMsgError::NotAnError);
        }
        let msg = &msg[..usize::from(h.length).clamp(HEADER_LEN, msg.len())];
        if msg.len() < HEADER_LEN + 4 {
            return Err(ErrorMsgError::Truncated);
        }
        let (t, c) = (be16(msg, 8), be16(msg, 10));
        let (wire, data_ofs) = if t == NXET_VENDOR && h.version <= 0x02 {
            if msg.len() < 20 {
                return Err(ErrorMsgError::Truncated);
            }
            (
                WireError {
                    vendor: be32(msg, 12),
                    err_type: be16(msg, 16),
                    code: be16(msg, 18),
                },
                20,
            )
        } else if t == OFPET12_EXPERIMENTER && h.version >= 0x03 {
            if msg.len() < 16 {
                return Err(ErrorMsgError::Truncated);
            }
            (
                WireError {
                    vendor: be32(msg, 12),
                    err_type: c,
                    code: 0,
                },
                16,
            )
        } else {
            (
                WireError {
                    vendor: 0,
                    err_type: t,
                    code: c,
                },
                12,
            )
        };
        let lookup = match wire.vendor {
            0 => wire,
            // Experimenter errors have a type only; OVS's tables hold code 0 for them.
            _ if h.version >= 0x03 => WireError { code: 0, ..wire },
            _ => wire,
        };
        Ok(ErrorMsg {
            version: h.version,
            xid: h.xid,
            wire,
            error: OfError::from_wire(h.version, lookup),
            data: msg[data_ofs..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::{hex, to_hex};

    #[test]
    fn names_and_numbers_per_version() {
        let e = OfError::OFPBRC_BAD_TYPE;
        assert_eq!(e.name(), "OFPBRC_BAD_TYPE");
        assert_eq!(OfError::from_name("OFPERR_OFPBRC_BAD_TYPE"), Some(e));
        assert_eq!(
            e.wire(1),
            Some(WireError {
                vendor: 0,
                err_type: 1,
                code: 1
            })
        );
        assert_eq!(
            e.wire(4),
            Some(WireError {
                vendor: 0,
                err_type: 1,
                code: 1
            })
        );
        // OF1.0 has no BAD_MATCH type: Nicira numbers, or nothing.
        assert_eq!(
            OfError::OFPBMC_DUP_FIELD.wire(1),
            Some(WireError {
                vendor: NX_VENDOR_ID,
                err_type: 1,
                code: 261
            })
        );
        assert_eq!(
            OfError::OFPBMC_DUP_FIELD.wire(4),
            Some(WireError {
                vendor: 0,
                err_type: 4,
                code: 10
            })
        );
        assert_eq!(OfError::OFPBMC_BAD_LEN.wire(1), None);
        assert_eq!(
            OfError::OFPFMFC_BAD_COMMAND.wire(1),
            Some(WireError {
                vendor: 0,
                err_type: 3,
                code: 4
            })
        );
        assert_eq!(
            OfError::OFPFMFC_BAD_COMMAND.wire(4),
            Some(WireError {
                vendor: 0,
                err_type: 5,
                code: 6
            })
        );
        assert_eq!(
            OfError::OFPBFC_BAD_ID.wire(4),
            Some(WireError {
                vendor: ONF_VENDOR_ID,
                err_type: 2302,
                code: 0
            })
        );
        assert_eq!(
            OfError::OFPBFC_BAD_ID.wire(5),
            Some(WireError {
                vendor: 0,
                err_type: 17,
                code: 2
            })
        );
        assert_eq!(OfError::all().count(), N_ERRORS);
        for e in OfError::all() {
            if let Some(w) = e.wire(4) {
                // Where OVS merges two errors into one number, it decodes the first.
                let back = OfError::from_wire(4, w).unwrap();
                assert_eq!(back.wire(4), Some(w));
            }
        }
    }

    // Replies of ovs-vswitchd 3.1 to malformed requests, captured with
    // tests/capture/ofsend.py (see tests/capture/README.md).
    #[test]
    fn standard_errors_carry_the_whole_request() {
        // OF1.0 FLOW_MOD of 28 bytes -> OFPBRC_BAD_LEN.
        let req = hex("010e001c000000020000000000000000000000000000000000000000");
        let ovs =
            "010100280000000200010006010e001c000000020000000000000000000000000000000000000000";
        assert_eq!(
            to_hex(&encode_error_reply(OfError::OFPBRC_BAD_LEN, &req)),
            ovs
        );
        // OF1.3 message type 0x30 -> OFPBRC_BAD_TYPE.
        let req = hex("0430000800000002");
        assert_eq!(
            to_hex(&encode_error_reply(OfError::OFPBRC_BAD_TYPE, &req)),
            "0401001400000002000100010430000800000002"
        );
    }

    #[test]
    fn nicira_vendor_errors_in_of10() {
        // NXT_FLOW_MOD with a duplicated NXM field -> OFPBMC_DUP_FIELD as NX (1,261).
        let req = hex(
            "0104004000000002000023200000000d00000000000000000000000000008000ffffffffffff0000000c00000000000000000002000100000002000200000000",
        );
        let ovs = "0101005400000002b0c2000000002320000101050104004000000002000023200000000d00000000000000000000000000008000ffffffffffff0000000c00000000000000000002000100000002000200000000";
        assert_eq!(
            to_hex(&encode_error_reply(OfError::OFPBMC_DUP_FIELD, &req)),
            ovs
        );
        // A truncated nx_match is OFPBMC_BAD_LEN, which OF1.0 cannot express: OVS
        // sends NXBRC_UNENCODABLE_ERROR (1,521).
        let req = hex("0104003800000002000023200000000d00000000000000000000000000008000ffffffffffff000000060000000000000000000400010000");
        let ovs = "0101004c00000002b0c2000000002320000102090104003800000002000023200000000d00000000000000000000000000008000ffffffffffff000000060000000000000000000400010000";
        assert_eq!(
            to_hex(&encode_error_reply(OfError::OFPBMC_BAD_LEN, &req)),
            ovs
        );
    }

    #[test]
    fn experimenter_errors_in_of13_and_of14() {
        // ONF bundle COMMIT of an unknown bundle (OF1.3) -> OFPBFC_BAD_ID as ONF 2302.
        let req = hex("04040018000000024f4e4600000008fc0000000700040000");
        let ovs =
            "0401002800000002ffff08fe4f4e460004040018000000024f4e4600000008fc0000000700040000";
        assert_eq!(
            to_hex(&encode_error_reply(OfError::OFPBFC_BAD_ID, &req)),
            ovs
        );
        // OF1.4 BUNDLE_ADD whose inner message has another version -> NX 22.
        let req = hex("052200180000000300000008000000030414000800000003");
        let ovs =
            "0501002800000003ffff001600002320052200180000000300000008000000030414000800000003";
        assert_eq!(
            to_hex(&encode_error_reply(OfError::OFPBFC_BAD_VERSION, &req)),
            ovs
        );
        let back = ErrorMsg::parse(&hex(ovs)).unwrap();
        assert_eq!(back.error, Some(OfError::OFPBFC_BAD_VERSION));
        assert_eq!(back.data, req);
    }

    #[test]
    fn parse_reads_every_form() {
        let m = ErrorMsg::parse(&hex(
            "0101004c00000002b0c2000000002320000102090104003800000002000023200000000d00000000000000000000000000008000ffffffffffff000000060000000000000000000400010000",
        ))
        .unwrap();
        assert_eq!(m.error, Some(OfError::NXBRC_UNENCODABLE_ERROR));
        let m = ErrorMsg::parse(&hex("0401001400000002000100010430000800000002")).unwrap();
        assert_eq!(m.error, Some(OfError::OFPBRC_BAD_TYPE));
        assert_eq!(m.data, hex("0430000800000002"));
        assert_eq!(
            ErrorMsg::parse(&hex("0402000800000002")),
            Err(ErrorMsgError::NotAnError)
        );
        assert_eq!(
            ErrorMsg::parse(&hex("0401000a00000002")),
            Err(ErrorMsgError::Truncated)
        );
    }

    #[test]
    fn unknown_versions_fall_back_to_of10() {
        let e = encode_error(0x07, 0, OfError::OFPHFC_INCOMPATIBLE, b"x");
        assert_eq!(to_hex(&e), "0101000d000000000000000078");
    }

    #[test]
    fn data_is_cut_to_the_message_limit() {
        let big = vec![0u8; 70000];
        let e = encode_error(4, 1, OfError::OFPBRC_BAD_LEN, &big);
        assert_eq!(e.len(), MAX_MESSAGE_LEN);
        assert_eq!(Header::parse(&e).unwrap().length, 65535);
    }
}
