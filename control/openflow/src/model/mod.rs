//! Wire flows and the pipeline's flow model, both ways, as Open vSwitch 3.1 maps
//! them: what a decoded FLOW_MOD or flow stats request means for the flow tables,
//! and how a stored flow is written into a flow stats reply in each version and
//! form. The three functions here are what the connection manager's `FlowModel`
//! seam asks for:
//!
//! * [`flow_mod`]: a FLOW_MOD of any form (OpenFlow 1.0 `ofp10_match` + 1.0 and
//!   Nicira actions; NXT_FLOW_MOD with an NXM match; OpenFlow 1.3/1.4 with an OXM
//!   match and instructions) as a [`FlowTableMod`], or the error OVS sends
//!   (`ofputil_decode_flow_mod()`, `ofpacts_check_consistency()` and the checks of
//!   `handle_flow_mod()`);
//! * [`flow_filter`]: the selection of a FLOW or AGGREGATE stats request;
//! * [`flow_stats`]: one stored flow as an entry of a FLOW stats reply, its match
//!   and actions or instructions written as OVS writes them for that form and
//!   version (`ofputil_append_flow_stats_reply()`).
//!
//! One concern per file: [`fields`] (headers per version), [`nxm`] (NXM/OXM
//! matches), [`of10`] (`ofp10_match`), [`actions`] and [`learn`] (decoding
//! actions), [`encode`] (writing actions and instructions), [`check`] (the
//! version-dependent action checks).
//!
//! Deliberate differences from OVS, where xvs's model holds less than OVS's:
//!
//! * fields, actions and instructions the model does not have (`pkt_mark`,
//!   conntrack, tunnel metadata, MPLS, enqueue and queues, groups, multipath,
//!   bundle, NXAST_CONTROLLER, write-actions, clear-actions, ...) are refused with
//!   the error OVS gives for ones it does not know (OFPBMC_BAD_FIELD,
//!   OFPBAC_BAD_TYPE / BAD_VENDOR_TYPE / BAD_SET_TYPE, OFPBIC_UNSUP_INST); a meter
//!   gets OVS's OFPMMFC_INVALID_METER (xvs has none); `learn` with flags or FIN
//!   timeouts is OFPBAC_BAD_ARGUMENT; `goto_table:255` is OFPBIC_BAD_TABLE_ID (OVS
//!   takes it);
//! * what is kept of an action is what the model keeps: the `max_len` of an output
//!   to a port other than CONTROLLER, a 1.4 flow's importance and the raw form of a
//!   few actions are lost, so OVS and xvs write them back differently: an
//!   NXAST_RESUBMIT comes back as the NXAST_RESUBMIT_TABLE that OVS writes for
//!   `resubmit:P` given as text, a reg_load2 as the set_field it is, an
//!   output_reg2 as an output_reg, ONF's copy-field as an NXAST_REG_MOVE, a
//!   `dec_ttl()` without ids as `dec_ttl`, SCTP's `mod_tp_src/dst` over 1.3 as the
//!   1.0 action (OVS: set-field of `sctp_src/dst`);
//! * a message with two faults may get the error of the later one: the wire layer
//!   checks all framing (lengths, known types, flags) before the model reads
//!   bodies, where OVS goes action by action.

pub mod actions;
pub mod check;
pub mod encode;
pub mod fields;
pub mod learn;
pub mod nxm;
pub mod of10;

use xvs_pipeline::ofp::{Action, FlowFlags, FlowMod, Match, OfPort, OFPP_NONE};
use xvs_pipeline::ofproto::flow_mods::{FlowModCommand as Command, FlowTableMod};
use xvs_pipeline::ofproto::table::Rule;
use xvs_pipeline::Time;

use crate::actions::WireInstruction;
use crate::errors::OfError;
use crate::flow_mod::{
    FlowActions, FlowMod as WireFlowMod, FlowModCommand, WireMatch, OFPG_ANY, OFPTT_ALL,
};
use crate::oxm::MatchTlv;
use crate::stats::{FlowStatsEntry, FlowStatsForm, FlowStatsRequest};
use crate::version::Version;

