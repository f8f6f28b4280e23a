//! The header ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) messages share: type, code,
//! checksum, and four bytes whose meaning depends on the type.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Rest of Header                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The ICMPv4 checksum covers the message only; the ICMPv6 one also the IPv6
//! pseudo-header ([`ipv6::pseudo_header_sum`](super::ipv6::pseudo_header_sum)).

use super::{checksum, get_u16, get_u32, set_u16, set_u32, truncated, Layer, WireError};

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const REST: usize = 4;
    pub const PAYLOAD: usize = 8;
}

/// Type, code, checksum and the rest of the header: OVS's `ICMP_HEADER_LEN` and
/// `sizeof(struct icmp6_data_header)`, the least it takes type and code from.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Offset of the checksum field, for incremental updates.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM;

pub const ICMPV6_NEIGHBOR_SOLICIT: u8 = 135;
pub const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;

/// A view of an ICMP or ICMPv6 message: after `new_checked` its 8-byte header is inside
/// the buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without looking at it; see the [module docs](super) for when.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let have = buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(truncated(Layer::Icmp, HEADER_LEN, have));
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn msg_type(&self) -> u8 {
        self.b()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.b()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.b(), field::CHECKSUM)
    }

    /// The four bytes after the checksum (echo id and sequence, ND flags, ...).
    pub fn rest(&self) -> u32 {
        get_u32(self.b(), field::REST)
    }

    /// True when the ICMPv4 checksum over the whole buffer verifies.
    pub fn verify_checksum_v4(&self) -> bool {
        checksum::checksum(self.b()) == 0
    }

    /// True when the ICMPv6 checksum over the pseudo-header and the whole buffer
    /// verifies.
    pub fn verify_checksum_v6(&self, src: u128, dst: u128) -> bool {
        let b = self.b();
        let ph = super::ipv6::pseudo_header_sum(src, dst, super::ipv6::NEXT_ICMPV6, b.len() as u32);
        checksum::combine(ph, checksum::sum(b)) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the 8-byte header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn b_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    pub fn set_msg_type(&mut self, t: u8) {
        self.b_mut()[field::TYPE] = t;
    }

    pub fn set_code(&mut self, c: u8) {
        self.b_mut()[field::CODE] = c;
    }

    pub fn set_checksum(&mut self, c: u16) {
        set_u16(self.b_mut(), field::CHECKSUM, c)
    }

    pub fn set_rest(&mut self, v: u32) {
        set_u32(self.b_mut(), field::REST, v)
    }

    /// Computes and stores the ICMPv4 checksum over the whole buffer.
    pub fn fill_checksum_v4(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c)
    }

    /// Computes and stores the ICMPv6 checksum over the pseudo-header and the buffer.
    pub fn fill_checksum_v6(&mut self, src: u128, dst: u128) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let ph = super::ipv6::pseudo_header_sum(src, dst, super::ipv6::NEXT_ICMPV6, b.len() as u32);
        let c = !checksum::combine(ph, checksum::sum(b));
        self.set_checksum(c)
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.b_mut()[field::PAYLOAD..]
    }
}

/// The values of the 8-byte header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Repr {
    pub msg_type: u8,
    pub code: u8,
    /// The checksum field as written by `emit`.
    pub checksum: u16,
    pub rest: u32,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        Ok(Repr {
            msg_type: p.msg_type(),
            code: p.code(),
            checksum: p.checksum(),
            rest: p.rest(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_msg_type(self.msg_type);
        p.set_code(self.code);
        p.set_checksum(self.checksum);
        p.set_rest(self.rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checksums() {
        let repr = Repr {
            msg_type: 8,
            code: 0,
            checksum: 0,
            rest: 0x0001_0002,
        };
        let mut buf = [0u8; 12];
        buf[8..].copy_from_slice(&[1, 2, 3, 4]);
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..8], &[8, 0, 0, 0, 0, 1, 0, 2]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(repr));
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        Packet::new_unchecked(&mut buf[..]).fill_checksum_v4();
        assert!(Packet::new_checked(&buf[..]).unwrap().verify_checksum_v4());
        let (s, d) = (1u128 << 127 | 5, 7);
        Packet::new_unchecked(&mut buf[..]).fill_checksum_v6(s, d);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum_v6(s, d));
        assert!(!p.verify_checksum_v6(s, d + 1));
        for n in 0..8 {
            assert_eq!(
                Packet::new_checked(&buf[..n]),
                Err(WireError::Truncated {
                    layer: Layer::Icmp,
                    need: 8,
                    have: n
                })
            );
        }
    }
}
