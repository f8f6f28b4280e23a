//! The checks OVS makes on a flow's actions before it accepts the flow: the order of
//! instructions (`ofpacts_verify()`) and the consistency of each action with the match
//! and the actions before it (`ofpacts_check()`, lib/ofp-actions.c; `learn_check()`,
//! lib/learn.c; `mf_check_src/dst()`, lib/meta-flow.c), with OVS's texts and error codes.
//!
//! Like OVS for OpenFlow 1.0 flows, actions that only make sense on some packets
//! (`strip_vlan` without a tag in the match, `dec_ttl` without `ip`) are accepted: at run
//! time they do nothing to other packets. What OVS refuses whatever the version is
//! refused: a field written or read without its prerequisites, a read-only destination,
//! `goto_table` to a table not after the rule's, instructions out of order.

use std::fmt;

use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::FlowKey;

use super::field::{Field, FieldSlice};
use super::{Action, LearnItem, LearnSpec, LearnSrc, Match, N_TABLES};

/// The OpenFlow errors a flow's match or actions can earn (OVS's `enum ofperr` names);
/// the wire codec turns them into each version's type and code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum OfpErr {
    /// A match field without its prerequisites.
    OfpbmcBadPrereq,
    /// A mask on a field that cannot be masked, or a bad mask.
    OfpbmcBadMask,
    /// A value a field cannot have.
    OfpbmcBadValue,
    /// An action that does not fit the match (a field's prerequisites missing).
    OfpbacMatchInconsistent,
    /// An action that writes a read-only field, or an invalid value.
    OfpbacBadSetArgument,
    /// Instructions out of order, or one twice.
    OfpbacUnsupportedOrder,
    /// `goto_table` to a table that is not after the rule's.
    OfpbicBadTableId,
}

impl OfpErr {
    pub fn name(self) -> &'static str {
        match self {
            OfpErr::OfpbmcBadPrereq => "OFPBMC_BAD_PREREQ",
            OfpErr::OfpbmcBadMask => "OFPBMC_BAD_MASK",
            OfpErr::OfpbmcBadValue => "OFPBMC_BAD_VALUE",
            OfpErr::OfpbacMatchInconsistent => "OFPBAC_MATCH_INCONSISTENT",
            OfpErr::OfpbacBadSetArgument => "OFPBAC_BAD_SET_ARGUMENT",
            OfpErr::OfpbacUnsupportedOrder => "OFPBAC_UNSUPPORTED_ORDER",
            OfpErr::OfpbicBadTableId => "OFPBIC_BAD_TABLE_ID",
        }
    }
}

impl fmt::Display for OfpErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a flow's actions were refused: the error code and OVS's explanation.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ActionsError {
    pub code: OfpErr,
    pub detail: String,
}

fn err(code: OfpErr, detail: String) -> ActionsError {
    ActionsError { code, detail }
}

/// OVS's `enum ovs_instruction_type`, in the order OpenFlow 1.1+ requires.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Inst {
    Meter,
    ApplyActions,
    WriteMetadata,
    GotoTable,
}

impl Inst {
    fn of(a: &Action) -> Inst {
        match a {
            Action::WriteMetadata { .. } => Inst::WriteMetadata,
            Action::GotoTable(_) => Inst::GotoTable,
            _ => Inst::ApplyActions,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Inst::Meter => "meter",
            Inst::ApplyActions => "apply_actions",
            Inst::WriteMetadata => "write_metadata",
            Inst::GotoTable => "goto_table",
        }
    }
}

/// OVS's `ofpacts_verify()`: actions first, then at most one `write_metadata`, then at
/// most one `goto_table`.
pub fn verify_order(actions: &[Action]) -> Result<(), ActionsError> {
    let mut inst = Inst::Meter;
    for (i, a) in actions.iter().enumerate() {
        let next = Inst::of(a);
        let bad = if inst == Inst::ApplyActions {
            next < inst
        } else {
            next <= inst
        };
        if i > 0 && bad {
            let text = if next == inst {
                format!(
                    "duplicate {} instruction not allowed, for OpenFlow 1.1+ compatibility",
                    inst.name()
                )
            } else {
                format!(
                    "invalid instruction ordering: {} must appear before {}, for OpenFlow 1.1+ compatibility",
                    next.name(),
                    inst.name()
                )
            };
            return Err(err(OfpErr::OfpbacUnsupportedOrder, text));
        }
        inst = next;
    }
    Ok(())
}

