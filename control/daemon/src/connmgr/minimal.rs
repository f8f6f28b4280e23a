//! TEMPORARY: a deliberately minimal [`FlowModel`], until `xvs_openflow::model` (the
//! full wire <-> pipeline mapping, written elsewhere) replaces it. Delete this file
//! then.
//!
//! It knows `in_port`, `dl_src`, `dl_dst` and `dl_type` (exact) in an `ofp10_match`,
//! in NXM and in OXM, and the OUTPUT action (OF1.0, and OF1.1+ inside an
//! APPLY_ACTIONS instruction); no actions is a drop. Anything else is refused with
//! OFPBMC_BAD_FIELD or OFPBAC_BAD_TYPE / OFPBIC_UNSUP_INST (OVS would accept it:
//! these are xvs's limits of the moment, not OVS's errors). Enough to run flows end to
//! end through the connection manager (`ovs-ofctl add-flow/dump-flows/del-flows`, a
//! controller's FLOW_MOD) and nothing more.

use xvs_dataplane::MacAddr;
use xvs_openflow::actions::{WireAction, WireInstruction};
use xvs_openflow::flow_mod::{FlowActions, FlowMod as WireFlowMod, FlowModCommand as WireCommand};
use xvs_openflow::of10_match::{ofpfw10, Of10Match};
use xvs_openflow::oxm::{MatchTlv, TlvHeader};
use xvs_openflow::port::{port_from_ofp11, port_to_ofp11};
use xvs_openflow::stats::{FlowStatsEntry, FlowStatsForm, FlowStatsRequest};
use xvs_openflow::{OfError, Version, WireMatch};
use xvs_pipeline::ofp::{Action, Field, FlowFlags, FlowMod, Match, OfPort, OFPP_NONE};
use xvs_pipeline::ofproto::flow_mods::{FlowModCommand, FlowTableMod};
use xvs_pipeline::ofproto::table::Rule;
use xvs_pipeline::Time;

use super::model::{base_entry, FlowModel};

/// See the module documentation.
pub struct MinimalModel;

const NXM_IN_PORT: u32 = 0x0000_0002;
const NXM_ETH_DST: u32 = 0x0000_0206;
const NXM_ETH_SRC: u32 = 0x0000_0406;
const NXM_ETH_TYPE: u32 = 0x0000_0602;
const OXM_IN_PORT: u32 = 0x8000_0004;
const OXM_ETH_DST: u32 = 0x8000_0606;
const OXM_ETH_SRC: u32 = 0x8000_0806;
const OXM_ETH_TYPE: u32 = 0x8000_0a02;

/// The four fields this module knows, as plain values.
#[derive(Default)]
struct Fields {
    in_port: Option<OfPort>,
    dl_src: Option<[u8; 6]>,
    dl_dst: Option<[u8; 6]>,
    dl_type: Option<u16>,
}

impl Fields {
    fn to_match(&self) -> Match {
        let mut m = Match::default();
        if let Some(p) = self.in_port {
            m.set_exact(Field::InPort, u128::from(p));
        }
        if let Some(a) = self.dl_src {
            m.set_exact(Field::DlSrc, u128::from(MacAddr(a).to_u64()));
        }
        if let Some(a) = self.dl_dst {
            m.set_exact(Field::DlDst, u128::from(MacAddr(a).to_u64()));
        }
        if let Some(t) = self.dl_type {
            m.set_exact(Field::DlType, u128::from(t));
        }
        m
    }

    fn from_match(m: &Match) -> Fields {
        let exact = |f: Field| (f.get(&m.mask) != 0).then(|| f.get(&m.value));
        let mac = |v: u128| {
            let b = (v as u64).to_be_bytes();
            [b[2], b[3], b[4], b[5], b[6], b[7]]
        };
        Fields {
            in_port: exact(Field::InPort).map(|v| v as OfPort),
            dl_src: exact(Field::DlSrc).map(mac),
            dl_dst: exact(Field::DlDst).map(mac),
            dl_type: exact(Field::DlType).map(|v| v as u16),
        }
    }
}

