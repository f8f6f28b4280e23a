//! IPv6 header (RFC 8200) and the walk over its extension headers.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Source Address (128 bits)                     |
//! |                 Destination Address (128 bits)                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv6Addr;

use super::{checksum, get_u16, get_u32, set_u16, set_u32, truncated, Layer, WireError};

mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
    pub const PAYLOAD: usize = 40;
}

pub const HEADER_LEN: usize = field::PAYLOAD;

/// Next-header values the extension header walk knows.
pub const NEXT_HOP_BY_HOP: u8 = 0;
pub const NEXT_ROUTING: u8 = 43;
pub const NEXT_FRAGMENT: u8 = 44;
pub const NEXT_AH: u8 = 51;
pub const NEXT_ICMPV6: u8 = 58;
pub const NEXT_DEST_OPTS: u8 = 60;

const FLOW_LABEL_MASK: u32 = 0x000f_ffff;

/// A view of an IPv6 packet. After `new_checked` the fixed header and the `payload_len`
/// bytes it announces are inside the buffer; bytes after them (Ethernet padding) are not
/// part of [`payload`](Packet::payload).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without looking at it; see the [module docs](super) for when.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds the 40-byte header and the payload length it announces:
    /// the checks of OVS's `ipv6_sanity_check`, which does not look at the version field
    /// either (a frame whose ethertype says IPv6 is taken as IPv6).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let have = b.len();
        if have < HEADER_LEN {
            return Err(truncated(Layer::Ipv6, HEADER_LEN, have));
        }
        let need = HEADER_LEN + usize::from(get_u16(b, field::PAYLOAD_LEN));
        if need > have {
            return Err(truncated(Layer::Ipv6, need, have));
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn version(&self) -> u8 {
        self.b()[field::VER_TC_FLOW] >> 4
    }

    pub fn traffic_class(&self) -> u8 {
        (get_u32(self.b(), field::VER_TC_FLOW) >> 20) as u8
    }

    pub fn flow_label(&self) -> u32 {
        get_u32(self.b(), field::VER_TC_FLOW) & FLOW_LABEL_MASK
    }

    /// Bytes after the fixed header (extension headers included).
    pub fn payload_len(&self) -> u16 {
        get_u16(self.b(), field::PAYLOAD_LEN)
    }

    pub fn next_header(&self) -> u8 {
        self.b()[field::NEXT_HEADER]
    }

    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src_u128())
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst_u128())
    }

    /// The source address as a number, the first byte on the wire most significant.
    pub fn src_u128(&self) -> u128 {
        get_u128(self.b(), field::SRC)
    }

    pub fn dst_u128(&self) -> u128 {
        get_u128(self.b(), field::DST)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The `payload_len` bytes after the fixed header.
    pub fn payload(&self) -> &'a [u8] {
        let b = self.buffer.as_ref();
        &b[HEADER_LEN..HEADER_LEN + usize::from(get_u16(b, field::PAYLOAD_LEN))]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn b_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets version, traffic class and flow label at once.
    pub fn set_version_tc_flow(&mut self, version: u8, traffic_class: u8, flow_label: u32) {
        let w = u32::from(version) << 28
            | u32::from(traffic_class) << 20
            | (flow_label & FLOW_LABEL_MASK);
        set_u32(self.b_mut(), field::VER_TC_FLOW, w)
    }

    pub fn set_traffic_class(&mut self, tc: u8) {
        let b = self.b_mut();
        let w = get_u32(b, field::VER_TC_FLOW);
        set_u32(
            b,
            field::VER_TC_FLOW,
            (w & 0xf00f_ffff) | u32::from(tc) << 20,
        )
    }

    pub fn set_payload_len(&mut self, len: u16) {
        set_u16(self.b_mut(), field::PAYLOAD_LEN, len)
    }

    pub fn set_next_header(&mut self, next: u8) {
        self.b_mut()[field::NEXT_HEADER] = next;
    }

    pub fn set_hop_limit(&mut self, hl: u8) {
        self.b_mut()[field::HOP_LIMIT] = hl;
    }

    /// Sets the source address; no checksum is touched.
    pub fn set_src_u128(&mut self, a: u128) {
        self.b_mut()[field::SRC..field::SRC + 16].copy_from_slice(&a.to_be_bytes())
    }

    /// Sets the destination address; no checksum is touched.
    pub fn set_dst_u128(&mut self, a: u128) {
        self.b_mut()[field::DST..field::DST + 16].copy_from_slice(&a.to_be_bytes())
    }

    /// The `payload_len` bytes after the fixed header.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.b_mut()[HEADER_LEN..end]
    }
}

