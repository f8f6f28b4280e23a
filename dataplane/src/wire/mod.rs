//! Zero-copy views over header bytes, and parsed representations, after smoltcp's `wire`.
//!
//! Every header has two types:
//!
//! - a view (`ethernet::Frame`, `ipv4::Packet`, ...) wrapping any `T: AsRef<[u8]>`.
//!   `new_checked` validates length and the fields that decide where later fields are, so
//!   that every accessor afterwards is in bounds: parsing untrusted bytes cannot panic.
//!   Setters are there when `T: AsMut<[u8]>`. `new_unchecked` exists for emitting into a
//!   buffer the caller sized from `Repr::buffer_len`; on such a view accessors may panic if
//!   the buffer is shorter than that.
//! - a `Repr` holding the header's values, with `parse(&view)`, `emit(&mut view)` and
//!   `buffer_len()` (the header's length on the wire).
//!
//! `payload()` on a view over `&'a [u8]` returns a slice with lifetime `'a`, so that a parse
//! can walk from one layer's view to the next without keeping the outer views alive.

use std::fmt;
use std::net::Ipv4Addr;

use crate::mac::MacAddr;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod gre;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod nd;
pub mod tcp;
pub mod udp;
pub mod vlan;
pub mod vxlan;

pub use arp::{Packet as ArpPacket, Repr as ArpRepr};
pub use ethernet::{ethertype, Frame as EthernetFrame, Repr as EthernetRepr};
pub use gre::{Packet as GrePacket, Repr as GreRepr};
pub use icmp::{Packet as IcmpPacket, Repr as IcmpRepr};
pub use ipv4::{Packet as Ipv4Packet, Repr as Ipv4Repr};
pub use ipv6::{Packet as Ipv6Packet, Repr as Ipv6Repr};
pub use nd::Message as NdMessage;
pub use tcp::{Packet as TcpPacket, Repr as TcpRepr};
pub use udp::{Packet as UdpPacket, Repr as UdpRepr};
pub use vlan::{Repr as VlanRepr, Tag as VlanTag};
pub use vxlan::{Packet as VxlanPacket, Repr as VxlanRepr};

/// The header a [`WireError::Truncated`] happened in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Layer {
    Ethernet,
    Vlan,
    Ipv4,
    Gre,
    Udp,
    Vxlan,
    Arp,
    Ipv6,
    Tcp,
    /// An ICMP or ICMPv6 header.
    Icmp,
    /// A Neighbour Solicitation or Advertisement (ICMPv6 header and target).
    Nd,
    /// The Ethernet frame inside a tunnel packet.
    InnerEthernet,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Ethernet => "Ethernet header",
            Layer::Vlan => "VLAN tag",
            Layer::Ipv4 => "IPv4 header",
            Layer::Gre => "GRE header",
            Layer::Udp => "UDP header",
            Layer::Vxlan => "VXLAN header",
            Layer::Arp => "ARP packet",
            Layer::Ipv6 => "IPv6 packet",
            Layer::Tcp => "TCP header",
            Layer::Icmp => "ICMP header",
            Layer::Nd => "neighbour discovery message",
            Layer::InnerEthernet => "inner Ethernet frame",
        })
    }
}

/// Why bytes could not be parsed as (or written into) the headers asked for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, thiserror::Error)]
pub enum WireError {
    #[error("{layer} truncated: need {need} bytes, have {have}")]
    Truncated {
        layer: Layer,
        need: usize,
        have: usize,
    },
    #[error("IPv4 version field is {0}, not 4")]
    BadIpVersion(u8),
    #[error("IPv4 IHL is {0}, below the minimum of 5")]
    BadIhl(u8),
    #[error(
        "IPv4 total length {total_len} is below the header length {header_len} \
         or beyond the {buffer_len} bytes present"
    )]
    BadTotalLength {
        total_len: usize,
        header_len: usize,
        buffer_len: usize,
    },
    #[error("IPv4 header checksum does not verify")]
    BadIpChecksum,
    #[error("IPv4 packet is a fragment (MF {more_frags}, offset {frag_offset} x 8 bytes)")]
    Fragmented { more_frags: bool, frag_offset: u16 },
    #[error("ethertype 0x{0:04x} is not IPv4")]
    NotIpv4(u16),
    #[error("IPv4 protocol {0} is not GRE (47)")]
    NotGre(u8),
    /// Neither GRE (47) nor UDP (17): not a tunnel packet [`decap_tunnel`] knows.
    ///
    /// [`decap_tunnel`]: crate::tunnel::decap_tunnel
    #[error("IPv4 protocol {0} is neither GRE (47) nor UDP (17)")]
    NotTunnelProtocol(u8),
    #[error("IPv4 protocol {0} is not UDP (17)")]
    NotUdp(u8),
    #[error(
        "UDP length {udp_len} is below the 8-byte header or beyond the {buffer_len} bytes \
         of the IPv4 payload"
    )]
    BadUdpLength { udp_len: usize, buffer_len: usize },
    #[error("UDP checksum does not verify")]
    BadUdpChecksum,
    #[error("UDP destination port {dst_port} is not VXLAN (4789)")]
    NotVxlan { dst_port: u16 },
    /// The I flag (0x08) is clear, so the VNI is not valid; the value is the flags byte.
    #[error("VXLAN flags 0x{0:02x} lack the I flag (0x08): no valid VNI")]
    BadVxlanFlags(u8),
    #[error("GRE version is {0}, only 0 is supported")]
    BadGreVersion(u8),
    /// Routing present, strict source route or a non-zero recursion count (RFC 1701
    /// features RFC 2784 drops); the value holds the offending bits of the first word.
    #[error("GRE flags 0x{0:04x} (routing / strict source route / recursion) are not supported")]
    UnsupportedGreFlags(u16),
    #[error("GRE protocol 0x{0:04x} is not transparent Ethernet bridging (0x6558)")]
    NotTeb(u16),
    #[error("GRE checksum does not verify")]
    BadGreChecksum,
    #[error(
        "ARP is not Ethernet/IPv4: htype {htype}, ptype 0x{ptype:04x}, hlen {hlen}, plen {plen}"
    )]
    BadArpFormat {
        htype: u16,
        ptype: u16,
        hlen: u8,
        plen: u8,
    },
    #[error("TCP data offset is {0} words, below the minimum of 5")]
    BadTcpOffset(u8),
    #[error("output buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall { need: usize, have: usize },
    #[error("IPv4 packet of {len} bytes exceeds the 65535-byte maximum")]
    PacketTooLarge { len: usize },
}

pub(crate) fn truncated(layer: Layer, need: usize, have: usize) -> WireError {
    WireError::Truncated { layer, need, have }
}

// Field accessors shared by the views. Callers index at constant or checked offsets, so
// these can only panic on a view built with `new_unchecked` over too short a buffer.

#[inline]
pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn set_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn get_mac(b: &[u8], at: usize) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[at..at + 6]);
    MacAddr(m)
}

#[inline]
pub(crate) fn set_mac(b: &mut [u8], at: usize, m: MacAddr) {
    b[at..at + 6].copy_from_slice(&m.0);
}

#[inline]
pub(crate) fn get_ipv4(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

#[inline]
pub(crate) fn set_ipv4(b: &mut [u8], at: usize, a: Ipv4Addr) {
    b[at..at + 4].copy_from_slice(&a.octets());
}
