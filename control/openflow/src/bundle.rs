//! Bundles: OF1.4 OFPT_BUNDLE_CONTROL / OFPT_BUNDLE_ADD_MESSAGE, and the ONF
//! extension that carries the same bodies in OF1.3 experimenter messages
//! (experimenter 0x4f4e4600, ONFT_BUNDLE_CONTROL 2300, ONFT_BUNDLE_ADD_MESSAGE 2301)
//! — what `ovs-ofctl --bundle` (1.4) and `-O OpenFlow13 --bundle` (ONF) send.
//!
//! Both carry `ofp14_bundle_ctrl_msg` {bundle_id, type, flags}; an add message
//! follows it with the bundled message, whose version and xid must be the outer
//! message's (OVS's `ofputil_decode_bundle_add`). Replies to controls have the
//! request's form and flags 0. Which bundles exist, and committing them, is the
//! caller's.

use crate::bytes::{be16, be32, Put};
use crate::errors::{OfError, ONF_VENDOR_ID};
use crate::framing::{finish_message, ofpt, start_message, Header, HEADER_LEN};
use crate::version::Version;

/// ONF experimenter subtypes.
pub mod onft {
    pub const BUNDLE_CONTROL: u32 = 2300;
    pub const BUNDLE_ADD_MESSAGE: u32 = 2301;
}

/// `OFPBF_*` bundle flags.
pub mod ofpbf {
    pub const ATOMIC: u16 = 1 << 0;
    pub const ORDERED: u16 = 1 << 1;
}

/// `OFPBCT_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BundleCtrlType {
    OpenRequest = 0,
    OpenReply = 1,
    CloseRequest = 2,
    CloseReply = 3,
    CommitRequest = 4,
    CommitReply = 5,
    DiscardRequest = 6,
    DiscardReply = 7,
}

impl BundleCtrlType {
    fn from_wire(t: u16) -> Option<BundleCtrlType> {
        use BundleCtrlType::*;
        Some(match t {
            0 => OpenRequest,
            1 => OpenReply,
            2 => CloseRequest,
            3 => CloseReply,
            4 => CommitRequest,
            5 => CommitReply,
            6 => DiscardRequest,
            7 => DiscardReply,
            _ => return None,
        })
    }

    /// The reply type of a request type (the request type itself for replies).
    pub fn reply(self) -> BundleCtrlType {
        use BundleCtrlType::*;
        match self {
            OpenRequest => OpenReply,
            CloseRequest => CloseReply,
            CommitRequest => CommitReply,
            DiscardRequest => DiscardReply,
            r => r,
        }
    }
}

/// A BUNDLE_CONTROL request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BundleCtrl {
    /// True for the ONF OF1.3 form.
    pub onf: bool,
    pub bundle_id: u32,
    /// One of the four request types.
    pub ctrl_type: BundleCtrlType,
    /// `OFPBF_*`.
    pub flags: u16,
}

/// Why a bundle message is refused; [`BundleError::of_error`] is what OVS sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("bundle control type {0} is not a request")]
    BadType(u16),
    #[error("bundled message is truncated or its length is wrong")]
    MsgBadLen,
    #[error("bundled message has version {inner:#04x}, not the bundle's")]
    BadVersion { inner: u8 },
    #[error("bundled message has xid {inner:#x}, not the bundle's")]
    MsgBadXid { inner: u32 },
    #[error("message cannot be bundled: {0}")]
    MsgUnsup(&'static str),
}

impl BundleError {
    pub fn of_error(self) -> OfError {
        match self {
            BundleError::BadType(_) => OfError::OFPBFC_BAD_TYPE,
            BundleError::MsgBadLen => OfError::OFPBFC_MSG_BAD_LEN,
            BundleError::BadVersion { .. } => OfError::OFPBFC_BAD_VERSION,
            BundleError::MsgBadXid { .. } => OfError::OFPBFC_MSG_BAD_XID,
            BundleError::MsgUnsup(_) => OfError::OFPBFC_MSG_UNSUP,
        }
    }
}

impl BundleCtrl {
    /// Decodes the body (`ofp14_bundle_ctrl_msg` and properties, which OVS
    /// ignores). Reply types are refused with OFPBFC_BAD_TYPE as OVS does; unknown
    /// types too (OVS would answer them with garbage).
    pub fn decode(body: &[u8], onf: bool) -> Result<BundleCtrl, BundleError> {
        let t = be16(body, 4);
        let ctrl_type = BundleCtrlType::from_wire(t)
            .filter(|c| (*c as u16).is_multiple_of(2))
            .ok_or(BundleError::BadType(t))?;
        Ok(BundleCtrl {
            onf,
            bundle_id: be32(body, 0),
            ctrl_type,
            flags: be16(body, 6),
        })
    }

    /// The reply to this request (`version`, `xid`): same form, reply type,
    /// flags 0 (OVS's `ofputil_encode_bundle_ctrl_reply`).
    pub fn encode_reply(&self, version: Version, xid: u32) -> Vec<u8> {
        encode_bundle_ctrl(
            version,
            xid,
            self.onf,
            self.bundle_id,
            self.ctrl_type.reply(),
            0,
        )
    }
}

