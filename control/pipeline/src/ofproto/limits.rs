//! Bounds on flow tables: a table's `flow_limit` and `overflow_policy` from the OVS
//! database's `Flow_Table` rows (vswitchd/vswitch.xml), with OVS's eviction (ofproto.c:
//! the largest group by the `groups` fields first, then the flow that expires soonest;
//! flows without timeouts are never evicted), and a ceiling on the flows `learn`
//! installs in a bridge's tables that have no limit of their own. Without the ceiling a
//! `learn` without timeouts under a MAC storm grows a table until the host runs out.
//!
//! The indexes here are kept by [`super::BridgeTables`] as rules come and go; they hold
//! rule ids, not rules.

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::{HashMap, HashSet};

use super::table::{FlowTable, Rule, RuleId, Time};
use crate::ofp::FieldSlice;

/// The most flows `learn` actions may have in one bridge's tables that have no
/// `flow_limit` of their own (OVS has no such ceiling). At about 2.5 KB per learned
/// flow this is about 160 MB; a Neutron node learns a few per VM and port.
pub const DEFAULT_LEARNED_LIMIT: usize = 65_536;

/// What happens when a flow would be added to a full table (`Flow_Table:overflow_policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// The flow is refused (OpenFlow: OFPFMFC_TABLE_FULL). OVS's default.
    #[default]
    Refuse,
    /// A flow with a timeout makes room (see [`TableConfig::groups`]); with none, the
    /// new flow is refused.
    Evict,
}

/// One `Flow_Table` row: a table's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableConfig {
    /// `name`: for people, not used by the switch.
    pub name: Option<String>,
    /// `flow_limit`: the most flows the table holds (None: no limit).
    pub flow_limit: Option<usize>,
    pub overflow_policy: OverflowPolicy,
    /// `groups`: with `evict`, flows are grouped by the values of these fields in their
    /// matches (0 where a flow does not match on it) and the largest group loses a flow
    /// first, so that one source cannot push out everyone else's flows.
    pub groups: Vec<FieldSlice>,
}

/// What the limits did, per bridge (shown by `dp-show`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowLimitStats {
    /// Flows refused because their table was full (OpenFlow, `xvsctl add-flow`).
    pub refused: u64,
    /// Flows evicted to make room under a table's `flow_limit` (and on a lowered limit).
    pub evicted: u64,
    /// Flows `learn` asked for and did not get: the table or the learned-flow ceiling
    /// was full and nothing could be evicted.
    pub learn_refused: u64,
    /// Learned flows evicted by the bridge's learned-flow ceiling to make room for
    /// newer ones.
    pub learn_evicted: u64,
}

impl std::ops::AddAssign for FlowLimitStats {
    fn add_assign(&mut self, o: Self) {
        self.refused += o.refused;
        self.evicted += o.evicted;
        self.learn_refused += o.learn_refused;
        self.learn_evicted += o.learn_evicted;
    }
}

/// How many candidates one choice looks at before it settles: choices stay cheap when
/// many keys are stale or many groups tie (OVS too picks among tied groups at random).
const MAX_TRIES: usize = 64;

/// Rules with a timeout, soonest to expire first. A rule's key is its expiry when it was
/// queued; use and modification mostly push expiries later, so the smallest key is
/// checked against its rule and queued again with the right key until one holds.
#[derive(Debug, Default)]
pub struct ExpiryQueue {
    order: BTreeSet<(Time, RuleId)>,
    keys: HashMap<RuleId, (u8, Time)>,
}

impl ExpiryQueue {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Queues `rule` if it can expire (a permanent rule is never evicted).
    pub fn insert(&mut self, rule: &Rule) {
        if let Some(at) = rule.expires_at() {
            self.remove(rule.id);
            self.order.insert((at, rule.id));
            self.keys.insert(rule.id, (rule.table, at));
        }
    }

    /// Returns whether it was queued.
    pub fn remove(&mut self, id: RuleId) -> bool {
        match self.keys.remove(&id) {
            Some((_, at)) => {
                self.order.remove(&(at, id));
                true
            }
            None => false,
        }
    }

