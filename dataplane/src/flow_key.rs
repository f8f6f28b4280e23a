//! The flow key: every field a frame can be looked up or matched by, taken in one parse.
//!
//! The same struct serves as a value and as a bit mask over values (as OVS's `struct flow`
//! and `struct flow_wildcards`): a match is a (value, mask) pair, and the fields a
//! translation consulted are a mask.
//!
//! [`FlowKey::extract`] (in `extract.rs`) takes the key of a frame.

use crate::mac::MacAddr;

/// A datapath port number: one per netdev, internal or tunnel port of the daemon, across
/// all bridges. Patch ports have none: they only exist inside a translation.
pub type PortNo = u32;

/// The VLAN "present" bit inside [`FlowKey::vlan_tci`], as OVS uses the CFI bit: a frame
/// with a tag has `vlan_tci = VLAN_PRESENT | pcp << 13 | vid`, one without has 0.
pub const VLAN_PRESENT: u16 = 0x1000;
pub const VLAN_VID_MASK: u16 = 0x0fff;
pub const VLAN_PCP_SHIFT: u16 = 13;
pub const VLAN_PCP_MASK: u16 = 0xe000;

/// Lookup fields of one frame. Fields that do not apply to the frame are zero (no tag:
/// `vlan_tci == 0`; not IPv4 or ARP: the network fields are zero), so that equal frames
/// give equal keys.
///
/// ARP shares the network fields as in OpenFlow: `nw_src`/`nw_dst` hold the sender and
/// target protocol addresses, `nw_proto` the low byte of the opcode. As in OVS's
/// `struct flow`, ICMP type and code live in `tp_src`/`tp_dst`, and an IPv6 Neighbour
/// Discovery message's link-layer address options in `arp_sha` (source) / `arp_tha`
/// (target).
///
/// `metadata` and `regs` are the OpenFlow pipeline's own state, not the packet's: zero in
/// every key the datapath extracts, changed only by actions during a translation, so
/// they are never part of a cache key ([`FlowKey::pack`] leaves them out).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct FlowKey {
    /// Tunnel id (GRE key, VXLAN VNI) the frame came in with; 0 when not from a tunnel.
    pub tun_id: u64,
    pub in_port: PortNo,
    /// IPv4 source, or ARP sender protocol address, host byte order.
    pub nw_src: u32,
    /// IPv4 destination, or ARP target protocol address, host byte order.
    pub nw_dst: u32,
    /// `VLAN_PRESENT | pcp << 13 | vid` for a tagged frame, 0 for an untagged one.
    ///
    /// The outer tag's TPID (0x8100 or 0x88a8) is deliberately not in the key, although
    /// OVS keeps it in its flow: nothing the pipeline decides depends on it, and no
    /// cached action writes a TPID it would have to know. Rewrites change the TCI bytes
    /// in place (`SetVlan`), so the frame keeps its own TPID; a tag popped and given back
    /// is pushed with `Tpid::Received`, the TPID the executor saw when it popped it. One
    /// cache entry then serves both TPIDs, and the key, hashed and compared for every
    /// packet, does not grow for a field that never changes the outcome.
    pub vlan_tci: u16,
    /// The Ethernet type after the (first) VLAN tag.
    pub dl_type: u16,
    pub dl_src: MacAddr,
    pub dl_dst: MacAddr,
    pub arp_sha: MacAddr,
    pub arp_tha: MacAddr,
    /// IPv4 protocol, IPv6 next header (after extension headers), or the low byte of
    /// the ARP opcode.
    pub nw_proto: u8,
    /// IPv4 DSCP and ECN byte, or the IPv6 traffic class.
    pub nw_tos: u8,
    /// IPv4 TTL or IPv6 hop limit.
    pub nw_ttl: u8,
    /// TCP/UDP source port, or the ICMP/ICMPv6 type.
    pub tp_src: u16,
    /// TCP/UDP destination port, or the ICMP/ICMPv6 code.
    pub tp_dst: u16,
    /// IPv6 source and destination addresses, as numbers (the first byte on the wire is
    /// the most significant).
    pub ipv6_src: u128,
    pub ipv6_dst: u128,
    /// The target address of an ICMPv6 Neighbour Solicitation or Advertisement.
    pub nd_target: u128,
    /// OpenFlow `metadata`: pipeline state (see above).
    pub metadata: u64,
    /// OpenFlow registers `reg0`..`reg15`: pipeline state (see above).
    pub regs: [u32; 16],
}

