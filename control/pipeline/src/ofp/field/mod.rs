//! OpenFlow fields, as OVS's meta-flow defines them: their names (ovs-ofctl, NXM and OXM
//! spellings), NXM/OXM headers, widths, whether they may be masked and written, what a
//! flow must be for them to mean anything ([`Prerequisite`]), and where they live in a
//! [`FlowKey`] (several fields are views of one flow member, as in OVS: `vlan_vid`,
//! `dl_vlan` and `vlan_pcp` of `vlan_tci`; `tcp_src`, `udp_src` and `icmp_type` of
//! `tp_src`; `nd_sll` of `arp_sha`).
//!
//! Values are `u128`, right-aligned (IPv6 addresses need the width).

mod prereq;
mod table;

pub use prereq::Prerequisite;
pub use table::*;

use xvs_dataplane::flow_key::{VLAN_PCP_MASK, VLAN_PRESENT, VLAN_VID_MASK};
use xvs_dataplane::{FlowKey, MacAddr};

use super::{port_from_ofp11, port_to_ofp11};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Field {
    /// `in_port`: the OpenFlow 1.0 (16-bit) input port.
    InPort,
    /// `in_port_oxm`: the same port as OpenFlow 1.1+ numbers it (32 bits).
    InPortOxm,
    TunId,
    Metadata,
    /// `reg0` .. `reg15`.
    Reg(u8),
    /// `eth_src` (`dl_src`).
    DlSrc,
    /// `eth_dst` (`dl_dst`).
    DlDst,
    /// `eth_type` (`dl_type`).
    DlType,
    VlanTci,
    /// OpenFlow 1.0's VLAN id: 12 bits of `vlan_tci`; 0xffff in a match means no tag.
    DlVlan,
    /// OpenFlow 1.2+'s VLAN id: `OFPVID_PRESENT` (0x1000) | vid, over the low 13 bits of
    /// `vlan_tci`; 0 means no tag.
    VlanVid,
    DlVlanPcp,
    VlanPcp,
    /// `ip_src` (`nw_src`).
    NwSrc,
    /// `ip_dst` (`nw_dst`).
    NwDst,
    Ipv6Src,
    Ipv6Dst,
    /// `nw_proto` (`ip_proto`).
    NwProto,
    /// `nw_tos`: the DSCP bits in place (bits 2-7) of the TOS / traffic class byte.
    NwTos,
    /// `ip_dscp`: the same DSCP, shifted right 2 bits.
    IpDscp,
    /// `nw_ecn` (`ip_ecn`).
    NwEcn,
    NwTtl,
    ArpOp,
    ArpSpa,
    ArpTpa,
    ArpSha,
    ArpTha,
    /// `tcp_src` (`tp_src`).
    TcpSrc,
    /// `tcp_dst` (`tp_dst`).
    TcpDst,
    UdpSrc,
    UdpDst,
    /// `icmp_type`.
    Icmpv4Type,
    /// `icmp_code`.
    Icmpv4Code,
    Icmpv6Type,
    Icmpv6Code,
    NdTarget,
    NdSll,
    NdTll,
}

pub const ALL_FIELDS: [Field; 53] = [
    Field::InPort,
    Field::InPortOxm,
    Field::TunId,
    Field::Metadata,
    Field::Reg(0),
    Field::Reg(1),
    Field::Reg(2),
    Field::Reg(3),
    Field::Reg(4),
    Field::Reg(5),
    Field::Reg(6),
    Field::Reg(7),
    Field::Reg(8),
    Field::Reg(9),
    Field::Reg(10),
    Field::Reg(11),
    Field::Reg(12),
    Field::Reg(13),
    Field::Reg(14),
    Field::Reg(15),
    Field::DlSrc,
    Field::DlDst,
    Field::DlType,
    Field::VlanTci,
    Field::DlVlan,
    Field::VlanVid,
    Field::DlVlanPcp,
    Field::VlanPcp,
    Field::NwSrc,
    Field::NwDst,
    Field::Ipv6Src,
    Field::Ipv6Dst,
    Field::NwProto,
    Field::NwTos,
    Field::IpDscp,
    Field::NwEcn,
    Field::NwTtl,
    Field::ArpOp,
    Field::ArpSpa,
    Field::ArpTpa,
    Field::ArpSha,
    Field::ArpTha,
    Field::TcpSrc,
    Field::TcpDst,
    Field::UdpSrc,
    Field::UdpDst,
    Field::Icmpv4Type,
    Field::Icmpv4Code,
    Field::Icmpv6Type,
    Field::Icmpv6Code,
    Field::NdTarget,
    Field::NdSll,
    Field::NdTll,
];