    /// The queued rule that expires soonest, as (table, rule, expiry); `get` finds a
    /// rule by table and id.
    pub fn soonest<'r>(
        &mut self,
        get: impl Fn(u8, RuleId) -> Option<&'r Rule>,
    ) -> Option<(u8, RuleId, Time)> {
        for _ in 0..MAX_TRIES {
            let &(at, id) = self.order.first()?;
            let Some(&(table, _)) = self.keys.get(&id) else {
                // Never so (both are kept together), but no reason to stop on it.
                self.order.remove(&(at, id));
                continue;
            };
            match get(table, id).and_then(Rule::expires_at) {
                Some(real) if real > at => {
                    self.order.remove(&(at, id));
                    self.order.insert((real, id));
                    self.keys.insert(id, (table, real));
                }
                Some(_) => return Some((table, id, at)),
                None => {
                    // Gone or made permanent behind the queue's back: not a candidate.
                    self.remove(id);
                }
            }
        }
        let &(at, id) = self.order.first()?;
        Some((self.keys.get(&id)?.0, id, at))
    }
}

type GroupKey = Vec<u128>;

/// A table's eviction index under `overflow_policy=evict`: its flows with timeouts,
/// by group.
#[derive(Debug, Default)]
pub struct TableEviction {
    groups: Vec<FieldSlice>,
    by_group: HashMap<GroupKey, ExpiryQueue>,
    /// (size, group), to find the largest.
    sizes: BTreeSet<(usize, GroupKey)>,
}

impl TableEviction {
    /// The index of `table`'s rules under `groups`.
    pub fn new(groups: Vec<FieldSlice>, table: &FlowTable) -> Self {
        let mut e = TableEviction {
            groups,
            ..Default::default()
        };
        for r in table.rules() {
            e.insert(r);
        }
        e
    }

    /// How many flows could be evicted.
    pub fn evictable(&self) -> usize {
        self.by_group.values().map(ExpiryQueue::len).sum()
    }

    fn key(&self, rule: &Rule) -> GroupKey {
        // A match's value is zero where it does not match, as OVS's groups want.
        self.groups
            .iter()
            .map(|g| g.read(&rule.matcher.value))
            .collect()
    }

    pub fn insert(&mut self, rule: &Rule) {
        if rule.expires_at().is_none() {
            return;
        }
        let key = self.key(rule);
        let q = self.by_group.entry(key.clone()).or_default();
        let before = q.len();
        q.insert(rule);
        let after = q.len();
        self.sizes.remove(&(before, key.clone()));
        self.sizes.insert((after, key));
    }

    pub fn remove(&mut self, rule: &Rule) {
        let key = self.key(rule);
        let Some(q) = self.by_group.get_mut(&key) else {
            return;
        };
        let before = q.len();
        if !q.remove(rule.id) {
            return;
        }
        self.sizes.remove(&(before, key.clone()));
        if q.is_empty() {
            self.by_group.remove(&key);
        } else {
            self.sizes.insert((before - 1, key));
        }
    }

    /// The flow to evict: from the largest group (among groups of that size, the
    /// flow that expires soonest), as OVS's `choose_rule_to_evict`.
    pub fn choose(&mut self, table: &FlowTable) -> Option<RuleId> {
        let largest = self.sizes.last()?.0;
        let tied: Vec<GroupKey> = self
            .sizes
            .iter()
            .rev()
            .take_while(|(n, _)| *n == largest)
            .take(MAX_TRIES)
            .map(|(_, k)| k.clone())
            .collect();
        let mut best: Option<(Time, RuleId)> = None;
        for key in tied {
            let Some(q) = self.by_group.get_mut(&key) else {
                continue;
            };
            let before = q.len();
            let found = q.soonest(|_, id| table.get(id));
            let after = q.len();
            if after != before {
                // Stale entries went: keep the sizes true.
                self.sizes.remove(&(before, key.clone()));
                if after > 0 {
                    self.sizes.insert((after, key.clone()));
                } else {
                    self.by_group.remove(&key);
                }
            }
            if let Some((_, id, at)) = found {
                if best.is_none_or(|b| (at, id) < b) {
                    best = Some((at, id));
                }
            }
        }
        best.map(|(_, id)| id)
    }
}

/// A bridge's limits: its tables' settings and eviction indexes, its learned flows.
#[derive(Debug)]
pub struct Limits {
    /// Tables with a `Flow_Table` row (the others: no limit, refuse).
    pub configs: BTreeMap<u8, TableConfig>,
    /// The eviction index of every table with `overflow_policy=evict` and a limit.
    pub eviction: HashMap<u8, TableEviction>,
    /// Every flow `learn` installed that is still there.
    pub learned: HashSet<RuleId>,
    /// Those of them that can expire.
    pub learned_queue: ExpiryQueue,
    /// The ceiling on learned flows in tables without a `flow_limit`.
    pub learned_limit: usize,
    pub stats: FlowLimitStats,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            configs: BTreeMap::new(),
            eviction: HashMap::new(),
            learned: HashSet::new(),
            learned_queue: ExpiryQueue::default(),
            learned_limit: DEFAULT_LEARNED_LIMIT,
            stats: FlowLimitStats::default(),
        }
    }
}

