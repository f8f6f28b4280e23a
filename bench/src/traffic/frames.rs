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

/// What happens to an 802.1Q tag on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VlanEdit {
    Keep,
    /// The tag is removed (nothing happens to an untagged frame).
    Strip,
    /// The frame leaves with this VLAN id: a tag is pushed (PCP 0) on an untagged frame,
    /// the VID of a tagged one is rewritten (its PCP and DEI kept).
    Set(u16),
}

/// Which tunnel key flow `i`'s frames get when the switch encapsulates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKeys {
    /// All flows: the tunnel's `key_base` (one tenant network, as `set_tunnel:K`).
    Fixed,
    /// Flow `i`: `key_base + i`.
    PerFlow,
}

/// What must arrive at the sink, relative to what the generator sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// Byte for byte what was sent.
    Same,
    /// What was sent, without its 802.1Q tag (an access port's egress).
    Untagged,
    /// What was sent, leaving on VLAN `vid` (a tag pushed or its VID rewritten).
    Tagged(u16),
    /// The inner frame of the GRE packet sent, its tag edited as `vlan` says.
    GreDecap { vlan: VlanEdit },
    /// What was sent, its tag edited as `vlan` says, in Ethernet/IPv4/GRE from `tunnel`
    /// (key bit only, protocol 0x6558). The switch's choices of outer IPv4 TOS,
    /// identification, flags and TTL are not checked; the outer checksum is verified.
    GreEncap {
        tunnel: GreTunnel,
        keys: TunnelKeys,
        vlan: VlanEdit,
    },
}

impl Expectation {
    fn name(&self) -> &'static str {
        match self {
            Expectation::Same => "Same",
            Expectation::Untagged => "Untagged",
            Expectation::Tagged(_) => "Tagged",
            Expectation::GreDecap { .. } => "GreDecap",
            Expectation::GreEncap { .. } => "GreEncap",
        }
    }
}

/// What a [`Checker`] made of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok(Stamp),
    /// One of ours (our stamp, or IPv4/UDP to our port), but not as expected.
    Bad(BadReason),
    /// Not ours: ARP, IPv6, anything else on the wire.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadReason {
    /// The stamp is not where the expectation puts it (wrong encapsulation or tag, a
    /// truncated frame, a damaged magic).
    Misplaced,
    FlowOutOfRange,
    Length,
    /// Some byte differs from the expected frame.
    Content,
    /// The outer IPv4 header of an encapsulated frame has a wrong checksum.
    OuterChecksum,
}

/// Checks arriving frames against an [`Expectation`]. Holds the expected frame of
/// flow 0 and patches the per-flow fields in before each comparison: no allocation per
/// frame, one pass over the bytes.
#[derive(Debug, Clone)]
pub struct Checker {
    expected: Vec<u8>,
    flows: u32,
    mac_at: Option<usize>,
    mac_base: u64,
    key_at: Option<usize>,
    key_base: u32,
    stamp_at: usize,
    /// An outer IPv4 header the switch wrote (GreEncap): partly unchecked, checksum
    /// verified.
    outer_ipv4_at: Option<usize>,
    dst_port: u16,
}

