//! ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses, the only kind xvs
//! matches on; anything else is rejected by `new_checked`.

use std::net::Ipv4Addr;

use super::ethernet::ethertype;
use super::{get_ipv4, get_mac, get_u16, set_ipv4, set_mac, set_u16, truncated, Layer, WireError};
use crate::mac::MacAddr;

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
    pub const END: usize = 28;
}

/// The fixed part that says what the addresses are.
pub const FIXED_LEN: usize = 8;
/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::END;

pub const HTYPE_ETHERNET: u16 = 1;
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without looking at it; see the [module docs](super) for when.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds a whole ARP packet with htype 1 (Ethernet), ptype 0x0800,
    /// hlen 6 and plen 4.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let have = b.len();
        if have < FIXED_LEN {
            return Err(truncated(Layer::Arp, FIXED_LEN, have));
        }
        let (htype, ptype) = (get_u16(b, field::HTYPE), get_u16(b, field::PTYPE));
        let (hlen, plen) = (b[field::HLEN], b[field::PLEN]);
        if htype != HTYPE_ETHERNET || ptype != ethertype::IPV4 || hlen != 6 || plen != 4 {
            return Err(WireError::BadArpFormat {
                htype,
                ptype,
                hlen,
                plen,
            });
        }
        if have < PACKET_LEN {
            return Err(truncated(Layer::Arp, PACKET_LEN, have));
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn hardware_type(&self) -> u16 {
        get_u16(self.b(), field::HTYPE)
    }

    pub fn protocol_type(&self) -> u16 {
        get_u16(self.b(), field::PTYPE)
    }

    pub fn hardware_len(&self) -> u8 {
        self.b()[field::HLEN]
    }

    pub fn protocol_len(&self) -> u8 {
        self.b()[field::PLEN]
    }

    pub fn operation(&self) -> u16 {
        get_u16(self.b(), field::OPER)
    }

    /// Sender hardware address.
    pub fn sha(&self) -> MacAddr {
        get_mac(self.b(), field::SHA)
    }

    /// Sender protocol address.
    pub fn spa(&self) -> Ipv4Addr {
        get_ipv4(self.b(), field::SPA)
    }

    /// Target hardware address.
    pub fn tha(&self) -> MacAddr {
        get_mac(self.b(), field::THA)
    }

    /// Target protocol address.
    pub fn tpa(&self) -> Ipv4Addr {
        get_ipv4(self.b(), field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn b_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Writes htype, ptype, hlen and plen for Ethernet/IPv4.
    pub fn set_eth_ipv4_format(&mut self) {
        let b = self.b_mut();
        set_u16(b, field::HTYPE, HTYPE_ETHERNET);
        set_u16(b, field::PTYPE, ethertype::IPV4);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
    }

    pub fn set_operation(&mut self, op: u16) {
        set_u16(self.b_mut(), field::OPER, op)
    }

    pub fn set_sha(&mut self, addr: MacAddr) {
        set_mac(self.b_mut(), field::SHA, addr)
    }

    pub fn set_spa(&mut self, addr: Ipv4Addr) {
        set_ipv4(self.b_mut(), field::SPA, addr)
    }

    pub fn set_tha(&mut self, addr: MacAddr) {
        set_mac(self.b_mut(), field::THA, addr)
    }

    pub fn set_tpa(&mut self, addr: Ipv4Addr) {
        set_ipv4(self.b_mut(), field::TPA, addr)
    }
}

/// The values of an Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Repr {
    pub operation: u16,
    pub sha: MacAddr,
    pub spa: Ipv4Addr,
    pub tha: MacAddr,
    pub tpa: Ipv4Addr,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        Ok(Repr {
            operation: packet.operation(),
            sha: packet.sha(),
            spa: packet.spa(),
            tha: packet.tha(),
            tpa: packet.tpa(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_eth_ipv4_format();
        packet.set_operation(self.operation);
        packet.set_sha(self.sha);
        packet.set_spa(self.spa);
        packet.set_tha(self.tha);
        packet.set_tpa(self.tpa);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Repr {
        Repr {
            operation: OP_REQUEST,
            sha: "fa:16:3e:dc:c5:23".parse().unwrap(),
            spa: Ipv4Addr::new(10, 0, 0, 1),
            tha: MacAddr::ZERO,
            tpa: Ipv4Addr::new(10, 0, 0, 2),
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let repr = request();
        let mut buf = [0u8; 28];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(
            buf,
            [
                0, 1, 8, 0, 6, 4, 0, 1, 0xfa, 0x16, 0x3e, 0xdc, 0xc5, 0x23, 10, 0, 0, 1, 0, 0, 0,
                0, 0, 0, 10, 0, 0, 2
            ]
        );
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(repr));
        assert_eq!(repr.buffer_len(), 28);
    }

    #[test]
    fn rejects() {
        let mut buf = [0u8; 28];
        request().emit(&mut Packet::new_unchecked(&mut buf[..]));
        for n in 0..8 {
            assert_eq!(
                Packet::new_checked(&buf[..n]).unwrap_err(),
                WireError::Truncated {
                    layer: Layer::Arp,
                    need: 8,
                    have: n
                }
            );
        }
        for n in 8..28 {
            assert_eq!(
                Packet::new_checked(&buf[..n]).unwrap_err(),
                WireError::Truncated {
                    layer: Layer::Arp,
                    need: 28,
                    have: n
                }
            );
        }
        let mut bad = buf;
        bad[1] = 6; // IEEE 802
        assert_eq!(
            Packet::new_checked(&bad[..]),
            Err(WireError::BadArpFormat {
                htype: 6,
                ptype: 0x0800,
                hlen: 6,
                plen: 4
            })
        );
        let mut bad = buf;
        bad[2] = 0x86;
        bad[3] = 0xdd;
        bad[5] = 16;
        assert_eq!(
            Packet::new_checked(&bad[..]),
            Err(WireError::BadArpFormat {
                htype: 1,
                ptype: 0x86dd,
                hlen: 6,
                plen: 16
            })
        );
    }
}