fn of10_fields(m: &Of10Match) -> Result<Fields, OfError> {
    const KNOWN: u32 = ofpfw10::IN_PORT | ofpfw10::DL_SRC | ofpfw10::DL_DST | ofpfw10::DL_TYPE;
    let w = m.wildcards;
    let all_else = ofpfw10::ALL & !KNOWN;
    // Every other field wildcarded (the nw_src/nw_dst counts at 32 or more).
    let nw_ok = |mask: u32, shift: u32| (w & mask) >> shift >= 32;
    let others = all_else & !(ofpfw10::NW_SRC_MASK | ofpfw10::NW_DST_MASK);
    if w & others != others
        || !nw_ok(ofpfw10::NW_SRC_MASK, ofpfw10::NW_SRC_SHIFT)
        || !nw_ok(ofpfw10::NW_DST_MASK, ofpfw10::NW_DST_SHIFT)
    {
        return Err(OfError::OFPBMC_BAD_FIELD);
    }
    let set = |bit: u32| w & bit == 0;
    Ok(Fields {
        in_port: set(ofpfw10::IN_PORT).then_some(OfPort::from(m.in_port)),
        dl_src: set(ofpfw10::DL_SRC).then_some(m.dl_src),
        dl_dst: set(ofpfw10::DL_DST).then_some(m.dl_dst),
        dl_type: set(ofpfw10::DL_TYPE).then_some(m.dl_type),
    })
}

fn tlv_fields(tlvs: &[MatchTlv]) -> Result<Fields, OfError> {
    let mut f = Fields::default();
    for t in tlvs {
        if t.mask.is_some() {
            return Err(OfError::OFPBMC_BAD_FIELD);
        }
        let v = &t.value;
        let mac = || -> [u8; 6] { v[..6].try_into().expect("6-byte field") };
        match t.header.header {
            NXM_IN_PORT => f.in_port = Some(OfPort::from(u16::from_be_bytes([v[0], v[1]]))),
            OXM_IN_PORT => {
                let p = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                f.in_port = Some(OfPort::from(port_from_ofp11(p).map_err(|e| e.of_error())?));
            }
            NXM_ETH_DST | OXM_ETH_DST => f.dl_dst = Some(mac()),
            NXM_ETH_SRC | OXM_ETH_SRC => f.dl_src = Some(mac()),
            NXM_ETH_TYPE | OXM_ETH_TYPE => f.dl_type = Some(u16::from_be_bytes([v[0], v[1]])),
            _ => return Err(OfError::OFPBMC_BAD_FIELD),
        }
    }
    Ok(f)
}

fn wire_match(m: &WireMatch) -> Result<Match, OfError> {
    Ok(match m {
        WireMatch::Of10(m) => of10_fields(m)?,
        WireMatch::Tlvs(t) => tlv_fields(t)?,
    }
    .to_match())
}

fn output_port(a: &WireAction, version: Version) -> Result<OfPort, OfError> {
    let b = a.body();
    if a.vendor.is_some() || a.action_type != 0 {
        return Err(OfError::OFPBAC_BAD_TYPE);
    }
    let port = if version == Version::Of10 {
        u16::from_be_bytes([b[0], b[1]])
    } else {
        port_from_ofp11(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).map_err(|e| e.of_error())?
    };
    Ok(OfPort::from(port))
}

fn wire_actions(actions: &FlowActions, version: Version) -> Result<Vec<Action>, OfError> {
    let list: &[WireAction] = match actions {
        FlowActions::Actions(a) => a,
        FlowActions::Instructions(i) => match i.as_slice() {
            [] => &[],
            [WireInstruction::ApplyActions(a)] => a,
            _ => return Err(OfError::OFPBIC_UNSUP_INST),
        },
    };
    list.iter()
        .map(|a| output_port(a, version).map(Action::Output))
        .collect()
}

impl FlowModel for MinimalModel {
    // `..FlowMod::default()` keeps this compiling when the model grows fields.
    #[allow(clippy::needless_update)]
    fn flow_mod(&self, fm: &WireFlowMod, version: Version) -> Result<FlowTableMod, OfError> {
        let command = match fm.command {
            WireCommand::Add => FlowModCommand::Add,
            WireCommand::Modify => FlowModCommand::Modify { strict: false },
            WireCommand::ModifyStrict => FlowModCommand::Modify { strict: true },
            WireCommand::Delete => FlowModCommand::Delete { strict: false },
            WireCommand::DeleteStrict => FlowModCommand::Delete { strict: true },
        };
        let matcher = wire_match(&fm.wire_match)?;
        let actions = if fm.command.is_delete() {
            None
        } else {
            Some(wire_actions(&fm.actions, version)?)
        };
        let table = match (fm.table_id, command) {
            (255, FlowModCommand::Add) => Some(0),
            (255, _) => None,
            (t, _) => Some(t),
        };
        let add = command == FlowModCommand::Add;
        // OVS: flows added over OpenFlow 1.0 (and NXT_FLOW_MOD there) reset their
        // counters when replaced; OF1.1+ flags are as sent (the same bits).
        let flags = if version == Version::Of10 {
            (fm.flags & (FlowFlags::SEND_FLOW_REM | FlowFlags::CHECK_OVERLAP))
                | FlowFlags::RESET_COUNTS
        } else {
            fm.flags
        };
        Ok(FlowTableMod {
            command,
            flow: FlowMod {
                table,
                priority: fm.priority,
                cookie: if add {
                    fm.new_cookie.unwrap_or(0)
                } else {
                    fm.cookie
                },
                cookie_mask: if add { 0 } else { fm.cookie_mask },
                idle_timeout: fm.idle_timeout,
                hard_timeout: fm.hard_timeout,
                flags: FlowFlags(flags),
                matcher,
                actions,
                out_port: (fm.out_port != OFPP_NONE as u16).then_some(OfPort::from(fm.out_port)),
                ..FlowMod::default()
            },
            new_cookie: fm.new_cookie,
            modify_may_add: fm.new_cookie.is_some() && fm.cookie_mask == 0,
        })
    }

