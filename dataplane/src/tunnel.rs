//! GRE (transparent Ethernet bridging) decapsulation and encapsulation.
//!
//! Encapsulation writes the outer headers in front of an inner frame that is already in
//! the same buffer, so the payload is never copied and the optional GRE checksum can be
//! computed over it.

use std::net::Ipv4Addr;
use std::ops::Range;

use crate::actions::{TunnelHeader, TunnelKind};
use crate::flow_key::{ETH_TYPE_IPV4, ETH_TYPE_TEB, ETH_TYPE_VLAN};
use crate::wire::{
    ethernet, ipv4, truncated, EthernetFrame, EthernetRepr, GrePacket, GreRepr, Ipv4Packet,
    Ipv4Repr, Layer, VlanTag, WireError,
};

/// What [`decap_gre`] found in a GRE-TEB packet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct GreDecap {
    pub outer_src: Ipv4Addr,
    pub outer_dst: Ipv4Addr,
    /// The GRE key, when the K bit is set (the flow key's `tun_id`).
    pub key: Option<u32>,
    /// Where the inner Ethernet frame starts in the outer frame.
    pub inner_offset: usize,
    /// Length of the inner frame: up to the end of the outer IPv4 packet, so any
    /// Ethernet padding of the outer frame is excluded.
    pub inner_len: usize,
}

impl GreDecap {
    /// The inner frame's range in the outer frame.
    pub fn inner_range(&self) -> Range<usize> {
        self.inner_offset..self.inner_offset + self.inner_len
    }
}

/// Parses a whole outer frame, Ethernet / [one 802.1Q tag] / IPv4 / GRE / Ethernet, and
/// checks what a tunnel endpoint must: the IPv4 header checksum, that the packet is not a
/// fragment (nothing reassembles here), GRE version 0 without RFC 1701 routing, protocol
/// 0x6558, the GRE checksum when present, and a whole inner Ethernet header.
pub fn decap_gre(frame: &[u8]) -> Result<GreDecap, WireError> {
    let eth = EthernetFrame::new_checked(frame)?;
    let (ethertype, l3) = if eth.ethertype() == ETH_TYPE_VLAN {
        let tag = VlanTag::new_checked(eth.payload())?;
        (tag.ethertype(), tag.payload())
    } else {
        (eth.ethertype(), eth.payload())
    };
    if ethertype != ETH_TYPE_IPV4 {
        return Err(WireError::NotIpv4(ethertype));
    }
    let ip = Ipv4Packet::new_checked(l3)?;
    if !ip.verify_checksum() {
        return Err(WireError::BadIpChecksum);
    }
    if ip.is_fragment() {
        return Err(WireError::Fragmented {
            more_frags: ip.more_frags(),
            frag_offset: ip.frag_offset(),
        });
    }
    if ip.protocol() != ipv4::PROTO_GRE {
        return Err(WireError::NotGre(ip.protocol()));
    }
    let gre = GrePacket::new_checked(ip.payload())?;
    if gre.protocol() != ETH_TYPE_TEB {
        return Err(WireError::NotTeb(gre.protocol()));
    }
    if !gre.verify_checksum() {
        return Err(WireError::BadGreChecksum);
    }
    let inner = gre.payload();
    if inner.len() < ethernet::HEADER_LEN {
        return Err(truncated(
            Layer::InnerEthernet,
            ethernet::HEADER_LEN,
            inner.len(),
        ));
    }
    let l3_offset = frame.len() - l3.len();
    Ok(GreDecap {
        outer_src: ip.src_addr(),
        outer_dst: ip.dst_addr(),
        key: gre.key(),
        inner_offset: l3_offset + ip.header_len() + gre.header_len(),
        inner_len: inner.len(),
    })
}

fn gre_repr(header: &TunnelHeader) -> GreRepr {
    match header.kind {
        TunnelKind::Gre { key, csum } => GreRepr {
            protocol: ETH_TYPE_TEB,
            checksum: csum,
            key,
            seq: None,
        },
    }
}

/// Bytes of outer headers [`write_tunnel_header`] puts in front of the inner frame.
pub fn tunnel_header_len(header: &TunnelHeader) -> usize {
    ethernet::HEADER_LEN + ipv4::HEADER_LEN + gre_repr(header).buffer_len()
}

