//! IPv6 Neighbour Solicitation and Advertisement messages (RFC 4861 sections 4.3, 4.4):
//! the ICMPv6 header ([`icmp`](super::icmp), type 135 or 136, code 0, its last four
//! bytes reserved or the R/S/O flags), the 16-byte target address, then options in
//! 8-byte units; the source and target link-layer address options (types 1 and 2, one
//! unit: type, length 1, a MAC) are the ones a switch looks at.
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! |R|S|O|                     Reserved                            |
//! |                   Target Address (128 bits)                   |
//! |   Options ...  (Type | Length in 8-byte units | value)        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::icmp::{ICMPV6_NEIGHBOR_ADVERT, ICMPV6_NEIGHBOR_SOLICIT};
use super::ipv6::get_u128;
use super::{get_mac, set_mac, truncated, Layer, WireError};
use crate::mac::MacAddr;

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const TARGET: usize = 8;
    pub const OPTIONS: usize = 24;
}

/// The ICMPv6 header and the target: the least a rewrite of the target needs.
pub const HEADER_LEN: usize = field::OPTIONS;
/// Offset of the target address in the message.
pub const TARGET_OFFSET: usize = field::TARGET;
pub const OPT_SOURCE_LL_ADDR: u8 = 1;
pub const OPT_TARGET_LL_ADDR: u8 = 2;
/// The unit of option lengths, and the length of a link-layer address option.
pub const OPT_UNIT: usize = 8;

/// Whether an ICMPv6 message of this type and code is a Neighbour Solicitation or
/// Advertisement (OVS's `icmp6_is_nd`).
pub const fn is_nd(msg_type: u8, code: u8) -> bool {
    code == 0 && matches!(msg_type, ICMPV6_NEIGHBOR_SOLICIT | ICMPV6_NEIGHBOR_ADVERT)
}