impl Checker {
    fn new(set: &FlowSet, exp: Expectation) -> Result<Checker, FrameError> {
        let mismatch = || FrameError::Expectation {
            expectation: exp.name(),
            encap: set.encap.name(),
        };
        let is_gre = matches!(set.encap, Encap::Gre(_));
        let (decap, vlan, encap) = match exp {
            Expectation::Same => (false, VlanEdit::Keep, None),
            Expectation::Untagged => (false, VlanEdit::Strip, None),
            Expectation::Tagged(vid) => (false, VlanEdit::Set(vid), None),
            Expectation::GreDecap { vlan } => (true, vlan, None),
            Expectation::GreEncap { tunnel, keys, vlan } => (false, vlan, Some((tunnel, keys))),
        };
        // GRE traffic arrives as sent or decapsulated; other traffic is never decapsulated
        // (and double encapsulation is not a case worth a harness).
        let applies = if is_gre {
            matches!(exp, Expectation::Same | Expectation::GreDecap { .. })
        } else {
            !decap
        };
        if !applies {
            return Err(mismatch());
        }
        if let VlanEdit::Set(vid) = vlan {
            check_vid(vid)?;
        }

        let mut sent = vec![0u8; set.frame_len];
        set.frame(0, 0, &mut sent)?;
        let mut stamp_at = set.stamp_at;
        let mut mac_at = set.mac_at;
        let mut key_at = set.key_at;
        let mut key_base = set.tunnel_key(0).unwrap_or(0);
        let mut f = if decap {
            stamp_at -= GRE_OVERHEAD;
            key_at = None;
            sent.split_off(GRE_OVERHEAD)
        } else {
            sent
        };
        let tagged = be16(&f, 12) == Some(ETHERTYPE_VLAN);
        match (vlan, tagged) {
            (VlanEdit::Keep, _) | (VlanEdit::Strip, false) => {}
            (VlanEdit::Strip, true) => {
                f.drain(12..12 + VLAN_TAG_LEN);
                stamp_at -= VLAN_TAG_LEN;
            }
            (VlanEdit::Set(vid), true) => {
                let tci = (be16(&f, 14).unwrap_or(0) & 0xf000) | vid;
                f[14..16].copy_from_slice(&tci.to_be_bytes());
            }
            (VlanEdit::Set(vid), false) => {
                let mut tag = ETHERTYPE_VLAN.to_be_bytes().to_vec();
                tag.extend_from_slice(&vid.to_be_bytes());
                f.splice(12..12, tag);
                stamp_at += VLAN_TAG_LEN;
            }
        }
        let mut outer_ipv4_at = None;
        if let Some((tunnel, keys)) = encap {
            let mut out = vec![0u8; GRE_OVERHEAD + f.len()];
            write_gre_header(&mut out, &tunnel, tunnel.key_base, f.len());
            out[GRE_OVERHEAD..].copy_from_slice(&f);
            f = out;
            stamp_at += GRE_OVERHEAD;
            mac_at = mac_at.map(|m| m + GRE_OVERHEAD);
            key_base = tunnel.key_base;
            key_at = match keys {
                TunnelKeys::Fixed => None,
                TunnelKeys::PerFlow => Some(ETH_LEN + IPV4_LEN + 4),
            };
            outer_ipv4_at = Some(ETH_LEN);
        }
        Ok(Checker {
            expected: f,
            flows: set.flows,
            mac_at,
            mac_base: mac_to_u64(set.ends.dst_mac_base),
            key_at,
            key_base,
            stamp_at,
            outer_ipv4_at,
            dst_port: set.ends.dst_port,
        })
    }

    /// The same test for the sink's XDP program (`xvs_ebpf::bench::SinkProgram`): flow
    /// 0's expected frame, a mask that leaves out what differs per flow (checked from
    /// the stamp's flow id instead), the stamp's sequence number, and the outer IPv4
    /// fields a switch may choose (whose checksum is verified instead).
    pub fn sink_expectation(&self) -> SinkExpectation {
        let mut c = self.clone();
        c.patch(0, 0);
        let mut mask = vec![1u8; c.expected.len()];
        let mut skip = |from: usize, to: usize| mask[from..to].fill(0);
        if let Some(at) = c.mac_at {
            skip(at, at + 6);
        }
        if let Some(at) = c.key_at {
            skip(at, at + 4);
        }
        // The magic stays compared; the flow id and sequence number do not.
        skip(c.stamp_at + 4, c.stamp_at + STAMP_LEN);
        if let Some(o) = c.outer_ipv4_at {
            // As check(): TOS, identification, flags/fragment offset, TTL, checksum.
            skip(o + 1, o + 2);
            skip(o + 4, o + 9);
            skip(o + 10, o + 12);
        }
        SinkExpectation {
            frame: c.expected,
            mask,
            flows: c.flows,
            stamp_at: c.stamp_at as u32,
            mac_at: c.mac_at.map(|a| a as u32),
            mac_base: c.mac_base,
            key_at: c.key_at.map(|a| a as u32),
            key_base: c.key_base,
            csum_at: c.outer_ipv4_at.map(|a| a as u32),
        }
    }

