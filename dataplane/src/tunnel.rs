//! Tunnel decapsulation and encapsulation: GRE carrying Ethernet (RFC 2784/2890,
//! protocol 0x6558) and VXLAN (RFC 7348, UDP port 4789), both over IPv4; and the
//! [`TunnelMap`], which tunnel port a decapsulated packet came in on.
//!
//! Encapsulation writes the outer headers in front of an inner frame that is already in
//! the same buffer, so the payload is never copied and the optional GRE checksum can be
//! computed over it.

use std::net::Ipv4Addr;
use std::ops::Range;

pub use crate::actions::TunnelType;
use crate::actions::{TunnelHeader, TunnelKind};
use crate::flow_key::PortNo;
use crate::wire::{
    ethernet, ethertype, ipv4, truncated, udp, vxlan, EthernetFrame, EthernetRepr, GrePacket,
    GreRepr, Ipv4Packet, Ipv4Repr, Layer, UdpPacket, UdpRepr, VlanTag, VxlanPacket, VxlanRepr,
    WireError,
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

/// What [`decap_tunnel`] (or [`decap_vxlan`]) found in a tunnel packet of either type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TunnelDecap {
    pub kind: TunnelType,
    pub outer_src: Ipv4Addr,
    pub outer_dst: Ipv4Addr,
    /// The GRE key when the K bit is set, or the VXLAN VNI (always present): the flow
    /// key's `tun_id`.
    pub key: Option<u32>,
    /// Where the inner Ethernet frame starts in the outer frame.
    pub inner_offset: usize,
    /// Length of the inner frame: up to the end of the outer IPv4 packet (GRE) or of the
    /// UDP datagram (VXLAN), so any padding after it is excluded.
    pub inner_len: usize,
}

impl TunnelDecap {
    /// The inner frame's range in the outer frame.
    pub fn inner_range(&self) -> Range<usize> {
        self.inner_offset..self.inner_offset + self.inner_len
    }
}

impl From<GreDecap> for TunnelDecap {
    fn from(d: GreDecap) -> Self {
        TunnelDecap {
            kind: TunnelType::Gre,
            outer_src: d.outer_src,
            outer_dst: d.outer_dst,
            key: d.key,
            inner_offset: d.inner_offset,
            inner_len: d.inner_len,
        }
    }
}

/// Which tunnel key a tunnel port accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKeyMatch {
    Any,
    Exactly(u32),
    NoKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelPort {
    /// The encapsulation the port takes: a GRE port only receives GRE packets, a VXLAN
    /// port only VXLAN ones.
    pub kind: TunnelType,
    pub remote: Ipv4Addr,
    /// `None`: any of our addresses.
    pub local: Option<Ipv4Addr>,
    pub key: TunnelKeyMatch,
    pub port: PortNo,
}

/// The underlay ports and the tunnel ports that decapsulated packets belong to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TunnelMap {
    pub underlays: Vec<PortNo>,
    pub tunnels: Vec<TunnelPort>,
}

impl TunnelMap {
    pub fn is_underlay(&self, port: PortNo) -> bool {
        self.underlays.contains(&port)
    }

    /// The GRE tunnel port for a GRE packet from `src` to `dst` with `key`: see
    /// [`lookup_type`](Self::lookup_type).
    pub fn lookup(&self, src: Ipv4Addr, dst: Ipv4Addr, key: Option<u32>) -> Option<PortNo> {
        self.lookup_type(TunnelType::Gre, src, dst, key)
    }

    /// The tunnel port of type `kind` for a packet from `src` to `dst` with `key` (GRE key
    /// or VXLAN VNI): a port with a matching local address wins over one that accepts
    /// any. Ports of the other type are not considered.
    pub fn lookup_type(
        &self,
        kind: TunnelType,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        key: Option<u32>,
    ) -> Option<PortNo> {
        let key_ok = |t: &TunnelPort| match t.key {
            TunnelKeyMatch::Any => true,
            TunnelKeyMatch::Exactly(k) => key == Some(k),
            TunnelKeyMatch::NoKey => key.is_none(),
        };
        let mut wildcard = None;
        for t in &self.tunnels {
            if t.kind != kind || t.remote != src || !key_ok(t) {
                continue;
            }
            match t.local {
                Some(l) if l == dst => return Some(t.port),
                None => wildcard = wildcard.or(Some(t.port)),
                _ => {}
            }
        }
        wildcard
    }
}

