//! The offered traffic ([`FlowSet`]) and what must come out of the switch for it
//! ([`Expectation`], checked frame by frame by a [`Checker`]).
//!
//! Every frame is IPv4/UDP (no UDP checksum) whose payload starts with a 16-byte
//! [`Stamp`]: a magic number, the flow id and a sequence number, then a fixed byte
//! pattern up to the frame length. Flow `i` differs from flow 0 only where a switch's
//! flow cache would see it:
//! - untagged or VLAN traffic: destination MAC = base MAC + `i`;
//! - GRE traffic: tunnel key = key base + `i`; the inner frame is the same for all flows
//!   (apart from the stamp), as many tenants behind one tunnel would send.
//!
//! The frames are written by hand here, independently of the dataplane's parsers and
//! builders, so that a bug there cannot hide itself in the harness.

mod check;
#[cfg(test)]
mod tests;

pub use check::*;

use std::net::Ipv4Addr;
use xvs_ebpf::bench::{GenTemplate, SinkExpectation};

/// First word of every stamp ("XVSB"): a frame that has it where the stamp belongs is
/// one of ours.
pub const STAMP_MAGIC: u32 = 0x5856_5342;
/// Bytes of the stamp: magic u32, flow id u32, sequence u64, all big endian.
pub const STAMP_LEN: usize = 16;
/// Frame lengths, Ethernet header included, FCS excluded.
pub const MIN_FRAME_LEN: usize = 64;
pub const MAX_FRAME_LEN: usize = 1500;
/// Most flows a [`FlowSet`] describes.
pub const MAX_FLOWS: u32 = 1_000_000;
/// Outer Ethernet + IPv4 + GRE with a key, in front of a GRE packet's inner frame.
pub const GRE_OVERHEAD: usize = ETH_LEN + IPV4_LEN + GRE_KEYED_LEN;
/// Shortest inner frame of GRE traffic: a legal Ethernet frame once decapsulated.
pub const MIN_INNER_LEN: usize = 60;

const ETH_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const IPV4_LEN: usize = 20;
const UDP_LEN: usize = 8;
const GRE_KEYED_LEN: usize = 8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_TEB: u16 = 0x6558;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_GRE: u8 = 47;
/// GRE flags word with only the key bit (RFC 2890), version 0.
const GRE_FLAGS_KEY: u16 = 0x2000;
const TTL: u8 = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {len} is not in {min}..={max} for this encapsulation")]
    FrameLen { len: usize, min: usize, max: usize },
    #[error("{0} flows: a flow set has 1..={MAX_FLOWS}")]
    FlowCount(u32),
    #[error("VLAN id {0} is not in 1..=4094")]
    VlanId(u16),
    #[error(
        "base MAC {base} with {flows} flows: the base must be unicast and the flows may \
         only change its last five bytes"
    )]
    BaseMac { base: String, flows: u32 },
    #[error("flow {flow} is not in 0..{flows}")]
    FlowOutOfRange { flow: u32, flows: u32 },
    #[error("buffer of {have} bytes is shorter than the {need}-byte frame")]
    BufferTooSmall { have: usize, need: usize },
    #[error("expectation {expectation} does not apply to {encap} traffic")]
    Expectation {
        expectation: &'static str,
        encap: &'static str,
    },
}

/// Outer addresses and key of GRE traffic (RFC 2784/2890, key present, no checksum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GreTunnel {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    /// Key of flow 0 (see [`TunnelKeys`] for the others).
    pub key_base: u32,
}

/// How the offered frames are encapsulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encap {
    Untagged,
    /// One 802.1Q tag (PCP 0) with this VLAN id.
    Vlan(u16),
    /// Ethernet/IPv4/GRE around an untagged inner frame; flow `i` has key `key_base + i`.
    Gre(GreTunnel),
}

impl Encap {
    fn name(&self) -> &'static str {
        match self {
            Encap::Untagged => "untagged",
            Encap::Vlan(_) => "VLAN",
            Encap::Gre(_) => "GRE",
        }
    }
}

