//! The flow-table commands as an OpenFlow FLOW_MOD carries them (add, modify, delete,
//! strict or not, cookie masks, `out_port`), whatever text or wire form they came in:
//! applied one at a time, each with its own outcome, or as an all-or-nothing batch (a
//! bundle's commit, OVS's `do_bundle_commit`): every command is checked before any is
//! applied, and applying a checked command cannot fail, so either all of them are in
//! the tables afterwards or none.

use std::collections::BTreeMap;

use super::changes::ChangeLog;
use super::table::Time;
use super::BridgeTables;
use crate::ofp::{FlowMod, Match, N_TABLES};

/// What a FLOW_MOD asks (OVS's `OFPFC_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowModCommand {
    /// Adds the flow, replacing one with the same table, priority and match (its
    /// cookie, actions and timeouts; its counters only with `reset_counts`).
    Add,
    /// Gives the selected flows the new actions (strict: the one flow with exactly
    /// this match and priority; else every flow whose match is within this one).
    Modify { strict: bool },
    /// Removes the selected flows.
    Delete { strict: bool },
}

/// One flow-table command: the flow and how it selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowTableMod {
    pub command: FlowModCommand,
    /// Add: the flow (table `None` is table 0). Modify/delete: the selection (table
    /// `None` is every table; `cookie`/`cookie_mask`, `out_port`, and for the strict
    /// forms `priority`) and, for modify, the new actions (`None`: none, a drop).
    pub flow: FlowMod,
    /// Modify: the cookie the selected flows get (`None`: they keep theirs).
    pub new_cookie: Option<u64>,
    /// Modify: when nothing is selected, add the flow (OpenFlow 1.0's MODIFY).
    pub modify_may_add: bool,
}

impl FlowTableMod {
    pub fn add(flow: FlowMod) -> Self {
        FlowTableMod {
            command: FlowModCommand::Add,
            flow,
            new_cookie: None,
            modify_may_add: false,
        }
    }

    pub fn delete(flow: FlowMod, strict: bool) -> Self {
        FlowTableMod {
            command: FlowModCommand::Delete { strict },
            flow,
            new_cookie: None,
            modify_may_add: false,
        }
    }
}

/// Why a flow-table command is refused (nothing of it is applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowModFailure {
    /// A table the switch does not have (OpenFlow: OFPBRC_BAD_TABLE_ID).
    #[error("no table {0}")]
    BadTableId(u8),
    /// The table is at its `flow_limit` and nothing may be evicted (OpenFlow:
    /// OFPFMFC_TABLE_FULL, OFPFMFC_ALL_TABLES_FULL in 1.0).
    #[error("table {0} is full")]
    TableFull(u8),
}

impl BridgeTables {
    /// Whether `m` can be applied: its table exists, and a flow it adds has room.
    pub fn check_mod(&self, m: &FlowTableMod) -> Result<(), FlowModFailure> {
        self.check_mods(std::slice::from_ref(m)).map_err(|(_, e)| e)
    }

    /// Counts a refusal for a full table.
    fn refused(&mut self, e: FlowModFailure) -> FlowModFailure {
        if matches!(e, FlowModFailure::TableFull(_)) {
            self.limits.stats.refused += 1;
        }
        e
    }

    /// Whether every command can be applied, in order: each one's table exists, and
    /// the flows they add fit (deletes among them are not counted as making room).
    fn check_mods(&self, mods: &[FlowTableMod]) -> Result<(), (usize, FlowModFailure)> {
        for (i, m) in mods.iter().enumerate() {
            if let Some(t) = m.flow.table {
                if usize::from(t) >= usize::from(N_TABLES) {
                    return Err((i, FlowModFailure::BadTableId(t)));
                }
            }
        }
        let adds: Vec<(usize, (u8, &Match, u16))> = mods
            .iter()
            .enumerate()
            .filter(|(_, m)| self.adds(m))
            .map(|(i, m)| {
                (
                    i,
                    (m.flow.table.unwrap_or(0), &m.flow.matcher, m.flow.priority),
                )
            })
            .collect();
        let none = BTreeMap::new();
        if self.check_room(adds.iter().map(|a| a.1), &none).is_ok() {
            return Ok(());
        }
        // The first command that does not fit is the one named.
        for k in 1..=adds.len() {
            if let Err(e) = self.check_room(adds[..k].iter().map(|a| a.1), &none) {
                return Err((adds[k - 1].0, e));
            }
        }
        Ok(())
    }

    /// Whether `m` adds a flow (an ADD, or a MODIFY that may add and selects nothing).
    fn adds(&self, m: &FlowTableMod) -> bool {
        match m.command {
            FlowModCommand::Add => true,
            FlowModCommand::Modify { strict } => {
                m.modify_may_add && self.select(&m.flow, strict).is_empty()
            }
            FlowModCommand::Delete { .. } => false,
        }
    }

    /// Checks and applies one command; returns how many flows it added, changed or
    /// removed.
    pub fn apply_mod(
        &mut self,
        m: FlowTableMod,
        now: Time,
        log: &mut ChangeLog,
    ) -> Result<usize, FlowModFailure> {
        self.check_mods(std::slice::from_ref(&m))
            .map_err(|(_, e)| self.refused(e))?;
        Ok(self.apply_checked(m, now, log))
    }

    /// Every command or none: each is checked first; on the first refusal nothing is
    /// applied and its index comes back with the reason. Otherwise returns each
    /// command's count, in order.
    pub fn apply_mods_atomic(
        &mut self,
        mods: Vec<FlowTableMod>,
        now: Time,
        log: &mut ChangeLog,
    ) -> Result<Vec<usize>, (usize, FlowModFailure)> {
        self.check_mods(&mods)
            .map_err(|(i, e)| (i, self.refused(e)))?;
        Ok(mods
            .into_iter()
            .map(|m| self.apply_checked(m, now, log))
            .collect())
    }

    fn apply_checked(&mut self, m: FlowTableMod, now: Time, log: &mut ChangeLog) -> usize {
        match m.command {
            FlowModCommand::Add => {
                // Checked: room was there (a refusal now is counted, and adds nothing).
                usize::from(self.add_replacing(m.flow, now, log).is_ok())
            }
            FlowModCommand::Delete { strict } => self.del_flows(&m.flow, strict, log),
            FlowModCommand::Modify { strict } => {
                let ids = self.select(&m.flow, strict);
                if ids.is_empty() {
                    if m.modify_may_add {
                        let mut flow = m.flow;
                        flow.cookie = m.new_cookie.unwrap_or(flow.cookie);
                        flow.cookie_mask = 0;
                        return usize::from(self.insert(flow, now, log).is_ok());
                    }
                    return 0;
                }
                let actions = m.flow.actions.unwrap_or_default();
                for &(t, id) in &ids {
                    let r = self.tables[usize::from(t)]
                        .get_mut(id)
                        .expect("selected rule exists");
                    r.actions = actions.clone();
                    r.modified = now;
                    if let Some(c) = m.new_cookie {
                        r.cookie = c;
                    }
                    log.push(super::changes::Change::RuleModified {
                        bridge: self.id,
                        id,
                    });
                }
                ids.len()
            }
        }
    }
}