/// The match of a FLOW_MOD: OpenFlow 1.0's normalized as OVS does for flow mods.
fn flow_mod_match(m: &WireMatch) -> Result<Match, OfError> {
    match m {
        WireMatch::Of10(om) => {
            let mut m = of10::decode_of10(om);
            of10::normalize(&mut m);
            Ok(m)
        }
        WireMatch::Tlvs(t) => nxm::decode_match(t),
    }
}

/// The actions of a FLOW_MOD as the model's list: an action list in its order;
/// instructions in OVS's order (apply-actions, then write-metadata, then
/// goto-table) whatever their order on the wire.
pub fn decode_actions(a: &FlowActions, version: Version) -> Result<Vec<Action>, OfError> {
    let decode_list = |list: &[crate::actions::WireAction]| {
        list.iter()
            .map(|a| actions::decode_action(a, version))
            .collect::<Result<Vec<_>, _>>()
    };
    let insts = match a {
        FlowActions::Actions(list) => return decode_list(list),
        FlowActions::Instructions(i) => i,
    };
    let find = |t: u16| insts.iter().find(|i| i.instruction_type() == t);
    let mut out = Vec::new();
    if let Some(WireInstruction::ApplyActions(list)) = find(crate::actions::ofpit::APPLY_ACTIONS) {
        out = decode_list(list)?;
    }
    if insts.iter().any(|i| {
        matches!(
            i,
            WireInstruction::ClearActions | WireInstruction::WriteActions(_)
        )
    }) {
        return Err(OfError::OFPBIC_UNSUP_INST);
    }
    for i in insts {
        if let WireInstruction::WriteMetadata { metadata, mask } = i {
            out.push(Action::WriteMetadata {
                value: *metadata,
                mask: *mask,
            });
        }
    }
    for i in insts {
        if let WireInstruction::GotoTable { table_id } = i {
            out.push(Action::GotoTable(*table_id));
        }
    }
    Ok(out)
}

/// The flows a delete or a stats request keeps to: an output port (OpenFlow 1.0
/// numbering, OFPP_NONE for any) and an output group. xvs has no groups, so a
/// group selects no flow: that is said with OFPP_NONE, a port no flow outputs to.
fn out_port(port: u16, group: u32) -> Option<OfPort> {
    if group != OFPG_ANY {
        Some(OFPP_NONE)
    } else {
        (OfPort::from(port) != OFPP_NONE).then_some(port.into())
    }
}

fn table(t: u8) -> Option<u8> {
    (t != OFPTT_ALL).then_some(t)
}

/// A decoded FLOW_MOD as the pipeline's command, or the error OVS sends for it.
/// `version` is the connection's; `fm.table_id` 255 means table 0 for adds and
/// every table for modifies and deletes.
pub fn flow_mod(fm: &WireFlowMod, version: Version) -> Result<FlowTableMod, OfError> {
    let matcher = flow_mod_match(&fm.wire_match)?;
    let actions = decode_actions(&fm.actions, version)?;
    let t = table(fm.table_id);
    check::check(&actions, &matcher, t, version)?;
    let has_meter = matches!(&fm.actions, FlowActions::Instructions(i)
        if i.iter().any(|i| matches!(i, WireInstruction::Meter { .. })));
    if has_meter {
        return Err(OfError::OFPMMFC_INVALID_METER);
    }
    let adds = !fm.command.is_delete();
    if adds && fm.buffer_id != u32::MAX {
        return Err(OfError::OFPBRC_BUFFER_UNKNOWN);
    }
    let mut flags = FlowFlags(fm.flags & 0x1f);
    if version == Version::Of10 && fm.command == FlowModCommand::Add {
        // OpenFlow 1.0's add always resets the counters (OVS says so in 1.3 dumps).
        flags.0 |= FlowFlags::RESET_COUNTS;
    }
    let mut flow = FlowMod {
        table: t,
        priority: fm.priority,
        cookie: fm.cookie,
        cookie_mask: fm.cookie_mask,
        idle_timeout: fm.idle_timeout,
        hard_timeout: fm.hard_timeout,
        flags,
        matcher,
        actions: Some(actions),
        out_port: None,
    };
    let command = match fm.command {
        FlowModCommand::Add => {
            // OVS gives the flow the message's cookie as is (all-ones included).
            flow.cookie = fm.new_cookie.unwrap_or(u64::MAX);
            flow.cookie_mask = 0;
            return Ok(FlowTableMod::add(flow));
        }
        FlowModCommand::Modify => Command::Modify { strict: false },
        FlowModCommand::ModifyStrict => Command::Modify { strict: true },
        FlowModCommand::Delete => Command::Delete { strict: false },
        FlowModCommand::DeleteStrict => Command::Delete { strict: true },
    };
    if !adds {
        flow.out_port = out_port(fm.out_port, fm.out_group);
        flow.actions = None;
    }
    Ok(FlowTableMod {
        command,
        new_cookie: if adds { fm.new_cookie } else { None },
        modify_may_add: adds && fm.new_cookie.is_some() && fm.cookie_mask == 0,
        flow,
    })
}