/// The addresses of the (inner) IPv4/UDP frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    /// Destination MAC of flow 0; flow `i` has this plus `i` (GRE: of every flow).
    pub dst_mac_base: [u8; 6],
    pub src_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    /// Also how a sink recognises one of our frames whose stamp was damaged.
    pub dst_port: u16,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            dst_mac_base: [0x02, 0x00, 0x00, 0x10, 0x00, 0x00],
            src_mac: [0x02, 0x00, 0x00, 0x20, 0x00, 0x01],
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            dst_ip: Ipv4Addr::new(10, 0, 0, 2),
            src_port: 49_374,
            // The discard port: nobody answers it, and it is rare as background noise.
            dst_port: 9,
        }
    }
}

/// What a stamp says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub flow: u32,
    pub seq: u64,
}

/// The traffic a generator offers: `flows` flows of `frame_len`-byte frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSet {
    frame_len: usize,
    flows: u32,
    encap: Encap,
    ends: Endpoints,
    /// Where the fields that differ between flows are in a frame.
    mac_at: Option<usize>,
    key_at: Option<usize>,
    stamp_at: usize,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn mac_to_u64(m: [u8; 6]) -> u64 {
    m.iter().fold(0, |acc, &b| acc << 8 | u64::from(b))
}

fn u64_to_mac(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// RFC 1071 checksum of an IPv4 header whose checksum field is zero (or, for
/// verification, of a whole header: 0 when it is right).
fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 header (no options, DF, id 0, TTL 64) into `h[..20]`.
fn write_ipv4(h: &mut [u8], total_len: usize, proto: u8, src: Ipv4Addr, dst: Ipv4Addr) {
    h[0] = 0x45;
    h[1] = 0;
    h[2..4].copy_from_slice(&(total_len as u16).to_be_bytes());
    h[4..6].copy_from_slice(&[0, 0]);
    h[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
    h[8] = TTL;
    h[9] = proto;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = ipv4_checksum(&h[..IPV4_LEN]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Ethernet/IPv4/GRE (key) header for an inner frame of `inner_len` bytes into `h[..42]`.
fn write_gre_header(h: &mut [u8], t: &GreTunnel, key: u32, inner_len: usize) {
    h[0..6].copy_from_slice(&t.dst_mac);
    h[6..12].copy_from_slice(&t.src_mac);
    h[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    write_ipv4(
        &mut h[ETH_LEN..],
        IPV4_LEN + GRE_KEYED_LEN + inner_len,
        IPPROTO_GRE,
        t.src_ip,
        t.dst_ip,
    );
    let g = ETH_LEN + IPV4_LEN;
    h[g..g + 2].copy_from_slice(&GRE_FLAGS_KEY.to_be_bytes());
    h[g + 2..g + 4].copy_from_slice(&ETHERTYPE_TEB.to_be_bytes());
    h[g + 4..g + 8].copy_from_slice(&key.to_be_bytes());
}

impl FlowSet {
    /// `flows` flows of `frame_len`-byte frames (64..=1500; GRE: at least
    /// [`GRE_OVERHEAD`] + [`MIN_INNER_LEN`]) with the default [`Endpoints`].
    pub fn new(frame_len: usize, flows: u32, encap: Encap) -> Result<FlowSet, FrameError> {
        FlowSet::with_endpoints(frame_len, flows, encap, Endpoints::default())
    }

    pub fn with_endpoints(
        frame_len: usize,
        flows: u32,
        encap: Encap,
        ends: Endpoints,
    ) -> Result<FlowSet, FrameError> {
        let min = match encap {
            Encap::Gre(_) => GRE_OVERHEAD + MIN_INNER_LEN,
            _ => MIN_FRAME_LEN,
        };
        if !(min..=MAX_FRAME_LEN).contains(&frame_len) {
            return Err(FrameError::FrameLen {
                len: frame_len,
                min,
                max: MAX_FRAME_LEN,
            });
        }
        if !(1..=MAX_FLOWS).contains(&flows) {
            return Err(FrameError::FlowCount(flows));
        }
        if let Encap::Vlan(vid) = encap {
            check_vid(vid)?;
        }
        let base = mac_to_u64(ends.dst_mac_base);
        let last = base + u64::from(flows - 1);
        // Flows must stay unicast and never carry into the first byte (which holds the
        // group and local bits).
        if ends.dst_mac_base[0] & 1 != 0 || last >> 40 != base >> 40 {
            return Err(FrameError::BaseMac {
                base: mac_text(ends.dst_mac_base),
                flows,
            });
        }
        let (mac_at, key_at, stamp_at) = match encap {
            Encap::Untagged => (Some(0), None, ETH_LEN + IPV4_LEN + UDP_LEN),
            Encap::Vlan(_) => (Some(0), None, ETH_LEN + VLAN_TAG_LEN + IPV4_LEN + UDP_LEN),
            Encap::Gre(_) => (
                None,
                Some(ETH_LEN + IPV4_LEN + 4),
                GRE_OVERHEAD + ETH_LEN + IPV4_LEN + UDP_LEN,
            ),
        };
        Ok(FlowSet {
            frame_len,
            flows,
            encap,
            ends,
            mac_at,
            key_at,
            stamp_at,
        })
    }

    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    pub fn flows(&self) -> u32 {
        self.flows
    }

    pub fn encap(&self) -> Encap {
        self.encap
    }

    pub fn endpoints(&self) -> Endpoints {
        self.ends
    }

    /// Offset of the stamp in the frames as sent.
    pub fn stamp_offset(&self) -> usize {
        self.stamp_at
    }

    /// The (inner) destination MAC of flow `flow`'s frames.
    pub fn dst_mac(&self, flow: u32) -> [u8; 6] {
        match self.encap {
            Encap::Gre(_) => self.ends.dst_mac_base,
            _ => u64_to_mac(mac_to_u64(self.ends.dst_mac_base) + u64::from(flow)),
        }
    }

    /// The tunnel key of flow `flow` (GRE traffic only).
    pub fn tunnel_key(&self, flow: u32) -> Option<u32> {
        match self.encap {
            Encap::Gre(t) => Some(t.key_base.wrapping_add(flow)),
            _ => None,
        }
    }

    /// The stamp of a frame of this set as sent, if it carries one.
    pub fn stamp_of(&self, frame: &[u8]) -> Option<Stamp> {
        read_stamp(frame, self.stamp_at)
    }

    /// Writes the frame of flow `flow` with sequence number `seq` into `buf`; returns its
    /// length. Allocates nothing.
    pub fn frame(&self, flow: u32, seq: u64, buf: &mut [u8]) -> Result<usize, FrameError> {
        self.check_flow(flow)?;
        let buf = self.frame_buf(buf)?;
        let (inner, vlan) = match self.encap {
            Encap::Untagged => (&mut buf[..], None),
            Encap::Vlan(vid) => (&mut buf[..], Some(vid)),
            Encap::Gre(t) => {
                let (outer, inner) = buf.split_at_mut(GRE_OVERHEAD);
                write_gre_header(outer, &t, t.key_base.wrapping_add(flow), inner.len());
                (inner, None)
            }
        };
        self.write_inner(inner, vlan, self.dst_mac(flow));
        self.restamp(flow, seq, buf)?;
        Ok(self.frame_len)
    }

    /// Rewrites only what differs between the frames of this set (the flow's MAC or key,
    /// and the stamp's flow id and sequence number) in `buf`, which must already hold a
    /// frame of this set: the generator's cheap per-send update.
    #[inline]
    pub fn restamp(&self, flow: u32, seq: u64, buf: &mut [u8]) -> Result<(), FrameError> {
        self.check_flow(flow)?;
        let buf = self.frame_buf(buf)?;
        if let Some(at) = self.mac_at {
            buf[at..at + 6].copy_from_slice(&self.dst_mac(flow));
        }
        if let (Some(at), Some(key)) = (self.key_at, self.tunnel_key(flow)) {
            buf[at..at + 4].copy_from_slice(&key.to_be_bytes());
        }
        write_stamp(&mut buf[self.stamp_at..], flow, seq);
        Ok(())
    }

    #[inline]
    fn check_flow(&self, flow: u32) -> Result<(), FrameError> {
        if flow >= self.flows {
            return Err(FrameError::FlowOutOfRange {
                flow,
                flows: self.flows,
            });
        }
        Ok(())
    }

    #[inline]
    fn frame_buf<'a>(&self, buf: &'a mut [u8]) -> Result<&'a mut [u8], FrameError> {
        let have = buf.len();
        buf.get_mut(..self.frame_len)
            .ok_or(FrameError::BufferTooSmall {
                have,
                need: self.frame_len,
            })
    }

    /// Ethernet (+ tag) / IPv4 / UDP / stamp (flow 0, seq 0) / pattern, filling `f`.
    fn write_inner(&self, f: &mut [u8], vlan: Option<u16>, dst_mac: [u8; 6]) {
        let e = &self.ends;
        f[0..6].copy_from_slice(&dst_mac);
        f[6..12].copy_from_slice(&e.src_mac);
        let mut at = 12;
        if let Some(vid) = vlan {
            f[at..at + 2].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            f[at + 2..at + 4].copy_from_slice(&vid.to_be_bytes());
            at += VLAN_TAG_LEN;
        }
        f[at..at + 2].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        at += 2;
        let ip_len = f.len() - at;
        write_ipv4(&mut f[at..], ip_len, IPPROTO_UDP, e.src_ip, e.dst_ip);
        at += IPV4_LEN;
        f[at..at + 2].copy_from_slice(&e.src_port.to_be_bytes());
        f[at + 2..at + 4].copy_from_slice(&e.dst_port.to_be_bytes());
        f[at + 4..at + 6].copy_from_slice(&((ip_len - IPV4_LEN) as u16).to_be_bytes());
        f[at + 6..at + 8].copy_from_slice(&[0, 0]);
        at += UDP_LEN;
        write_stamp(&mut f[at..], 0, 0);
        // A pattern rather than zeros, so that a sink notices a damaged or shifted tail.
        for (i, b) in f[at + STAMP_LEN..].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37) ^ 0xa5;
        }
    }

    /// A checker of what must arrive at a sink for this traffic after the switch.
    pub fn expect(&self, expectation: Expectation) -> Result<Checker, FrameError> {
        Checker::new(self, expectation)
    }

    /// The set as the in-kernel generator (`xvs_ebpf::bench::GenProgram`) makes it:
    /// flow 0's frame and where the per-flow fields are.
    pub fn gen_template(&self) -> GenTemplate {
        let mut frame = vec![0u8; self.frame_len];
        // The length is the set's own: writing cannot fail.
        let _ = self.frame(0, 0, &mut frame);
        GenTemplate {
            frame,
            flows: self.flows,
            mac_at: self.mac_at.map(|a| a as u32),
            mac_base: mac_to_u64(self.ends.dst_mac_base),
            key_at: self.key_at.map(|a| a as u32),
            key_base: self.tunnel_key(0).unwrap_or(0),
            stamp_at: self.stamp_at as u32,
        }
    }
}

fn check_vid(vid: u16) -> Result<(), FrameError> {
    if !(1..=4094).contains(&vid) {
        return Err(FrameError::VlanId(vid));
    }
    Ok(())
}

#[inline]
fn write_stamp(b: &mut [u8], flow: u32, seq: u64) {
    b[0..4].copy_from_slice(&STAMP_MAGIC.to_be_bytes());
    b[4..8].copy_from_slice(&flow.to_be_bytes());
    b[8..16].copy_from_slice(&seq.to_be_bytes());
}

#[inline]
fn read_stamp(frame: &[u8], at: usize) -> Option<Stamp> {
    let s = frame.get(at..at + STAMP_LEN)?;
    if s[0..4] != STAMP_MAGIC.to_be_bytes() {
        return None;
    }
    Some(Stamp {
        flow: be32(s, 4)?,
        seq: u64::from_be_bytes(s[8..16].try_into().ok()?),
    })
}
