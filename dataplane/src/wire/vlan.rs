//! One VLAN tag, as it follows an Ethernet header whose ethertype is a TPID (0x8100 for
//! 802.1Q, 0x88a8 for an 802.1ad service tag): the tag control information (PCP, DEI,
//! VID) and the ethertype of what follows.
//!
//! As OVS with its default `vlan-limit=1`, xvs parses one tag, the outer one, whichever
//! of the two TPIDs it has; a second tag behind it (QinQ: 0x88a8 then 0x8100) is left
//! unparsed as payload, its TPID being the ethertype after the first tag.

use super::{ethertype, get_u16, set_u16, truncated, Layer, WireError};

mod field {
    pub const TCI: usize = 0;
    pub const ETHERTYPE: usize = 2;
    pub const PAYLOAD: usize = 4;
}

/// Length of the tag after the TPID (which sits in the Ethernet header's ethertype).
pub const HEADER_LEN: usize = field::PAYLOAD;
/// The drop eligible indicator (formerly CFI) bit of the TCI.
pub const DEI: u16 = 0x1000;
pub const PCP_SHIFT: u16 = 13;
pub const VID_MASK: u16 = 0x0fff;

/// Whether `ethertype`, found where an ethertype goes, is a VLAN tag's TPID instead.
#[inline]
pub const fn is_tpid(ethertype: u16) -> bool {
    matches!(ethertype, ethertype::VLAN | ethertype::QINQ)
}

/// A view of a VLAN tag's TCI and inner ethertype, followed by the payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Tag<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Tag<T> {
    /// Wraps `buffer` without looking at it; see the [module docs](super) for when.
    pub const fn new_unchecked(buffer: T) -> Self {
        Tag { buffer }
    }

    /// Wraps `buffer` if it holds a whole tag.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let have = buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(truncated(Layer::Vlan, HEADER_LEN, have));
        }
        Ok(Tag { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole tag control information: `pcp << 13 | dei << 12 | vid`.
    pub fn tci(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::TCI)
    }

    pub fn pcp(&self) -> u8 {
        (self.tci() >> PCP_SHIFT) as u8
    }

    pub fn dei(&self) -> bool {
        self.tci() & DEI != 0
    }

    pub fn vid(&self) -> u16 {
        self.tci() & VID_MASK
    }

    /// The ethertype of the payload.
    pub fn ethertype(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ETHERTYPE)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Tag<&'a T> {
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Tag<T> {
    pub fn set_tci(&mut self, tci: u16) {
        set_u16(self.buffer.as_mut(), field::TCI, tci)
    }

    pub fn set_ethertype(&mut self, ethertype: u16) {
        set_u16(self.buffer.as_mut(), field::ETHERTYPE, ethertype)
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// The values of a VLAN tag (its TPID is the ethertype in front of it).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Repr {
    /// Priority code point, 0..=7.
    pub pcp: u8,
    pub dei: bool,
    /// VLAN id, 0..=4095.
    pub vid: u16,
    /// The ethertype of the payload.
    pub ethertype: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(tag: &Tag<T>) -> Result<Repr, WireError> {
        Ok(Repr {
            pcp: tag.pcp(),
            dei: tag.dei(),
            vid: tag.vid(),
            ethertype: tag.ethertype(),
        })
    }

    /// The TCI these values make; out-of-range `pcp` and `vid` bits are dropped.
    pub const fn tci(&self) -> u16 {
        ((self.pcp as u16 & 7) << PCP_SHIFT) | ((self.dei as u16) << 12) | (self.vid & VID_MASK)
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, tag: &mut Tag<T>) {
        tag.set_tci(self.tci());
        tag.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let bytes = [0xb0, 0x0a, 0x08, 0x00, 0x45];
        let t = Tag::new_checked(&bytes[..]).unwrap();
        assert_eq!(t.tci(), 0xb00a);
        assert_eq!(t.pcp(), 5);
        assert!(t.dei());
        assert_eq!(t.vid(), 10);
        assert_eq!(t.ethertype(), 0x0800);
        assert_eq!(t.payload(), &[0x45]);
    }

    #[test]
    fn round_trip() {
        for (pcp, dei, vid) in [
            (0, false, 0),
            (7, true, 4095),
            (3, false, 100),
            (1, true, 1),
        ] {
            let repr = Repr {
                pcp,
                dei,
                vid,
                ethertype: 0x0806,
            };
            let mut buf = [0u8; 4];
            repr.emit(&mut Tag::new_unchecked(&mut buf[..]));
            assert_eq!(Repr::parse(&Tag::new_checked(&buf[..]).unwrap()), Ok(repr));
        }
    }

    #[test]
    fn tpids() {
        assert!(is_tpid(0x8100) && is_tpid(0x88a8));
        for other in [0x0800, 0x0806, 0x86dd, 0x9100, 0x88a9, 0x8101] {
            assert!(!is_tpid(other), "{other:#x}");
        }
    }

    #[test]
    fn truncated() {
        let bytes = [0u8; 3];
        for n in 0..4 {
            assert_eq!(
                Tag::new_checked(&bytes[..n.min(3)]).unwrap_err(),
                WireError::Truncated {
                    layer: Layer::Vlan,
                    need: 4,
                    have: n.min(3)
                }
            );
        }
    }
}