/// A mask of the low `bits` bits.
pub const fn ones(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// The member of a [`FlowKey`] a field is stored in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Word {
    TunId,
    InPort,
    NwSrc,
    NwDst,
    VlanTci,
    DlType,
    DlSrc,
    DlDst,
    ArpSha,
    ArpTha,
    NwProto,
    NwTos,
    NwTtl,
    TpSrc,
    TpDst,
    Ipv6Src,
    Ipv6Dst,
    NdTarget,
    Metadata,
    Reg(u8),
}

impl Word {
    fn get(self, k: &FlowKey) -> u128 {
        match self {
            Word::TunId => k.tun_id.into(),
            Word::InPort => k.in_port.into(),
            Word::NwSrc => k.nw_src.into(),
            Word::NwDst => k.nw_dst.into(),
            Word::VlanTci => k.vlan_tci.into(),
            Word::DlType => k.dl_type.into(),
            Word::DlSrc => k.dl_src.to_u64().into(),
            Word::DlDst => k.dl_dst.to_u64().into(),
            Word::ArpSha => k.arp_sha.to_u64().into(),
            Word::ArpTha => k.arp_tha.to_u64().into(),
            Word::NwProto => k.nw_proto.into(),
            Word::NwTos => k.nw_tos.into(),
            Word::NwTtl => k.nw_ttl.into(),
            Word::TpSrc => k.tp_src.into(),
            Word::TpDst => k.tp_dst.into(),
            Word::Ipv6Src => k.ipv6_src,
            Word::Ipv6Dst => k.ipv6_dst,
            Word::NdTarget => k.nd_target,
            Word::Metadata => k.metadata.into(),
            Word::Reg(n) => k.regs[(n & 15) as usize].into(),
        }
    }

    /// Stores `v`, cut to the member's width.
    fn set(self, k: &mut FlowKey, v: u128) {
        let mac = |v: u128| MacAddr::from_u64(v as u64 & 0xffff_ffff_ffff);
        match self {
            Word::TunId => k.tun_id = v as u64,
            Word::InPort => k.in_port = v as u32,
            Word::NwSrc => k.nw_src = v as u32,
            Word::NwDst => k.nw_dst = v as u32,
            Word::VlanTci => k.vlan_tci = v as u16,
            Word::DlType => k.dl_type = v as u16,
            Word::DlSrc => k.dl_src = mac(v),
            Word::DlDst => k.dl_dst = mac(v),
            Word::ArpSha => k.arp_sha = mac(v),
            Word::ArpTha => k.arp_tha = mac(v),
            Word::NwProto => k.nw_proto = v as u8,
            Word::NwTos => k.nw_tos = v as u8,
            Word::NwTtl => k.nw_ttl = v as u8,
            Word::TpSrc => k.tp_src = v as u16,
            Word::TpDst => k.tp_dst = v as u16,
            Word::Ipv6Src => k.ipv6_src = v,
            Word::Ipv6Dst => k.ipv6_dst = v,
            Word::NdTarget => k.nd_target = v,
            Word::Metadata => k.metadata = v as u64,
            Word::Reg(n) => k.regs[(n & 15) as usize] = v as u32,
        }
    }
}

