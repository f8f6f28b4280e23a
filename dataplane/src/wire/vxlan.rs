//! VXLAN header (RFC 7348), carried in UDP to port 4789.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |R|R|R|R|I|R|R|R|            Reserved                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                VXLAN Network Identifier (VNI) |   Reserved    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The I flag must be set for the VNI to be valid; the reserved bits are sent as zero
//! and ignored on receipt (RFC 7348 section 5).

use super::{get_u32, set_u32, truncated, Layer, WireError};

/// The IANA-assigned UDP destination port.
pub const UDP_PORT: u16 = 4789;
pub const HEADER_LEN: usize = 8;
/// The I flag in the first byte.
pub const FLAG_VNI: u8 = 0x08;
/// The largest VNI (24 bits).
pub const VNI_MAX: u32 = 0x00ff_ffff;

mod field {
    pub const FLAGS: usize = 0;
    pub const VNI: usize = 4;
}

/// A view of a VXLAN packet: header and inner Ethernet frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without looking at it; see the [module docs](super) for when.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds 8 bytes of header with the I flag set.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(truncated(Layer::Vxlan, HEADER_LEN, b.len()));
        }
        if b[field::FLAGS] & FLAG_VNI == 0 {
            return Err(WireError::BadVxlanFlags(b[field::FLAGS]));
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn flags(&self) -> u8 {
        self.b()[field::FLAGS]
    }

    pub fn vni_valid(&self) -> bool {
        self.flags() & FLAG_VNI != 0
    }

    /// The 24-bit VNI.
    pub fn vni(&self) -> u32 {
        get_u32(self.b(), field::VNI) >> 8
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The inner Ethernet frame.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the flags byte and zeroes the 24 reserved bits after it.
    pub fn set_flags(&mut self, flags: u8) {
        set_u32(self.buffer.as_mut(), field::FLAGS, u32::from(flags) << 24)
    }

    /// Sets the VNI (its low 24 bits) and zeroes the reserved byte after it.
    pub fn set_vni(&mut self, vni: u32) {
        set_u32(self.buffer.as_mut(), field::VNI, (vni & VNI_MAX) << 8)
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// The values of a VXLAN header: only the VNI, since the I flag is always set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Repr {
    /// 24 bits; higher bits are dropped by `emit`.
    pub vni: u32,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        if !packet.vni_valid() {
            return Err(WireError::BadVxlanFlags(packet.flags()));
        }
        Ok(Repr { vni: packet.vni() })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header, I flag set, reserved fields zero, into the front of `packet`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_flags(FLAG_VNI);
        packet.set_vni(self.vni);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for vni in [0, 1, 0x3e7, VNI_MAX] {
            let repr = Repr { vni };
            let mut buf = [0xffu8; 8 + 3];
            buf[8..].copy_from_slice(&[7, 8, 9]);
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            let p = Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(Repr::parse(&p), Ok(repr));
            assert_eq!(p.payload(), &[7, 8, 9]);
        }
    }

    #[test]
    fn byte_layout() {
        let mut buf = [0xffu8; 8];
        Repr { vni: 0x0012_3456 }.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
        // High bits beyond 24 are dropped.
        Repr { vni: 0xab00_0001 }.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, [0x08, 0, 0, 0, 0, 0, 1, 0]);
    }

    #[test]
    fn rejects() {
        for n in 0..8 {
            assert_eq!(
                Packet::new_checked(&[0x08u8; 8][..n]),
                Err(WireError::Truncated {
                    layer: Layer::Vxlan,
                    need: 8,
                    have: n
                })
            );
        }
        assert_eq!(
            Packet::new_checked(&[0x00, 0, 0, 0, 0, 0, 1, 0][..]),
            Err(WireError::BadVxlanFlags(0))
        );
        assert_eq!(
            Packet::new_checked(&[0xf7, 0, 0, 0, 0, 0, 1, 0][..]),
            Err(WireError::BadVxlanFlags(0xf7))
        );
        // Reserved bits are ignored on receipt.
        let p = Packet::new_checked(&[0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0xff][..]).unwrap();
        assert_eq!(p.vni(), 1);
    }
}