impl Limits {
    /// `table`'s `flow_limit`, if it has one.
    pub fn flow_limit(&self, table: u8) -> Option<usize> {
        self.configs.get(&table).and_then(|c| c.flow_limit)
    }

    /// A rule went into the tables (`learned`: by `learn`).
    pub fn added(&mut self, rule: &Rule, learned: bool) {
        if let Some(e) = self.eviction.get_mut(&rule.table) {
            e.insert(rule);
        }
        if learned {
            self.learned.insert(rule.id);
            self.learned_queue.insert(rule);
        }
    }

    /// A rule left the tables.
    pub fn removed(&mut self, rule: &Rule) {
        if let Some(e) = self.eviction.get_mut(&rule.table) {
            e.remove(rule);
        }
        if self.learned.remove(&rule.id) {
            self.learned_queue.remove(rule.id);
        }
    }

    /// How many of `table`'s flows could be evicted under its policy (0 with `refuse`).
    pub fn evictable(&self, table: u8) -> usize {
        self.eviction
            .get(&table)
            .map_or(0, TableEviction::evictable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofp::{Field, FlowFlags, Match};

    fn rule(id: RuleId, in_port: u32, idle: u16, hard: u16, used: Time) -> Rule {
        let mut m = Match::default();
        m.set_exact(Field::InPort, u128::from(in_port));
        Rule {
            id,
            table: 0,
            // Distinct, so that rules of one port are distinct flows.
            priority: id as u16,
            matcher: m,
            actions: vec![],
            cookie: 0,
            idle_timeout: idle,
            hard_timeout: hard,
            flags: FlowFlags::default(),
            created: 0,
            modified: 0,
            last_used: used,
            n_packets: 0,
            n_bytes: 0,
        }
    }

    #[test]
    fn soonest_to_expire_first_and_permanent_never() {
        let mut t = FlowTable::default();
        // Expire at 10 s (hard), 5 s (idle from 0), never, 7 s (idle from 2 s).
        for r in [
            rule(1, 1, 0, 10, 0),
            rule(2, 1, 5, 0, 0),
            rule(3, 1, 0, 0, 0),
            rule(4, 1, 5, 0, 2000),
        ] {
            t.insert(r);
        }
        let mut e = TableEviction::new(vec![], &t);
        assert_eq!(e.evictable(), 3);
        assert_eq!(e.choose(&t), Some(2));
        // Rule 2 is used at 6 s: it now expires at 11 s; rule 4 is next.
        t.get_mut(2).unwrap().last_used = 6000;
        assert_eq!(e.choose(&t), Some(4));
        let r4 = t.remove(4).unwrap();
        e.remove(&r4);
        assert_eq!(e.choose(&t), Some(1));
        for id in [1, 2] {
            let r = t.remove(id).unwrap();
            e.remove(&r);
        }
        assert_eq!(e.choose(&t), None, "a permanent flow is never evicted");
    }

    #[test]
    fn the_largest_group_loses_first() {
        let mut t = FlowTable::default();
        // Port 1 has three flows that expire late, port 2 one that expires first.
        for r in [
            rule(1, 1, 0, 100, 0),
            rule(2, 1, 0, 200, 0),
            rule(3, 1, 0, 300, 0),
            rule(4, 2, 0, 10, 0),
        ] {
            t.insert(r);
        }
        let mut by_port = TableEviction::new(vec![FieldSlice::whole(Field::InPort)], &t);
        assert_eq!(by_port.choose(&t), Some(1), "port 1's group is the largest");
        let mut flat = TableEviction::new(vec![], &t);
        assert_eq!(flat.choose(&t), Some(4), "without groups: the soonest");
        // Groups shrink as their flows go: with two each, the soonest of both.
        let r = t.remove(1).unwrap();
        by_port.remove(&r);
        let r = rule(5, 2, 0, 50, 0);
        t.insert(r.clone());
        by_port.insert(&r);
        assert_eq!(by_port.choose(&t), Some(4));
    }
}
