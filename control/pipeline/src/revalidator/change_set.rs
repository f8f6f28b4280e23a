//! A batch of changes, digested into what they can affect, to find the cache entries
//! they may have made wrong quickly.

use std::cell::RefCell;

use hashbrown::{HashMap, HashSet};
use xvs_dataplane::{FlowKey, MacAddr};

use crate::ofp::Match;
use crate::ofproto::changes::Change;
use crate::ofproto::table::RuleId;
use crate::topology::BridgeId;
use crate::xlate::Translation;

/// What a batch of changes can affect, digested for quick checks.
#[derive(Default)]
pub(crate) struct ChangeSet {
    pub flush: bool,
    /// Rules removed or modified.
    pub rules: HashSet<(BridgeId, RuleId)>,
    /// Removed rules, by what a `learn` would re-create.
    pub learned: HashSet<(BridgeId, u8, Match, u16)>,
    pub macs: HashSet<(BridgeId, u16, MacAddr)>,
    /// Added rules per (bridge, table): may one match a lookup an entry made?
    pub added: HashMap<(BridgeId, u8), AddedRules>,
}

/// Rules added to one table, grouped by mask, to test quickly whether one of them may
/// match any key an entry stands for.
#[derive(Default)]
pub(crate) struct AddedRules {
    groups: Vec<(FlowKey, HashSet<FlowKey>)>,
    /// The values of group `i` projected onto a narrower mask, built on first use.
    projections: RefCell<HashMap<(usize, FlowKey), HashSet<FlowKey>>>,
}

impl AddedRules {
    fn add(&mut self, m: &Match) {
        match self.groups.iter_mut().find(|(mask, _)| *mask == m.mask) {
            Some((_, values)) => {
                values.insert(m.value);
            }
            None => self.groups.push((m.mask, HashSet::from_iter([m.value]))),
        }
    }

    /// Whether some added rule matches some key that agrees with `k` on the bits of
    /// `known`. An entry stands for every packet equal to its own on the fields its
    /// translation consulted; on the other fields it may be anything, so a rule can
    /// only be ruled out by a known bit that differs.
    fn may_match(&self, k: &FlowKey, known: &FlowKey) -> bool {
        for (i, (mask, values)) in self.groups.iter().enumerate() {
            let common = mask.masked(known);
            if common == *mask {
                if values.contains(&k.masked(mask)) {
                    return true;
                }
                continue;
            }
            let mut proj = self.projections.borrow_mut();
            let set = proj
                .entry((i, common))
                .or_insert_with(|| values.iter().map(|v| v.masked(&common)).collect());
            if set.contains(&k.masked(&common)) {
                return true;
            }
        }
        false
    }
}

impl ChangeSet {
    pub fn new(changes: &[Change]) -> Self {
        let mut cs = ChangeSet::default();
        for c in changes {
            match c {
                Change::Topology => cs.flush = true,
                Change::RuleModified { bridge, id } => {
                    cs.rules.insert((*bridge, *id));
                }
                Change::RuleRemoved {
                    bridge,
                    table,
                    id,
                    matcher,
                    priority,
                } => {
                    cs.rules.insert((*bridge, *id));
                    cs.learned.insert((*bridge, *table, *matcher, *priority));
                }
                Change::Mac { bridge, vlan, mac } => {
                    cs.macs.insert((*bridge, *vlan, *mac));
                }
                Change::RuleAdded {
                    bridge,
                    table,
                    matcher,
                    ..
                } => {
                    cs.added.entry((*bridge, *table)).or_default().add(matcher);
                }
            }
        }
        cs
    }

    pub fn is_empty(&self) -> bool {
        !self.flush
            && self.rules.is_empty()
            && self.learned.is_empty()
            && self.macs.is_empty()
            && self.added.is_empty()
    }

    /// Whether a rule added to (bridge, table) may match a lookup made there with `key`
    /// by an entry that consulted `known`.
    pub fn added_matches(
        &self,
        bridge: BridgeId,
        table: u8,
        key: &FlowKey,
        known: &FlowKey,
    ) -> bool {
        self.added
            .get(&(bridge, table))
            .is_some_and(|a| a.may_match(key, known))
    }

    /// Whether a translation may end differently after these changes. With
    /// `own_learning`, MAC changes the translation made itself do not count: it already
    /// saw them (NORMAL reads what it learns).
    pub fn affects(&self, tr: &Translation, own_learning: bool) -> bool {
        let own = |b: BridgeId, v: u16, m: MacAddr| {
            own_learning && tr.macs.iter().any(|e| (e.0, e.1, e.2) == (b, v, m))
        };
        self.flush
            || tr.rules.iter().any(|r| self.rules.contains(r))
            || tr.learned.iter().any(|l| {
                self.learned
                    .contains(&(l.bridge, l.table, l.matcher, l.priority))
            })
            || tr
                .mac_lookups
                .iter()
                .any(|&(b, v, m)| self.macs.contains(&(b, v, m)) && !own(b, v, m))
            || tr
                .macs
                .iter()
                .any(|&(b, v, m, _)| self.macs.contains(&(b, v, m)) && !own(b, v, m))
            || tr
                .lookups
                .iter()
                .any(|(b, t, k)| self.added_matches(*b, *t, k, &tr.consulted))
    }
}