macro_rules! for_each_field {
    ($m:ident) => {
        $m!(tun_id, in_port, nw_src, nw_dst, vlan_tci, dl_type, nw_proto, nw_tos, nw_ttl,
            tp_src, tp_dst, ipv6_src, ipv6_dst, nd_target, metadata;
            dl_src, dl_dst, arp_sha, arp_tha; regs)
    };
}

fn mac_and(a: MacAddr, b: MacAddr) -> MacAddr {
    MacAddr(std::array::from_fn(|i| a.0[i] & b.0[i]))
}

fn mac_or(a: MacAddr, b: MacAddr) -> MacAddr {
    MacAddr(std::array::from_fn(|i| a.0[i] | b.0[i]))
}

impl FlowKey {
    /// The all-ones mask: every bit of every field.
    pub const EXACT: FlowKey = FlowKey {
        tun_id: u64::MAX,
        in_port: u32::MAX,
        nw_src: u32::MAX,
        nw_dst: u32::MAX,
        vlan_tci: u16::MAX,
        dl_type: u16::MAX,
        dl_src: MacAddr::BROADCAST,
        dl_dst: MacAddr::BROADCAST,
        arp_sha: MacAddr::BROADCAST,
        arp_tha: MacAddr::BROADCAST,
        nw_proto: u8::MAX,
        nw_tos: u8::MAX,
        nw_ttl: u8::MAX,
        tp_src: u16::MAX,
        tp_dst: u16::MAX,
        ipv6_src: u128::MAX,
        ipv6_dst: u128::MAX,
        nd_target: u128::MAX,
        metadata: u64::MAX,
        regs: [u32::MAX; 16],
    };

    /// The bits of `self` selected by `mask`.
    pub fn masked(&self, mask: &FlowKey) -> FlowKey {
        macro_rules! and {
            ($($i:ident),*; $($m:ident),*; $($a:ident),*) => {
                FlowKey {
                    $($i: self.$i & mask.$i,)*
                    $($m: mac_and(self.$m, mask.$m),)*
                    $($a: std::array::from_fn(|n| self.$a[n] & mask.$a[n]),)*
                }
            };
        }
        for_each_field!(and)
    }

    /// Adds the bits of `other` to this mask.
    pub fn union_with(&mut self, other: &FlowKey) {
        macro_rules! or {
            ($($i:ident),*; $($m:ident),*; $($a:ident),*) => {
                $(self.$i |= other.$i;)*
                $(self.$m = mac_or(self.$m, other.$m);)*
                $(for n in 0..self.$a.len() {
                    self.$a[n] |= other.$a[n];
                })*
            };
        }
        for_each_field!(or);
    }

    /// Every bit not set in this mask.
    pub fn complement(&self) -> FlowKey {
        let inv = |m: MacAddr| MacAddr(m.0.map(|b| !b));
        macro_rules! not {
            ($($i:ident),*; $($m:ident),*; $($a:ident),*) => {
                FlowKey {
                    $($i: !self.$i,)*
                    $($m: inv(self.$m),)*
                    $($a: self.$a.map(|w| !w),)*
                }
            };
        }
        for_each_field!(not)
    }

    /// True when every bit set in `self` (as a mask) is also set in `other`.
    pub fn is_subset_of(&self, other: &FlowKey) -> bool {
        self.masked(other) == *self
    }

    pub fn is_zero(&self) -> bool {
        *self == FlowKey::default()
    }

    pub fn vlan_vid(&self) -> Option<u16> {
        (self.vlan_tci & VLAN_PRESENT != 0).then_some(self.vlan_tci & VLAN_VID_MASK)
    }

    pub fn vlan_pcp(&self) -> u8 {
        (self.vlan_tci >> VLAN_PCP_SHIFT) as u8
    }
}

