//! GRE header, RFC 2784 with the key and sequence number extensions of RFC 2890.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |C|R|K|S|s|Recur|  Flags  | Ver |         Protocol Type         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Checksum (if C)          |       Reserved1 (if C)        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Key (if K)                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Sequence Number (if S)                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! R, s and Recur are RFC 1701 fields that RFC 2784 turned into must-be-zero bits a
//! receiver discards the packet for; the remaining flag bits are ignored on receipt.

use super::{checksum, get_u16, get_u32, set_u16, set_u32, truncated, Layer, WireError};

pub const FLAG_CHECKSUM: u16 = 0x8000;
pub const FLAG_ROUTING: u16 = 0x4000;
pub const FLAG_KEY: u16 = 0x2000;
pub const FLAG_SEQ: u16 = 0x1000;
pub const FLAG_STRICT_SOURCE_ROUTE: u16 = 0x0800;
pub const RECURSION_MASK: u16 = 0x0700;
pub const VERSION_MASK: u16 = 0x0007;
/// Bits of the first word whose presence makes a packet unsupported.
pub const UNSUPPORTED_MASK: u16 = FLAG_ROUTING | FLAG_STRICT_SOURCE_ROUTE | RECURSION_MASK;

/// Length of the header without optional fields.
pub const BASE_LEN: usize = 4;

mod field {
    pub const FLAGS_VERSION: usize = 0;
    pub const PROTOCOL: usize = 2;
    pub const OPTIONAL: usize = 4;
}

/// Header length implied by the first word's C, K and S bits.
pub const fn header_len_for(flags_version: u16) -> usize {
    BASE_LEN
        + 4 * ((flags_version & FLAG_CHECKSUM != 0) as usize
            + (flags_version & FLAG_KEY != 0) as usize
            + (flags_version & FLAG_SEQ != 0) as usize)
}

