//! One OpenFlow table: rules by priority, found by tuple-space search.
//!
//! Rules with the same mask share a subtable (a hash map from masked value to rules), so a
//! lookup costs one hash probe per distinct mask, not one comparison per rule: a table of
//! 1,000,000 exact `dl_dst` flows is one subtable. The masks of the subtables a lookup
//! visits are what the result depended on; they go into the translation's consulted mask.

use std::collections::BTreeMap;

use hashbrown::HashMap;
use smallvec::SmallVec;
use xvs_dataplane::FlowKey;

use crate::ofp::{Action, FlowFlags, Match, OFPP_CONTROLLER};

/// Milliseconds on the control plane's clock; the caller supplies it, so the core stays
/// deterministic.
pub type Time = u64;

/// Unique within a bridge, increasing in order of creation.
pub type RuleId = u64;

/// The id of a table's hidden rule (see [`FlowTable::set_hidden`]); real rules start
/// at 1.
pub const HIDDEN_RULE_ID: RuleId = 0;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: RuleId,
    pub table: u8,
    pub priority: u16,
    pub matcher: Match,
    pub actions: Vec<Action>,
    pub cookie: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    /// `send_flow_rem`, `reset_counts`, ... as given.
    pub flags: FlowFlags,
    pub created: Time,
    /// When the actions (or, for learned flows, the timeouts) were last set: the hard
    /// timeout runs from here, as `hard_age` does in OVS.
    pub modified: Time,
    pub last_used: Time,
    pub n_packets: u64,
    pub n_bytes: u64,
}

impl Rule {
    /// Which timeout (if any) has expired at `now`.
    pub fn expired(&self, now: Time) -> Option<ExpiryReason> {
        let secs = |t: Time| now.saturating_sub(t) / 1000;
        if self.hard_timeout != 0 && secs(self.modified) >= self.hard_timeout as u64 {
            Some(ExpiryReason::Hard)
        } else if self.idle_timeout != 0 && secs(self.last_used) >= self.idle_timeout as u64 {
            Some(ExpiryReason::Idle)
        } else {
            None
        }
    }

    /// When the rule will expire if nothing happens (its idle timeout counts from its
    /// last use, its hard timeout from its last modification), or None if it is
    /// permanent: what eviction goes by, as OVS's `rule_eviction_priority`.
    pub fn expires_at(&self) -> Option<Time> {
        let hard = (self.hard_timeout != 0).then(|| {
            self.modified
                .saturating_add(u64::from(self.hard_timeout) * 1000)
        });
        let idle = (self.idle_timeout != 0).then(|| {
            self.last_used
                .saturating_add(u64::from(self.idle_timeout) * 1000)
        });
        match (hard, idle) {
            (Some(h), Some(i)) => Some(h.min(i)),
            (h, i) => h.or(i),
        }
    }

