//! OVS's `mf_is_value_valid()` (lib/meta-flow.c): the values a field may take, in
//! a match (OFPBMC_BAD_VALUE) and in a set-field action (OFPBAC_BAD_SET_ARGUMENT).
//! Fields are named as OVS names them (`KnownHeader::field_info().name`).

use crate::bytes::{be16, be32};

/// Whether `value` (the field's bytes, big-endian) is one the field `name` can have.
/// Fields not listed take any value, as in OVS.
pub fn value_is_valid(name: &str, value: &[u8]) -> bool {
    let u8v = || value.first().copied().unwrap_or(0);
    let u16v = || if value.len() >= 2 { be16(value, 0) } else { 0 };
    let u32v = || if value.len() >= 4 { be32(value, 0) } else { 0 };
    match name {
        // ofputil_port_from_ofp11() must take it.
        "in_port_oxm" | "actset_output" => !(0xff00..0xffff_ff00).contains(&u32v()),
        "nw_tos" => u8v() & !0xfc == 0,
        "ip_dscp" => u8v() & !0x3f == 0,
        "nw_ecn" | "ip_frag" => u8v() & !0x03 == 0,
        "tcp_flags" => u16v() & !0x0fff == 0,
        "arp_op" => u16v() & 0xff00 == 0,
        "dl_vlan" => u16v() & 0xf000 == 0,
        "vlan_vid" => u16v() & 0xe000 == 0,
        "dl_vlan_pcp" | "vlan_pcp" | "mpls_tc" => u8v() & !0x07 == 0,
        "ipv6_label" | "mpls_label" => u32v() & !0x000f_ffff == 0,
        "mpls_bos" => u8v() & !0x01 == 0,
        "tun_flags" => u16v() & !0x0001 == 0,
        "ct_state" => u32v() & !0xff == 0,
        "nsh_ttl" => u8v() <= 63,
        "nsh_mdtype" => matches!(u8v(), 1 | 2),
        "nsh_spi" => u32v() & 0xff00_0000 == 0,
        _ => true,
    }
}