/// The outer IPv4 packet of a tunnel frame, Ethernet / [one 802.1Q tag] / IPv4, with the
/// checks both tunnel types need: header checksum, not a fragment. Also returns where the
/// IPv4 header starts in `frame`.
fn outer_ipv4(frame: &[u8]) -> Result<(Ipv4Packet<&[u8]>, usize), WireError> {
    let eth = EthernetFrame::new_checked(frame)?;
    let (ethertype, l3) = if eth.ethertype() == ethertype::VLAN {
        let tag = VlanTag::new_checked(eth.payload())?;
        (tag.ethertype(), tag.payload())
    } else {
        (eth.ethertype(), eth.payload())
    };
    if ethertype != ethertype::IPV4 {
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
    Ok((ip, frame.len() - l3.len()))
}

fn check_inner(inner: &[u8]) -> Result<(), WireError> {
    if inner.len() < ethernet::HEADER_LEN {
        return Err(truncated(
            Layer::InnerEthernet,
            ethernet::HEADER_LEN,
            inner.len(),
        ));
    }
    Ok(())
}

/// The GRE part of [`decap_gre`], after the outer IPv4 checks.
fn gre_in(ip: &Ipv4Packet<&[u8]>, l3_offset: usize) -> Result<GreDecap, WireError> {
    let gre = GrePacket::new_checked(ip.payload())?;
    if gre.protocol() != ethertype::TEB {
        return Err(WireError::NotTeb(gre.protocol()));
    }
    if !gre.verify_checksum() {
        return Err(WireError::BadGreChecksum);
    }
    let inner = gre.payload();
    check_inner(inner)?;
    Ok(GreDecap {
        outer_src: ip.src_addr(),
        outer_dst: ip.dst_addr(),
        key: gre.key(),
        inner_offset: l3_offset + ip.header_len() + gre.header_len(),
        inner_len: inner.len(),
    })
}

/// The UDP / VXLAN part of [`decap_vxlan`], after the outer IPv4 checks.
fn vxlan_in(ip: &Ipv4Packet<&[u8]>, l3_offset: usize) -> Result<TunnelDecap, WireError> {
    let udp = UdpPacket::new_checked(ip.payload())?;
    if udp.dst_port() != vxlan::UDP_PORT {
        return Err(WireError::NotVxlan {
            dst_port: udp.dst_port(),
        });
    }
    if !udp.verify_checksum_ipv4(ip.src_addr(), ip.dst_addr()) {
        return Err(WireError::BadUdpChecksum);
    }
    let vx = VxlanPacket::new_checked(udp.payload())?;
    let inner = vx.payload();
    check_inner(inner)?;
    Ok(TunnelDecap {
        kind: TunnelType::Vxlan,
        outer_src: ip.src_addr(),
        outer_dst: ip.dst_addr(),
        key: Some(vx.vni()),
        inner_offset: l3_offset + ip.header_len() + udp::HEADER_LEN + vxlan::HEADER_LEN,
        inner_len: inner.len(),
    })
}

/// Parses a whole outer frame, Ethernet / [one 802.1Q tag] / IPv4 / GRE / Ethernet, and
/// checks what a tunnel endpoint must: the IPv4 header checksum, that the packet is not a
/// fragment (nothing reassembles here), GRE version 0 without RFC 1701 routing, protocol
/// 0x6558, the GRE checksum when present, and a whole inner Ethernet header.
pub fn decap_gre(frame: &[u8]) -> Result<GreDecap, WireError> {
    let (ip, l3_offset) = outer_ipv4(frame)?;
    if ip.protocol() != ipv4::PROTO_GRE {
        return Err(WireError::NotGre(ip.protocol()));
    }
    gre_in(&ip, l3_offset)
}

/// Parses a whole outer frame, Ethernet / [one 802.1Q tag] / IPv4 / UDP / VXLAN /
/// Ethernet, with the outer IPv4 checks of [`decap_gre`], then: UDP length within the
/// IPv4 payload, destination port 4789, the UDP checksum when it is not 0 (IPv4
/// pseudo-header), the VXLAN I flag, and a whole inner Ethernet header. `key` is the VNI.
pub fn decap_vxlan(frame: &[u8]) -> Result<TunnelDecap, WireError> {
    let (ip, l3_offset) = outer_ipv4(frame)?;
    if ip.protocol() != ipv4::PROTO_UDP {
        return Err(WireError::NotUdp(ip.protocol()));
    }
    vxlan_in(&ip, l3_offset)
}

/// [`decap_gre`] or [`decap_vxlan`], by the outer IPv4 protocol (47 or 17); any other
/// protocol is [`WireError::NotTunnelProtocol`]. The outer headers are parsed once.
pub fn decap_tunnel(frame: &[u8]) -> Result<TunnelDecap, WireError> {
    let (ip, l3_offset) = outer_ipv4(frame)?;
    match ip.protocol() {
        ipv4::PROTO_GRE => gre_in(&ip, l3_offset).map(TunnelDecap::from),
        ipv4::PROTO_UDP => vxlan_in(&ip, l3_offset),
        p => Err(WireError::NotTunnelProtocol(p)),
    }
}

/// Bytes between the outer IPv4 header and the inner frame.
fn encap_len(kind: &TunnelKind) -> usize {
    match *kind {
        TunnelKind::Gre { key, csum } => gre_repr(key, csum).buffer_len(),
        TunnelKind::Vxlan { .. } => udp::HEADER_LEN + vxlan::HEADER_LEN,
    }
}

fn gre_repr(key: Option<u32>, csum: bool) -> GreRepr {
    GreRepr {
        protocol: ethertype::TEB,
        checksum: csum,
        key,
        seq: None,
    }
}

/// Bytes of outer headers [`write_tunnel_header`] puts in front of the inner frame:
/// 14 + 20 + 4..12 for GRE, 14 + 20 + 8 + 8 = 50 for VXLAN.
pub fn tunnel_header_len(header: &TunnelHeader) -> usize {
    ethernet::HEADER_LEN + ipv4::HEADER_LEN + encap_len(&header.kind)
}

/// Writes the outer headers for `header` into the front of `tun_out`, whose layout must
/// be `[tunnel_header_len(header) bytes to fill][inner frame of inner_len bytes]...`: the
/// inner frame is already in place behind the room for the headers (it is read for the
/// GRE checksum, never moved). Returns the length of the whole outer frame,
/// `tunnel_header_len(header) + inner_len`.
///
/// Ethernet: ethertype IPv4. IPv4: IHL 5, ident 0, DF as asked, protocol 47 (GRE) or 17
/// (VXLAN), checksum filled. GRE: version 0, protocol 0x6558, K and the key when there is
/// one, C and the checksum over GRE header and inner frame when asked. VXLAN: UDP from
/// `src_port` to 4789, length, checksum 0; VXLAN I flag and the VNI, reserved fields 0.
pub fn write_tunnel_header(
    header: &TunnelHeader,
    inner_len: usize,
    tun_out: &mut [u8],
) -> Result<usize, WireError> {
    let ip_payload_len = encap_len(&header.kind).saturating_add(inner_len);
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
        ethertype: ethertype::IPV4,
    }
    .emit(&mut EthernetFrame::new_unchecked(eth_bytes));
    let (ip_hdr, encap_bytes) = ip_bytes.split_at_mut(ipv4::HEADER_LEN);
    let protocol = match header.kind {
        TunnelKind::Gre { .. } => ipv4::PROTO_GRE,
        TunnelKind::Vxlan { .. } => ipv4::PROTO_UDP,
    };
    Ipv4Repr {
        src_addr: header.ip_src,
        dst_addr: header.ip_dst,
        protocol,
        tos: header.tos,
        ttl: header.ttl,
        ident: 0,
        dont_frag: header.dont_fragment,
        more_frags: false,
        frag_offset: 0,
        payload_len: ip_payload_len,
    }
    .emit(&mut Ipv4Packet::new_unchecked(ip_hdr));
    match header.kind {
        TunnelKind::Gre { key, csum } => {
            gre_repr(key, csum).emit(&mut GrePacket::new_unchecked(encap_bytes))
        }
        TunnelKind::Vxlan { vni, src_port } => {
            let (udp_hdr, vx_bytes) = encap_bytes.split_at_mut(udp::HEADER_LEN);
            UdpRepr {
                src_port,
                dst_port: vxlan::UDP_PORT,
                payload_len: vxlan::HEADER_LEN + inner_len,
                checksum: 0,
            }
            .emit(&mut UdpPacket::new_unchecked(udp_hdr));
            VxlanRepr { vni }.emit(&mut VxlanPacket::new_unchecked(vx_bytes));
        }
    }
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
            mtu: u16::MAX,
        }
    }

    fn inner() -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 9, 0x88, 0xb5]);
        f.extend((0..47).map(|i| i as u8));
        f
    }

    const UNDERLAY: PortNo = 1;
    const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn port(kind: TunnelType, key: TunnelKeyMatch, port: PortNo) -> TunnelPort {
        TunnelPort {
            kind,
            remote: REMOTE,
            local: Some(LOCAL),
            key,
            port,
        }
    }

    #[test]
    fn lookup_prefers_exact_local_within_a_type() {
        let map = TunnelMap {
            underlays: vec![UNDERLAY],
            tunnels: vec![
                TunnelPort {
                    local: None,
                    ..port(TunnelType::Vxlan, TunnelKeyMatch::Any, 7)
                },
                port(TunnelType::Gre, TunnelKeyMatch::Any, 5),
                port(TunnelType::Vxlan, TunnelKeyMatch::Any, 6),
            ],
        };
        assert_eq!(
            map.lookup_type(TunnelType::Vxlan, REMOTE, LOCAL, Some(1)),
            Some(6)
        );
        assert_eq!(
            map.lookup_type(
                TunnelType::Vxlan,
                REMOTE,
                Ipv4Addr::new(1, 1, 1, 1),
                Some(1)
            ),
            Some(7)
        );
        assert_eq!(map.lookup(REMOTE, LOCAL, None), Some(5));
        assert_eq!(map.lookup(REMOTE, Ipv4Addr::new(1, 1, 1, 1), None), None);
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

    fn vxlan_header(vni: u32) -> TunnelHeader {
        TunnelHeader {
            kind: TunnelKind::Vxlan {
                vni,
                src_port: 54321,
            },
            ..header(None, false)
        }
    }

    #[test]
    fn vxlan_encap_decap_round_trip() {
        for vni in [0, 1, 0x3e7, 0xff_ffff] {
            let h = vxlan_header(vni);
            let hl = tunnel_header_len(&h);
            assert_eq!(hl, 50);
            let inner = inner();
            let mut buf = vec![0u8; hl + inner.len() + 7];
            buf[hl..hl + inner.len()].copy_from_slice(&inner);
            let n = write_tunnel_header(&h, inner.len(), &mut buf).unwrap();
            assert_eq!(n, hl + inner.len());
            let d = decap_vxlan(&buf).unwrap();
            assert_eq!(d.kind, TunnelType::Vxlan);
            assert_eq!(d.key, Some(vni));
            assert_eq!(d.outer_src, h.ip_src);
            assert_eq!(d.outer_dst, h.ip_dst);
            assert_eq!(d.inner_offset, hl);
            assert_eq!(&buf[d.inner_range()], &inner[..]);
            assert_eq!(decap_tunnel(&buf), Ok(d));
            assert_eq!(decap_gre(&buf), Err(WireError::NotGre(17)));
        }
        // GRE through decap_tunnel, and GRE refused by decap_vxlan.
        let h = header(Some(7), true);
        let hl = tunnel_header_len(&h);
        let mut buf = vec![0u8; hl + 20];
        buf[hl..].copy_from_slice(&inner()[..20]);
        write_tunnel_header(&h, 20, &mut buf).unwrap();
        let g = decap_gre(&buf).unwrap();
        assert_eq!(decap_tunnel(&buf), Ok(TunnelDecap::from(g)));
        assert_eq!(decap_tunnel(&buf).unwrap().kind, TunnelType::Gre);
        assert_eq!(decap_vxlan(&buf), Err(WireError::NotUdp(47)));
    }

    #[test]
    fn vxlan_write_errors() {
        let h = vxlan_header(1);
        let mut buf = [0u8; 60];
        assert_eq!(
            write_tunnel_header(&h, 11, &mut buf),
            Err(WireError::BufferTooSmall { need: 61, have: 60 })
        );
        assert_eq!(
            write_tunnel_header(&h, 65535 - 36 + 1, &mut buf),
            Err(WireError::PacketTooLarge { len: 65536 })
        );
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