/// A [`FlowKey`] packed into seven words, for the fast path: masking, hashing and
/// comparing a key are then seven word operations each, where the struct needs one per
/// field. Built once per packet.
#[derive(Clone, Copy, Eq, Default, Debug)]
pub struct PackedKey(pub [u64; 7]);

impl PartialEq for PackedKey {
    /// Branch-free and inline (the derived comparison of an array calls `memcmp`).
    #[inline(always)]
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.0, &other.0);
        ((a[0] ^ b[0])
            | (a[1] ^ b[1])
            | (a[2] ^ b[2])
            | (a[3] ^ b[3])
            | (a[4] ^ b[4])
            | (a[5] ^ b[5])
            | (a[6] ^ b[6]))
            == 0
    }
}

/// A MAC in the low 48 bits, read as a 4-byte and a 2-byte load at offsets 0 and 4:
/// the shape in which a MAC is copied (and so stored) field by field, so that the
/// loads are forwarded from those stores (a 4-byte load at offset 2 spans two of them
/// and stalls the pipeline until they retire).
#[inline(always)]
fn mac48(m: &MacAddr) -> u64 {
    let b = &m.0;
    let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let hi = u16::from_le_bytes([b[4], b[5]]);
    lo as u64 | (hi as u64) << 32
}

/// Multiplies and folds the 128-bit product: the mixing step of foldhash and wyhash.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

impl FlowKey {
    /// Whether every packet field set in this key (or mask) is one [`FlowKey::pack`]
    /// keeps (else the cache needs [`FlowKey::pack_wide`]). `metadata` and `regs` do not
    /// count: they are zero in every packet's key.
    pub fn fits_packed(&self) -> bool {
        self.nw_ttl == 0
            && self.tp_src == 0
            && self.tp_dst == 0
            && self.ipv6_src == 0
            && self.ipv6_dst == 0
            && self.nd_target == 0
    }

    #[inline]
    pub fn pack(&self) -> PackedKey {
        PackedKey([
            self.tun_id,
            self.in_port as u64 | (self.nw_src as u64) << 32,
            self.nw_dst as u64 | (self.vlan_tci as u64) << 32 | (self.dl_type as u64) << 48,
            mac48(&self.dl_src) | (self.nw_proto as u64) << 48 | (self.nw_tos as u64) << 56,
            mac48(&self.dl_dst),
            mac48(&self.arp_sha),
            mac48(&self.arp_tha),
        ])
    }
}

/// The packet fields of a [`FlowKey`] that [`PackedKey`] leaves out (TTL, transport
/// ports, IPv6 and ND addresses), in seven more words: with the packed key, the key of
/// the cache's wide subtables, for masks that consult them. Built only when such a
/// subtable exists.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct WideKey {
    pub packed: PackedKey,
    pub ext: [u64; 7],
}

impl FlowKey {
    /// The key (or mask) without `metadata` and `regs`: the pipeline's state, zero in
    /// every packet's key, so never a reason to tell two packets apart.
    pub fn packet_fields(&self) -> FlowKey {
        FlowKey {
            metadata: 0,
            regs: [0; 16],
            ..*self
        }
    }

    /// The words [`FlowKey::pack`] leaves out.
    #[inline]
    pub fn pack_ext(&self) -> [u64; 7] {
        [
            self.nw_ttl as u64 | (self.tp_src as u64) << 8 | (self.tp_dst as u64) << 24,
            (self.ipv6_src >> 64) as u64,
            self.ipv6_src as u64,
            (self.ipv6_dst >> 64) as u64,
            self.ipv6_dst as u64,
            (self.nd_target >> 64) as u64,
            self.nd_target as u64,
        ]
    }

    /// Every packet field: [`FlowKey::pack`] and [`FlowKey::pack_ext`].
    #[inline]
    pub fn pack_wide(&self) -> WideKey {
        WideKey {
            packed: self.pack(),
            ext: self.pack_ext(),
        }
    }
}

