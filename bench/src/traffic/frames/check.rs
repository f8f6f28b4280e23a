//! What must come out of the switch for the offered traffic ([`Expectation`]), and the
//! check of every frame against it ([`Checker`]).

use super::*;

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
    pub(super) fn name(&self) -> &'static str {
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
    pub(super) fn new(set: &FlowSet, exp: Expectation) -> Result<Checker, FrameError> {
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
pub(super) fn udp_dst_port(frame: &[u8], depth: u8) -> Option<u16> {
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