    /// Length of every frame that must arrive.
    pub fn expected_len(&self) -> usize {
        self.expected.len()
    }

    /// The frame that must arrive for `flow` and `seq` (outer IPv4 fields the switch
    /// chooses as this harness would write them).
    pub fn expected_frame(&mut self, flow: u32, seq: u64) -> Option<&[u8]> {
        (flow < self.flows).then(|| {
            self.patch(flow, seq);
            &self.expected[..]
        })
    }

    #[inline]
    fn patch(&mut self, flow: u32, seq: u64) {
        if let Some(at) = self.mac_at {
            let mac = u64_to_mac(self.mac_base + u64::from(flow));
            self.expected[at..at + 6].copy_from_slice(&mac);
        }
        if let Some(at) = self.key_at {
            let key = self.key_base.wrapping_add(flow);
            self.expected[at..at + 4].copy_from_slice(&key.to_be_bytes());
        }
        write_stamp(&mut self.expected[self.stamp_at..], flow, seq);
    }

    /// Checks one arriving frame. Never panics, whatever the bytes.
    #[inline]
    pub fn check(&mut self, frame: &[u8]) -> Verdict {
        let Some(stamp) = read_stamp(frame, self.stamp_at) else {
            return if self.looks_like_ours(frame) {
                Verdict::Bad(BadReason::Misplaced)
            } else {
                Verdict::Unknown
            };
        };
        if stamp.flow >= self.flows {
            return Verdict::Bad(BadReason::FlowOutOfRange);
        }
        if frame.len() != self.expected.len() {
            return Verdict::Bad(BadReason::Length);
        }
        self.patch(stamp.flow, stamp.seq);
        let e = &self.expected[..];
        let same = match self.outer_ipv4_at {
            None => frame == e,
            Some(o) => {
                // Compared: version/IHL, total length, protocol, addresses; not TOS,
                // identification, flags/fragment, TTL, checksum (checked below).
                let ranges = [
                    (0, o + 1),
                    (o + 2, o + 4),
                    (o + 9, o + 10),
                    (o + 12, e.len()),
                ];
                if !ranges.iter().all(|&(a, b)| frame[a..b] == e[a..b]) {
                    return Verdict::Bad(BadReason::Content);
                }
                if ipv4_checksum(&frame[o..o + IPV4_LEN]) != 0 {
                    return Verdict::Bad(BadReason::OuterChecksum);
                }
                true
            }
        };
        if same {
            Verdict::Ok(stamp)
        } else {
            Verdict::Bad(BadReason::Content)
        }
    }

    /// Whether a frame without a stamp where expected is still one of ours: the magic
    /// somewhere, or IPv4/UDP to our port behind at most a tag, a GRE header and an
    /// inner tag. Only runs for frames that failed the fast check.
    fn looks_like_ours(&self, frame: &[u8]) -> bool {
        let magic = STAMP_MAGIC.to_be_bytes();
        frame.windows(4).any(|w| w == magic) || udp_dst_port(frame, 0) == Some(self.dst_port)
    }
}

