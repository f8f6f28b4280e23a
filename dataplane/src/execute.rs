//! The executor of [`DpAction`] lists, over a frame buffer with headroom.
//!
//! Headers grow at the front: a pushed VLAN tag moves the 12 MAC bytes down into the
//! headroom instead of moving the payload up, and tunnel headers are written into the
//! headroom in front of the frame, so neither copies the payload or allocates.
//!
//! A VLAN tag is one with TPID 0x8100 or 0x88a8 ([`vlan::is_tpid`]), as for the flow key:
//! `SetVlan` and `PopVlan` act on the outer tag whichever it is, and the L3 rewrites find
//! their header behind one tag of either kind.

use crate::actions::{DpAction, Tpid};
use crate::flow_key::PortNo;
use crate::tunnel::{tunnel_header_len, write_tunnel_header};
use crate::wire::{
    checksum, ethernet, ethertype, get_u16, icmp, ipv4, ipv6, nd, set_u16, tcp, vlan, ArpPacket,
    EthernetFrame, Ipv4Packet, Ipv6Packet, VlanTag, WireError,
};

/// Headroom for a received frame: the largest outer header the datapath may put in front
/// (Ethernet, 802.1Q, IPv4 even with 40 bytes of options, GRE with checksum, key and
/// sequence number: 94 bytes) plus several pushed VLAN tags, rounded up to whole cache
/// lines so the frame start keeps the buffer's alignment.
pub const DEFAULT_HEADROOM: usize = 256;