impl Field {
    /// The name ovs-ofctl prints for it (`set_field:V->NAME`, `learn(NAME=V)`): OVS's
    /// `mf->name`, e.g. `eth_src`, `tun_id`, `reg6`.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The name slices print with (`NXM_OF_ETH_DST[]`, `OXM_OF_METADATA[0..15]`): the
    /// NXM name if there is one, else the OXM name, else the plain name, as OVS's
    /// `mf_format_subfield()`.
    pub fn nxm_name(self) -> &'static str {
        let i = self.info();
        i.nxm.or(i.oxm).map_or(i.name, |(n, _)| n)
    }

    /// Looks a field up by any of its names: its name, its aliases, its NXM and OXM
    /// names (also with the `_W` suffix of their masked form).
    pub fn from_name(name: &str) -> Option<Field> {
        let base = name.strip_suffix("_W").unwrap_or(name);
        ALL_FIELDS.iter().copied().find(|f| {
            let i = f.info();
            i.name == name
                || i.aliases.contains(&name)
                || i.nxm.is_some_and(|(n, _)| n == base)
                || i.oxm.is_some_and(|(n, _)| n == base)
        })
    }

    /// Looks a field up by NXM or OXM header, with or without the has-mask bit: the
    /// field and whether the header is the masked form. The length must be the field's
    /// (twice it when masked).
    pub fn from_header(header: u32) -> Option<(Field, bool)> {
        let hasmask = header & 0x100 != 0;
        let len = header & 0xff;
        let len = if hasmask {
            if !len.is_multiple_of(2) {
                return None;
            }
            len / 2
        } else {
            len
        };
        let plain = (header & !0x1ff) | len;
        ALL_FIELDS
            .iter()
            .copied()
            .find(|f| {
                let i = f.info();
                i.nxm.is_some_and(|(_, h)| h == plain) || i.oxm.is_some_and(|(_, h)| h == plain)
            })
            .map(|f| (f, hasmask))
    }

    /// The field's NXM header (class 0x0000/0x0001), if it has one.
    pub fn nxm_header(self) -> Option<u32> {
        self.info().nxm.map(|(_, h)| h)
    }

    /// The field's OXM header (class 0x8000), if it has one.
    pub fn oxm_header(self) -> Option<u32> {
        self.info().oxm.map(|(_, h)| h)
    }

    /// Width in bits, as slices count them (OVS's `n_bits`): `in_port` is 16 bits,
    /// `vlan_vid` 12 (its value also carries the present bit), `ipv6_src` 128.
    pub fn width(self) -> u32 {
        self.info().n_bits
    }

    pub fn prerequisite(self) -> Prerequisite {
        self.info().prereq
    }

    /// Whether set_field, load and move may write it (OVS's `mf->writable`): not
    /// `eth_type` nor `nw_proto`, which are what the packet is.
    pub fn is_writable(self) -> bool {
        self.info().writable
    }

    pub fn is_maskable(self) -> bool {
        self.info().maskable
    }

    /// Whether `v` is a value the field can have (OVS's `mf_is_value_valid()`):
    /// `vlan_vid` has no PCP bits, `nw_tos` no ECN bits, `arp_op` is below 256, ...
    pub fn is_valid_value(self, v: u128) -> bool {
        v & !self.info().valid == 0
    }

    /// Where the field lives: the key member, the shift of its lowest bit there, and
    /// how many bits of the member a match on the whole field covers.
    fn loc(self) -> (Word, u32, u32) {
        match self {
            Field::InPort | Field::InPortOxm => (Word::InPort, 0, 32),
            Field::TunId => (Word::TunId, 0, 64),
            Field::Metadata => (Word::Metadata, 0, 64),
            Field::Reg(n) => (Word::Reg(n), 0, 32),
            Field::DlSrc => (Word::DlSrc, 0, 48),
            Field::DlDst => (Word::DlDst, 0, 48),
            Field::DlType => (Word::DlType, 0, 16),
            Field::VlanTci => (Word::VlanTci, 0, 16),
            Field::DlVlan => (Word::VlanTci, 0, 12),
            Field::VlanVid => (Word::VlanTci, 0, 13),
            Field::DlVlanPcp | Field::VlanPcp => (Word::VlanTci, 13, 3),
            Field::NwSrc | Field::ArpSpa => (Word::NwSrc, 0, 32),
            Field::NwDst | Field::ArpTpa => (Word::NwDst, 0, 32),
            Field::Ipv6Src => (Word::Ipv6Src, 0, 128),
            Field::Ipv6Dst => (Word::Ipv6Dst, 0, 128),
            Field::NdTarget => (Word::NdTarget, 0, 128),
            Field::NwProto | Field::ArpOp => (Word::NwProto, 0, 8),
            Field::NwTos => (Word::NwTos, 0, 8),
            Field::IpDscp => (Word::NwTos, 2, 6),
            Field::NwEcn => (Word::NwTos, 0, 2),
            Field::NwTtl => (Word::NwTtl, 0, 8),
            Field::ArpSha | Field::NdSll => (Word::ArpSha, 0, 48),
            Field::ArpTha | Field::NdTll => (Word::ArpTha, 0, 48),
            Field::TcpSrc | Field::UdpSrc | Field::Icmpv4Type | Field::Icmpv6Type => {
                (Word::TpSrc, 0, 16)
            }
            Field::TcpDst | Field::UdpDst | Field::Icmpv4Code | Field::Icmpv6Code => {
                (Word::TpDst, 0, 16)
            }
        }
    }

    /// The field's bits of `key` as they are stored, right-aligned (for masks).
    pub fn get_raw(self, key: &FlowKey) -> u128 {
        let (w, shift, bits) = self.loc();
        (w.get(key) >> shift) & ones(bits)
    }

    /// The field's value in `key`, right-aligned (OVS's `mf_get_value()`).
    pub fn get(self, key: &FlowKey) -> u128 {
        match self {
            Field::InPortOxm => port_to_ofp11(key.in_port).into(),
            _ => self.get_raw(key) & self.info().valid,
        }
    }

    /// Stores `v` into `key` as an action writes a packet's field (OVS's
    /// `mf_set_flow_value()`): `dl_vlan` and the PCPs make a tag present, `dl_vlan`
    /// 0xffff removes it, `nw_tos` keeps the ECN bits; bits beyond the field go.
    pub fn set(self, key: &mut FlowKey, v: u128) {
        let tci = key.vlan_tci;
        match self {
            Field::InPortOxm => key.in_port = port_from_ofp11(v as u32).unwrap_or(key.in_port),
            Field::DlVlan if v as u16 == 0xffff => key.vlan_tci = 0,
            Field::DlVlan => {
                key.vlan_tci = (tci & !VLAN_VID_MASK) | (v as u16 & VLAN_VID_MASK) | VLAN_PRESENT
            }
            Field::DlVlanPcp | Field::VlanPcp => {
                key.vlan_tci = (tci & !VLAN_PCP_MASK) | ((v as u16 & 7) << 13) | VLAN_PRESENT
            }
            Field::NwTos => key.nw_tos = (key.nw_tos & 3) | (v as u8 & 0xfc),
            _ => self.set_raw(key, v & self.info().valid),
        }
    }

    /// Stores `v` into the field's bits of `key`, as they are stored.
    fn set_raw(self, key: &mut FlowKey, v: u128) {
        let (w, shift, bits) = self.loc();
        let m = ones(bits) << shift;
        w.set(key, (w.get(key) & !m) | ((v << shift) & m));
    }

    /// ORs into `mask` the stored bits behind `bits` of the field's value (to mark them
    /// consulted or matched).
    pub fn add_to_mask(self, mask: &mut FlowKey, bits: u128) {
        let (w, shift, loc_bits) = self.loc();
        let raw = match self {
            // Any bit of the 32-bit view depends on the whole port.
            Field::InPortOxm if bits != 0 => ones(32),
            _ => bits & ones(loc_bits),
        };
        w.set(mask, w.get(mask) | (raw << shift));
    }

    /// Makes a match (`value`, `mask`) match the field's value `v` under mask `m` (both
    /// in the field's value space; `m == 0` wildcards the field), replacing what it
    /// matched of the field before, as OVS's `mf_set()` does: `dl_vlan=0xffff` matches
    /// no tag, `dl_vlan`, `vlan_pcp` and `dl_vlan_pcp` also match a tag being present,
    /// `vlan_vid` keeps a match on the PCP, non-maskable fields are matched exactly.
    pub fn set_in_match(self, value: &mut FlowKey, mask: &mut FlowKey, v: u128, m: u128) {
        if m == 0 {
            let (w, shift, bits) = self.loc();
            let keep = !(ones(bits) << shift);
            w.set(value, w.get(value) & keep);
            w.set(mask, w.get(mask) & keep);
            return;
        }
        let v16 = v as u16;
        match self {
            Field::DlVlan if v16 == 0xffff => {
                value.vlan_tci = 0;
                mask.vlan_tci = 0xffff;
            }
            Field::DlVlan => {
                value.vlan_tci =
                    (value.vlan_tci & !VLAN_VID_MASK) | (v16 & VLAN_VID_MASK) | VLAN_PRESENT;
                mask.vlan_tci |= VLAN_VID_MASK | VLAN_PRESENT;
            }
            Field::VlanVid => {
                let m = m as u16 & (VLAN_VID_MASK | VLAN_PRESENT);
                value.vlan_tci = (value.vlan_tci & !(VLAN_VID_MASK | VLAN_PRESENT)) | (v16 & m);
                mask.vlan_tci = m | (mask.vlan_tci & VLAN_PCP_MASK);
            }
            Field::DlVlanPcp | Field::VlanPcp => {
                value.vlan_tci =
                    (value.vlan_tci & !VLAN_PCP_MASK) | ((v16 & 7) << 13) | VLAN_PRESENT;
                mask.vlan_tci |= VLAN_PCP_MASK | VLAN_PRESENT;
            }
            Field::NwTos | Field::IpDscp | Field::NwEcn => {
                let (bits, v) = match self {
                    Field::NwTos => (0xfc, v as u8),
                    Field::IpDscp => (0xfc, (v as u8) << 2),
                    _ => (0x03, v as u8),
                };
                value.nw_tos = (value.nw_tos & !bits) | (v & bits);
                mask.nw_tos |= bits;
            }
            Field::InPortOxm => {
                value.in_port = port_from_ofp11(v as u32).unwrap_or(v as u32);
                mask.in_port = u32::MAX;
            }
            _ => {
                let (w, shift, bits) = self.loc();
                let valid = self.info().valid;
                // A match on every bit of the value covers the whole stored member (a
                // 16-bit port in a 32-bit word, an ICMP type in `tp_src`).
                let m = if !self.is_maskable() || m & valid == valid {
                    ones(bits)
                } else {
                    m & ones(bits)
                };
                let keep = !(ones(bits) << shift);
                w.set(mask, (w.get(mask) & keep) | (m << shift));
                w.set(value, (w.get(value) & keep) | ((v & m) << shift));
            }
        }
    }

    /// The stored bits of the whole field, as a mask in the field's place (e.g. 0x1fff
    /// of `vlan_tci` for `vlan_vid`).
    pub fn raw_mask(self) -> FlowKey {
        let mut m = FlowKey::default();
        let (w, shift, bits) = self.loc();
        w.set(&mut m, ones(bits) << shift);
        m
    }
}

