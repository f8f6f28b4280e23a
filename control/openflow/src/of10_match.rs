//! OpenFlow 1.0's fixed 40-byte `ofp10_match`, kept at the wire level.
//!
//! OVS decodes it without ever failing (`ofputil_match_from_ofp10_match`): every
//! field is taken as is and the `wildcards` bits say which count. Interpreting
//! them (the IP source/destination prefix counts, `dl_vlan` 0xffff = no VLAN,
//! `nw_proto` as the ARP opcode, ...) is the caller's job.

use crate::bytes::{view, Put};

/// `OFPFW10_*` wildcard bits.
pub mod ofpfw10 {
    pub const IN_PORT: u32 = 1 << 0;
    pub const DL_VLAN: u32 = 1 << 1;
    pub const DL_SRC: u32 = 1 << 2;
    pub const DL_DST: u32 = 1 << 3;
    pub const DL_TYPE: u32 = 1 << 4;
    pub const NW_PROTO: u32 = 1 << 5;
    pub const TP_SRC: u32 = 1 << 6;
    pub const TP_DST: u32 = 1 << 7;
    pub const NW_SRC_SHIFT: u32 = 8;
    pub const NW_SRC_MASK: u32 = 0x3f << NW_SRC_SHIFT;
    pub const NW_SRC_ALL: u32 = 32 << NW_SRC_SHIFT;
    pub const NW_DST_SHIFT: u32 = 14;
    pub const NW_DST_MASK: u32 = 0x3f << NW_DST_SHIFT;
    pub const NW_DST_ALL: u32 = 32 << NW_DST_SHIFT;
    pub const DL_VLAN_PCP: u32 = 1 << 20;
    pub const NW_TOS: u32 = 1 << 21;
    /// Every field wildcarded (0x3fffff).
    pub const ALL: u32 = (1 << 22) - 1;
}

/// `OFP10_VLAN_NONE`: `dl_vlan` of packets without a VLAN header.
pub const OFP10_VLAN_NONE: u16 = 0xffff;

view! {
    /// A checked view of `struct ofp10_match`.
    pub struct Of10MatchView(40) {
        wildcards: u32 @ 0,
        in_port: u16 @ 4,
        dl_src: mac @ 6,
        dl_dst: mac @ 12,
        dl_vlan: u16 @ 18,
        dl_vlan_pcp: u8 @ 20,
        dl_type: u16 @ 22,
        nw_tos: u8 @ 24,
        nw_proto: u8 @ 25,
        nw_src: u32 @ 28,
        nw_dst: u32 @ 32,
        tp_src: u16 @ 36,
        tp_dst: u16 @ 38,
    }
}

/// A parsed `ofp10_match` (ports in OpenFlow 1.0 numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Of10Match {
    pub wildcards: u32,
    pub in_port: u16,
    pub dl_src: [u8; 6],
    pub dl_dst: [u8; 6],
    pub dl_vlan: u16,
    pub dl_vlan_pcp: u8,
    pub dl_type: u16,
    pub nw_tos: u8,
    pub nw_proto: u8,
    pub nw_src: u32,
    pub nw_dst: u32,
    pub tp_src: u16,
    pub tp_dst: u16,
}

impl Of10Match {
    /// Length on the wire.
    pub const LEN: usize = 40;

    /// The match that matches everything (all wildcards set, fields zero), as
    /// ovs-ofctl sends for "match all".
    pub fn all() -> Of10Match {
        Of10Match {
            wildcards: ofpfw10::ALL,
            ..Of10Match::default()
        }
    }

    /// Reads the match from a checked view (cannot fail: OVS accepts any bits).
    pub fn parse(v: &Of10MatchView<'_>) -> Of10Match {
        Of10Match {
            wildcards: v.wildcards(),
            in_port: v.in_port(),
            dl_src: v.dl_src(),
            dl_dst: v.dl_dst(),
            dl_vlan: v.dl_vlan(),
            dl_vlan_pcp: v.dl_vlan_pcp(),
            dl_type: v.dl_type(),
            nw_tos: v.nw_tos(),
            nw_proto: v.nw_proto(),
            nw_src: v.nw_src(),
            nw_dst: v.nw_dst(),
            tp_src: v.tp_src(),
            tp_dst: v.tp_dst(),
        }
    }

    /// Appends the 40 bytes (padding zeroed).
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.put_u32(self.wildcards);
        buf.put_u16(self.in_port);
        buf.extend_from_slice(&self.dl_src);
        buf.extend_from_slice(&self.dl_dst);
        buf.put_u16(self.dl_vlan);
        buf.put_u8(self.dl_vlan_pcp);
        buf.put_u8(0);
        buf.put_u16(self.dl_type);
        buf.put_u8(self.nw_tos);
        buf.put_u8(self.nw_proto);
        buf.put_zeros(2);
        buf.put_u32(self.nw_src);
        buf.put_u32(self.nw_dst);
        buf.put_u16(self.tp_src);
        buf.put_u16(self.tp_dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::hex;

    #[test]
    fn ovs_ofctl_matches_round_trip() {
        // add-flow br0 'in_port=1,actions=drop': wildcards 0x3820fe, in_port 1.
        let b =
            hex("003820fe000100000000000000000000000000000000000000000000000000000000000000000000");
        let m = Of10Match::parse(&Of10MatchView::new_checked(&b).unwrap());
        assert_eq!(m.wildcards, 0x3820fe);
        assert_eq!(m.in_port, 1);
        let mut out = Vec::new();
        m.emit(&mut out);
        assert_eq!(out, b[..40]);
        // add-flow 'cookie=0x99,priority=7,ip,nw_src=10.0.0.0/8,...'.
        let b =
            hex("003818ef0000000000000000000000000000000000000800000000000a0000000000000000000000");
        let m = Of10Match::parse(&Of10MatchView::new_checked(&b).unwrap());
        assert_eq!(m.dl_type, 0x0800);
        assert_eq!(m.nw_src, 0x0a00_0000);
        assert_eq!(
            (m.wildcards & ofpfw10::NW_SRC_MASK) >> ofpfw10::NW_SRC_SHIFT,
            24
        );
        let mut out = Vec::new();
        m.emit(&mut out);
        assert_eq!(out, b[..40]);
        assert!(Of10MatchView::new_checked(&b[..39]).is_none());
        assert_eq!(Of10Match::all().wildcards, 0x3fffff);
    }
}
