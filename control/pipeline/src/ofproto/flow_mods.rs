//! The flow-table commands as an OpenFlow FLOW_MOD carries them (add, modify, delete,
//! strict or not, cookie masks, `out_port`), whatever text or wire form they came in:
//! applied one at a time, each with its own outcome, or as an all-or-nothing batch (a
//! bundle's commit, OVS's `do_bundle_commit`): every command is checked before any is
//! applied, and applying a checked command cannot fail, so either all of them are in
//! the tables afterwards or none.

use super::changes::ChangeLog;
use super::table::Time;
use super::BridgeTables;
use crate::ofp::{FlowMod, N_TABLES};

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
}

impl BridgeTables {
    /// Whether `m` can be applied: its table exists.
    pub fn check_mod(&self, m: &FlowTableMod) -> Result<(), FlowModFailure> {
        match m.flow.table {
            Some(t) if usize::from(t) >= usize::from(N_TABLES) => {
                Err(FlowModFailure::BadTableId(t))
            }
            _ => Ok(()),
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
        self.check_mod(&m)?;
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
        for (i, m) in mods.iter().enumerate() {
            self.check_mod(m).map_err(|e| (i, e))?;
        }
        Ok(mods
            .into_iter()
            .map(|m| self.apply_checked(m, now, log))
            .collect())
    }

    fn apply_checked(&mut self, m: FlowTableMod, now: Time, log: &mut ChangeLog) -> usize {
        match m.command {
            FlowModCommand::Add => {
                self.add_replacing(m.flow, now, log);
                1
            }
            FlowModCommand::Delete { strict } => self.del_flows(&m.flow, strict, log),
            FlowModCommand::Modify { strict } => {
                let ids = self.select(&m.flow, strict);
                if ids.is_empty() {
                    if m.modify_may_add {
                        let mut flow = m.flow;
                        flow.cookie = m.new_cookie.unwrap_or(flow.cookie);
                        flow.cookie_mask = 0;
                        self.insert(flow, now, log);
                        return 1;
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