#[inline]
pub(crate) fn get_u128(b: &[u8], at: usize) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    u128::from_be_bytes(a)
}

/// The ones' complement sum of the IPv6 pseudo-header (RFC 8200 section 8.1) for an
/// upper-layer packet of `len` bytes of protocol `next` (not complemented).
pub fn pseudo_header_sum(src: u128, dst: u128, next: u8, len: u32) -> u16 {
    checksum::combine(
        checksum::combine(
            checksum::sum(&src.to_be_bytes()),
            checksum::sum(&dst.to_be_bytes()),
        ),
        checksum::combine(
            checksum::sum(&len.to_be_bytes()),
            checksum::sum(&[0, 0, 0, next]),
        ),
    )
}

/// Where the extension headers of an IPv6 packet end: what [`walk_ext_headers`] found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ExtWalk {
    /// The first header that is not one of the extension headers walked (the upper
    /// layer's protocol), or [`NEXT_FRAGMENT`] for a fragment other than the first.
    pub next: u8,
    /// Offset of that header in the payload walked.
    pub offset: usize,
    /// The packet is a fragment other than the first: it holds no upper-layer header.
    pub later_fragment: bool,
    /// A fragment header was seen (first fragment, or offset 0 without MF).
    pub fragment: bool,
    /// The fragment header says first fragment: offset 0 and MF set.
    pub first_fragment: bool,
    /// A routing header with segments left: the destination address is not the final
    /// one (what the upper layer's pseudo-header holds).
    pub routing_segments_left: bool,
}

/// Walks the hop-by-hop, routing, destination options, fragment and authentication
/// headers from `next` (the fixed header's next header) over `payload`, as OVS's
/// `parse_ipv6_ext_hdrs`: each must have 8 bytes present, and its whole length; a
/// fragment other than the first stops the walk with `next = 44`. `None` when an
/// extension header is cut short (OVS then leaves the L3 fields other than the addresses
/// out of the key).
pub fn walk_ext_headers(mut next: u8, payload: &[u8]) -> Option<ExtWalk> {
    let mut w = ExtWalk {
        next,
        offset: 0,
        later_fragment: false,
        fragment: false,
        first_fragment: false,
        routing_segments_left: false,
    };
    loop {
        if !matches!(
            next,
            NEXT_HOP_BY_HOP | NEXT_ROUTING | NEXT_DEST_OPTS | NEXT_AH | NEXT_FRAGMENT
        ) {
            w.next = next;
            return Some(w);
        }
        let h = payload.get(w.offset..w.offset + 8)?;
        let len = match next {
            NEXT_AH => (usize::from(h[1]) + 2) * 4,
            NEXT_FRAGMENT => 8,
            _ => (usize::from(h[1]) + 1) * 8,
        };
        if payload.len() - w.offset < len {
            return None;
        }
        match next {
            NEXT_ROUTING if h[3] > 0 => w.routing_segments_left = true,
            NEXT_FRAGMENT => {
                let off_flags = get_u16(h, 2);
                w.fragment = true;
                w.first_fragment = off_flags & 0xfff8 == 0 && off_flags & 1 != 0;
                if off_flags & 0xfff8 != 0 {
                    w.later_fragment = true;
                    w.offset += len;
                    w.next = NEXT_FRAGMENT;
                    return Some(w);
                }
            }
            _ => {}
        }
        next = h[0];
        w.offset += len;
    }
}

/// The values of an IPv6 fixed header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Repr {
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    /// Bytes after the fixed header.
    pub payload_len: u16,
}