/// Encodes a BUNDLE_CONTROL message (OF1.4, or ONF's when `onf`).
pub fn encode_bundle_ctrl(
    version: Version,
    xid: u32,
    onf: bool,
    bundle_id: u32,
    ctrl_type: BundleCtrlType,
    flags: u16,
) -> Vec<u8> {
    let mut b = if onf {
        let mut b = start_message(version.wire(), ofpt::VENDOR, xid);
        b.put_u32(ONF_VENDOR_ID);
        b.put_u32(onft::BUNDLE_CONTROL);
        b
    } else {
        start_message(version.wire(), ofpt::OF14_BUNDLE_CONTROL, xid)
    };
    b.put_u32(bundle_id);
    b.put_u16(ctrl_type as u16);
    b.put_u16(flags);
    finish_message(b)
}

/// The parts of a BUNDLE_ADD_MESSAGE: bundle id, flags and the bundled message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleAddParts<'a> {
    pub bundle_id: u32,
    pub flags: u16,
    /// The bundled message, exactly its `ofp_header.length` bytes.
    pub inner: &'a [u8],
}

/// Splits the body of a BUNDLE_ADD_MESSAGE and checks the bundled message's
/// framing against the outer header (OVS's `ofputil_decode_bundle_add`, up to the
/// decoding of the bundled message itself).
pub fn split_bundle_add<'a>(
    outer: &Header,
    body: &'a [u8],
) -> Result<BundleAddParts<'a>, BundleError> {
    let (bundle_id, flags) = (be32(body, 0), be16(body, 6));
    let rest = &body[8..];
    let inner = Header::parse(rest).ok_or(BundleError::MsgBadLen)?;
    if inner.version != outer.version {
        return Err(BundleError::BadVersion {
            inner: inner.version,
        });
    }
    let len = usize::from(inner.length);
    if len < HEADER_LEN || len > rest.len() {
        return Err(BundleError::MsgBadLen);
    }
    if inner.xid != outer.xid {
        return Err(BundleError::MsgBadXid { inner: inner.xid });
    }
    Ok(BundleAddParts {
        bundle_id,
        flags,
        inner: &rest[..len],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::{hex, to_hex};

    #[test]
    fn of14_bundle_as_ovs() {
        // ovs-ofctl --bundle add-flow br0 'table=3,priority=9,actions=drop':
        // OPEN_REQUEST (atomic|ordered) -> OPEN_REPLY, COMMIT_REQUEST -> COMMIT_REPLY.
        let open = hex("05210010000000070000000000000003");
        let c = BundleCtrl::decode(&open[8..], false).unwrap();
        assert_eq!(
            (c.bundle_id, c.ctrl_type, c.flags),
            (0, BundleCtrlType::OpenRequest, 3)
        );
        assert_eq!(
            to_hex(&c.encode_reply(Version::Of14, 7)),
            "05210010000000070000000000010000"
        );
        let commit = hex("05210010000000090000000000040003");
        let c = BundleCtrl::decode(&commit[8..], false).unwrap();
        assert_eq!(
            to_hex(&c.encode_reply(Version::Of14, 9)),
            "05210010000000090000000000050000"
        );
        // ofsend.py: CLOSE and DISCARD replies.
        let c = BundleCtrl::decode(&hex("0000000800020003"), false).unwrap();
        assert_eq!(
            to_hex(&c.encode_reply(Version::Of14, 3)),
            "05210010000000030000000800030000"
        );
        let c = BundleCtrl::decode(&hex("0000000800060003"), false).unwrap();
        assert_eq!(
            to_hex(&c.encode_reply(Version::Of14, 4)),
            "05210010000000040000000800070000"
        );
        // A reply type sent to the switch.
        assert_eq!(
            BundleCtrl::decode(&hex("0000000800010000"), false)
                .unwrap_err()
                .of_error(),
            OfError::OFPBFC_BAD_TYPE
        );
    }

    #[test]
    fn onf_bundle_as_ovs() {
        // ovs-ofctl -O OpenFlow13 --bundle add-flow: ONF OPEN -> reply.
        let open = hex("04040018000000074f4e4600000008fc0000000000000003");
        let c = BundleCtrl::decode(&open[16..], true).unwrap();
        assert_eq!(
            to_hex(&c.encode_reply(Version::Of13, 7)),
            "04040018000000074f4e4600000008fc0000000000010000"
        );
    }

    #[test]
    fn add_message_framing() {
        // ovs-ofctl --bundle: BUNDLE_ADD_MESSAGE carrying an OF1.4 FLOW_MOD.
        let add = hex("05220048000000060000000000000003050e003800000006000000000000000000000000000000000300000000000009ffffffffffffffffffffffff000000000001000400000000");
        let h = Header::parse(&add).unwrap();
        let p = split_bundle_add(&h, &add[8..]).unwrap();
        assert_eq!((p.bundle_id, p.flags, p.inner.len()), (0, 3, 0x38));
        // ofsend.py: inner xid 9 vs outer 3; inner version 4 in a 1.4 bundle.
        let m = hex("052200180000000300000008000000030514000800000009");
        let e = split_bundle_add(&Header::parse(&m).unwrap(), &m[8..]).unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBFC_MSG_BAD_XID);
        let m = hex("052200180000000300000008000000030414000800000003");
        let e = split_bundle_add(&Header::parse(&m).unwrap(), &m[8..]).unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBFC_BAD_VERSION);
        let m = hex("05220014000000030000000800000003050e0009");
        let e = split_bundle_add(&Header::parse(&m).unwrap(), &m[8..]).unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBFC_MSG_BAD_LEN);
    }
}