/// OVS's `mf_check_src()`/`mf_check_dst()` (bounds are checked when parsing).
fn check_subfield(sf: &FieldSlice, flow: &FlowKey, kind: &str) -> Result<(), ActionsError> {
    if !sf.field.prerequisite().satisfied_by(flow) {
        return Err(err(
            OfpErr::OfpbacMatchInconsistent,
            format!(
                "{kind} field {} lacks correct prerequisites",
                sf.field.name()
            ),
        ));
    }
    if kind == "destination" && !sf.field.is_writable() {
        return Err(err(
            OfpErr::OfpbacBadSetArgument,
            format!("destination field {} is not writable", sf.field.name()),
        ));
    }
    Ok(())
}

/// OVS's `learn_check()`: sources against the flow, destinations against the flow being
/// learned as its match items accumulate.
fn check_learn(spec: &LearnSpec, flow: &FlowKey) -> Result<(), ActionsError> {
    let mut learned = Match::default();
    for item in &spec.items {
        match item {
            LearnItem::Match { dst, src } => {
                if let LearnSrc::Field(s) = src {
                    check_subfield(s, flow, "source")?;
                }
                check_subfield(dst, &learned.value, "source")?;
                if let LearnSrc::Immediate(v) = src {
                    learned.set_masked(dst.field, v << dst.ofs, dst.field_mask());
                }
            }
            LearnItem::Load { src, dst } => {
                if let LearnSrc::Field(s) = src {
                    check_subfield(s, flow, "source")?;
                }
                check_subfield(dst, &learned.value, "destination")?;
            }
            LearnItem::Output { src } => check_subfield(src, flow, "source")?,
        }
    }
    Ok(())
}

/// OVS's `ofpacts_check()` (plus `ofpacts_verify()`'s order) for a flow with match `m`
/// in table `table` (`None`: not known, as for `mod-flows` over every table).
pub fn check_actions(actions: &[Action], m: &Match, table: Option<u8>) -> Result<(), ActionsError> {
    verify_order(actions)?;
    // What the packet is known to be at each action: the match, as changed by the
    // actions before (a pushed tag, a written vlan_tci).
    let mut flow = m.value;
    for a in actions {
        match a {
            Action::OutputField(src) => check_subfield(src, &flow, "source")?,
            Action::ModVlanVid(_)
            | Action::SetVlanVid(_)
            | Action::ModVlanPcp(_)
            | Action::SetVlanPcp(_)
            | Action::PushVlan(_) => flow.vlan_tci |= VLAN_PRESENT,
            Action::StripVlan | Action::PopVlan => flow.vlan_tci = 0,
            Action::SetField { .. } | Action::Load { .. } => {
                let (field, value, _) = a.set_field_parts().expect("a set_field");
                let no_tag = flow.vlan_tci & VLAN_PRESENT == 0;
                if !field.prerequisite().satisfied_by(&flow) || (field == Field::VlanVid && no_tag)
                {
                    return Err(err(
                        OfpErr::OfpbacMatchInconsistent,
                        format!("set_field {} lacks correct prerequisites", field.name()),
                    ));
                }
                if field == Field::VlanTci {
                    flow.vlan_tci = value as u16;
                }
            }
            Action::Move { src, dst } => {
                check_subfield(src, &flow, "source")?;
                check_subfield(dst, &flow, "destination")?;
            }
            Action::Learn(spec) => check_learn(spec, &flow)?,
            Action::GotoTable(n) => {
                if *n == N_TABLES {
                    return Err(err(
                        OfpErr::OfpbicBadTableId,
                        format!("goto_table:{n}: there are {N_TABLES} tables"),
                    ));
                }
                if table.is_some_and(|t| *n <= t) {
                    return Err(err(
                        OfpErr::OfpbicBadTableId,
                        format!(
                            "goto_table:{n} must go to a table after the flow's table {}",
                            table.unwrap_or(0)
                        ),
                    ));
                }
            }
            Action::Output(_)
            | Action::Controller { .. }
            | Action::SetTunnel { .. }
            | Action::Resubmit { .. }
            | Action::ModDlSrc(_)
            | Action::ModDlDst(_)
            | Action::ModNwSrc(_)
            | Action::ModNwDst(_)
            | Action::ModNwTos(_)
            | Action::ModTpSrc(_)
            | Action::ModTpDst(_)
            | Action::DecTtl(_)
            | Action::Note(_)
            | Action::WriteMetadata { .. } => {}
        }
    }
    Ok(())
}