impl WideKey {
    #[inline]
    pub fn masked(&self, mask: &WideKey) -> WideKey {
        WideKey {
            packed: self.packed.masked(&mask.packed),
            ext: std::array::from_fn(|i| self.ext[i] & mask.ext[i]),
        }
    }

    /// The packed key's hash, with the seven further words folded in the same way.
    #[inline]
    pub fn hash(&self, seed: u64) -> u64 {
        let e = &self.ext;
        let a = fold_mul(e[0] ^ seed, e[1] ^ 0x1319_8a2e_0370_7344);
        let b = fold_mul(e[2] ^ 0xa409_3822_299f_31d0, e[3] ^ 0x082e_fa98_ec4e_6c89);
        let c = fold_mul(e[4] ^ 0x4528_21e6_38d0_1377, e[5] ^ 0xbe54_66cf_34e9_0c6c);
        let d = fold_mul(e[6] ^ 0xc0ac_29b7_c97c_50dd, self.packed.hash(seed));
        fold_mul(a ^ c, b ^ d ^ 0x9216_d5d9_8979_fb1b)
    }
}

impl PackedKey {
    #[inline(always)]
    pub fn masked(&self, mask: &PackedKey) -> PackedKey {
        let (a, m) = (&self.0, &mask.0);
        PackedKey([
            a[0] & m[0],
            a[1] & m[1],
            a[2] & m[2],
            a[3] & m[3],
            a[4] & m[4],
            a[5] & m[5],
            a[6] & m[6],
        ])
    }

