//! OpenFlow fields: their names (ovs-ofctl, NXM and OXM spellings), widths, where they
//! live in a [`FlowKey`], and what a rule must match before it may use them.

use xvs_dataplane::wire::ethertype;
use xvs_dataplane::{FlowKey, MacAddr};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Field {
    InPort,
    TunId,
    VlanTci,
    DlSrc,
    DlDst,
    DlType,
    NwSrc,
    NwDst,
    NwProto,
    ArpOp,
    ArpSpa,
    ArpTpa,
    ArpSha,
    ArpTha,
}

/// What the Ethernet type must be for a field to mean anything.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Prerequisite {
    None,
    Ipv4,
    Arp,
    /// `nw_src`, `nw_dst`, `nw_proto`: IPv4, or ARP where they alias the ARP fields.
    Ipv4OrArp,
}

impl Prerequisite {
    pub fn satisfied_by(self, m: &super::Match) -> bool {
        let exact_type = (m.mask.dl_type == 0xffff).then_some(m.value.dl_type);
        match self {
            Prerequisite::None => true,
            Prerequisite::Ipv4 => exact_type == Some(ethertype::IPV4),
            Prerequisite::Arp => exact_type == Some(ethertype::ARP),
            Prerequisite::Ipv4OrArp => matches!(exact_type, Some(ethertype::IPV4 | ethertype::ARP)),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Prerequisite::None => "nothing",
            Prerequisite::Ipv4 => "ip (dl_type=0x0800)",
            Prerequisite::Arp => "arp (dl_type=0x0806)",
            Prerequisite::Ipv4OrArp => "ip or arp (dl_type=0x0800 or 0x0806)",
        }
    }
}

pub const ALL_FIELDS: [Field; 14] = [
    Field::InPort,
    Field::TunId,
    Field::VlanTci,
    Field::DlSrc,
    Field::DlDst,
    Field::DlType,
    Field::NwSrc,
    Field::NwDst,
    Field::NwProto,
    Field::ArpOp,
    Field::ArpSpa,
    Field::ArpTpa,
    Field::ArpSha,
    Field::ArpTha,
];