/// Writes outer Ethernet / IPv4 / GRE headers for `header` into the front of `tun_out`,
/// whose layout must be `[tunnel_header_len(header) bytes to fill][inner frame of
/// inner_len bytes]...`: the inner frame is already in place behind the room for the
/// headers (it is read for the GRE checksum, never moved). Returns the length of the
/// whole outer frame, `tunnel_header_len(header) + inner_len`.
///
/// IPv4: IHL 5, ident 0, DF as asked, protocol 47, checksum filled. GRE: version 0,
/// protocol 0x6558, K and the key when there is one, C and the checksum over GRE header
/// and inner frame when asked.
pub fn write_tunnel_header(
    header: &TunnelHeader,
    inner_len: usize,
    tun_out: &mut [u8],
) -> Result<usize, WireError> {
    let gre = gre_repr(header);
    let ip_payload_len = gre.buffer_len().saturating_add(inner_len);
    let ip_len = ipv4::HEADER_LEN.saturating_add(ip_payload_len);
    if ip_len > usize::from(u16::MAX) {
        return Err(WireError::PacketTooLarge { len: ip_len });
    }
    let total = ethernet::HEADER_LEN + ip_len;
    let Some(out) = tun_out.get_mut(..total) else {
        return Err(WireError::BufferTooSmall {
            need: total,
            have: tun_out.len(),
        });
    };
    let (eth_bytes, ip_bytes) = out.split_at_mut(ethernet::HEADER_LEN);
    EthernetRepr {
        src_addr: header.eth_src,
        dst_addr: header.eth_dst,
        ethertype: ETH_TYPE_IPV4,
    }
    .emit(&mut EthernetFrame::new_unchecked(eth_bytes));
    let (ip_hdr, gre_bytes) = ip_bytes.split_at_mut(ipv4::HEADER_LEN);
    Ipv4Repr {
        src_addr: header.ip_src,
        dst_addr: header.ip_dst,
        protocol: ipv4::PROTO_GRE,
        tos: header.tos,
        ttl: header.ttl,
        ident: 0,
        dont_frag: header.dont_fragment,
        more_frags: false,
        frag_offset: 0,
        payload_len: ip_payload_len,
    }
    .emit(&mut Ipv4Packet::new_unchecked(ip_hdr));
    gre.emit(&mut GrePacket::new_unchecked(gre_bytes));
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mac::MacAddr;

    fn header(key: Option<u32>, csum: bool) -> TunnelHeader {
        TunnelHeader {
            kind: TunnelKind::Gre { key, csum },
            eth_src: MacAddr([2, 0, 0, 0, 0, 1]),
            eth_dst: MacAddr([2, 0, 0, 0, 0, 2]),
            ip_src: Ipv4Addr::new(192, 0, 2, 1),
            ip_dst: Ipv4Addr::new(192, 0, 2, 2),
            ttl: 64,
            tos: 0,
            dont_fragment: true,
        }
    }

    fn inner() -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 9, 0x88, 0xb5]);
        f.extend((0..47).map(|i| i as u8));
        f
    }

    #[test]
    fn encap_decap_round_trip() {
        for key in [None, Some(0), Some(0x3e7)] {
            for csum in [false, true] {
                let h = header(key, csum);
                let hl = tunnel_header_len(&h);
                let inner = inner();
                let mut buf = vec![0u8; hl + inner.len() + 7];
                buf[hl..hl + inner.len()].copy_from_slice(&inner);
                let n = write_tunnel_header(&h, inner.len(), &mut buf).unwrap();
                assert_eq!(n, hl + inner.len());
                // Trailing bytes stand in for Ethernet padding.
                let d = decap_gre(&buf).unwrap();
                assert_eq!(d.key, key);
                assert_eq!(d.outer_src, h.ip_src);
                assert_eq!(d.outer_dst, h.ip_dst);
                assert_eq!(d.inner_offset, hl);
                assert_eq!(&buf[d.inner_range()], &inner[..]);
            }
        }
    }

    #[test]
    fn header_lengths() {
        assert_eq!(tunnel_header_len(&header(None, false)), 38);
        assert_eq!(tunnel_header_len(&header(Some(1), false)), 42);
        assert_eq!(tunnel_header_len(&header(Some(1), true)), 46);
    }

    #[test]
    fn write_errors() {
        let h = header(Some(1), true);
        let mut buf = [0u8; 60];
        assert_eq!(
            write_tunnel_header(&h, 15, &mut buf),
            Err(WireError::BufferTooSmall { need: 61, have: 60 })
        );
        assert_eq!(
            write_tunnel_header(&h, 65535 - 32 + 1, &mut buf),
            Err(WireError::PacketTooLarge { len: 65536 })
        );
        assert!(matches!(
            write_tunnel_header(&h, usize::MAX, &mut buf),
            Err(WireError::PacketTooLarge { .. })
        ));
    }

    #[test]
    fn short_inner_frame() {
        let h = header(None, false);
        let hl = tunnel_header_len(&h);
        let mut buf = vec![0u8; hl + 13];
        write_tunnel_header(&h, 13, &mut buf).unwrap();
        assert_eq!(
            decap_gre(&buf),
            Err(WireError::Truncated {
                layer: Layer::InnerEthernet,
                need: 14,
                have: 13
            })
        );
    }
}
