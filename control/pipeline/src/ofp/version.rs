//! What a flow becomes on its way through one OpenFlow version: OVS encodes its ofpacts
//! for the connection's version (`ofpacts_put_openflow_actions()` and the
//! `encode_*()` functions of lib/ofp-actions.c, `nx_put_match()` of lib/nx-match.c) and
//! whoever reads them decodes them back. The model keeps what a flow was given; these
//! functions give what the other side of a connection sees, so that a dump over
//! OpenFlow 1.0 (plain `ovs-ofctl`) or 1.3 (`-O OpenFlow13`, os-ken) prints what OVS's
//! prints, and a flow added over 1.3 is stored as OVS stores it. They are the reference
//! for the wire codec.
//!
//! Measured on OVS 3.1 (see tests/ofmodel_vectors.rs): over 1.0, `goto_table:N` is sent
//! as `resubmit(,N)`, `set_field` becomes the 1.0 action when there is one
//! (`mod_vlan_vid`, `mod_dl_src`, `mod_nw_tos`, ...) and `load` otherwise, `push_vlan`
//! disappears (1.0 pushes with `mod_vlan_vid`), `pop_vlan` is `strip_vlan`; over 1.3,
//! `mod_vlan_vid` is `push_vlan` (when the match has no tag) and `set_field`, every 1.0
//! setter is a `set_field` (but `mod_tp_src`/`mod_tp_dst` of a flow that does not match
//! TCP or UDP, which stays itself), `strip_vlan` is `pop_vlan`; a masked `set_field` is a
//! `load` in both; notes are padded with zero bytes to the action's 8-byte alignment.
//! xvs-openflow's `model` writes and reads these lists on the wire (its
//! tests/model_vectors.rs checks them against OVS's bytes).

use xvs_dataplane::flow_key::{VLAN_PCP_MASK, VLAN_PRESENT, VLAN_VID_MASK};
use xvs_dataplane::wire::ethertype;

use super::field::{ones, Field, FieldSlice};
use super::{Action, FlowFlags, FlowMod, Match};

/// The OpenFlow versions xvs speaks on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum OfVersion {
    /// OpenFlow 1.0 with Nicira extensions (NXM): plain `ovs-ofctl`.
    Of10,
    /// OpenFlow 1.3 (OXM): os-ken and `ovs-ofctl -O OpenFlow13`.
    Of13,
}

/// A `set_field` as NXAST_REG_LOAD actions: one per run of contiguous mask bits, at
/// most 64 bits each (OVS's `next_load_segment()`).
fn load_segments(field: Field, value: u128, mask: u128) -> Vec<Action> {
    let n_bits = field.width();
    let mut out = Vec::new();
    let mut ofs = 0;
    while ofs < n_bits {
        if mask >> ofs & 1 == 0 {
            ofs += 1;
            continue;
        }
        let mut n = 0;
        while ofs + n < n_bits && n < 64 && mask >> (ofs + n) & 1 == 1 {
            n += 1;
        }
        out.push(Action::Load {
            value: (value >> ofs) & ones(n),
            dst: FieldSlice {
                field,
                ofs,
                n_bits: n,
            },
        });
        ofs += n;
    }
    out
}

fn set_field(field: Field, value: u128) -> Action {
    Action::SetField {
        field,
        value,
        mask: ones(field.info().n_bytes * 8),
    }
}

