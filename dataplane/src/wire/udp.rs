//! UDP header (RFC 768), as far as a tunnel endpoint needs it: ports, length, and the
//! checksum with the IPv4 pseudo-header.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Length             |           Checksum            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use super::{checksum, get_u16, ipv4, set_u16, truncated, Layer, WireError};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

pub const HEADER_LEN: usize = 8;

/// The ones' complement sum of the IPv4 pseudo-header for a UDP datagram of `udp_len`
/// bytes (not complemented; see [`checksum::combine`]).
pub fn ipv4_pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16) -> u16 {
    let s = src.octets();
    let d = dst.octets();
    let len = udp_len.to_be_bytes();
    checksum::sum(&[
        s[0],
        s[1],
        s[2],
        s[3],
        d[0],
        d[1],
        d[2],
        d[3],
        0,
        ipv4::PROTO_UDP,
        len[0],
        len[1],
    ])
}

/// A view of a UDP datagram. After `new_checked` the header is inside the buffer and the
/// length field lies between 8 and the buffer length; bytes past it are not part of
/// [`payload`](Packet::payload).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without looking at it; see the [module docs](super) for when.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds a UDP header whose length field is at least the header
    /// and at most the buffer. The checksum is not looked at (see
    /// [`verify_checksum_ipv4`](Self::verify_checksum_ipv4)).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let have = b.len();
        if have < HEADER_LEN {
            return Err(truncated(Layer::Udp, HEADER_LEN, have));
        }
        let len = usize::from(get_u16(b, field::LENGTH));
        if !(HEADER_LEN..=have).contains(&len) {
            return Err(WireError::BadUdpLength {
                udp_len: len,
                buffer_len: have,
            });
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn src_port(&self) -> u16 {
        get_u16(self.b(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        get_u16(self.b(), field::DST_PORT)
    }

    /// Header and payload, in bytes.
    pub fn len(&self) -> u16 {
        get_u16(self.b(), field::LENGTH)
    }

    /// True when the length field says there is no payload.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) == HEADER_LEN
    }

    /// 0 means the sender computed none (allowed over IPv4).
    pub fn checksum(&self) -> u16 {
        get_u16(self.b(), field::CHECKSUM)
    }

    /// True when the checksum is 0 (none), or when it verifies over the IPv4
    /// pseudo-header, the header and the `len()` bytes of the datagram.
    pub fn verify_checksum_ipv4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        let data = &self.b()[..usize::from(len)];
        let s = checksum::combine(ipv4_pseudo_header_sum(src, dst, len), checksum::sum(data));
        s == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the header up to the length field.
    pub fn payload(&self) -> &'a [u8] {
        let b = self.buffer.as_ref();
        &b[HEADER_LEN..usize::from(get_u16(b, field::LENGTH))]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, port: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT, port)
    }

    pub fn set_dst_port(&mut self, port: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT, port)
    }

    pub fn set_len(&mut self, len: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, len)
    }

    pub fn set_checksum(&mut self, csum: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, csum)
    }

    /// Computes the checksum over the pseudo-header and the `len()` bytes of the datagram
    /// (payload in place) and stores it; a computed 0 is sent as 0xffff (RFC 768).
    pub fn fill_checksum_ipv4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let len = self.len();
        let data = &self.buffer.as_ref()[..usize::from(len)];
        let c = !checksum::combine(ipv4_pseudo_header_sum(src, dst, len), checksum::sum(data));
        self.set_checksum(if c == 0 { 0xffff } else { c })
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// The values of a UDP header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    /// Bytes after the header; `HEADER_LEN + payload_len` must fit in 16 bits for `emit`.
    pub payload_len: usize,
    /// The checksum field as written by `emit`: 0 for none. To compute one, emit and
    /// then call [`Packet::fill_checksum_ipv4`] with the payload in place.
    pub checksum: u16,
}

impl Repr {
    /// Takes the values of a checked packet; the checksum is not verified.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()) - HEADER_LEN,
            checksum: packet.checksum(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 8-byte header into the front of `packet`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        debug_assert!(HEADER_LEN + self.payload_len <= usize::from(u16::MAX));
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len((HEADER_LEN + self.payload_len) as u16);
        packet.set_checksum(self.checksum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    #[test]
    fn round_trip() {
        let repr = Repr {
            src_port: 49152,
            dst_port: 4789,
            payload_len: 5,
            checksum: 0,
        };
        let mut buf = [0u8; 8 + 5 + 3];
        buf[8..13].copy_from_slice(&[1, 2, 3, 4, 5]);
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..8], &[0xc0, 0x00, 0x12, 0xb5, 0x00, 0x0d, 0x00, 0x00]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(repr));
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5]);
        assert!(p.verify_checksum_ipv4(SRC, DST), "0 is no checksum");
    }

    #[test]
    fn checksum_fill_and_verify() {
        for n in [0usize, 1, 2, 7, 100] {
            let mut buf = vec![0u8; 8 + n];
            for (i, b) in buf[8..].iter_mut().enumerate() {
                *b = (i * 37) as u8;
            }
            Repr {
                src_port: 1,
                dst_port: 4789,
                payload_len: n,
                checksum: 0,
            }
            .emit(&mut Packet::new_unchecked(&mut buf[..]));
            Packet::new_unchecked(&mut buf[..]).fill_checksum_ipv4(SRC, DST);
            let p = Packet::new_checked(&buf[..]).unwrap();
            assert_ne!(p.checksum(), 0);
            assert!(p.verify_checksum_ipv4(SRC, DST));
            assert!(!p.verify_checksum_ipv4(SRC, Ipv4Addr::new(192, 0, 2, 3)));
            buf[7] ^= 1;
            assert!(!Packet::new_checked(&buf[..])
                .unwrap()
                .verify_checksum_ipv4(SRC, DST));
        }
    }

    #[test]
    fn rejects() {
        for n in 0..8 {
            assert_eq!(
                Packet::new_checked(&[0u8; 8][..n]),
                Err(WireError::Truncated {
                    layer: Layer::Udp,
                    need: 8,
                    have: n
                })
            );
        }
        let mut b = [0u8; 10];
        b[5] = 7;
        assert_eq!(
            Packet::new_checked(&b[..]),
            Err(WireError::BadUdpLength {
                udp_len: 7,
                buffer_len: 10
            })
        );
        b[5] = 11;
        assert_eq!(
            Packet::new_checked(&b[..]),
            Err(WireError::BadUdpLength {
                udp_len: 11,
                buffer_len: 10
            })
        );
        b[5] = 8;
        assert!(Packet::new_checked(&b[..]).unwrap().is_empty());
    }
}
