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

pub const ETH_TYPE_IPV4: u16 = 0x0800;
pub const ETH_TYPE_ARP: u16 = 0x0806;
pub const ETH_TYPE_VLAN: u16 = 0x8100;
pub const ETH_TYPE_QINQ: u16 = 0x88a8;
pub const ETH_TYPE_TEB: u16 = 0x6558;

/// Lookup fields of one frame. Fields that do not apply to the frame are zero (no tag:
/// `vlan_tci == 0`; not IPv4 or ARP: the network fields are zero), so that equal frames
/// give equal keys.
///
/// ARP shares the network fields as in OpenFlow: `nw_src`/`nw_dst` hold the sender and
/// target protocol addresses, `nw_proto` the low byte of the opcode.
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
    pub vlan_tci: u16,
    /// The Ethernet type after the (first) VLAN tag.
    pub dl_type: u16,
    pub dl_src: MacAddr,
    pub dl_dst: MacAddr,
    pub arp_sha: MacAddr,
    pub arp_tha: MacAddr,
    /// IPv4 protocol, or the low byte of the ARP opcode.
    pub nw_proto: u8,
    /// IPv4 DSCP and ECN byte.
    pub nw_tos: u8,
}

macro_rules! for_each_field {
    ($m:ident) => {
        $m!(tun_id, in_port, nw_src, nw_dst, vlan_tci, dl_type, nw_proto, nw_tos; dl_src, dl_dst, arp_sha, arp_tha)
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
    };

    /// The bits of `self` selected by `mask`.
    pub fn masked(&self, mask: &FlowKey) -> FlowKey {
        macro_rules! and {
            ($($i:ident),*; $($m:ident),*) => {
                FlowKey { $($i: self.$i & mask.$i,)* $($m: mac_and(self.$m, mask.$m),)* }
            };
        }
        for_each_field!(and)
    }

    /// Adds the bits of `other` to this mask.
    pub fn union_with(&mut self, other: &FlowKey) {
        macro_rules! or {
            ($($i:ident),*; $($m:ident),*) => {
                $(self.$i |= other.$i;)*
                $(self.$m = mac_or(self.$m, other.$m);)*
            };
        }
        for_each_field!(or);
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!FlowKey::EXACT.is_subset_of(&m));
        assert_eq!(k.masked(&FlowKey::EXACT), k);
        assert_eq!(k.vlan_vid(), Some(5));
    }
}