/// A view of a GRE packet: header and payload. The buffer must end where the GRE packet
/// ends (the IPv4 payload), since the checksum covers everything in it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without looking at it; see the [module docs](super) for when.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds a version 0 GRE header without unsupported bits and with
    /// all the optional fields its flags announce. The checksum is not looked at (see
    /// [`verify_checksum`](Self::verify_checksum)).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let have = b.len();
        if have < BASE_LEN {
            return Err(truncated(Layer::Gre, BASE_LEN, have));
        }
        let word = get_u16(b, field::FLAGS_VERSION);
        let version = (word & VERSION_MASK) as u8;
        if version != 0 {
            return Err(WireError::BadGreVersion(version));
        }
        if word & UNSUPPORTED_MASK != 0 {
            return Err(WireError::UnsupportedGreFlags(word & UNSUPPORTED_MASK));
        }
        let need = header_len_for(word);
        if need > have {
            return Err(truncated(Layer::Gre, need, have));
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The first word: flags and version.
    pub fn flags_version(&self) -> u16 {
        get_u16(self.b(), field::FLAGS_VERSION)
    }

    pub fn checksum_present(&self) -> bool {
        self.flags_version() & FLAG_CHECKSUM != 0
    }

    pub fn key_present(&self) -> bool {
        self.flags_version() & FLAG_KEY != 0
    }

    pub fn seq_present(&self) -> bool {
        self.flags_version() & FLAG_SEQ != 0
    }

    pub fn version(&self) -> u8 {
        (self.flags_version() & VERSION_MASK) as u8
    }

    /// The ethertype of the payload.
    pub fn protocol(&self) -> u16 {
        get_u16(self.b(), field::PROTOCOL)
    }

    pub fn header_len(&self) -> usize {
        header_len_for(self.flags_version())
    }

    fn key_offset(&self) -> usize {
        field::OPTIONAL + 4 * usize::from(self.checksum_present())
    }

    fn seq_offset(&self) -> usize {
        self.key_offset() + 4 * usize::from(self.key_present())
    }

    pub fn checksum(&self) -> Option<u16> {
        self.checksum_present()
            .then(|| get_u16(self.b(), field::OPTIONAL))
    }

    pub fn key(&self) -> Option<u32> {
        self.key_present()
            .then(|| get_u32(self.b(), self.key_offset()))
    }

    pub fn seq(&self) -> Option<u32> {
        self.seq_present()
            .then(|| get_u32(self.b(), self.seq_offset()))
    }

    /// True when C is clear, or when the checksum over the whole buffer (GRE header and
    /// payload) is right.
    pub fn verify_checksum(&self) -> bool {
        !self.checksum_present() || checksum::checksum(self.b()) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    pub fn payload(&self) -> &'a [u8] {
        let b = self.buffer.as_ref();
        &b[header_len_for(get_u16(b, field::FLAGS_VERSION))..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the first word, which decides where the optional fields are: set it before
    /// them.
    pub fn set_flags_version(&mut self, word: u16) {
        set_u16(self.buffer.as_mut(), field::FLAGS_VERSION, word)
    }

    pub fn set_protocol(&mut self, protocol: u16) {
        set_u16(self.buffer.as_mut(), field::PROTOCOL, protocol)
    }

    /// Sets the checksum field and zeroes Reserved1; does nothing if C is clear.
    pub fn set_checksum(&mut self, csum: u16) {
        if self.checksum_present() {
            set_u16(self.buffer.as_mut(), field::OPTIONAL, csum);
            set_u16(self.buffer.as_mut(), field::OPTIONAL + 2, 0);
        }
    }

    /// Sets the key; does nothing if K is clear.
    pub fn set_key(&mut self, key: u32) {
        if self.key_present() {
            let at = self.key_offset();
            set_u32(self.buffer.as_mut(), at, key)
        }
    }

    /// Sets the sequence number; does nothing if S is clear.
    pub fn set_seq(&mut self, seq: u32) {
        if self.seq_present() {
            let at = self.seq_offset();
            set_u32(self.buffer.as_mut(), at, seq)
        }
    }

    /// Computes the checksum over the whole buffer and stores it; does nothing if C is
    /// clear. The payload must be in place.
    pub fn fill_checksum(&mut self) {
        if self.checksum_present() {
            self.set_checksum(0);
            let c = checksum::checksum(self.buffer.as_ref());
            self.set_checksum(c)
        }
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.header_len();
        &mut self.buffer.as_mut()[at..]
    }
}

/// The values of a GRE header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Repr {
    /// The ethertype of the payload.
    pub protocol: u16,
    /// Whether the C bit and checksum field are present.
    pub checksum: bool,
    pub key: Option<u32>,
    pub seq: Option<u32>,
}

impl Repr {
    /// Takes the values of a checked packet; the checksum is not verified (see
    /// [`Packet::verify_checksum`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        Ok(Repr {
            protocol: packet.protocol(),
            checksum: packet.checksum_present(),
            key: packet.key(),
            seq: packet.seq(),
        })
    }

    pub fn flags_version(&self) -> u16 {
        (if self.checksum { FLAG_CHECKSUM } else { 0 })
            | (if self.key.is_some() { FLAG_KEY } else { 0 })
            | (if self.seq.is_some() { FLAG_SEQ } else { 0 })
    }

    pub const fn buffer_len(&self) -> usize {
        BASE_LEN
            + 4 * (self.checksum as usize
                + self.key.is_some() as usize
                + self.seq.is_some() as usize)
    }

    /// Writes the header into the front of `packet`. With `checksum` set the checksum is
    /// computed over the whole of `packet`'s buffer, so the payload must already be there
    /// and the buffer must end with it.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_flags_version(self.flags_version());
        packet.set_protocol(self.protocol);
        if let Some(key) = self.key {
            packet.set_key(key);
        }
        if let Some(seq) = self.seq {
            packet.set_seq(seq);
        }
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_flag_combinations() {
        let payload = [0xde, 0xad, 0xbe, 0xef, 0x01];
        for checksum in [false, true] {
            for key in [None, Some(0x3e7), Some(u32::MAX)] {
                for seq in [None, Some(0), Some(0x8000_0001)] {
                    let repr = Repr {
                        protocol: 0x6558,
                        checksum,
                        key,
                        seq,
                    };
                    let hl = repr.buffer_len();
                    let mut buf = vec![0u8; hl + payload.len()];
                    buf[hl..].copy_from_slice(&payload);
                    repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
                    let p = Packet::new_checked(&buf[..]).unwrap();
                    assert_eq!(Repr::parse(&p), Ok(repr));
                    assert_eq!(p.header_len(), hl);
                    assert_eq!(p.payload(), &payload);
                    assert!(p.verify_checksum());
                    assert_eq!(p.checksum().is_some(), checksum);
                    if checksum {
                        buf[hl] ^= 0x40;
                        assert!(!Packet::new_checked(&buf[..]).unwrap().verify_checksum());
                    }
                }
            }
        }
    }

    #[test]
    fn field_order() {
        let repr = Repr {
            protocol: 0x6558,
            checksum: true,
            key: Some(0x0102_0304),
            seq: Some(0x0506_0708),
        };
        let mut buf = [0u8; 16];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..4], &[0xb0, 0x00, 0x65, 0x58]);
        assert_eq!(&buf[6..8], &[0, 0]);
        assert_eq!(&buf[8..], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let c = checksum::checksum(&[0xb0, 0x00, 0x65, 0x58, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&buf[4..6], &c.to_be_bytes());
    }

    #[test]
    fn rejects() {
        assert_eq!(
            Packet::new_checked(&[0x00, 0x00, 0x65][..]),
            Err(WireError::Truncated {
                layer: Layer::Gre,
                need: 4,
                have: 3
            })
        );
        assert_eq!(
            Packet::new_checked(&[0x00, 0x01, 0x65, 0x58][..]),
            Err(WireError::BadGreVersion(1))
        );
        for (word, bad) in [
            (0x4000u16, 0x4000u16),
            (0x0800, 0x0800),
            (0x0100, 0x0100),
            (0x2700, 0x0700),
        ] {
            let b = [(word >> 8) as u8, word as u8, 0x65, 0x58, 0, 0, 0, 0];
            assert_eq!(
                Packet::new_checked(&b[..]),
                Err(WireError::UnsupportedGreFlags(bad))
            );
        }
        // Reserved flag bits 8..12 are ignored on receipt.
        assert!(Packet::new_checked(&[0x00, 0xf8, 0x65, 0x58][..]).is_ok());
        assert_eq!(
            Packet::new_checked(&[0xb0, 0x00, 0x65, 0x58, 0, 0, 0, 0, 0, 0, 0, 0][..]),
            Err(WireError::Truncated {
                layer: Layer::Gre,
                need: 16,
                have: 12
            })
        );
    }
}
