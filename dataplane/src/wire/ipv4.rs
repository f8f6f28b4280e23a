//! IPv4 header (RFC 791). Options are carried over, not interpreted.

use std::net::Ipv4Addr;

use super::{checksum, get_ipv4, get_u16, set_ipv4, set_u16, truncated, Layer, WireError};

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_IGMP: u8 = 2;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_GRE: u8 = 47;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_SCTP: u8 = 132;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet. After `new_checked` the header (with options) and the
/// `total_len` bytes it announces are inside the buffer; bytes after them (Ethernet
/// padding) are not part of [`payload`](Packet::payload).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without looking at it; see the [module docs](super) for when.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds an IPv4 header: version 4, IHL at least 5, the header
    /// inside the buffer, and a total length between the header length and the buffer
    /// length. The checksum is not looked at (see [`verify_checksum`](Self::verify_checksum)).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let have = b.len();
        if have < HEADER_LEN {
            return Err(truncated(Layer::Ipv4, HEADER_LEN, have));
        }
        let version = b[field::VER_IHL] >> 4;
        if version != 4 {
            return Err(WireError::BadIpVersion(version));
        }
        let ihl = b[field::VER_IHL] & 0x0f;
        if ihl < 5 {
            return Err(WireError::BadIhl(ihl));
        }
        let header_len = usize::from(ihl) * 4;
        if header_len > have {
            return Err(truncated(Layer::Ipv4, header_len, have));
        }
        let total_len = usize::from(get_u16(b, field::TOTAL_LEN));
        if total_len < header_len || total_len > have {
            return Err(WireError::BadTotalLength {
                total_len,
                header_len,
                buffer_len: have,
            });
        }
        Ok(Packet { buffer })
    }

    /// Wraps `buffer` after the checks of OVS's `ipv4_sanity_check`, the ones the flow
    /// key and the datapath's rewrites go by: the 20-byte header, IHL at least 5 and the
    /// header inside the buffer, a total length between the header length and the
    /// buffer length. Unlike [`new_checked`](Self::new_checked) the version field is not
    /// looked at: a frame whose ethertype says IPv4 is taken as IPv4.
    pub fn new_sanity_checked(buffer: T) -> Option<Self> {
        let b = buffer.as_ref();
        let have = b.len();
        if have < HEADER_LEN {
            return None;
        }
        let header_len = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        let total_len = usize::from(get_u16(b, field::TOTAL_LEN));
        if header_len < HEADER_LEN || header_len > have {
            return None;
        }
        if total_len > have || header_len > total_len || have - total_len > usize::from(u16::MAX) {
            return None;
        }
        Some(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn version(&self) -> u8 {
        self.b()[field::VER_IHL] >> 4
    }

    /// The first byte, version and IHL: with the TOS, the 16-bit word a TOS rewrite
    /// changes for the checksum.
    pub fn version_ihl_byte(&self) -> u8 {
        self.b()[field::VER_IHL]
    }

    /// Header length in bytes (IHL x 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[field::VER_IHL] & 0x0f) * 4
    }

    /// The DSCP and ECN byte.
    pub fn tos(&self) -> u8 {
        self.b()[field::TOS]
    }

    pub fn total_len(&self) -> u16 {
        get_u16(self.b(), field::TOTAL_LEN)
    }

    pub fn ident(&self) -> u16 {
        get_u16(self.b(), field::IDENT)
    }

    pub fn dont_frag(&self) -> bool {
        get_u16(self.b(), field::FLAGS_FRAG) & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        get_u16(self.b(), field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// Fragment offset in 8-byte units, as on the wire.
    pub fn frag_offset(&self) -> u16 {
        get_u16(self.b(), field::FLAGS_FRAG) & FRAG_OFFSET_MASK
    }

    /// True for any fragment of a fragmented packet (first, middle or last).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.b(), field::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        get_ipv4(self.b(), field::SRC)
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        get_ipv4(self.b(), field::DST)
    }

    /// The option bytes between the fixed header and the payload.
    pub fn options(&self) -> &[u8] {
        &self.b()[HEADER_LEN..self.header_len()]
    }

    /// True when the header checksum (over the header with options) is right.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(&self.b()[..self.header_len()]) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the header up to `total_len`.
    pub fn payload(&self) -> &'a [u8] {
        let b = self.buffer.as_ref();
        &b[usize::from(b[field::VER_IHL] & 0x0f) * 4..usize::from(get_u16(b, field::TOTAL_LEN))]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn b_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    pub fn set_version(&mut self, version: u8) {
        let b = self.b_mut();
        b[field::VER_IHL] = (version << 4) | (b[field::VER_IHL] & 0x0f);
    }

    /// Sets IHL from a length in bytes (a multiple of 4, at most 60).
    pub fn set_header_len(&mut self, len: usize) {
        let b = self.b_mut();
        b[field::VER_IHL] = (b[field::VER_IHL] & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    pub fn set_tos(&mut self, tos: u8) {
        self.b_mut()[field::TOS] = tos;
    }

    pub fn set_total_len(&mut self, len: u16) {
        set_u16(self.b_mut(), field::TOTAL_LEN, len)
    }

    pub fn set_ident(&mut self, ident: u16) {
        set_u16(self.b_mut(), field::IDENT, ident)
    }

    fn set_flags_frag_bits(&mut self, mask: u16, value: u16) {
        let b = self.b_mut();
        let w = (get_u16(b, field::FLAGS_FRAG) & !mask) | (value & mask);
        set_u16(b, field::FLAGS_FRAG, w)
    }

    pub fn set_dont_frag(&mut self, df: bool) {
        self.set_flags_frag_bits(FLAG_DF, if df { FLAG_DF } else { 0 })
    }

    pub fn set_more_frags(&mut self, mf: bool) {
        self.set_flags_frag_bits(FLAG_MF, if mf { FLAG_MF } else { 0 })
    }

    /// Sets the fragment offset, in 8-byte units.
    pub fn set_frag_offset(&mut self, offset: u16) {
        self.set_flags_frag_bits(FRAG_OFFSET_MASK, offset)
    }

    pub fn set_ttl(&mut self, ttl: u8) {
        self.b_mut()[field::TTL] = ttl;
    }

    pub fn set_protocol(&mut self, protocol: u8) {
        self.b_mut()[field::PROTOCOL] = protocol;
    }

    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(self.b_mut(), field::CHECKSUM, checksum)
    }

    /// Sets the source address; the checksum is not touched.
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        set_ipv4(self.b_mut(), field::SRC, addr)
    }

    /// Sets the destination address; the checksum is not touched.
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        set_ipv4(self.b_mut(), field::DST, addr)
    }

    /// Computes and stores the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(c)
    }

    /// The bytes after the header up to `total_len`.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        &mut self.b_mut()[start..end]
    }
}