/// Offset of the TPID of a VLAN tag (and of the ethertype of an untagged frame).
const TPID_OFFSET: usize = 12;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, thiserror::Error)]
pub enum ExecError {
    #[error("frame has {have} bytes of headroom, {need} needed")]
    NoHeadroom { need: usize, have: usize },
    #[error("{n} bytes at offset {at} are outside the {len}-byte frame")]
    OutOfRange { at: usize, n: usize, len: usize },
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// A frame inside a larger buffer: `buf[head..head + len]` is the frame, `buf[..head]` the
/// headroom it can grow into at the front. (The buffer the executor owns or borrows; the
/// header view over Ethernet bytes is [`wire::EthernetFrame`](crate::wire::EthernetFrame).)
#[derive(Clone, Debug)]
pub struct FrameBuf<B> {
    buf: B,
    head: usize,
    len: usize,
}

impl FrameBuf<Vec<u8>> {
    /// A copy of `bytes` behind `headroom` bytes of headroom.
    pub fn with_headroom(bytes: &[u8], headroom: usize) -> Self {
        let mut buf = vec![0u8; headroom + bytes.len()];
        buf[headroom..].copy_from_slice(bytes);
        FrameBuf {
            buf,
            head: headroom,
            len: bytes.len(),
        }
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> FrameBuf<B> {
    /// The frame `buf[head..head + len]` (for instance a received packet in an AF_XDP UMEM
    /// chunk, `head` being the chunk's headroom).
    pub fn from_parts(buf: B, head: usize, len: usize) -> Result<Self, ExecError> {
        let have = buf.as_ref().len();
        match head.checked_add(len) {
            Some(end) if end <= have => Ok(FrameBuf { buf, head, len }),
            _ => Err(ExecError::OutOfRange {
                at: head,
                n: len,
                len: have,
            }),
        }
    }

    /// The buffer, the frame's offset in it and its length.
    pub fn into_parts(self) -> (B, usize, usize) {
        (self.buf, self.head, self.len)
    }

    pub fn data(&self) -> &[u8] {
        &self.buf.as_ref()[self.head..self.head + self.len]
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[self.head..self.head + self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Cuts the frame to `len` bytes (no-op if it is shorter): drops Ethernet padding
    /// after a decapsulated inner frame, say.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn headroom(&self) -> usize {
        self.head
    }

    /// Grows the frame by `n` bytes at the front, out of the headroom. The new bytes hold
    /// whatever the headroom held.
    pub fn push_front(&mut self, n: usize) -> Result<(), ExecError> {
        if n > self.head {
            return Err(ExecError::NoHeadroom {
                need: n,
                have: self.head,
            });
        }
        self.head -= n;
        self.len += n;
        Ok(())
    }

    /// Shrinks the frame by `n` bytes at the front, giving them to the headroom.
    pub fn pull_front(&mut self, n: usize) -> Result<(), ExecError> {
        if n > self.len {
            return Err(ExecError::OutOfRange {
                at: 0,
                n,
                len: self.len,
            });
        }
        self.head += n;
        self.len -= n;
        Ok(())
    }

    /// Opens `n` bytes at offset `at` by moving the `at` bytes in front of it down into the
    /// headroom: cheap for headers near the front. The opened bytes are unspecified.
    pub fn insert(&mut self, at: usize, n: usize) -> Result<(), ExecError> {
        if at > self.len {
            return Err(ExecError::OutOfRange {
                at,
                n,
                len: self.len,
            });
        }
        if n > self.head {
            return Err(ExecError::NoHeadroom {
                need: n,
                have: self.head,
            });
        }
        let new_head = self.head - n;
        self.buf
            .as_mut()
            .copy_within(self.head..self.head + at, new_head);
        self.head = new_head;
        self.len += n;
        Ok(())
    }

    /// Removes the `n` bytes at offset `at` by moving the `at` bytes in front of them up.
    pub fn remove(&mut self, at: usize, n: usize) -> Result<(), ExecError> {
        match at.checked_add(n) {
            Some(end) if end <= self.len => {}
            _ => {
                return Err(ExecError::OutOfRange {
                    at,
                    n,
                    len: self.len,
                })
            }
        }
        self.buf
            .as_mut()
            .copy_within(self.head..self.head + at, self.head + n);
        self.head += n;
        self.len -= n;
        Ok(())
    }
}

/// Applies `actions` in order to `frame`, calling `emit` for every output with the port and
/// the bytes to send.
///
/// `SetVlan` keeps the tag's TPID; `PushVlan` with [`Tpid::Received`] writes the TPID of
/// the tag the list's first `PopVlan` removed (the frame's own outer tag).
///
/// An action that does not apply to the frame (`PopVlan` or `SetVlan` without a tag,
/// `SetArp*` on a non-ARP frame, `SetIpv4*` on a non-IPv4 or malformed one, a port or
/// ICMP rewrite on a frame without that whole L4 header or on a fragment other than the
/// first, any action on something shorter than an Ethernet header) is skipped: a frame
/// too short for the header an action rewrites is left as it is. (OVS's datapath finds
/// the headers by the offsets its flow extraction recorded and checks the L4 ones
/// before a port, ICMP or ND rewrite (`dp_packet_get_tcp_payload` and alike); its L3
/// rewrites trust the translation, which emits them only for a key with that header,
/// as xvs's does.) The control plane only emits
/// such actions when the flow key says they apply, so a skip means a frame the key
/// does not describe; skipping rather than asserting keeps execution total over any input,
/// which the fuzz tests rely on.
///
/// A tunnel output whose outer packet would exceed the underlay MTU (`header.mtu`) is
/// not emitted and is counted in [`Executed::too_big`]; the other actions still run.
///
/// Errors (`NoHeadroom` for a push or tunnel header, `Wire(PacketTooLarge)` for a
/// tunnel packet over 64 KiB) stop execution; outputs before it have been emitted.
pub fn execute<B, F>(
    actions: &[DpAction],
    frame: &mut FrameBuf<B>,
    mut emit: F,
) -> Result<Executed, ExecError>
where
    B: AsRef<[u8]> + AsMut<[u8]>,
    F: FnMut(PortNo, &[u8]),
{
    let mut done = Executed::default();
    // The TPID of the frame's outer tag, once the first pop has taken it off.
    let mut received_tpid = None;
    for action in actions {
        match *action {
            DpAction::Output(port) => emit(port, frame.data()),
            DpAction::PushVlan { tpid, tci } => {
                let tpid = match tpid {
                    Tpid::Is(t) => t,
                    Tpid::Received => received_tpid.unwrap_or(ethertype::VLAN),
                };
                push_vlan(frame, tpid, tci)?
            }
            DpAction::PopVlan => {
                if let Some(tpid) = vlan_tag(frame.data()) {
                    received_tpid.get_or_insert(tpid);
                    frame.remove(TPID_OFFSET, vlan::HEADER_LEN)?;
                }
            }
            DpAction::SetVlan(tci) => {
                let d = frame.data_mut();
                if vlan_tag(d).is_some() {
                    let tci_at = TPID_OFFSET + 2;
                    let old = get_u16(d, tci_at);
                    set_u16(d, tci_at, (old & vlan::DEI) | (tci & !vlan::DEI));
                }
            }
            DpAction::SetEthSrc(mac) => {
                if let Ok(mut eth) = EthernetFrame::new_checked(frame.data_mut()) {
                    eth.set_src_addr(mac);
                }
            }
            DpAction::SetEthDst(mac) => {
                if let Ok(mut eth) = EthernetFrame::new_checked(frame.data_mut()) {
                    eth.set_dst_addr(mac);
                }
            }
            DpAction::SetArpOp(op) => with_arp(frame.data_mut(), |a| a.set_operation(op)),
            DpAction::SetArpSha(mac) => with_arp(frame.data_mut(), |a| a.set_sha(mac)),
            DpAction::SetArpTha(mac) => with_arp(frame.data_mut(), |a| a.set_tha(mac)),
            DpAction::SetArpSpa(ip) => with_arp(frame.data_mut(), |a| a.set_spa(ip)),
            DpAction::SetArpTpa(ip) => with_arp(frame.data_mut(), |a| a.set_tpa(ip)),
            DpAction::SetIpv4Src(ip) => set_ipv4_addr(frame.data_mut(), Addr::Src, ip.into()),
            DpAction::SetIpv4Dst(ip) => set_ipv4_addr(frame.data_mut(), Addr::Dst, ip.into()),
            DpAction::SetIpv4Tos(tos) => set_ipv4_byte(frame.data_mut(), Ipv4Byte::Tos, tos),
            DpAction::SetIpv4Ttl(ttl) => set_ipv4_byte(frame.data_mut(), Ipv4Byte::Ttl, ttl),
            DpAction::SetIpv6Src(a) => set_ipv6_addr(frame.data_mut(), Addr::Src, a.into()),
            DpAction::SetIpv6Dst(a) => set_ipv6_addr(frame.data_mut(), Addr::Dst, a.into()),
            DpAction::SetIpv6Tclass(tc) => {
                if let Some((ethertype::IPV6, off)) = l3(frame.data()) {
                    let d = frame.data_mut();
                    if let Some(Ok(mut ip)) = d.get_mut(off..).map(Ipv6Packet::new_checked) {
                        ip.set_traffic_class(tc);
                    }
                }
            }
            DpAction::SetIpv6HopLimit(hl) => {
                if let Some((ethertype::IPV6, off)) = l3(frame.data()) {
                    let d = frame.data_mut();
                    if let Some(Ok(mut ip)) = d.get_mut(off..).map(Ipv6Packet::new_checked) {
                        ip.set_hop_limit(hl);
                    }
                }
            }
            DpAction::SetTcpSrc(p) => set_port(frame.data_mut(), ipv4::PROTO_TCP, 0, p),
            DpAction::SetTcpDst(p) => set_port(frame.data_mut(), ipv4::PROTO_TCP, 2, p),
            DpAction::SetUdpSrc(p) => set_port(frame.data_mut(), ipv4::PROTO_UDP, 0, p),
            DpAction::SetUdpDst(p) => set_port(frame.data_mut(), ipv4::PROTO_UDP, 2, p),
            DpAction::SetIcmpType(t) => set_icmp(frame.data_mut(), ipv4::PROTO_ICMP, 0, t),
            DpAction::SetIcmpCode(c) => set_icmp(frame.data_mut(), ipv4::PROTO_ICMP, 1, c),
            DpAction::SetIcmpv6Type(t) => set_icmp(frame.data_mut(), ipv4::PROTO_ICMPV6, 0, t),
            DpAction::SetIcmpv6Code(c) => set_icmp(frame.data_mut(), ipv4::PROTO_ICMPV6, 1, c),
            DpAction::SetNdTarget(t) => set_nd_target(frame.data_mut(), t.into()),
            DpAction::SetNdSll(m) => set_nd_lla(frame.data_mut(), nd::OPT_SOURCE_LL_ADDR, m),
            DpAction::SetNdTll(m) => set_nd_lla(frame.data_mut(), nd::OPT_TARGET_LL_ADDR, m),
            DpAction::TunnelOutput { port, header } => {
                let hl = tunnel_header_len(&header);
                // The outer IPv4 packet is everything after the outer Ethernet header.
                if hl - ethernet::HEADER_LEN + frame.len > usize::from(header.mtu) {
                    done.too_big += 1;
                    continue;
                }
                if hl > frame.head {
                    return Err(ExecError::NoHeadroom {
                        need: hl,
                        have: frame.head,
                    });
                }
                let start = frame.head - hl;
                let end = frame.head + frame.len;
                let out = &mut frame.buf.as_mut()[start..end];
                let n = write_tunnel_header(&header, frame.len, out)?;
                emit(port, &out[..n]);
            }
        }
    }
    Ok(done)
}

/// What [`execute`] dropped on purpose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Executed {
    /// Tunnel outputs not sent because the outer packet exceeded the underlay MTU.
    pub too_big: u32,
}

/// The TPID of the frame's outer VLAN tag, if it has a whole one.
fn vlan_tag(d: &[u8]) -> Option<u16> {
    if d.len() < ethernet::HEADER_LEN + vlan::HEADER_LEN {
        return None;
    }
    let tpid = get_u16(d, TPID_OFFSET);
    vlan::is_tpid(tpid).then_some(tpid)
}

fn push_vlan<B: AsRef<[u8]> + AsMut<[u8]>>(
    frame: &mut FrameBuf<B>,
    tpid: u16,
    tci: u16,
) -> Result<(), ExecError> {
    if frame.len() < ethernet::HEADER_LEN {
        return Ok(());
    }
    frame.insert(TPID_OFFSET, vlan::HEADER_LEN)?;
    let d = frame.data_mut();
    set_u16(d, TPID_OFFSET, tpid);
    // The present bit of a flow key TCI sits where the wire has DEI, which xvs sends as 0.
    set_u16(d, TPID_OFFSET + 2, tci & !vlan::DEI);
    Ok(())
}

/// The ethertype after the optional tag (of either TPID, as the flow key has it) and the
/// offset of the L3 header, if the frame has whole Ethernet (and tag) headers.
fn l3(d: &[u8]) -> Option<(u16, usize)> {
    let eth = EthernetFrame::new_checked(d).ok()?;
    if vlan::is_tpid(eth.ethertype()) {
        let tag = VlanTag::new_checked(eth.payload()).ok()?;
        Some((tag.ethertype(), ethernet::HEADER_LEN + vlan::HEADER_LEN))
    } else {
        Some((eth.ethertype(), ethernet::HEADER_LEN))
    }
}

fn with_arp(d: &mut [u8], f: impl FnOnce(&mut ArpPacket<&mut [u8]>)) {
    if let Some((ethertype::ARP | ethertype::RARP, off)) = l3(d) {
        if let Some(Ok(mut arp)) = d.get_mut(off..).map(ArpPacket::new_checked) {
            f(&mut arp);
        }
    }
}

#[derive(Clone, Copy)]
enum Addr {
    Src,
    Dst,
}

/// Where an IP packet's upper-layer header is in a frame, as the flow key found it.
struct L4At {
    /// Protocol (IPv6: after the extension headers).
    proto: u8,
    /// The upper-layer bytes: `d[start..end]` (padding excluded).
    start: usize,
    end: usize,
    /// IPv6 addresses whose pseudo-header the checksum covers.
    v6: Option<(u128, u128)>,
    /// IPv6: a routing header with segments left (the destination is not final).
    routed: bool,
}

/// The upper layer of an IPv4 or IPv6 frame, if its IP header passes the flow key's
/// checks and it is not a fragment other than the first (which holds no L4 header).
fn l4_at(d: &[u8]) -> Option<L4At> {
    let (et, off) = l3(d)?;
    match et {
        ethertype::IPV4 => {
            let ip = Ipv4Packet::new_sanity_checked(d.get(off..)?)?;
            if ip.frag_offset() != 0 {
                return None;
            }
            Some(L4At {
                proto: ip.protocol(),
                start: off + ip.header_len(),
                end: off + usize::from(ip.total_len()),
                v6: None,
                routed: false,
            })
        }
        ethertype::IPV6 => {
            let ip = Ipv6Packet::new_checked(d.get(off..)?).ok()?;
            let w = ipv6::walk_ext_headers(ip.next_header(), ip.payload())?;
            if w.later_fragment {
                return None;
            }
            let start = off + ipv6::HEADER_LEN + w.offset;
            Some(L4At {
                proto: w.next,
                start,
                end: off + ipv6::HEADER_LEN + usize::from(ip.payload_len()),
                v6: Some((ip.src_u128(), ip.dst_u128())),
                routed: w.routing_segments_left,
            })
        }
        _ => None,
    }
}

/// Adjusts the TCP, UDP or ICMPv6 checksum at `l4` for a change of `old` to `new` in
/// words it covers (a pseudo-header address, a port): TCP needs its 20 bytes, UDP its 8
/// and a non-zero checksum (zero is none and stays zero; a computed zero is sent as
/// 0xffff), ICMPv6 4 bytes, as OVS's `packet_update_csum128`.
fn update_l4_csum(l4: &mut [u8], proto: u8, old: &[u8], new: &[u8]) {
    match proto {
        ipv4::PROTO_TCP if l4.len() >= tcp::HEADER_LEN => {
            let at = tcp::CHECKSUM_OFFSET;
            let c = checksum::update_words(get_u16(l4, at), old, new);
            set_u16(l4, at, c);
        }
        ipv4::PROTO_UDP if l4.len() >= 8 => {
            let c = get_u16(l4, 6);
            if c != 0 {
                let c = checksum::update_words(c, old, new);
                set_u16(l4, 6, if c == 0 { 0xffff } else { c });
            }
        }
        ipv4::PROTO_ICMPV6 if l4.len() >= 4 => {
            let at = icmp::CHECKSUM_OFFSET;
            let c = checksum::update_words(get_u16(l4, at), old, new);
            set_u16(l4, at, c);
        }
        _ => {}
    }
}

/// Rewrites an IPv4 address, updating the header checksum and, as the address is part
/// of their pseudo-header, the TCP or UDP checksum, all incrementally (RFC 1624) so the
/// payload is not read (OVS's `packet_set_ipv4_addr`). Non-first fragments carry no L4
/// header; a zero UDP checksum means none and stays zero.
fn set_ipv4_addr(d: &mut [u8], which: Addr, new: u32) {
    let Some((ethertype::IPV4, off)) = l3(d) else {
        return;
    };
    let l4 = l4_at(d);
    let Some(mut ip) = d.get_mut(off..).and_then(Ipv4Packet::new_sanity_checked) else {
        return;
    };
    let old = u32::from(match which {
        Addr::Src => ip.src_addr(),
        Addr::Dst => ip.dst_addr(),
    });
    match which {
        Addr::Src => ip.set_src_addr(new.into()),
        Addr::Dst => ip.set_dst_addr(new.into()),
    }
    let c = checksum::update_u32(ip.checksum(), old, new);
    ip.set_checksum(c);
    if let Some(l4) = l4 {
        if matches!(l4.proto, ipv4::PROTO_TCP | ipv4::PROTO_UDP) {
            update_l4_csum(
                &mut d[l4.start..l4.end],
                l4.proto,
                &old.to_be_bytes(),
                &new.to_be_bytes(),
            );
        }
    }
}

#[derive(Clone, Copy)]
enum Ipv4Byte {
    Tos,
    Ttl,
}

/// Rewrites the TOS or TTL byte of an IPv4 header with its header checksum (OVS's
/// `odp_set_ipv4`): the 16-bit word holding it changes.
fn set_ipv4_byte(d: &mut [u8], which: Ipv4Byte, v: u8) {
    let Some((ethertype::IPV4, off)) = l3(d) else {
        return;
    };
    let Some(mut ip) = d.get_mut(off..).and_then(Ipv4Packet::new_sanity_checked) else {
        return;
    };
    let (old, new) = match which {
        Ipv4Byte::Tos => {
            let w = ip.version_ihl_byte();
            let old = u16::from_be_bytes([w, ip.tos()]);
            ip.set_tos(v);
            (old, u16::from_be_bytes([w, v]))
        }
        Ipv4Byte::Ttl => {
            let p = ip.protocol();
            let old = u16::from_be_bytes([ip.ttl(), p]);
            ip.set_ttl(v);
            (old, u16::from_be_bytes([v, p]))
        }
    };
    let c = checksum::update_u16(ip.checksum(), old, new);
    ip.set_checksum(c);
}

/// Rewrites an IPv6 address and the upper layer's checksum over it (OVS's
/// `packet_set_ipv6_addr`): TCP, UDP or ICMPv6, not for a fragment other than the first
/// (it has no L4 header), and for the destination not when a routing header with
/// segments left says it is not the final one (the pseudo-header holds the final one).
/// Two differences from OVS, where its update would leave a wrong checksum: OVS also
/// skips the source's update behind such a routing header, and the update of an atomic
/// fragment (fragment header, offset 0, no MF); xvs does both, the checksum covering the
/// whole datagram in either case.
fn set_ipv6_addr(d: &mut [u8], which: Addr, new: u128) {
    let Some((ethertype::IPV6, off)) = l3(d) else {
        return;
    };
    let l4 = l4_at(d);
    let Some(Ok(mut ip)) = d.get_mut(off..).map(Ipv6Packet::new_checked) else {
        return;
    };
    let old = match which {
        Addr::Src => ip.src_u128(),
        Addr::Dst => ip.dst_u128(),
    };
    match which {
        Addr::Src => ip.set_src_u128(new),
        Addr::Dst => ip.set_dst_u128(new),
    }
    if let Some(l4) = l4 {
        if !(matches!(which, Addr::Dst) && l4.routed) {
            update_l4_csum(
                &mut d[l4.start..l4.end],
                l4.proto,
                &old.to_be_bytes(),
                &new.to_be_bytes(),
            );
        }
    }
}

/// Rewrites a TCP or UDP port (`at` 0: source, 2: destination) with the checksum, as
/// OVS's `packet_set_tcp_port` / `packet_set_udp_port`: TCP needs its whole header
/// (by data offset), UDP 8 bytes; a zero UDP checksum stays zero.
fn set_port(d: &mut [u8], proto: u8, at: usize, port: u16) {
    let Some(l4) = l4_at(d).filter(|l4| l4.proto == proto) else {
        return;
    };
    let seg = &mut d[l4.start..l4.end];
    let ok = match proto {
        ipv4::PROTO_TCP => tcp::Packet::new_checked(&*seg).is_ok(),
        _ => seg.len() >= 8,
    };
    if !ok {
        return;
    }
    let old = get_u16(seg, at);
    set_u16(seg, at, port);
    update_l4_csum(seg, proto, &old.to_be_bytes(), &port.to_be_bytes());
}

/// Rewrites the ICMP or ICMPv6 type (`at` 0) or code (`at` 1) with the checksum, as OVS's
/// `packet_set_icmp`, on a whole 8-byte header.
fn set_icmp(d: &mut [u8], proto: u8, at: usize, v: u8) {
    let Some(l4) = l4_at(d).filter(|l4| l4.proto == proto) else {
        return;
    };
    let msg = &mut d[l4.start..l4.end];
    if msg.len() < icmp::HEADER_LEN {
        return;
    }
    let old = [msg[0], msg[1]];
    msg[at] = v;
    let new = [msg[0], msg[1]];
    let c = checksum::update_words(get_u16(msg, icmp::CHECKSUM_OFFSET), &old, &new);
    set_u16(msg, icmp::CHECKSUM_OFFSET, c);
}

/// The ICMPv6 message of a frame, if it is a whole Neighbour Solicitation or
/// Advertisement header (ICMPv6 header and target): OVS's `dp_packet_get_nd_payload`.
fn nd_message(d: &mut [u8]) -> Option<&mut [u8]> {
    let l4 = l4_at(d).filter(|l4| l4.proto == ipv4::PROTO_ICMPV6 && l4.v6.is_some())?;
    let msg = &mut d[l4.start..l4.end];
    let m = nd::Message::new_checked(&*msg).ok()?;
    nd::is_nd(m.msg_type(), m.code()).then_some(msg)
}

fn set_nd_target(d: &mut [u8], target: u128) {
    let Some(msg) = nd_message(d) else {
        return;
    };
    let old = nd::Message::new_unchecked(&*msg).target();
    nd::Message::new_unchecked(&mut *msg).set_target(target);
    let c = checksum::update_words(
        get_u16(msg, icmp::CHECKSUM_OFFSET),
        &old.to_be_bytes(),
        &target.to_be_bytes(),
    );
    set_u16(msg, icmp::CHECKSUM_OFFSET, c);
}

/// Rewrites the MAC of the message's first link-layer address option if it has type
/// `opt_type` (OVS's `packet_set_nd` stops at the first source or target option).
fn set_nd_lla(d: &mut [u8], opt_type: u8, mac: crate::mac::MacAddr) {
    let Some(msg) = nd_message(d) else {
        return;
    };
    let Some((ty, at)) = nd::Message::new_unchecked(&*msg).first_lla_option() else {
        return;
    };
    if ty != opt_type {
        return;
    }
    let mut old = [0u8; 6];
    old.copy_from_slice(&msg[at..at + 6]);
    msg[at..at + 6].copy_from_slice(&mac.0);
    let c = checksum::update_words(get_u16(msg, icmp::CHECKSUM_OFFSET), &old, &mac.0);
    set_u16(msg, icmp::CHECKSUM_OFFSET, c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_move_the_front() {
        let mut f = FrameBuf::with_headroom(&[1, 2, 3, 4, 5], 4);
        f.insert(2, 3).unwrap();
        assert_eq!(f.headroom(), 1);
        f.data_mut()[2..5].copy_from_slice(&[7, 8, 9]);
        assert_eq!(f.data(), &[1, 2, 7, 8, 9, 3, 4, 5]);
        assert_eq!(
            f.insert(0, 2),
            Err(ExecError::NoHeadroom { need: 2, have: 1 })
        );
        f.remove(1, 4).unwrap();
        assert_eq!(f.data(), &[1, 3, 4, 5]);
        assert_eq!(
            f.remove(3, 2),
            Err(ExecError::OutOfRange {
                at: 3,
                n: 2,
                len: 4
            })
        );
        f.pull_front(1).unwrap();
        assert_eq!(f.data(), &[3, 4, 5]);
        f.push_front(1).unwrap();
        assert_eq!(f.data(), &[1, 3, 4, 5]);
        assert_eq!(f.headroom(), 5);
    }

    /// An Ethernet frame from 02:..:01 to 02:..:02 with `tags` ((TPID, TCI) outer first)
    /// in front of an IPv4/UDP packet (10.1.2.3 -> 10.4.5.6, checksums right).
    fn frame(tags: &[(u16, u16)]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        for (tpid, tci) in tags {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0, 28, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 1, 2, 3, 10, 4, 5, 6,
        ];
        let c = checksum::checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&[0, 1, 0, 2, 0, 8, 0, 0]);
        f
    }

    fn run(actions: &[DpAction], bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut f = FrameBuf::with_headroom(bytes, DEFAULT_HEADROOM);
        let mut out = Vec::new();
        execute(actions, &mut f, |_, b| out.push(b.to_vec())).unwrap();
        out
    }

    const Q: u16 = ethertype::VLAN;
    const AD: u16 = ethertype::QINQ;
    const PRESENT: u16 = crate::flow_key::VLAN_PRESENT;

    #[test]
    fn set_vlan_rewrites_the_tci_and_keeps_the_tpid() {
        for tpid in [Q, AD] {
            // DEI set on the wire stays set: only PCP and VID are the flow's.
            let out = run(
                &[
                    DpAction::SetVlan(PRESENT | 3 << 13 | 20),
                    DpAction::Output(1),
                ],
                &frame(&[(tpid, 0x100a)]),
            );
            assert_eq!(out, [frame(&[(tpid, 0x7014)])], "tpid {tpid:#x}");
        }
        // On a QinQ frame only the outer (service) tag changes.
        let out = run(
            &[DpAction::SetVlan(PRESENT | 20), DpAction::Output(1)],
            &frame(&[(AD, 10), (Q, 100)]),
        );
        assert_eq!(out, [frame(&[(AD, 20), (Q, 100)])]);
    }

    #[test]
    fn pop_vlan_removes_the_outer_tag_whatever_its_tpid() {
        for tpid in [Q, AD] {
            let out = run(
                &[DpAction::PopVlan, DpAction::Output(1)],
                &frame(&[(tpid, 10)]),
            );
            assert_eq!(out, [frame(&[])], "tpid {tpid:#x}");
        }
        let out = run(
            &[DpAction::PopVlan, DpAction::Output(1)],
            &frame(&[(AD, 10), (Q, 100)]),
        );
        assert_eq!(out, [frame(&[(Q, 100)])], "the C-tag is left");
    }

    #[test]
    fn push_vlan_writes_the_tpid_asked_for() {
        let push = |tpid| DpAction::PushVlan {
            tpid,
            tci: PRESENT | 5 << 13 | 7,
        };
        let out = run(&[push(Tpid::Is(Q)), DpAction::Output(1)], &frame(&[]));
        assert_eq!(out, [frame(&[(Q, 0xa007)])]);
        let out = run(&[push(Tpid::Is(AD)), DpAction::Output(1)], &frame(&[]));
        assert_eq!(out, [frame(&[(AD, 0xa007)])]);
        // Received, with no tag popped before: an 802.1Q tag.
        let out = run(&[push(Tpid::Received), DpAction::Output(1)], &frame(&[]));
        assert_eq!(out, [frame(&[(Q, 0xa007)])]);
    }

    /// The frame leaves untagged through one port and with its own tag through another
    /// (NORMAL from a trunk to an access port and a trunk), even after a tag of another
    /// TPID was pushed and popped between (a patch peer that re-tagged it).
    #[test]
    fn received_tpid_is_the_first_popped_one() {
        for tpid in [Q, AD] {
            let out = run(
                &[
                    DpAction::PopVlan,
                    DpAction::Output(1),
                    DpAction::PushVlan {
                        tpid: Tpid::Is(if tpid == Q { AD } else { Q }),
                        tci: PRESENT | 20,
                    },
                    DpAction::Output(2),
                    DpAction::PopVlan,
                    DpAction::PushVlan {
                        tpid: Tpid::Received,
                        tci: PRESENT | 10,
                    },
                    DpAction::Output(3),
                ],
                &frame(&[(tpid, 10)]),
            );
            let other = if tpid == Q { AD } else { Q };
            assert_eq!(
                out,
                [frame(&[]), frame(&[(other, 20)]), frame(&[(tpid, 10)])],
                "tpid {tpid:#x}"
            );
        }
    }

    #[test]
    fn ipv4_rewrite_looks_behind_one_tag_of_either_tpid() {
        let set = [
            DpAction::SetIpv4Src(std::net::Ipv4Addr::new(192, 0, 2, 1)),
            DpAction::Output(1),
        ];
        for tpid in [Q, AD] {
            let f = frame(&[(tpid, 10)]);
            let out = run(&set, &f);
            let ip = 18;
            assert_eq!(&out[0][ip + 12..ip + 16], &[192, 0, 2, 1], "tpid {tpid:#x}");
            assert_eq!(checksum::checksum(&out[0][ip..ip + 20]), 0);
        }
        // Behind two tags the ethertype is 0x8100, not IPv4: nothing is rewritten.
        let f = frame(&[(AD, 10), (Q, 100)]);
        assert_eq!(run(&set, &f), [f]);
    }

    #[test]
    fn truncated_service_tag_is_skipped_not_parsed() {
        for cut in 14..18 {
            let f = &frame(&[(AD, 10)])[..cut];
            let out = run(
                &[
                    DpAction::SetVlan(PRESENT | 5),
                    DpAction::PopVlan,
                    DpAction::SetIpv4Dst(std::net::Ipv4Addr::new(192, 0, 2, 9)),
                    DpAction::Output(1),
                ],
                f,
            );
            assert_eq!(out, [f.to_vec()], "{cut} bytes");
        }
    }

    /// A 100-byte inner frame over GRE with a key is a 20 + 8 + 100 = 128-byte outer
    /// IPv4 packet: it leaves with an MTU of 128 and is dropped and counted with 127,
    /// while the outputs around it still go out.
    #[test]
    fn tunnel_output_over_the_mtu_is_counted_not_sent() {
        use crate::actions::{TunnelHeader, TunnelKind};
        use crate::mac::MacAddr;
        use std::net::Ipv4Addr;
        let tunnel = |mtu| DpAction::TunnelOutput {
            port: 9,
            header: TunnelHeader {
                kind: TunnelKind::Gre {
                    key: Some(7),
                    csum: false,
                },
                eth_src: MacAddr([2, 0, 0, 0, 0, 1]),
                eth_dst: MacAddr([2, 0, 0, 0, 0, 2]),
                ip_src: Ipv4Addr::new(192, 0, 2, 1),
                ip_dst: Ipv4Addr::new(192, 0, 2, 2),
                ttl: 64,
                tos: 0,
                dont_fragment: true,
                mtu,
            },
        };
        let inner = [0x5au8; 100];
        for (mtu, sent) in [(128u16, true), (127, false), (u16::MAX, true)] {
            let mut f = FrameBuf::with_headroom(&inner, DEFAULT_HEADROOM);
            let mut out = Vec::new();
            let done = execute(
                &[DpAction::Output(1), tunnel(mtu), DpAction::Output(2)],
                &mut f,
                |p, bytes| out.push((p, bytes.len())),
            )
            .unwrap();
            let mut want = vec![(1, 100)];
            if sent {
                want.push((9, 14 + 128));
            }
            want.push((2, 100));
            assert_eq!(out, want, "mtu {mtu}");
            assert_eq!(done.too_big, u32::from(!sent), "mtu {mtu}");
        }
    }
}