/// `FIELD[]`, `FIELD[n]` or `FIELD[a..b]`: bits `ofs .. ofs + n_bits` of a field.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FieldSlice {
    pub field: Field,
    pub ofs: u32,
    pub n_bits: u32,
}

impl FieldSlice {
    pub fn whole(field: Field) -> Self {
        FieldSlice {
            field,
            ofs: 0,
            n_bits: field.width(),
        }
    }

    pub fn is_whole(&self) -> bool {
        self.ofs == 0 && self.n_bits == self.field.width()
    }

    /// The slice's bits as a mask over the whole field's value.
    pub fn field_mask(&self) -> u128 {
        ones(self.n_bits) << self.ofs
    }

    pub fn read(&self, key: &FlowKey) -> u128 {
        (self.field.get(key) >> self.ofs) & ones(self.n_bits)
    }

    /// Writes `v` (right-aligned) into the slice, as OVS's `mf_write_subfield_flow()`.
    pub fn write(&self, key: &mut FlowKey, v: u128) {
        let m = self.field_mask();
        let cur = self.field.get(key);
        self.field.set(key, (cur & !m) | ((v << self.ofs) & m));
    }

    /// Marks the slice's bits as consulted in a mask.
    pub fn mark(&self, mask: &mut FlowKey) {
        self.field.add_to_mask(mask, self.field_mask());
    }
}

impl std::fmt::Display for FieldSlice {
    /// `NXM_OF_VLAN_TCI[0..11]`, `NXM_OF_ETH_SRC[]`, `NXM_OF_ARP_OP[3]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.field.nxm_name();
        if self.is_whole() {
            write!(f, "{name}[]")
        } else if self.n_bits == 1 {
            write!(f, "{name}[{}]", self.ofs)
        } else {
            write!(f, "{name}[{}..{}]", self.ofs, self.ofs + self.n_bits - 1)
        }
    }
}

#[cfg(test)]
mod tests;
