//! TCP header (RFC 9293), as far as a switch needs it: ports, the header length that
//! says where the payload starts, and the checksum.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! |                        Sequence Number                        |
//! |                    Acknowledgment Number                      |
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{get_u16, get_u32, set_u16, set_u32, truncated, Layer, WireError};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const OFF_FLAGS: usize = 12;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Offset of the checksum field, for incremental updates.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM;

/// A view of a TCP segment. After `new_checked` the header, options included, is inside
/// the buffer: OVS's condition for taking a TCP header's ports (`miniflow_extract`) and
/// for rewriting them (`dp_packet_get_tcp_payload`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without looking at it; see the [module docs](super) for when.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds 20 bytes, a data offset of at least 5 words, and the
    /// whole header that offset announces.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let have = b.len();
        if have < HEADER_LEN {
            return Err(truncated(Layer::Tcp, HEADER_LEN, have));
        }
        let hl = usize::from(b[field::OFF_FLAGS] >> 4) * 4;
        if hl < HEADER_LEN {
            return Err(WireError::BadTcpOffset(b[field::OFF_FLAGS] >> 4));
        }
        if hl > have {
            return Err(truncated(Layer::Tcp, hl, have));
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

    pub fn seq(&self) -> u32 {
        get_u32(self.b(), field::SEQ)
    }

    pub fn ack(&self) -> u32 {
        get_u32(self.b(), field::ACK)
    }

    /// Header length in bytes (data offset x 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[field::OFF_FLAGS] >> 4) * 4
    }

    /// The 12 bits after the data offset: reserved bits and the flags.
    pub fn flags(&self) -> u16 {
        get_u16(self.b(), field::OFF_FLAGS) & 0x0fff
    }

    pub fn window(&self) -> u16 {
        get_u16(self.b(), field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.b(), field::CHECKSUM)
    }

    pub fn urgent(&self) -> u16 {
        get_u16(self.b(), field::URGENT)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn b_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    pub fn set_src_port(&mut self, p: u16) {
        set_u16(self.b_mut(), field::SRC_PORT, p)
    }

    pub fn set_dst_port(&mut self, p: u16) {
        set_u16(self.b_mut(), field::DST_PORT, p)
    }

    pub fn set_seq(&mut self, v: u32) {
        set_u32(self.b_mut(), field::SEQ, v)
    }

    pub fn set_ack(&mut self, v: u32) {
        set_u32(self.b_mut(), field::ACK, v)
    }

    /// Sets the data offset from a header length in bytes and the 12 flag bits.
    pub fn set_header_len_flags(&mut self, len: usize, flags: u16) {
        let w = ((len / 4) as u16) << 12 | (flags & 0x0fff);
        set_u16(self.b_mut(), field::OFF_FLAGS, w)
    }

    pub fn set_window(&mut self, v: u16) {
        set_u16(self.b_mut(), field::WINDOW, v)
    }

    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.b_mut(), field::CHECKSUM, v)
    }

    pub fn set_urgent(&mut self, v: u16) {
        set_u16(self.b_mut(), field::URGENT, v)
    }
}

/// The values of a TCP header without options.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u16,
    pub window: u16,
    /// The checksum field as written by `emit`.
    pub checksum: u16,
    pub urgent: u16,
}

impl Repr {
    /// Takes the values of a checked segment (options are dropped, the checksum is not
    /// verified).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq(),
            ack: p.ack(),
            flags: p.flags(),
            window: p.window(),
            checksum: p.checksum(),
            urgent: p.urgent(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 20-byte header into the front of `p`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq(self.seq);
        p.set_ack(self.ack);
        p.set_header_len_flags(HEADER_LEN, self.flags);
        p.set_window(self.window);
        p.set_checksum(self.checksum);
        p.set_urgent(self.urgent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr() -> Repr {
        Repr {
            src_port: 443,
            dst_port: 51000,
            seq: 0x0102_0304,
            ack: 0x0506_0708,
            flags: 0x018,
            window: 512,
            checksum: 0xbeef,
            urgent: 0,
        }
    }

    #[test]
    fn round_trip() {
        let mut buf = [0u8; 24];
        repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..4], &[0x01, 0xbb, 0xc7, 0x38]);
        assert_eq!(&buf[12..14], &[0x50, 0x18]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(repr()));
        assert_eq!(p.header_len(), 20);
    }

    #[test]
    fn rejects() {
        let mut buf = [0u8; 24];
        repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        for n in 0..20 {
            assert_eq!(
                Packet::new_checked(&buf[..n]),
                Err(WireError::Truncated {
                    layer: Layer::Tcp,
                    need: 20,
                    have: n
                })
            );
        }
        buf[12] = 0x40;
        assert_eq!(
            Packet::new_checked(&buf[..]),
            Err(WireError::BadTcpOffset(4))
        );
        buf[12] = 0x60;
        assert_eq!(Packet::new_checked(&buf[..]).unwrap().header_len(), 24);
        assert_eq!(
            Packet::new_checked(&buf[..23]),
            Err(WireError::Truncated {
                layer: Layer::Tcp,
                need: 24,
                have: 23
            })
        );
    }
}