/// A whole-field `set_field` over OpenFlow 1.0 (OVS's `set_field_to_legacy_openflow()`).
fn set_field_of10(field: Field, value: u128, mask: u128) -> Vec<Action> {
    let v16 = value as u16;
    let a = match field {
        Field::VlanTci if v16 & VLAN_PRESENT != 0 => {
            return vec![
                Action::ModVlanVid(v16 & VLAN_VID_MASK),
                Action::ModVlanPcp((v16 >> 13) as u8),
            ]
        }
        Field::VlanTci => Action::StripVlan,
        Field::VlanVid => Action::ModVlanVid(v16 & VLAN_VID_MASK),
        Field::VlanPcp => Action::ModVlanPcp(value as u8),
        Field::DlSrc => Action::ModDlSrc(xvs_dataplane::MacAddr::from_u64(value as u64)),
        Field::DlDst => Action::ModDlDst(xvs_dataplane::MacAddr::from_u64(value as u64)),
        Field::NwSrc => Action::ModNwSrc(value as u32),
        Field::NwDst => Action::ModNwDst(value as u32),
        Field::NwTos => Action::ModNwTos(value as u8),
        Field::IpDscp => Action::ModNwTos((value as u8) << 2),
        Field::TcpSrc | Field::UdpSrc => Action::ModTpSrc(v16),
        Field::TcpDst | Field::UdpDst => Action::ModTpDst(v16),
        _ => return load_segments(field, value, mask),
    };
    vec![a]
}

/// What `actions` (of a flow whose match is `m`) are after OVS encodes them for
/// `version` and decodes them again.
pub fn wire_actions(actions: &[Action], m: &Match, version: OfVersion) -> Vec<Action> {
    use OfVersion::*;
    // Whether the packet has a tag at each action, as OVS's ofpacts_check() records it
    // (`flow_has_vlan`), to know whether 1.3 needs a push_vlan for mod_vlan_vid.
    let mut has_vlan = m.value.vlan_tci & VLAN_PRESENT != 0;
    // The set-field a 1.0 L4 port setter is over 1.3 (OVS's `encode_SET_L4_port()`,
    // by the match's `nw_proto` alone); other protocols keep the deprecated
    // OFPAT_SET_TP_SRC/DST, which 1.3 still carries.
    let l4 = |src: bool| match (m.value.nw_proto, src) {
        (6, true) => Some(Field::TcpSrc),
        (6, false) => Some(Field::TcpDst),
        (17, true) => Some(Field::UdpSrc),
        (17, false) => Some(Field::UdpDst),
        _ => None,
    };
    let mut out = Vec::with_capacity(actions.len());
    for a in actions {
        let had_vlan = has_vlan;
        match a {
            Action::ModVlanVid(_)
            | Action::SetVlanVid(_)
            | Action::ModVlanPcp(_)
            | Action::SetVlanPcp(_)
            | Action::PushVlan(_) => has_vlan = true,
            Action::StripVlan | Action::PopVlan => has_vlan = false,
            Action::SetField {
                field: Field::VlanTci,
                value,
                ..
            } => has_vlan = *value as u16 & VLAN_PRESENT != 0,
            _ => {}
        }
        let push = |out: &mut Vec<Action>| {
            if !had_vlan {
                out.push(Action::PushVlan(ethertype::VLAN));
            }
        };
        match (a, version) {
            (Action::ModVlanVid(v) | Action::SetVlanVid(v), Of10) => {
                out.push(Action::ModVlanVid(*v))
            }
            (Action::ModVlanPcp(p) | Action::SetVlanPcp(p), Of10) => {
                out.push(Action::ModVlanPcp(*p))
            }
            (Action::ModVlanVid(v), Of13) => {
                push(&mut out);
                out.push(set_field(Field::VlanVid, u128::from(v | VLAN_PRESENT)));
            }
            (Action::SetVlanVid(v), Of13) => {
                out.push(set_field(Field::VlanVid, u128::from(v | VLAN_PRESENT)))
            }
            (Action::ModVlanPcp(p), Of13) => {
                push(&mut out);
                out.push(set_field(Field::VlanPcp, (*p).into()));
            }
            (Action::SetVlanPcp(p), Of13) => out.push(set_field(Field::VlanPcp, (*p).into())),
            (Action::PushVlan(_), Of10) => {}
            (Action::StripVlan | Action::PopVlan, Of10) => out.push(Action::StripVlan),
            (Action::StripVlan | Action::PopVlan, Of13) => out.push(Action::PopVlan),
            (Action::SetTunnel { id, wide }, Of10) => out.push(Action::SetTunnel {
                id: *id,
                wide: *wide || *id > u64::from(u32::MAX),
            }),
            (Action::SetTunnel { id, .. }, Of13) => out.push(set_field(Field::TunId, (*id).into())),
            (Action::ModDlSrc(mac), Of13) => out.push(set_field(Field::DlSrc, mac.to_u64().into())),
            (Action::ModDlDst(mac), Of13) => out.push(set_field(Field::DlDst, mac.to_u64().into())),
            (Action::ModNwSrc(ip), Of13) => out.push(set_field(Field::NwSrc, (*ip).into())),
            (Action::ModNwDst(ip), Of13) => out.push(set_field(Field::NwDst, (*ip).into())),
            (Action::ModNwTos(t), Of13) => out.push(set_field(Field::IpDscp, (t >> 2).into())),
            (Action::ModTpSrc(p), Of13) => {
                out.push(l4(true).map_or(a.clone(), |f| set_field(f, (*p).into())))
            }
            (Action::ModTpDst(p), Of13) => {
                out.push(l4(false).map_or(a.clone(), |f| set_field(f, (*p).into())))
            }
            (Action::SetField { field, value, mask }, _) => {
                let whole = *mask == ones(field.info().n_bytes * 8);
                match (whole, version) {
                    (false, _) => out.extend(load_segments(*field, *value, *mask)),
                    (true, Of10) => out.extend(set_field_of10(*field, *value, *mask)),
                    (true, Of13) => out.push(a.clone()),
                }
            }
            (Action::Load { .. }, _) => {
                let (field, value, mask) = a.set_field_parts().expect("a load");
                out.extend(load_segments(field, value, mask));
            }
            (Action::Note(bytes), _) => {
                // NXAST_NOTE: 10 bytes of header, then the note, padded to 8 bytes.
                let len = (10 + bytes.len()).div_ceil(8) * 8 - 10;
                let mut b = bytes.clone();
                b.resize(len, 0);
                out.push(Action::Note(b));
            }
            (Action::GotoTable(t), Of10) => out.push(Action::Resubmit {
                port: None,
                table: Some(*t),
            }),
            _ => out.push(a.clone()),
        }
    }
    out
}