/// A view of a Neighbour Solicitation or Advertisement: after `new_checked` the ICMPv6
/// header and the target are inside the buffer. The type is not checked (see [`is_nd`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Message<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Message<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Message { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let have = buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(truncated(Layer::Nd, HEADER_LEN, have));
        }
        Ok(Message { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The target address as a number, its first byte most significant.
    pub fn target(&self) -> u128 {
        get_u128(self.buffer.as_ref(), field::TARGET)
    }

    /// The link-layer address options as OVS's `parse_nd` reads them (see [`NdLla`]).
    pub fn lla_options(&self) -> NdLla {
        parse_lla_options(&self.buffer.as_ref()[field::OPTIONS..])
    }

    /// The first source or target link-layer address option (one unit long), as
    /// (type, offset of its MAC in the message): the one option OVS's `packet_set_nd`
    /// rewrites. The walk stops at an option of length 0 or longer than what is left.
    pub fn first_lla_option(&self) -> Option<(u8, usize)> {
        let b = self.buffer.as_ref();
        let mut at = field::OPTIONS;
        while b.len() - at >= OPT_UNIT {
            let (ty, len) = (b[at], usize::from(b[at + 1]) * OPT_UNIT);
            if len == 0 || len > b.len() - at {
                return None;
            }
            if len == OPT_UNIT && matches!(ty, OPT_SOURCE_LL_ADDR | OPT_TARGET_LL_ADDR) {
                return Some((ty, at + 2));
            }
            at += len;
        }
        None
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Message<T> {
    pub fn set_target(&mut self, t: u128) {
        self.buffer.as_mut()[field::TARGET..field::TARGET + 16].copy_from_slice(&t.to_be_bytes())
    }
}

/// The link-layer address options of a Neighbour Discovery message, as OVS's
/// `parse_icmpv6` reads them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct NdLla {
    /// Source link-layer address (zero if none).
    pub sll: MacAddr,
    /// Target link-layer address (zero if none).
    pub tll: MacAddr,
    /// A second non-zero source (or target) address option came after a first: OVS
    /// takes the message as invalid and zeroes target and both addresses.
    pub invalid: bool,
}

/// Walks `opts` as OVS's `parse_icmpv6`: while 8 bytes are left, an option of length 0
/// or longer than what is left ends the walk (keeping what was found); a one-unit
/// option of type 1 or 2 gives the source or target address, and a second one of the
/// same type when the first was not all-zero makes the message invalid.
pub fn parse_lla_options(opts: &[u8]) -> NdLla {
    let mut r = NdLla::default();
    let mut at = 0;
    while opts.len() - at >= OPT_UNIT {
        let (ty, len) = (opts[at], usize::from(opts[at + 1]) * OPT_UNIT);
        if len == 0 || len > opts.len() - at {
            return r;
        }
        if len == OPT_UNIT {
            let slot = match ty {
                OPT_SOURCE_LL_ADDR => Some(&mut r.sll),
                OPT_TARGET_LL_ADDR => Some(&mut r.tll),
                _ => None,
            };
            if let Some(slot) = slot {
                if !slot.is_zero() {
                    return NdLla {
                        invalid: true,
                        ..NdLla::default()
                    };
                }
                *slot = get_mac(opts, at + 2);
            }
        }
        at += len;
    }
    r
}

/// Writes a link-layer address option (type 1 or 2, length 1) into the first 8 bytes
/// of `buf`.
pub fn emit_lla_option(buf: &mut [u8], opt_type: u8, mac: MacAddr) {
    buf[0] = opt_type;
    buf[1] = 1;
    set_mac(buf, 2, mac);
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);
    const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb]);

    fn ns(opts: &[u8]) -> Vec<u8> {
        let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
        m.extend(0xfe80_0000_0000_0000_0000_0000_0000_0042u128.to_be_bytes());
        m.extend_from_slice(opts);
        m
    }

    fn opt(ty: u8, mac: MacAddr) -> [u8; 8] {
        let mut o = [0u8; 8];
        emit_lla_option(&mut o, ty, mac);
        o
    }

    #[test]
    fn target_and_options() {
        let m = ns(&[opt(1, A), opt(2, B)].concat());
        let v = Message::new_checked(&m[..]).unwrap();
        assert!(is_nd(v.msg_type(), v.code()));
        assert_eq!(v.target(), 0xfe80_0000_0000_0000_0000_0000_0000_0042);
        assert_eq!(
            v.lla_options(),
            NdLla {
                sll: A,
                tll: B,
                invalid: false
            }
        );
        assert_eq!(v.first_lla_option(), Some((1, 26)));
        let mut m2 = m.clone();
        Message::new_unchecked(&mut m2[..]).set_target(7);
        assert_eq!(Message::new_checked(&m2[..]).unwrap().target(), 7);
        assert!(Message::new_checked(&m[..23]).is_err());
        assert!(!is_nd(135, 1) && !is_nd(134, 0) && is_nd(136, 0));
    }

    #[test]
    fn options_walk_as_ovs() {
        // An unknown two-unit option first, then the source address.
        let mut long = [0u8; 16];
        long[0] = 14;
        long[1] = 2;
        let m = ns(&[&long[..], &opt(1, A)].concat());
        let v = Message::new_checked(&m[..]).unwrap();
        assert_eq!(v.lla_options().sll, A);
        assert_eq!(v.first_lla_option(), Some((1, 24 + 16 + 2)));
        // A duplicate source option: invalid, everything zero.
        let m = ns(&[opt(1, A), opt(1, B)].concat());
        assert_eq!(
            Message::new_checked(&m[..]).unwrap().lla_options(),
            NdLla {
                invalid: true,
                ..NdLla::default()
            }
        );
        // ...unless the first was all-zero (OVS tests the value, not presence).
        let m = ns(&[opt(1, MacAddr::ZERO), opt(1, B)].concat());
        assert_eq!(Message::new_checked(&m[..]).unwrap().lla_options().sll, B);
        // Length 0 ends the walk, keeping what came before.
        let m = ns(&[opt(2, B), [1, 0, 1, 1, 1, 1, 1, 1], opt(1, A)].concat());
        let v = Message::new_checked(&m[..]).unwrap();
        assert_eq!(
            (v.lla_options().sll, v.lla_options().tll),
            (MacAddr::ZERO, B)
        );
        // An option longer than what is left ends it too; a trailing stub is ignored.
        let m = ns(&[&opt(1, A)[..], &[2, 2, 0, 0, 0, 0, 0, 0, 0][..]].concat());
        assert_eq!(Message::new_checked(&m[..]).unwrap().lla_options().sll, A);
        let m = ns(&[&opt(1, A)[..6]].concat());
        let v = Message::new_checked(&m[..]).unwrap();
        assert_eq!(v.lla_options(), NdLla::default());
        assert_eq!(v.first_lla_option(), None);
    }
}
