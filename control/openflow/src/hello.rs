//! OFPT_HELLO and version negotiation, as OVS 3.1's `vconn` does it.
//!
//! Each side sends a HELLO at once. Ours carries the highest version we allow in its
//! header and, unless the allowed set is "1.0 up to that version", an
//! OFPHET_VERSIONBITMAP element (`ofputil_encode_hello`). The peer's HELLO is read as
//! the set it announces: its bitmap if it has one, else every version up to its
//! header version (`ofputil_decode_hello`; elements OVS does not understand are
//! skipped). The connection uses the highest version in both sets; with none in
//! common we send OFPET_HELLO_FAILED/OFPHFC_INCOMPATIBLE with OVS's text ("We support
//! versions 0x01, 0x04, 0x05, you support version 0x02, no common versions.") in the
//! peer's highest version, xid 0, and close.

use crate::bytes::{be16, be32, round_up8, Put};
use crate::errors::{encode_error, OfError};
use crate::framing::{finish_message, ofpt, start_message, Header, HEADER_LEN};
use crate::version::{Version, VersionBitmap};

/// `OFPHET_VERSIONBITMAP`.
pub const OFPHET_VERSIONBITMAP: u16 = 1;

/// A peer's HELLO, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// `ofp_header.version`.
    pub version: u8,
    pub xid: u32,
    /// The versions the peer announces.
    pub versions: VersionBitmap,
    /// False if the HELLO held elements OVS would not understand (it logs them and
    /// goes on).
    pub fully_understood: bool,
}

/// Why a message could not be read as a HELLO (the connection must be closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("message shorter than ofp_header")]
    Truncated,
    #[error("received message type {msg_type} while expecting hello")]
    NotHello { msg_type: u8 },
}

/// No version in common: what to send before closing the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("version negotiation failed (we support {}, peer supports {})", .ours.describe(), .theirs.describe())]
pub struct HelloFailed {
    pub ours: VersionBitmap,
    pub theirs: VersionBitmap,
}

impl HelloFailed {
    /// OVS's text: "We support ..., you support ..., no common versions." (cut to
    /// 127 bytes as OVS's buffer does).
    pub fn text(&self) -> String {
        let mut s = format!(
            "We support {}, you support {}, no common versions.",
            self.ours.describe(),
            self.theirs.describe()
        );
        s.truncate(127);
        s
    }

    /// The OFPT_ERROR (OFPET_HELLO_FAILED, OFPHFC_INCOMPATIBLE, xid 0, the text as
    /// data) in the peer's highest version, as OVS's `vcs_send_error` sends it.
    pub fn error_message(&self) -> Vec<u8> {
        let version = self.theirs.highest().unwrap_or(0x01);
        encode_error(
            version,
            0,
            OfError::OFPHFC_INCOMPATIBLE,
            self.text().as_bytes(),
        )
    }
}

/// Encodes our HELLO announcing `allowed` (only versions this codec speaks are
/// kept), with `xid`.
pub fn encode_hello(allowed: VersionBitmap, xid: u32) -> Vec<u8> {
    let allowed = speakable(allowed);
    let version = allowed.highest().unwrap_or(Version::Of10.wire());
    let mut buf = start_message(version, ofpt::HELLO, xid);
    if !allowed.is_contiguous_from_one() {
        buf.put_u16(OFPHET_VERSIONBITMAP);
        buf.put_u16(8);
        buf.put_u32(allowed.bits());
    }
    finish_message(buf)
}

fn speakable(set: VersionBitmap) -> VersionBitmap {
    set.intersection(VersionBitmap::from_versions(&Version::ALL))
}

impl Hello {
    /// Reads the peer's first message, which must be a HELLO.
    pub fn parse(msg: &[u8]) -> Result<Hello, HelloError> {
        let h = Header::parse(msg).ok_or(HelloError::Truncated)?;
        if h.msg_type != ofpt::HELLO {
            return Err(HelloError::NotHello {
                msg_type: h.msg_type,
            });
        }
        let end = usize::from(h.length).clamp(HEADER_LEN, msg.len());
        let mut body = &msg[HEADER_LEN..end];
        let mut versions = VersionBitmap::up_to(h.version);
        let mut ok = true;
        while !body.is_empty() {
            if body.len() < 4 {
                ok = false;
                break;
            }
            let (t, len) = (be16(body, 0), usize::from(be16(body, 2)));
            if len < 4 || round_up8(len) > body.len() {
                ok = false;
                break;
            }
            let elem = &body[4..len];
            match (t, decode_bitmap(elem)) {
                (OFPHET_VERSIONBITMAP, Some(v)) => versions = v,
                _ => ok = false,
            }
            body = &body[round_up8(len)..];
        }
        Ok(Hello {
            version: h.version,
            xid: h.xid,
            versions,
            fully_understood: ok,
        })
    }