    /// Whether the rule's actions send packets to `port` (for `out_port=` filters).
    pub fn outputs_to(&self, port: u32) -> bool {
        self.actions.iter().any(|a| match a {
            Action::Output(p) => *p == port,
            Action::Controller { .. } => port == OFPP_CONTROLLER,
            _ => false,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryReason {
    Idle,
    Hard,
}

struct Subtable {
    mask: FlowKey,
    /// Rules by masked value, highest priority first (ties: oldest first).
    rules: HashMap<FlowKey, SmallVec<[(u16, RuleId); 1]>>,
    /// Number of rules per priority, so the highest is known after removals.
    priorities: BTreeMap<u16, usize>,
}

impl Subtable {
    fn max_priority(&self) -> u16 {
        self.priorities.keys().next_back().copied().unwrap_or(0)
    }
}

#[derive(Default)]
pub struct FlowTable {
    rules: HashMap<RuleId, Rule>,
    /// Highest `max_priority` first, so a lookup can stop early.
    subtables: Vec<Subtable>,
    /// A catch-all rule above every OpenFlow priority that no dump shows (OVS's hidden
    /// flows, priority > 65535: fail-open's NORMAL).
    hidden: Option<Rule>,
}

impl FlowTable {
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn get(&self, id: RuleId) -> Option<&Rule> {
        self.rules.get(&id)
    }

    pub fn get_mut(&mut self, id: RuleId) -> Option<&mut Rule> {
        self.rules.get_mut(&id)
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values()
    }

    /// Sets (or removes) the hidden catch-all rule, which every lookup finds first.
    pub fn set_hidden(&mut self, rule: Option<Rule>) {
        self.hidden = rule;
    }

    pub fn hidden(&self) -> Option<&Rule> {
        self.hidden.as_ref()
    }

    /// The rule with exactly this match and priority (what `add-flow` replaces and
    /// `--strict` selects).
    pub fn find_exact(&self, m: &Match, priority: u16) -> Option<RuleId> {
        let st = self.subtables.iter().find(|st| st.mask == m.mask)?;
        st.rules
            .get(&m.value)?
            .iter()
            .find(|(p, _)| *p == priority)
            .map(|(_, id)| *id)
    }

    /// Inserts `rule`; the caller has removed any rule with the same match and priority.
    pub fn insert(&mut self, rule: Rule) {
        debug_assert!(self.find_exact(&rule.matcher, rule.priority).is_none());
        debug_assert_eq!(
            rule.matcher.value,
            rule.matcher.value.masked(&rule.matcher.mask)
        );
        let idx = match self
            .subtables
            .iter()
            .position(|st| st.mask == rule.matcher.mask)
        {
            Some(i) => i,
            None => {
                self.subtables.push(Subtable {
                    mask: rule.matcher.mask,
                    rules: HashMap::new(),
                    priorities: BTreeMap::new(),
                });
                self.subtables.len() - 1
            }
        };
        let st = &mut self.subtables[idx];
        let list = st.rules.entry(rule.matcher.value).or_default();
        let pos = list
            .iter()
            .position(|(p, _)| *p < rule.priority)
            .unwrap_or(list.len());
        list.insert(pos, (rule.priority, rule.id));
        *st.priorities.entry(rule.priority).or_default() += 1;
        self.rules.insert(rule.id, rule);
        self.sort_subtables();
    }

    pub fn remove(&mut self, id: RuleId) -> Option<Rule> {
        let rule = self.rules.remove(&id)?;
        let idx = self
            .subtables
            .iter()
            .position(|st| st.mask == rule.matcher.mask)
            .expect("every rule is in the subtable of its mask");
        let st = &mut self.subtables[idx];
        if let Some(list) = st.rules.get_mut(&rule.matcher.value) {
            list.retain(|(_, r)| *r != id);
            if list.is_empty() {
                st.rules.remove(&rule.matcher.value);
            }
        }
        if let Some(n) = st.priorities.get_mut(&rule.priority) {
            *n -= 1;
            if *n == 0 {
                st.priorities.remove(&rule.priority);
            }
        }
        if st.rules.is_empty() {
            self.subtables.swap_remove(idx);
        }
        self.sort_subtables();
        Some(rule)
    }

    fn sort_subtables(&mut self) {
        self.subtables
            .sort_by_key(|st| std::cmp::Reverse(st.max_priority()));
    }

    /// The highest-priority rule matching `key`. Adds to `consulted` the masks of the
    /// subtables visited: the fields this answer depended on.
    pub fn lookup(&self, key: &FlowKey, consulted: &mut FlowKey) -> Option<&Rule> {
        if let Some(h) = &self.hidden {
            // Matches every packet: depends on no field.
            return Some(h);
        }
        let mut best: Option<(u16, RuleId)> = None;
        for st in &self.subtables {
            if let Some((p, _)) = best {
                // Subtables are sorted: none from here on can beat what we have.
                if st.max_priority() <= p {
                    break;
                }
            }
            consulted.union_with(&st.mask);
            if let Some(list) = st.rules.get(&key.masked(&st.mask)) {
                let cand = list[0];
                if best.is_none_or(|(p, _)| cand.0 > p) {
                    best = Some(cand);
                }
            }
        }
        best.and_then(|(_, id)| self.rules.get(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofp::Field;

    fn rule(id: RuleId, priority: u16, m: Match) -> Rule {
        Rule {
            id,
            table: 0,
            priority,
            matcher: m,
            actions: vec![],
            cookie: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: FlowFlags::default(),
            created: 0,
            modified: 0,
            last_used: 0,
            n_packets: 0,
            n_bytes: 0,
        }
    }

    #[test]
    fn highest_priority_wins_and_consulted_is_the_visited_masks() {
        let mut t = FlowTable::default();
        let mut by_port = Match::default();
        by_port.set_exact(Field::InPort, 1);
        let mut by_vlan = by_port;
        by_vlan.set_masked(Field::VlanTci, 0x1001, 0x1fff);
        t.insert(rule(1, 1, Match::default()));
        t.insert(rule(2, 4, by_vlan));
        t.insert(rule(3, 2, by_port));

        let key = FlowKey {
            in_port: 1,
            vlan_tci: 0x1001,
            ..Default::default()
        };
        let mut c = FlowKey::default();
        assert_eq!(t.lookup(&key, &mut c).unwrap().id, 2);
        // Only the priority-4 subtable was needed.
        assert_eq!(c, by_vlan.mask);

        let key = FlowKey {
            in_port: 1,
            vlan_tci: 0x1002,
            ..Default::default()
        };
        let mut c = FlowKey::default();
        assert_eq!(t.lookup(&key, &mut c).unwrap().id, 3);
        assert_eq!(c.vlan_tci, 0x1fff);

        let key = FlowKey {
            in_port: 2,
            ..Default::default()
        };
        assert_eq!(t.lookup(&key, &mut FlowKey::default()).unwrap().id, 1);

        assert!(t.remove(2).is_some());
        let key = FlowKey {
            in_port: 1,
            vlan_tci: 0x1001,
            ..Default::default()
        };
        assert_eq!(t.lookup(&key, &mut FlowKey::default()).unwrap().id, 3);
        assert_eq!(t.find_exact(&by_port, 2), Some(3));
        assert_eq!(t.find_exact(&by_port, 3), None);
    }

    #[test]
    fn timeouts() {
        let mut r = rule(1, 1, Match::default());
        r.idle_timeout = 10;
        r.hard_timeout = 300;
        assert_eq!(r.expired(9_999), None);
        assert_eq!(r.expired(10_000), Some(ExpiryReason::Idle));
        r.last_used = 295_000;
        assert_eq!(r.expired(300_000), Some(ExpiryReason::Hard));
    }
}