    fn flow_filter(&self, req: &FlowStatsRequest, _version: Version) -> Result<FlowMod, OfError> {
        Ok(FlowMod {
            table: (req.table_id != 255).then_some(req.table_id),
            cookie: req.cookie,
            cookie_mask: req.cookie_mask,
            matcher: wire_match(&req.wire_match)?,
            out_port: (req.out_port != OFPP_NONE as u16).then_some(OfPort::from(req.out_port)),
            ..FlowMod::default()
        })
    }

    fn flow_stats(
        &self,
        rule: &Rule,
        now: Time,
        version: Version,
        form: FlowStatsForm,
    ) -> FlowStatsEntry {
        let mut e = base_entry(rule, now);
        let f = Fields::from_match(&rule.matcher);
        e.match_bytes = match form {
            FlowStatsForm::Of10 => {
                let mut m = Of10Match::all();
                m.wildcards = ofpfw10::ALL & !(ofpfw10::NW_SRC_MASK | ofpfw10::NW_DST_MASK)
                    | ofpfw10::NW_SRC_ALL
                    | ofpfw10::NW_DST_ALL;
                if let Some(p) = f.in_port {
                    m.wildcards &= !ofpfw10::IN_PORT;
                    m.in_port = p as u16;
                }
                if let Some(a) = f.dl_src {
                    m.wildcards &= !ofpfw10::DL_SRC;
                    m.dl_src = a;
                }
                if let Some(a) = f.dl_dst {
                    m.wildcards &= !ofpfw10::DL_DST;
                    m.dl_dst = a;
                }
                if let Some(t) = f.dl_type {
                    m.wildcards &= !ofpfw10::DL_TYPE;
                    m.dl_type = t;
                }
                let mut b = Vec::new();
                m.emit(&mut b);
                b
            }
            FlowStatsForm::Nx | FlowStatsForm::Of11 => {
                let nx = form == FlowStatsForm::Nx;
                let mut tlvs = Vec::new();
                let h = |nxm: u32, oxm: u32| TlvHeader {
                    header: if nx { nxm } else { oxm },
                    experimenter: None,
                };
                if let Some(p) = f.in_port {
                    let v = if nx {
                        (p as u16).to_be_bytes().to_vec()
                    } else {
                        port_to_ofp11(p as u16).to_be_bytes().to_vec()
                    };
                    tlvs.push(MatchTlv::exact(h(NXM_IN_PORT, OXM_IN_PORT), v));
                }
                if let Some(a) = f.dl_dst {
                    tlvs.push(MatchTlv::exact(h(NXM_ETH_DST, OXM_ETH_DST), a.to_vec()));
                }
                if let Some(a) = f.dl_src {
                    tlvs.push(MatchTlv::exact(h(NXM_ETH_SRC, OXM_ETH_SRC), a.to_vec()));
                }
                if let Some(t) = f.dl_type {
                    tlvs.push(MatchTlv::exact(
                        h(NXM_ETH_TYPE, OXM_ETH_TYPE),
                        t.to_be_bytes().to_vec(),
                    ));
                }
                let mut b = Vec::new();
                for t in &tlvs {
                    t.emit(&mut b);
                }
                b
            }
        };
        let mut actions = Vec::new();
        for a in &rule.actions {
            if let Action::Output(p) = a {
                if version == Version::Of10 {
                    actions.extend_from_slice(&[0, 0, 0, 8]);
                    actions.extend_from_slice(&(*p as u16).to_be_bytes());
                    actions.extend_from_slice(&0u16.to_be_bytes());
                } else {
                    actions.extend_from_slice(&[0, 0, 0, 16]);
                    actions.extend_from_slice(&port_to_ofp11(*p as u16).to_be_bytes());
                    actions.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
                }
            }
        }
        e.actions_bytes = if version == Version::Of10 || actions.is_empty() {
            actions
        } else {
            let mut i = vec![0, 4];
            i.extend_from_slice(&(8 + actions.len() as u16).to_be_bytes());
            i.extend_from_slice(&[0, 0, 0, 0]);
            i.extend_from_slice(&actions);
            i
        };
        e
    }
}