/// The values of an IPv4 header without options.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: u8,
    pub tos: u8,
    pub ttl: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// In 8-byte units.
    pub frag_offset: u16,
    /// Bytes after the header: `total_len - header_len`. Must keep `total_len` within
    /// 65535 for `emit`.
    pub payload_len: usize,
}

impl Repr {
    /// Takes the values of a checked packet. Options are dropped and the checksum is not
    /// verified: both are the caller's business (see [`Packet::verify_checksum`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            tos: packet.tos(),
            ttl: packet.ttl(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
            payload_len: usize::from(packet.total_len()).saturating_sub(packet.header_len()),
        })
    }

    /// The header length `emit` writes: always without options.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header with a correct checksum into the front of `packet`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        debug_assert!(HEADER_LEN + self.payload_len <= usize::from(u16::MAX));
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN);
        packet.set_tos(self.tos);
        packet.set_total_len((HEADER_LEN + self.payload_len) as u16);
        packet.set_ident(self.ident);
        packet.set_flags_frag_bits(0xffff, 0);
        packet.set_dont_frag(self.dont_frag);
        packet.set_more_frags(self.more_frags);
        packet.set_frag_offset(self.frag_offset);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 20-byte header (checksum 0xb861) + 4 payload bytes + 2 bytes of padding.
    fn sample() -> Vec<u8> {
        let mut v = vec![
            0x45, 0x00, 0x00, 0x18, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7, 1, 2, 3, 4, 0xee, 0xee,
        ];
        let c = checksum::checksum(&v[..20]);
        v[10..12].copy_from_slice(&c.to_be_bytes());
        v
    }

    #[test]
    fn fields() {
        let v = sample();
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 24);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), PROTO_UDP);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        assert!(p.options().is_empty());
        assert!(p.verify_checksum());
    }

    #[test]
    fn round_trip() {
        let repr = Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 0, 0, 2),
            protocol: PROTO_GRE,
            tos: 0xb8,
            ttl: 255,
            ident: 0x1234,
            dont_frag: false,
            more_frags: true,
            frag_offset: 0x1abc,
            payload_len: 3,
        };
        let mut buf = [0u8; 23];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p), Ok(repr));
        assert_eq!(p.payload().len(), 3);
    }

    #[test]
    fn options_are_skipped() {
        let mut v = sample();
        v.splice(20..20, [1, 1, 1, 0]); // NOP NOP NOP EOL
        v[0] = 0x46;
        v[3] = 28;
        let mut p = Packet::new_checked(&mut v[..]).unwrap();
        p.fill_checksum();
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p).unwrap().payload_len, 4);
    }

    #[test]
    fn bad_headers() {
        let v = sample();
        for n in 0..20 {
            assert_eq!(
                Packet::new_checked(&v[..n]).unwrap_err(),
                WireError::Truncated {
                    layer: Layer::Ipv4,
                    need: 20,
                    have: n
                }
            );
        }
        let mut w = v.clone();
        w[0] = 0x65;
        assert_eq!(Packet::new_checked(&w[..]), Err(WireError::BadIpVersion(6)));
        w[0] = 0x44;
        assert_eq!(Packet::new_checked(&w[..]), Err(WireError::BadIhl(4)));
        w[0] = 0x4f;
        assert_eq!(
            Packet::new_checked(&w[..]),
            Err(WireError::Truncated {
                layer: Layer::Ipv4,
                need: 60,
                have: 26
            })
        );
        let mut w = v.clone();
        w[3] = 27;
        assert_eq!(
            Packet::new_checked(&w[..]),
            Err(WireError::BadTotalLength {
                total_len: 27,
                header_len: 20,
                buffer_len: 26
            })
        );
        w[3] = 19;
        assert!(matches!(
            Packet::new_checked(&w[..]),
            Err(WireError::BadTotalLength { total_len: 19, .. })
        ));
        let mut w = v;
        w[15] ^= 1;
        assert!(!Packet::new_checked(&w[..]).unwrap().verify_checksum());
    }

    #[test]
    fn sanity_check_is_ovs_lengths_only() {
        let v = sample();
        assert!(Packet::new_sanity_checked(&v[..]).is_some());
        for n in 0..24 {
            assert!(Packet::new_sanity_checked(&v[..n]).is_none(), "{n} bytes");
        }
        let mut w = v.clone();
        w[0] = 0x65; // version 6: still taken, as OVS does
        assert!(Packet::new_sanity_checked(&w[..]).is_some());
        w[0] = 0x44; // IHL 4
        assert!(Packet::new_sanity_checked(&w[..]).is_none());
        w[0] = 0x46; // 24-byte header > total length 24? equal: fine; 28 > 24 is not
        assert!(Packet::new_sanity_checked(&w[..]).is_some());
        w[0] = 0x47;
        assert!(Packet::new_sanity_checked(&w[..]).is_none());
        let mut w = v;
        w[3] = 19; // total length below the header
        assert!(Packet::new_sanity_checked(&w[..]).is_none());
        w[3] = 27; // beyond the buffer
        assert!(Packet::new_sanity_checked(&w[..]).is_none());
    }
}