    /// The version to use with a peer that sent `self`, when we allow `ours` (only
    /// versions this codec speaks count): the highest common one.
    pub fn negotiate(&self, ours: VersionBitmap) -> Result<Version, HelloFailed> {
        let ours = speakable(ours);
        ours.intersection(self.versions)
            .highest()
            .and_then(Version::from_wire)
            .ok_or(HelloFailed {
                ours,
                theirs: self.versions,
            })
    }
}

/// OVS's `ofputil_decode_hello_bitmap`: the first 32-bit word, without bit 0; an
/// empty or odd-sized bitmap, or one naming no version, is not understood.
fn decode_bitmap(elem: &[u8]) -> Option<VersionBitmap> {
    if elem.is_empty() || !elem.len().is_multiple_of(4) {
        return None;
    }
    let bits = VersionBitmap::from_bits(be32(elem, 0));
    (!bits.is_empty()).then_some(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::{hex, to_hex};

    fn ours() -> VersionBitmap {
        VersionBitmap::from_versions(&Version::ALL)
    }

    #[test]
    fn our_hello_is_ovs_hello() {
        // ovs-vswitchd's hello on br0.mgmt with protocols=OpenFlow10,13,14.
        assert_eq!(
            to_hex(&encode_hello(ours(), 0x6a)),
            "050000100000006a0001000800000032"
        );
        // ovs-ofctl's hellos: default (1.0 only, no bitmap), -O OpenFlow13, --bundle.
        let of10 = VersionBitmap::from_versions(&[Version::Of10]);
        assert_eq!(to_hex(&encode_hello(of10, 1)), "0100000800000001");
        let of13 = VersionBitmap::from_versions(&[Version::Of13]);
        assert_eq!(
            to_hex(&encode_hello(of13, 1)),
            "04000010000000010001000800000010"
        );
        let of14 = VersionBitmap::from_versions(&[Version::Of14]);
        assert_eq!(
            to_hex(&encode_hello(of14, 1)),
            "05000010000000010001000800000020"
        );
    }

    #[test]
    fn negotiation() {
        let h = Hello::parse(&hex("0100000800000001")).unwrap();
        assert_eq!(h.versions.bits(), 0x2);
        assert_eq!(h.negotiate(ours()), Ok(Version::Of10));
        let h = Hello::parse(&hex("04000010000000010001000800000010")).unwrap();
        assert_eq!(h.negotiate(ours()), Ok(Version::Of13));
        // os-ken: version 0x04, bitmap {1,2,3,4}.
        let h = Hello::parse(&hex("0400001000000001000100080000001e")).unwrap();
        assert_eq!(h.negotiate(ours()), Ok(Version::Of13));
        // A hello without bitmap means every version up to its own: 0x02 -> 1.0.
        let h = Hello::parse(&hex("0200000800000001")).unwrap();
        assert_eq!(h.negotiate(ours()), Ok(Version::Of10));
        // Versions we do not know in the peer's bitmap are fine.
        let h = Hello::parse(&hex("1f000010000000010001000880000032")).unwrap();
        assert!(h.fully_understood);
        assert_eq!(h.negotiate(ours()), Ok(Version::Of14));
    }

    #[test]
    fn failures_send_ovs_text() {
        // ofsend.py: peer hello 0x02 with bitmap {0x02}; ovs-vswitchd answered:
        let h = Hello::parse(&hex("02000010000000010001000800000004")).unwrap();
        let e = h.negotiate(ours()).unwrap_err();
        assert_eq!(
            to_hex(&e.error_message()),
            "0201005f0000000000000000576520737570706f72742076657273696f6e7320307830312c20\
             307830342c20307830352c20796f7520737570706f72742076657273696f6e20307830322c20\
             6e6f20636f6d6d6f6e2076657273696f6e732e"
        );
        assert_eq!(
            e.text(),
            "We support versions 0x01, 0x04, 0x05, you support version 0x02, no common versions."
        );
        // ... and to a 1.5-only peer, in version 0x06.
        let h = Hello::parse(&hex("06000010000000010001000800000040")).unwrap();
        let msg = h.negotiate(ours()).unwrap_err().error_message();
        assert_eq!(to_hex(&msg[..12]), "0601005f0000000000000000");
    }

    #[test]
    fn odd_hellos() {
        assert_eq!(
            Hello::parse(&hex("0105000800000001")),
            Err(HelloError::NotHello { msg_type: 5 })
        );
        assert_eq!(Hello::parse(&hex("01000008")), Err(HelloError::Truncated));
        // Unknown element type: skipped, default set kept.
        let h = Hello::parse(&hex("04000010000000010007000800000010")).unwrap();
        assert!(!h.fully_understood);
        assert_eq!(h.versions.bits(), 0x1e);
        // Bitmap naming only "version 0": not understood.
        let h = Hello::parse(&hex("04000010000000010001000800000001")).unwrap();
        assert!(!h.fully_understood);
        assert_eq!(h.versions.bits(), 0x1e);
        // Element length past the end.
        let h = Hello::parse(&hex("040000100000000100010010000000100000")).unwrap();
        assert!(!h.fully_understood);
    }
}