fn ones(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

impl Field {
    /// The name ovs-ofctl uses in a match (`dl_dst=...`).
    pub fn name(self) -> &'static str {
        match self {
            Field::InPort => "in_port",
            Field::TunId => "tun_id",
            Field::VlanTci => "vlan_tci",
            Field::DlSrc => "dl_src",
            Field::DlDst => "dl_dst",
            Field::DlType => "dl_type",
            Field::NwSrc => "nw_src",
            Field::NwDst => "nw_dst",
            Field::NwProto => "nw_proto",
            Field::ArpOp => "arp_op",
            Field::ArpSpa => "arp_spa",
            Field::ArpTpa => "arp_tpa",
            Field::ArpSha => "arp_sha",
            Field::ArpTha => "arp_tha",
        }
    }

    /// The NXM name used in `load`, `move` and `learn` (`NXM_OF_ETH_DST[]`).
    pub fn nxm_name(self) -> &'static str {
        match self {
            Field::InPort => "NXM_OF_IN_PORT",
            Field::TunId => "NXM_NX_TUN_ID",
            Field::VlanTci => "NXM_OF_VLAN_TCI",
            Field::DlSrc => "NXM_OF_ETH_SRC",
            Field::DlDst => "NXM_OF_ETH_DST",
            Field::DlType => "NXM_OF_ETH_TYPE",
            Field::NwSrc => "NXM_OF_IP_SRC",
            Field::NwDst => "NXM_OF_IP_DST",
            Field::NwProto => "NXM_OF_IP_PROTO",
            Field::ArpOp => "NXM_OF_ARP_OP",
            Field::ArpSpa => "NXM_OF_ARP_SPA",
            Field::ArpTpa => "NXM_OF_ARP_TPA",
            Field::ArpSha => "NXM_NX_ARP_SHA",
            Field::ArpTha => "NXM_NX_ARP_THA",
        }
    }

    /// Looks a field up by any of its names: the match name, its aliases, NXM and OXM.
    pub fn from_name(name: &str) -> Option<Field> {
        let f = match name {
            "in_port" | "NXM_OF_IN_PORT" | "OXM_OF_IN_PORT" => Field::InPort,
            "tun_id" | "tunnel_id" | "NXM_NX_TUN_ID" | "OXM_OF_TUNNEL_ID" => Field::TunId,
            "vlan_tci" | "NXM_OF_VLAN_TCI" => Field::VlanTci,
            "dl_src" | "eth_src" | "NXM_OF_ETH_SRC" | "OXM_OF_ETH_SRC" => Field::DlSrc,
            "dl_dst" | "eth_dst" | "NXM_OF_ETH_DST" | "OXM_OF_ETH_DST" => Field::DlDst,
            "dl_type" | "eth_type" | "NXM_OF_ETH_TYPE" | "OXM_OF_ETH_TYPE" => Field::DlType,
            "nw_src" | "ip_src" | "NXM_OF_IP_SRC" | "OXM_OF_IPV4_SRC" => Field::NwSrc,
            "nw_dst" | "ip_dst" | "NXM_OF_IP_DST" | "OXM_OF_IPV4_DST" => Field::NwDst,
            "nw_proto" | "ip_proto" | "NXM_OF_IP_PROTO" | "OXM_OF_IP_PROTO" => Field::NwProto,
            "arp_op" | "NXM_OF_ARP_OP" | "OXM_OF_ARP_OP" => Field::ArpOp,
            "arp_spa" | "NXM_OF_ARP_SPA" | "OXM_OF_ARP_SPA" => Field::ArpSpa,
            "arp_tpa" | "NXM_OF_ARP_TPA" | "OXM_OF_ARP_TPA" => Field::ArpTpa,
            "arp_sha" | "NXM_NX_ARP_SHA" | "OXM_OF_ARP_SHA" => Field::ArpSha,
            "arp_tha" | "NXM_NX_ARP_THA" | "OXM_OF_ARP_THA" => Field::ArpTha,
            _ => return None,
        };
        Some(f)
    }

    /// Width in bits, as NXM defines it (in_port is a 16-bit OpenFlow 1.0 port).
    pub fn width(self) -> u32 {
        match self {
            Field::InPort | Field::VlanTci | Field::DlType | Field::ArpOp => 16,
            Field::TunId => 64,
            Field::DlSrc | Field::DlDst | Field::ArpSha | Field::ArpTha => 48,
            Field::NwSrc | Field::NwDst | Field::ArpSpa | Field::ArpTpa => 32,
            Field::NwProto => 8,
        }
    }

    pub fn prerequisite(self) -> Prerequisite {
        match self {
            Field::NwSrc | Field::NwDst | Field::NwProto => Prerequisite::Ipv4OrArp,
            Field::ArpOp | Field::ArpSpa | Field::ArpTpa | Field::ArpSha | Field::ArpTha => {
                Prerequisite::Arp
            }
            _ => Prerequisite::None,
        }
    }

    /// Whether `load`/`move` may write it (the Ethernet type and the input port are what
    /// the packet is, not something an action changes; `in_port` may be written, as in
    /// OVS, to let a later `resubmit` or `output:in_port` see another port).
    pub fn is_writable(self) -> bool {
        !matches!(self, Field::DlType)
    }

    /// The field's value in `key`, right-aligned.
    pub fn get(self, key: &FlowKey) -> u64 {
        match self {
            Field::InPort => key.in_port as u64,
            Field::TunId => key.tun_id,
            Field::VlanTci => key.vlan_tci as u64,
            Field::DlSrc => key.dl_src.to_u64(),
            Field::DlDst => key.dl_dst.to_u64(),
            Field::DlType => key.dl_type as u64,
            Field::NwSrc | Field::ArpSpa => key.nw_src as u64,
            Field::NwDst | Field::ArpTpa => key.nw_dst as u64,
            Field::NwProto => key.nw_proto as u64,
            Field::ArpOp => key.nw_proto as u64,
            Field::ArpSha => key.arp_sha.to_u64(),
            Field::ArpTha => key.arp_tha.to_u64(),
        }
    }

    /// Stores `v` (right-aligned, cut to the field's width) into `key`.
    pub fn set(self, key: &mut FlowKey, v: u64) {
        let v = v & ones(self.width());
        match self {
            Field::InPort => key.in_port = v as u32,
            Field::TunId => key.tun_id = v,
            Field::VlanTci => key.vlan_tci = v as u16,
            Field::DlSrc => key.dl_src = MacAddr::from_u64(v),
            Field::DlDst => key.dl_dst = MacAddr::from_u64(v),
            Field::DlType => key.dl_type = v as u16,
            Field::NwSrc | Field::ArpSpa => key.nw_src = v as u32,
            Field::NwDst | Field::ArpTpa => key.nw_dst = v as u32,
            // ARP opcodes above 255 do not occur; the key keeps the low byte as OVS does.
            Field::NwProto | Field::ArpOp => key.nw_proto = v as u8,
            Field::ArpSha => key.arp_sha = MacAddr::from_u64(v),
            Field::ArpTha => key.arp_tha = MacAddr::from_u64(v),
        }
    }

    /// ORs `bits` (right-aligned) into this field of `mask`.
    pub fn add_to_mask(self, mask: &mut FlowKey, bits: u64) {
        let cur = self.get(mask);
        self.set(mask, cur | bits);
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

    /// The slice's bits, right-aligned, as a mask over the whole field.
    pub fn field_mask(&self) -> u64 {
        ones(self.n_bits) << self.ofs
    }

    pub fn read(&self, key: &FlowKey) -> u64 {
        (self.field.get(key) >> self.ofs) & ones(self.n_bits)
    }

    pub fn write(&self, key: &mut FlowKey, v: u64) {
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
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in ALL_FIELDS {
            assert_eq!(Field::from_name(f.name()), Some(f));
            assert_eq!(Field::from_name(f.nxm_name()), Some(f));
        }
    }

    #[test]
    fn slice_read_write() {
        let mut k = FlowKey {
            vlan_tci: 0x1005,
            ..Default::default()
        };
        let vid = FieldSlice {
            field: Field::VlanTci,
            ofs: 0,
            n_bits: 12,
        };
        assert_eq!(vid.read(&k), 5);
        vid.write(&mut k, 0x3e7);
        assert_eq!(k.vlan_tci, 0x13e7);
        assert_eq!(vid.to_string(), "NXM_OF_VLAN_TCI[0..11]");
        let mut m = FlowKey::default();
        vid.mark(&mut m);
        assert_eq!(m.vlan_tci, 0x0fff);
        let src = FieldSlice::whole(Field::DlSrc);
        src.write(&mut k, 0xfa163edcc523);
        assert_eq!(k.dl_src.to_string(), "fa:16:3e:dc:c5:23");
        assert_eq!(src.to_string(), "NXM_OF_ETH_SRC[]");
    }
}