impl Repr {
    /// Takes the values of a checked packet (the version is not looked at).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
            payload_len: packet.payload_len(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 40-byte header (version 6) into the front of `packet`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version_tc_flow(6, self.traffic_class, self.flow_label);
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_u128(u128::from(self.src_addr));
        packet.set_dst_u128(u128::from(self.dst_addr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr() -> Repr {
        Repr {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "fe80::1:2:3:4".parse().unwrap(),
            next_header: 17,
            hop_limit: 255,
            traffic_class: 0xb8,
            flow_label: 0xabcde,
            payload_len: 3,
        }
    }

    #[test]
    fn round_trip() {
        let mut buf = [0u8; 40 + 3 + 2];
        repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(
            &buf[..8],
            &[0x6b, 0x8a, 0xbc, 0xde, 0x00, 0x03, 17, 255],
            "version 6, tc 0xb8, label 0xabcde"
        );
        assert_eq!(&buf[8..10], &[0x20, 0x01]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(repr()));
        assert_eq!(p.version(), 6);
        assert_eq!(p.payload().len(), 3, "padding is not payload");
        assert_eq!(p.src_u128(), 0x2001_0db8_0000_0000_0000_0000_0000_0001);
        let mut q = Packet::new_unchecked(&mut buf[..]);
        q.set_traffic_class(0x12);
        assert_eq!(
            (q.traffic_class(), q.flow_label(), q.version()),
            (0x12, 0xabcde, 6)
        );
    }

    #[test]
    fn lengths_are_checked_not_the_version() {
        let mut buf = [0u8; 43];
        repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        for n in 0..40 {
            assert_eq!(
                Packet::new_checked(&buf[..n]),
                Err(WireError::Truncated {
                    layer: Layer::Ipv6,
                    need: 40,
                    have: n
                })
            );
        }
        assert_eq!(
            Packet::new_checked(&buf[..42]),
            Err(WireError::Truncated {
                layer: Layer::Ipv6,
                need: 43,
                have: 42
            })
        );
        buf[0] = 0x4b;
        assert!(Packet::new_checked(&buf[..]).is_ok());
    }

    #[test]
    fn ext_header_walk() {
        // Hop-by-hop (8 bytes) -> routing (16 bytes, 1 segment left) -> AH (12 bytes)
        // -> destination options (8) -> fragment (first: offset 0, MF) -> UDP.
        let mut p = vec![NEXT_ROUTING, 0, 0, 0, 0, 0, 0, 0];
        p.extend([NEXT_AH, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        p.extend([NEXT_DEST_OPTS, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        p.extend([NEXT_FRAGMENT, 0, 0, 0, 0, 0, 0, 0]);
        p.extend([17, 0, 0, 1, 0, 0, 0, 7]);
        p.extend([0xaa; 8]);
        let w = walk_ext_headers(NEXT_HOP_BY_HOP, &p).unwrap();
        assert_eq!(
            w,
            ExtWalk {
                next: 17,
                offset: 52,
                later_fragment: false,
                fragment: true,
                first_fragment: true,
                routing_segments_left: true,
            }
        );
        // A later fragment stops at its fragment header.
        let n = p.len();
        p[46] = 0x01;
        let w = walk_ext_headers(NEXT_HOP_BY_HOP, &p).unwrap();
        assert_eq!(
            (w.next, w.offset, w.later_fragment),
            (NEXT_FRAGMENT, 52, true)
        );
        // Cut anywhere inside an extension header: None; right after the last: fine.
        for cut in 0..52 {
            assert_eq!(walk_ext_headers(NEXT_HOP_BY_HOP, &p[..cut]), None, "{cut}");
        }
        assert!(walk_ext_headers(NEXT_HOP_BY_HOP, &p[..n]).is_some());
        // No extension header: nothing walked.
        assert_eq!(walk_ext_headers(6, &[]).unwrap().offset, 0);
    }

    #[test]
    fn pseudo_header_sum_matches_the_layout() {
        let (s, d) = (0x2001_0db8_u128 << 96 | 1, 0xfe80_u128 << 112 | 2);
        let mut bytes = Vec::new();
        bytes.extend(s.to_be_bytes());
        bytes.extend(d.to_be_bytes());
        bytes.extend(1234u32.to_be_bytes());
        bytes.extend([0, 0, 0, 58]);
        assert_eq!(pseudo_header_sum(s, d, 58, 1234), checksum::sum(&bytes));
    }
}