/// What a match is after OVS encodes it for `version` and decodes it again. Over 1.3
/// (OXM) the VLAN is `vlan_vid` (13 bits: present bit and VID) plus `vlan_pcp` only when
/// a tag is present and its PCP matched: `vlan_tci=0x0000` (no tag, any PCP bits zero)
/// comes back as `vlan_tci=0x0000/0x1fff`.
pub fn wire_match(m: &Match, version: OfVersion) -> Match {
    let mut out = *m;
    if version == OfVersion::Of13 {
        let (tci, mask) = (m.value.vlan_tci, m.mask.vlan_tci);
        let vid_bits = VLAN_VID_MASK | VLAN_PRESENT;
        let (vid, vmask) = (tci & vid_bits, mask & vid_bits);
        let pcp = vid != 0 && mask & VLAN_PCP_MASK != 0;
        out.value.vlan_tci = (vid & vmask)
            | if pcp {
                tci & VLAN_PCP_MASK | VLAN_PRESENT
            } else {
                0
            };
        out.mask.vlan_tci = vmask | if pcp { VLAN_PCP_MASK | VLAN_PRESENT } else { 0 };
    }
    out
}

/// A flow_mod as OVS keeps it after receiving it over `version`: its match and actions
/// as that version carries them, and, over OpenFlow 1.0, the `reset_counts` flag that
/// 1.0's flow_mod implies (OVS shows it in OpenFlow 1.3 dumps of such flows).
pub fn wire_flow_mod(fm: &FlowMod, version: OfVersion) -> FlowMod {
    let mut out = fm.clone();
    out.matcher = wire_match(&fm.matcher, version);
    out.actions = fm
        .actions
        .as_ref()
        .map(|a| wire_actions(a, &fm.matcher, version));
    if version == OfVersion::Of10 {
        out.flags.0 |= FlowFlags::RESET_COUNTS;
    }
    out
}