/// The selection of a FLOW or AGGREGATE stats request: table (`None`: all),
/// cookie and mask, output port, and the match the selected flows are within
/// (OpenFlow 1.0's as is, not normalized, as OVS reads it).
pub fn flow_filter(req: &FlowStatsRequest, _version: Version) -> Result<FlowMod, OfError> {
    let matcher = match &req.wire_match {
        WireMatch::Of10(om) => of10::decode_of10(om),
        WireMatch::Tlvs(t) => nxm::decode_match(t)?,
    };
    Ok(FlowMod {
        table: table(req.table_id),
        cookie: req.cookie,
        cookie_mask: req.cookie_mask,
        matcher,
        out_port: out_port(req.out_port, req.out_group),
        ..FlowMod::default()
    })
}

fn tlv_bytes(tlvs: &[MatchTlv]) -> Vec<u8> {
    let mut b = Vec::new();
    crate::oxm::emit_tlvs(tlvs, &mut b);
    b
}

/// One flow of a FLOW stats reply of `form` (the request's) in `version`: table,
/// durations since `created`, priority, timeouts, flags (OpenFlow 1.3+), cookie,
/// counters, idle and hard ages, and the flow's own match and actions or
/// instructions as OVS writes them there. `now` is the clock the rule's times are
/// on (milliseconds).
pub fn flow_stats(rule: &Rule, now: Time, version: Version, form: FlowStatsForm) -> FlowStatsEntry {
    let since = |t: Time| now.saturating_sub(t);
    let age = |t: Time| u32::try_from(since(t) / 1000).unwrap_or(u32::MAX);
    let duration = since(rule.created);
    let m = &rule.matcher;
    let (match_bytes, actions_bytes) = match form {
        FlowStatsForm::Of10 => {
            let mut b = Vec::with_capacity(40);
            of10::encode_of10(m).emit(&mut b);
            (b, encode::encode_actions(&rule.actions, m, version))
        }
        FlowStatsForm::Nx => (
            tlv_bytes(&nxm::encode_match(m, fields::NXM)),
            encode::encode_actions(&rule.actions, m, version),
        ),
        FlowStatsForm::Of11 => (
            tlv_bytes(&nxm::encode_match(m, version.wire())),
            encode::encode_instructions(&rule.actions, m, version),
        ),
    };
    FlowStatsEntry {
        table_id: rule.table,
        duration_sec: u32::try_from(duration / 1000).unwrap_or(u32::MAX),
        duration_nsec: (duration % 1000) as u32 * 1_000_000,
        priority: rule.priority,
        idle_timeout: rule.idle_timeout,
        hard_timeout: rule.hard_timeout,
        flags: if form == FlowStatsForm::Of11 {
            rule.flags.0 & 0x1f
        } else {
            0
        },
        importance: 0,
        cookie: rule.cookie,
        packet_count: rule.n_packets,
        byte_count: rule.n_bytes,
        idle_age: Some(age(rule.last_used)),
        hard_age: Some(age(rule.modified)),
        match_bytes,
        actions_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::parse_actions;
    use crate::bytes::test_util::hex;
    use crate::flow_mod::FlowModForm;
    use crate::of10_match::Of10Match;

    fn wire(form: FlowModForm, command: FlowModCommand) -> WireFlowMod {
        WireFlowMod {
            form,
            command,
            table_id: OFPTT_ALL,
            cookie: 0,
            cookie_mask: 0,
            new_cookie: Some(7),
            idle_timeout: 0,
            hard_timeout: 0,
            priority: 5,
            buffer_id: u32::MAX,
            out_port: 0xffff,
            out_group: OFPG_ANY,
            flags: 0,
            importance: 0,
            wire_match: WireMatch::Of10(Of10Match::all()),
            actions: FlowActions::Actions(
                parse_actions(Version::Of10, &hex("0000000800020000")).unwrap(),
            ),
        }
    }

    #[test]
    fn commands_as_ovs_reads_them() {
        // OpenFlow 1.0 add: table 0 (None), the cookie, reset_counts.
        let m = flow_mod(&wire(FlowModForm::Of10, FlowModCommand::Add), Version::Of10).unwrap();
        assert_eq!(m.command, Command::Add);
        assert_eq!((m.flow.table, m.flow.cookie), (None, 7));
        assert_eq!(m.flow.flags.0, FlowFlags::RESET_COUNTS);
        assert_eq!(m.flow.actions, Some(vec![Action::Output(2)]));
        // An all-ones cookie is kept on an add (OVS's new_cookie is taken as is).
        let mut w = wire(FlowModForm::Of10, FlowModCommand::Add);
        w.new_cookie = None;
        assert_eq!(flow_mod(&w, Version::Of10).unwrap().flow.cookie, u64::MAX);
        // OpenFlow 1.0 modify: may add, with the new cookie; strict keeps priority.
        let m = flow_mod(
            &wire(FlowModForm::Of10, FlowModCommand::ModifyStrict),
            Version::Of10,
        )
        .unwrap();
        assert_eq!(m.command, Command::Modify { strict: true });
        assert!(m.modify_may_add);
        assert_eq!(
            (m.new_cookie, m.flow.priority, m.flow.flags.0),
            (Some(7), 5, 0)
        );
        // OpenFlow 1.3 modify with a cookie mask: no add, cookie kept.
        let mut w = wire(FlowModForm::Of11, FlowModCommand::Modify);
        w.wire_match = WireMatch::Tlvs(Vec::new());
        w.actions = FlowActions::Instructions(Vec::new());
        (w.new_cookie, w.cookie, w.cookie_mask) = (None, 3, u64::MAX);
        let m = flow_mod(&w, Version::Of13).unwrap();
        assert!(!m.modify_may_add);
        assert_eq!(
            (m.new_cookie, m.flow.cookie, m.flow.cookie_mask),
            (None, 3, u64::MAX)
        );
        assert_eq!(m.flow.actions, Some(vec![]));
        // Deletes: output port and group restrictions; a group selects nothing.
        let mut w = wire(FlowModForm::Of11, FlowModCommand::Delete);
        w.out_port = 2;
        let m = flow_mod(&w, Version::Of10).unwrap();
        assert_eq!(m.command, Command::Delete { strict: false });
        assert_eq!((m.flow.out_port, m.new_cookie), (Some(2), None));
        w.out_group = 9;
        assert_eq!(
            flow_mod(&w, Version::Of10).unwrap().flow.out_port,
            Some(OFPP_NONE)
        );
        // A buffer id: OFPBRC_BUFFER_UNKNOWN for adds and modifies, not deletes.
        w.buffer_id = 1;
        assert!(flow_mod(&w, Version::Of10).is_ok());
        let mut w = wire(FlowModForm::Of10, FlowModCommand::Modify);
        w.buffer_id = 1;
        assert_eq!(
            flow_mod(&w, Version::Of10),
            Err(OfError::OFPBRC_BUFFER_UNKNOWN)
        );
    }
}