/// The UDP destination port of an Ethernet frame, looking through one 802.1Q/802.1ad
/// tag and one level of GRE (transparent Ethernet bridging). Bounds-checked throughout.
fn udp_dst_port(frame: &[u8], depth: u8) -> Option<u16> {
    let mut at = 12;
    let mut ethertype = be16(frame, at)?;
    if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        at += VLAN_TAG_LEN;
        ethertype = be16(frame, at)?;
    }
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = at + 2;
    let vihl = *frame.get(ip)?;
    let ihl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl < IPV4_LEN {
        return None;
    }
    let l4 = ip + ihl;
    match *frame.get(ip + 9)? {
        IPPROTO_UDP => be16(frame, l4 + 2),
        IPPROTO_GRE if depth == 0 => {
            let flags = be16(frame, l4)?;
            if be16(frame, l4 + 2)? != ETHERTYPE_TEB {
                return None;
            }
            // Checksum, key and sequence options each add 4 bytes.
            let opts = [0x8000u16, 0x2000, 0x1000]
                .iter()
                .filter(|&&bit| flags & bit != 0)
                .count();
            udp_dst_port(frame.get(l4 + 4 + 4 * opts..)?, depth + 1)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunnel() -> GreTunnel {
        GreTunnel {
            src_mac: [0x52, 0x54, 0, 0, 1, 0xfe],
            dst_mac: [0x52, 0x54, 0, 0, 1, 0xfd],
            src_ip: Ipv4Addr::new(192, 168, 1, 254),
            dst_ip: Ipv4Addr::new(192, 168, 1, 253),
            key_base: 0x3e7,
        }
    }

    fn build(set: &FlowSet, flow: u32, seq: u64) -> Vec<u8> {
        let mut b = vec![0u8; 2048];
        let n = set.frame(flow, seq, &mut b).unwrap();
        b.truncate(n);
        b
    }

    /// What a switch would do, written independently of the checker: remove / push the
    /// tag at 12, strip / add a GRE header.
    fn pop_tag(f: &[u8]) -> Vec<u8> {
        assert_eq!(f[12..14], [0x81, 0x00]);
        [&f[..12], &f[16..]].concat()
    }

    fn push_tag(f: &[u8], vid: u16) -> Vec<u8> {
        [&f[..12], &[0x81, 0x00], &vid.to_be_bytes()[..], &f[12..]].concat()
    }

    fn encap(inner: &[u8], t: &GreTunnel, key: u32, ident: u16, ttl: u8) -> Vec<u8> {
        let mut h = vec![0u8; GRE_OVERHEAD];
        write_gre_header(&mut h, t, key, inner.len());
        // A switch's own choices of identification and TTL, checksum redone.
        h[18..20].copy_from_slice(&ident.to_be_bytes());
        h[22] = ttl;
        h[24..26].copy_from_slice(&[0, 0]);
        let c = ipv4_checksum(&h[14..34]);
        h[24..26].copy_from_slice(&c.to_be_bytes());
        [&h[..], inner].concat()
    }

    #[test]
    fn untagged_frame_layout() {
        let set = FlowSet::new(64, 1000, Encap::Untagged).unwrap();
        let f = build(&set, 5, 77);
        assert_eq!(f.len(), 64);
        assert_eq!(f[0..6], [0x02, 0, 0, 0x10, 0, 5]);
        assert_eq!(f[6..12], Endpoints::default().src_mac);
        assert_eq!(f[12..14], [0x08, 0x00]);
        assert_eq!(f[14], 0x45);
        assert_eq!(be16(&f, 16), Some(50)); // IPv4 total length
        assert_eq!(f[23], 17);
        assert_eq!(ipv4_checksum(&f[14..34]), 0);
        assert_eq!(be16(&f, 36), Some(9)); // UDP destination port
        assert_eq!(be16(&f, 38), Some(30)); // UDP length
        assert_eq!(set.stamp_of(&f), Some(Stamp { flow: 5, seq: 77 }));
        assert_eq!(be32(&f, 42), Some(STAMP_MAGIC));
    }

    #[test]
    fn flow_id_maps_to_mac_and_key() {
        let set = FlowSet::new(64, MAX_FLOWS, Encap::Untagged).unwrap();
        assert_eq!(set.dst_mac(0), [0x02, 0, 0, 0x10, 0, 0]);
        assert_eq!(set.dst_mac(0x1_02ff), [0x02, 0, 0, 0x11, 0x02, 0xff]);
        assert_eq!(set.dst_mac(MAX_FLOWS - 1), [0x02, 0, 0, 0x1f, 0x42, 0x3f]);
        assert_eq!(set.tunnel_key(3), None);
        let f = build(&set, 0x1_02ff, 0);
        assert_eq!(f[0..6], set.dst_mac(0x1_02ff));

        let gre = FlowSet::new(128, 10, Encap::Gre(tunnel())).unwrap();
        assert_eq!(gre.tunnel_key(0), Some(0x3e7));
        assert_eq!(gre.tunnel_key(9), Some(0x3f0));
        assert_eq!(gre.dst_mac(9), gre.dst_mac(0));
        let f = build(&gre, 9, 1);
        assert_eq!(be32(&f, 38), Some(0x3f0));
        // Only the key and the stamp differ between flows.
        let g = build(&gre, 0, 1);
        let diff: Vec<usize> = (0..f.len()).filter(|&i| f[i] != g[i]).collect();
        assert!(diff
            .iter()
            .all(|&i| (38..42).contains(&i) || (88..92).contains(&i)));
    }

    #[test]
    fn sizes_64_and_1500() {
        for encap in [Encap::Untagged, Encap::Vlan(100), Encap::Gre(tunnel())] {
            for len in [64, 1500] {
                let set = match FlowSet::new(len, 3, encap) {
                    Ok(s) => s,
                    Err(e) => {
                        assert!(matches!(encap, Encap::Gre(_)) && len == 64, "{e}");
                        continue;
                    }
                };
                let f = build(&set, 2, 9);
                assert_eq!(f.len(), len);
                let mut c = set.expect(Expectation::Same).unwrap();
                assert_eq!(c.check(&f), Verdict::Ok(Stamp { flow: 2, seq: 9 }));
            }
        }
        assert_eq!(
            FlowSet::new(101, 1, Encap::Gre(tunnel())),
            Err(FrameError::FrameLen {
                len: 101,
                min: 102,
                max: 1500
            })
        );
        assert!(FlowSet::new(102, 1, Encap::Gre(tunnel())).is_ok());
        assert!(FlowSet::new(63, 1, Encap::Untagged).is_err());
        assert!(FlowSet::new(1501, 1, Encap::Untagged).is_err());
        let mut small = [0u8; 63];
        let set = FlowSet::new(64, 1, Encap::Untagged).unwrap();
        assert!(matches!(
            set.frame(0, 0, &mut small),
            Err(FrameError::BufferTooSmall { .. })
        ));
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(FlowSet::new(64, 0, Encap::Untagged).is_err());
        assert!(FlowSet::new(64, MAX_FLOWS + 1, Encap::Untagged).is_err());
        assert!(FlowSet::new(64, 1, Encap::Vlan(0)).is_err());
        assert!(FlowSet::new(64, 1, Encap::Vlan(4095)).is_err());
        let mut ends = Endpoints {
            dst_mac_base: [0x02, 0xff, 0xff, 0xff, 0xff, 0xff],
            ..Endpoints::default()
        };
        assert!(FlowSet::with_endpoints(64, 2, Encap::Untagged, ends).is_err());
        assert!(FlowSet::with_endpoints(64, 1, Encap::Untagged, ends).is_ok());
        ends.dst_mac_base = [0x01, 0, 0, 0, 0, 0];
        assert!(FlowSet::with_endpoints(64, 1, Encap::Untagged, ends).is_err());
        let set = FlowSet::new(64, 4, Encap::Untagged).unwrap();
        assert!(set.frame(4, 0, &mut [0u8; 64]).is_err());
        assert!(set
            .expect(Expectation::GreDecap {
                vlan: VlanEdit::Keep
            })
            .is_err());
        let gre = FlowSet::new(128, 4, Encap::Gre(tunnel())).unwrap();
        assert!(gre.expect(Expectation::Untagged).is_err());
        assert!(gre
            .expect(Expectation::GreEncap {
                tunnel: tunnel(),
                keys: TunnelKeys::Fixed,
                vlan: VlanEdit::Keep
            })
            .is_err());
        assert!(set.expect(Expectation::Tagged(5000)).is_err());
    }

    #[test]
    fn restamp_equals_a_fresh_frame() {
        for encap in [Encap::Untagged, Encap::Vlan(7), Encap::Gre(tunnel())] {
            let set = FlowSet::new(200, 5000, encap).unwrap();
            let mut b = build(&set, 17, 3);
            set.restamp(4321, 99, &mut b).unwrap();
            assert_eq!(b, build(&set, 4321, 99));
        }
    }

    #[test]
    fn same_round_trip_and_damage() {
        for encap in [Encap::Untagged, Encap::Vlan(7), Encap::Gre(tunnel())] {
            let set = FlowSet::new(128, 1000, encap).unwrap();
            let mut c = set.expect(Expectation::Same).unwrap();
            for flow in [0, 1, 999] {
                let f = build(&set, flow, u64::MAX - 1);
                assert_eq!(
                    c.check(&f),
                    Verdict::Ok(Stamp {
                        flow,
                        seq: u64::MAX - 1
                    })
                );
            }
            let good = build(&set, 500, 1);
            // A flow's frame carrying another flow's MAC or key.
            let mut swapped = good.clone();
            swapped[set.stamp_offset() + 7] ^= 1;
            assert_eq!(c.check(&swapped), Verdict::Bad(BadReason::Content));
            // A flow id out of range.
            let mut f = good.clone();
            f[set.stamp_offset() + 4] = 0xff;
            assert_eq!(c.check(&f), Verdict::Bad(BadReason::FlowOutOfRange));
            // A damaged magic: still ours by its UDP port.
            let mut f = good.clone();
            f[set.stamp_offset()] ^= 0x80;
            assert_eq!(c.check(&f), Verdict::Bad(BadReason::Misplaced));
            // Every other single-byte change outside the stamp is caught.
            for i in (0..good.len())
                .filter(|i| !(set.stamp_offset()..set.stamp_offset() + 16).contains(i))
            {
                let mut f = good.clone();
                f[i] ^= 0x10;
                assert!(
                    matches!(c.check(&f), Verdict::Bad(_)),
                    "{encap:?}: byte {i} changed unnoticed"
                );
            }
            // Truncated or extended.
            assert!(matches!(c.check(&good[..100]), Verdict::Bad(_)));
            let mut longer = good.clone();
            longer.push(0);
            assert_eq!(c.check(&longer), Verdict::Bad(BadReason::Length));
        }
    }

    #[test]
    fn noise_is_unknown_and_nothing_panics() {
        let set = FlowSet::new(64, 10, Encap::Untagged).unwrap();
        let mut c = set.expect(Expectation::Same).unwrap();
        let mut arp = vec![0xffu8; 6];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        arp.resize(60, 0);
        assert_eq!(c.check(&arp), Verdict::Unknown);
        for len in 0..80 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 13 + 7) as u8).collect();
            let _ = c.check(&junk);
        }
        assert_eq!(c.check(&[]), Verdict::Unknown);
        // IPv4/UDP to another port, no stamp: noise.
        let mut other = build(&set, 0, 0);
        other[36..38].copy_from_slice(&53u16.to_be_bytes());
        other[42..46].copy_from_slice(&[0; 4]);
        assert_eq!(c.check(&other), Verdict::Unknown);
    }

    #[test]
    fn vlan_pop_push_and_rewrite() {
        let tagged = FlowSet::new(64, 100, Encap::Vlan(10)).unwrap();
        let mut c = tagged.expect(Expectation::Untagged).unwrap();
        assert_eq!(c.expected_len(), 60);
        let f = pop_tag(&build(&tagged, 42, 5));
        assert_eq!(c.check(&f), Verdict::Ok(Stamp { flow: 42, seq: 5 }));
        // The tag left on: the stamp is not where it belongs.
        assert_eq!(
            c.check(&build(&tagged, 42, 5)),
            Verdict::Bad(BadReason::Misplaced)
        );

        let mut c = tagged.expect(Expectation::Tagged(20)).unwrap();
        let mut f = build(&tagged, 42, 5);
        f[14..16].copy_from_slice(&20u16.to_be_bytes());
        assert_eq!(c.check(&f), Verdict::Ok(Stamp { flow: 42, seq: 5 }));
        assert_eq!(
            c.check(&build(&tagged, 42, 5)),
            Verdict::Bad(BadReason::Content)
        );

        let plain = FlowSet::new(64, 100, Encap::Untagged).unwrap();
        let mut c = plain.expect(Expectation::Tagged(1)).unwrap();
        assert_eq!(c.expected_len(), 68);
        let f = push_tag(&build(&plain, 99, 0), 1);
        assert_eq!(c.check(&f), Verdict::Ok(Stamp { flow: 99, seq: 0 }));
        // Untagged expected of untagged traffic: unchanged.
        let mut c = plain.expect(Expectation::Untagged).unwrap();
        assert!(matches!(c.check(&build(&plain, 3, 3)), Verdict::Ok(_)));
    }

    #[test]
    fn gre_decap_round_trip() {
        let set = FlowSet::new(106, 1000, Encap::Gre(tunnel())).unwrap();
        let mut c = set
            .expect(Expectation::GreDecap {
                vlan: VlanEdit::Keep,
            })
            .unwrap();
        assert_eq!(c.expected_len(), 64);
        let sent = build(&set, 777, 12);
        assert_eq!(
            c.check(&sent[GRE_OVERHEAD..]),
            Verdict::Ok(Stamp { flow: 777, seq: 12 })
        );
        // Not decapsulated: ours (magic present), but misplaced.
        assert_eq!(c.check(&sent), Verdict::Bad(BadReason::Misplaced));

        // br-tun's mod_vlan_vid after decap, as tun_id -> local VLAN does.
        let mut c = set
            .expect(Expectation::GreDecap {
                vlan: VlanEdit::Set(1),
            })
            .unwrap();
        let f = push_tag(&sent[GRE_OVERHEAD..], 1);
        assert_eq!(c.check(&f), Verdict::Ok(Stamp { flow: 777, seq: 12 }));
    }

    #[test]
    fn gre_encap_round_trip() {
        let set = FlowSet::new(64, 1000, Encap::Untagged).unwrap();
        let t = tunnel();
        let mut fixed = set
            .expect(Expectation::GreEncap {
                tunnel: t,
                keys: TunnelKeys::Fixed,
                vlan: VlanEdit::Keep,
            })
            .unwrap();
        let mut per_flow = set
            .expect(Expectation::GreEncap {
                tunnel: t,
                keys: TunnelKeys::PerFlow,
                vlan: VlanEdit::Keep,
            })
            .unwrap();
        assert_eq!(fixed.expected_len(), 64 + GRE_OVERHEAD);
        let inner = build(&set, 300, 8);
        let f = encap(&inner, &t, 0x3e7, 0x1234, 63);
        assert_eq!(fixed.check(&f), Verdict::Ok(Stamp { flow: 300, seq: 8 }));
        assert_eq!(per_flow.check(&f), Verdict::Bad(BadReason::Content));
        let f = encap(&inner, &t, 0x3e7 + 300, 0, 64);
        assert_eq!(per_flow.check(&f), Verdict::Ok(Stamp { flow: 300, seq: 8 }));
        // A broken outer checksum.
        let mut g = f.clone();
        g[24] ^= 1;
        assert_eq!(per_flow.check(&g), Verdict::Bad(BadReason::OuterChecksum));
        // Another destination.
        let mut g = f.clone();
        g[33] ^= 1;
        assert_eq!(per_flow.check(&g), Verdict::Bad(BadReason::Content));
        // Sent unencapsulated: ours, misplaced.
        assert_eq!(fixed.check(&inner), Verdict::Bad(BadReason::Misplaced));

        // A tagged access frame that the switch untags before encapsulating.
        let tagged = FlowSet::new(64, 10, Encap::Vlan(1)).unwrap();
        let mut c = tagged
            .expect(Expectation::GreEncap {
                tunnel: t,
                keys: TunnelKeys::Fixed,
                vlan: VlanEdit::Strip,
            })
            .unwrap();
        let f = encap(&pop_tag(&build(&tagged, 4, 4)), &t, 0x3e7, 9, 64);
        assert_eq!(c.check(&f), Verdict::Ok(Stamp { flow: 4, seq: 4 }));
        // expected_frame gives what the checker compares with.
        let e = c.expected_frame(4, 4).unwrap().to_vec();
        assert_eq!(c.check(&e), Verdict::Ok(Stamp { flow: 4, seq: 4 }));
        assert!(c.expected_frame(10, 0).is_none());
    }

    #[test]
    fn udp_port_through_gre_and_tags() {
        let set = FlowSet::new(128, 1, Encap::Gre(tunnel())).unwrap();
        let f = build(&set, 0, 0);
        assert_eq!(udp_dst_port(&f, 0), Some(9));
        let v = FlowSet::new(64, 1, Encap::Vlan(3)).unwrap();
        assert_eq!(udp_dst_port(&build(&v, 0, 0), 0), Some(9));
        assert_eq!(udp_dst_port(&f[..50], 0), None);
    }
}
