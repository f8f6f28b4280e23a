//! Ethernet II header: destination, source, ethertype.

use super::{get_mac, get_u16, set_mac, set_u16, truncated, Layer, WireError};
use crate::mac::MacAddr;

mod field {
    pub const DST: usize = 0;
    pub const SRC: usize = 6;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
}

pub const HEADER_LEN: usize = field::PAYLOAD;

/// The ethertypes xvs handles: the one place their numbers are written (the flow key,
/// the parsers, the executor and the tunnels all name them from here).
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    /// Reverse ARP: only named in flow syntax (`rarp`).
    pub const RARP: u16 = 0x8035;
    /// The 802.1Q (customer) tag's TPID.
    pub const VLAN: u16 = 0x8100;
    /// The 802.1ad (QinQ) service tag's TPID. As the outer tag it is a VLAN tag like
    /// 0x8100 (see [`vlan::is_tpid`](crate::wire::vlan::is_tpid)).
    pub const QINQ: u16 = 0x88a8;
    /// Transparent Ethernet bridging: GRE's protocol for an Ethernet payload.
    pub const TEB: u16 = 0x6558;
    /// Not parsed by xvs; an ethertype to match on (`ipv6`, `dl_type=0x86dd`).
    pub const IPV6: u16 = 0x86dd;
}

/// A view of an Ethernet II frame: header and everything after it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Frame<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps `buffer` without looking at it; see the [module docs](super) for when.
    pub const fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    /// Wraps `buffer` if it holds a whole Ethernet header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let have = buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(truncated(Layer::Ethernet, HEADER_LEN, have));
        }
        Ok(Frame { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst_addr(&self) -> MacAddr {
        get_mac(self.buffer.as_ref(), field::DST)
    }

    pub fn src_addr(&self) -> MacAddr {
        get_mac(self.buffer.as_ref(), field::SRC)
    }

    /// The ethertype (or, below 0x0600, an 802.3 length: not told apart here).
    pub fn ethertype(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ETHERTYPE)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        set_mac(self.buffer.as_mut(), field::DST, addr)
    }

    pub fn set_src_addr(&mut self, addr: MacAddr) {
        set_mac(self.buffer.as_mut(), field::SRC, addr)
    }

    pub fn set_ethertype(&mut self, ethertype: u16) {
        set_u16(self.buffer.as_mut(), field::ETHERTYPE, ethertype)
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// The values of an Ethernet II header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Repr {
    pub src_addr: MacAddr,
    pub dst_addr: MacAddr,
    pub ethertype: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Repr, WireError> {
        Ok(Repr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: [u8; 18] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x16, 0x3e, 0xdc, 0xc5, 0x23, 0x08, 0x06, 0xaa,
        0xbb, 0xcc, 0xdd,
    ];

    #[test]
    fn parse_fields() {
        let f = Frame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), MacAddr::BROADCAST);
        assert_eq!(f.src_addr(), "fa:16:3e:dc:c5:23".parse().unwrap());
        assert_eq!(f.ethertype(), 0x0806);
        assert_eq!(f.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn round_trip() {
        let repr = Repr::parse(&Frame::new_checked(&FRAME[..]).unwrap()).unwrap();
        let mut buf = [0u8; 18];
        buf[14..].copy_from_slice(&FRAME[14..]);
        let mut f = Frame::new_unchecked(&mut buf[..]);
        repr.emit(&mut f);
        assert_eq!(f.payload_mut(), &FRAME[14..]);
        assert_eq!(buf, FRAME);
        assert_eq!(repr.buffer_len(), 14);
    }

    #[test]
    fn truncated() {
        for n in 0..14 {
            assert_eq!(
                Frame::new_checked(&FRAME[..n]),
                Err(WireError::Truncated {
                    layer: Layer::Ethernet,
                    need: 14,
                    have: n
                })
            );
        }
        assert!(Frame::new_checked(&FRAME[..14])
            .unwrap()
            .payload()
            .is_empty());
    }
}