    /// A keyed hash: four independent multiplies, then one to combine. `seed` is
    /// random per table, so that crafted packets cannot aim at one bucket.
    #[inline(always)]
    pub fn hash(&self, seed: u64) -> u64 {
        let w = &self.0;
        let a = fold_mul(w[0] ^ seed, w[1] ^ 0x1319_8a2e_0370_7344);
        let b = fold_mul(w[2] ^ 0xa409_3822_299f_31d0, w[3] ^ 0x082e_fa98_ec4e_6c89);
        let c = fold_mul(w[4] ^ 0x4528_21e6_38d0_1377, w[5] ^ 0xbe54_66cf_34e9_0c6c);
        let d = fold_mul(w[6] ^ 0xc0ac_29b7_c97c_50dd, seed ^ 0x3f84_d5b5_b547_0917);
        fold_mul(a ^ c, b ^ d ^ 0x9216_d5d9_8979_fb1b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_every_bit_and_masks_like_the_struct() {
        let k = FlowKey {
            tun_id: 0x1122_3344_5566_7788,
            in_port: 0xdead_beef,
            nw_src: 0x0a00_0001,
            nw_dst: 0x0a00_0002,
            vlan_tci: 0x1fff,
            dl_type: 0x0806,
            dl_src: MacAddr([1, 2, 3, 4, 5, 6]),
            dl_dst: MacAddr([7, 8, 9, 10, 11, 12]),
            arp_sha: MacAddr([13, 14, 15, 16, 17, 18]),
            arp_tha: MacAddr([19, 20, 21, 22, 23, 24]),
            nw_proto: 0xab,
            nw_tos: 0xcd,
            ..FlowKey::default()
        };
        // Each field lands in its own bits: changing any field changes the packing.
        let base = k.pack();
        for f in 0..12 {
            let mut k2 = k;
            match f {
                0 => k2.tun_id ^= 1 << 63,
                1 => k2.in_port ^= 1 << 31,
                2 => k2.nw_src ^= 1,
                3 => k2.nw_dst ^= 1 << 31,
                4 => k2.vlan_tci ^= 1 << 15,
                5 => k2.dl_type ^= 1,
                6 => k2.dl_src.0[5] ^= 0x80,
                7 => k2.dl_dst.0[0] ^= 1,
                8 => k2.arp_sha.0[5] ^= 0x80,
                9 => k2.arp_tha.0[0] ^= 1,
                10 => k2.nw_proto ^= 0x80,
                _ => k2.nw_tos ^= 0x80,
            }
            assert_ne!(k2.pack(), base, "field {f}");
            assert_ne!(k2.pack().hash(7), base.hash(7), "field {f}");
        }
        let mask = FlowKey {
            in_port: u32::MAX,
            dl_dst: MacAddr::BROADCAST,
            vlan_tci: 0x0fff,
            ..Default::default()
        };
        assert_eq!(k.pack().masked(&mask.pack()), k.masked(&mask).pack());
        assert_eq!(
            FlowKey::EXACT.pack().0,
            [
                u64::MAX,
                u64::MAX,
                u64::MAX,
                u64::MAX,
                0xffff_ffff_ffff,
                0xffff_ffff_ffff,
                0xffff_ffff_ffff
            ]
        );
    }

    #[test]
    fn mask_and_union() {
        let k = FlowKey {
            in_port: 7,
            vlan_tci: VLAN_PRESENT | 5,
            dl_dst: "fa:16:3e:dc:c5:23".parse().unwrap(),
            ..Default::default()
        };
        let mut m = FlowKey {
            in_port: u32::MAX,
            ..Default::default()
        };
        assert_eq!(
            k.masked(&m),
            FlowKey {
                in_port: 7,
                ..Default::default()
            }
        );
        m.union_with(&FlowKey {
            dl_dst: "01:00:00:00:00:00".parse().unwrap(),
            ..Default::default()
        });
        assert_eq!(k.masked(&m).dl_dst, MacAddr::ZERO);
        assert!(m.is_subset_of(&FlowKey::EXACT));
        assert_eq!(FlowKey::default().complement(), FlowKey::EXACT);
        assert_eq!(FlowKey::EXACT.complement(), FlowKey::default());
        let c = m.complement();
        assert_eq!(m.masked(&c), FlowKey::default());
        let mut all = m;
        all.union_with(&c);
        assert_eq!(all, FlowKey::EXACT);
        assert!(!FlowKey {
            regs: [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..FlowKey::default()
        }
        .is_zero());
        assert!(FlowKey::EXACT
            .masked(&FlowKey {
                metadata: 0xff,
                ..FlowKey::default()
            })
            .fits_packed());
        assert!(!FlowKey {
            tp_dst: 1,
            ..FlowKey::default()
        }
        .fits_packed());
        assert!(!FlowKey::EXACT.is_subset_of(&m));
        assert_eq!(k.masked(&FlowKey::EXACT), k);
        assert_eq!(k.vlan_vid(), Some(5));
    }

    #[test]
    fn wide_packing_keeps_every_packet_bit() {
        let k = FlowKey {
            nw_ttl: 0x12,
            tp_src: 0x3456,
            tp_dst: 0x789a,
            ipv6_src: 1 << 127 | 1,
            ipv6_dst: 2 << 100 | 3,
            nd_target: 5 << 64 | 7,
            ..FlowKey::default()
        };
        let base = k.pack_wide();
        assert_eq!(base.packed, k.pack());
        for f in 0..9 {
            let mut k2 = k;
            match f {
                0 => k2.nw_ttl ^= 0x80,
                1 => k2.tp_src ^= 1,
                2 => k2.tp_dst ^= 0x8000,
                3 => k2.ipv6_src ^= 1 << 64,
                4 => k2.ipv6_dst ^= 1 << 63,
                5 => k2.nd_target ^= 1,
                6 => k2.nd_target ^= 1 << 127,
                7 => k2.in_port ^= 1,
                _ => k2.ipv6_src ^= 1,
            }
            assert_ne!(k2.pack_wide(), base, "field {f}");
            assert_ne!(k2.pack_wide().hash(3), base.hash(3), "field {f}");
        }
        // Pipeline state is in neither packing.
        let mut k2 = k;
        k2.metadata = 1;
        k2.regs[15] = 1;
        assert_eq!(k2.pack_wide(), base);
        assert_eq!(k2.packet_fields(), k);
        let mask = FlowKey {
            tp_dst: 0xff00,
            ipv6_dst: u128::MAX << 64,
            ..FlowKey::default()
        };
        assert_eq!(
            k.pack_wide().masked(&mask.pack_wide()),
            k.masked(&mask).pack_wide()
        );
    }
}
