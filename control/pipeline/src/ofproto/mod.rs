//! Flow state, per bridge: the OpenFlow tables and the MAC table, and the flow-table
//! commands of `ovs-ofctl` applied to them (add, modify, delete, replace, dump, expire,
//! and the flows `learn` installs). What the switch looks like is [`crate::topology`]'s;
//! the text of flows is parsed before it gets here.
//!
//! Every change is recorded in a [`ChangeLog`] for the revalidator: what it can affect
//! is exactly what cached translations must be checked against.

pub mod changes;
pub mod flow_mods;
pub mod limits;
pub mod mac_learning;
pub mod table;

use std::collections::BTreeMap;

use hashbrown::{HashMap, HashSet};

use crate::ofp::{Action, FlowFlags, FlowMod, Match, N_TABLES};
use crate::topology::BridgeId;
use changes::{Change, ChangeLog};
use flow_mods::FlowModFailure;
use limits::{Limits, OverflowPolicy, TableConfig, TableEviction};
use mac_learning::MacTable;
use table::{FlowTable, Rule, RuleId, Time};

/// A flow that a `learn` action asks to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LearnedFlow {
    pub bridge: BridgeId,
    pub table: u8,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub cookie: u64,
    pub matcher: Match,
    pub actions: Vec<Action>,
}

/// A bridge's settings of NORMAL, from its `other_config` in the OVS database
/// (`mac-table-size`, `mac-aging-time`, `forward-bpdu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BridgeOptions {
    /// The most MAC addresses the bridge learns (OVS: 8192; 10 to 1,000,000).
    pub mac_table_size: usize,
    /// How long a MAC address not seen stays learned (OVS: 300 s; 15 s to 3600 s).
    pub mac_aging_ms: u64,
    /// Whether NORMAL forwards frames to reserved addresses (STP BPDUs, pause frames,
    /// LACP, LLDP, ...), which a bridge otherwise never forwards (OVS: false).
    pub forward_bpdu: bool,
}

/// What `replace-flows` did: flows added, removed, modified (the same match and
/// priority with other actions, cookie, flags or timeouts) and kept as they were.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplaceSummary {
    pub added: usize,
    pub removed: usize,
    pub modified: usize,
    pub kept: usize,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        BridgeOptions {
            mac_table_size: mac_learning::DEFAULT_MAX_ENTRIES,
            mac_aging_ms: mac_learning::DEFAULT_AGING_SECS * 1000,
            forward_bpdu: false,
        }
    }
}

impl BridgeOptions {
    pub const MIN_MAC_TABLE_SIZE: usize = 10;
    pub const MAX_MAC_TABLE_SIZE: usize = 1_000_000;
    pub const MIN_MAC_AGING_MS: u64 = 15_000;
    pub const MAX_MAC_AGING_MS: u64 = 3_600_000;

    /// The options forced into OVS's ranges (lib/mac-learning.c).
    pub fn normalized(self) -> Self {
        BridgeOptions {
            mac_table_size: self
                .mac_table_size
                .clamp(Self::MIN_MAC_TABLE_SIZE, Self::MAX_MAC_TABLE_SIZE),
            mac_aging_ms: self
                .mac_aging_ms
                .clamp(Self::MIN_MAC_AGING_MS, Self::MAX_MAC_AGING_MS),
            forward_bpdu: self.forward_bpdu,
        }
    }
}

/// One bridge's flow tables and MAC table.
pub struct BridgeTables {
    pub id: BridgeId,
    pub tables: Vec<FlowTable>,
    /// Its size limit and aging time are the bridge's `mac_table_size` and `mac_aging_ms`.
    pub mac_table: MacTable,
    /// See [`BridgeOptions::forward_bpdu`].
    pub forward_bpdu: bool,
    /// The tables' `flow_limit`s, the learned-flow ceiling, and what they did.
    pub limits: Limits,
    next_rule_id: RuleId,
}

/// Every bridge's flow state, by bridge id.
#[derive(Default)]
pub struct Ofproto {
    bridges: BTreeMap<BridgeId, BridgeTables>,
}

impl Ofproto {
    pub fn get(&self, bridge: BridgeId) -> Option<&BridgeTables> {
        self.bridges.get(&bridge)
    }

    pub fn get_mut(&mut self, bridge: BridgeId) -> Option<&mut BridgeTables> {
        self.bridges.get_mut(&bridge)
    }

    pub fn insert(&mut self, tables: BridgeTables) {
        self.bridges.insert(tables.id, tables);
    }

    pub fn remove(&mut self, bridge: BridgeId) -> Option<BridgeTables> {
        self.bridges.remove(&bridge)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut BridgeTables> {
        self.bridges.values_mut()
    }

    pub fn iter(&self) -> impl Iterator<Item = &BridgeTables> {
        self.bridges.values()
    }
}

impl BridgeTables {
    pub fn new(id: BridgeId) -> Self {
        BridgeTables {
            id,
            tables: (0..N_TABLES).map(|_| FlowTable::default()).collect(),
            mac_table: MacTable::default(),
            forward_bpdu: false,
            limits: Limits::default(),
            next_rule_id: 1,
        }
    }

    pub fn options(&self) -> BridgeOptions {
        BridgeOptions {
            mac_table_size: self.mac_table.max_entries,
            mac_aging_ms: self.mac_table.aging_ms,
            forward_bpdu: self.forward_bpdu,
        }
    }

    /// Applies `opts` (forced into OVS's ranges); returns whether anything changed. What
    /// cached translations may have depended on is logged: MAC entries evicted by a
    /// smaller table, every MAC entry when the aging time changes (each may have come
    /// back or gone for a lookup), and everything when `forward_bpdu` changes (which
    /// translations ran NORMAL on a reserved address is not recorded).
    pub fn set_options(&mut self, opts: BridgeOptions, log: &mut ChangeLog) -> bool {
        let opts = opts.normalized();
        if opts == self.options() {
            return false;
        }
        if opts.forward_bpdu != self.forward_bpdu {
            self.forward_bpdu = opts.forward_bpdu;
            log.push(Change::Topology);
        }
        self.mac_table.set_max_entries(opts.mac_table_size);
        self.mac_table.set_aging_ms(opts.mac_aging_ms);
        true
    }

    pub fn n_flows(&self) -> usize {
        self.tables.iter().map(FlowTable::len).sum()
    }

    pub fn rule(&self, table: u8, id: RuleId) -> Option<&Rule> {
        self.tables.get(table as usize)?.get(id)
    }

    /// Adds every flow, in order (a later one with the same match and priority wins), or
    /// none if they do not fit under the tables' limits.
    pub fn add_flows(
        &mut self,
        flows: Vec<FlowMod>,
        now: Time,
        log: &mut ChangeLog,
    ) -> Result<(), FlowModFailure> {
        let adds = flows
            .iter()
            .map(|fm| (fm.table.unwrap_or(0), &fm.matcher, fm.priority));
        self.check_room(adds, &BTreeMap::new())
            .inspect_err(|_| self.limits.stats.refused += 1)?;
        for fm in flows {
            self.insert(fm, now, log)?;
        }
        Ok(())
    }

    /// Whether flows added in this order, after `removed` flows went from each table,
    /// fit under the tables' limits: each new flow (no flow with its table, match and
    /// priority is there or earlier in `adds`) needs room, which a full table under
    /// `evict` makes from its flows with timeouts. (Which flows `removed` were is not
    /// looked at: any of them may have been evictable, so a batch that only fits by
    /// evicting one of them is refused here and finds room when applied.)
    pub fn check_room<'m>(
        &self,
        adds: impl IntoIterator<Item = (u8, &'m Match, u16)>,
        removed: &BTreeMap<u8, usize>,
    ) -> Result<(), FlowModFailure> {
        let mut seen: HashSet<(u8, &Match, u16)> = HashSet::new();
        let mut new: BTreeMap<u8, usize> = BTreeMap::new();
        for (t, m, prio) in adds {
            let Some(table) = self.tables.get(usize::from(t)) else {
                return Err(FlowModFailure::BadTableId(t));
            };
            if self.limits.flow_limit(t).is_none() || !seen.insert((t, m, prio)) {
                continue;
            }
            if table.find_exact(m, prio).is_none() {
                *new.entry(t).or_default() += 1;
            }
        }
        for (t, n_new) in new {
            let limit = self
                .limits
                .flow_limit(t)
                .expect("only limited tables counted");
            let have = self.tables[usize::from(t)]
                .len()
                .saturating_sub(removed.get(&t).copied().unwrap_or(0));
            let over = (have + n_new).saturating_sub(limit);
            if over > 0 && self.limits.evictable(t) < over {
                return Err(FlowModFailure::TableFull(t));
            }
        }
        Ok(())
    }

    /// Makes room for one new flow in `table`: under its `flow_limit` (evicting a flow
    /// if its policy says so), and for a `learned` flow in a table without a limit,
    /// under the bridge's learned-flow ceiling (evicting the learned flow that expires
    /// soonest). Evictions are counted; a refusal is the caller's to count.
    fn make_room(
        &mut self,
        table: u8,
        learned: bool,
        log: &mut ChangeLog,
    ) -> Result<(), FlowModFailure> {
        if let Some(limit) = self.limits.flow_limit(table) {
            // As OVS's add_flow_start: one flow goes for one that comes.
            if self.tables[usize::from(table)].len() < limit {
                return Ok(());
            }
            let t = &self.tables[usize::from(table)];
            let victim = self
                .limits
                .eviction
                .get_mut(&table)
                .and_then(|e| e.choose(t));
            let Some(id) = victim else {
                return Err(FlowModFailure::TableFull(table));
            };
            self.remove(table, id, log);
            self.limits.stats.evicted += 1;
            return Ok(());
        }
        if learned && self.limits.learned.len() >= self.limits.learned_limit {
            let tables = &self.tables;
            let victim = self
                .limits
                .learned_queue
                .soonest(|t, id| tables.get(usize::from(t))?.get(id));
            let Some((t, id, _)) = victim else {
                return Err(FlowModFailure::TableFull(table));
            };
            self.remove(t, id, log);
            self.limits.stats.learn_evicted += 1;
        }
        Ok(())
    }

    /// Applies a table's `Flow_Table` settings (the default: no limit, refuse). A limit
    /// lowered under `evict` evicts down to it at once, as OVS's
    /// `evict_rules_from_table`; under `refuse` the flows stay and only new ones are
    /// refused.
    pub fn configure_table(&mut self, table: u8, cfg: TableConfig, log: &mut ChangeLog) {
        let Some(t) = self.tables.get(usize::from(table)) else {
            return;
        };
        let current = self.limits.configs.get(&table).cloned().unwrap_or_default();
        if current == cfg {
            return;
        }
        let evict = cfg.overflow_policy == OverflowPolicy::Evict && cfg.flow_limit.is_some();
        if evict {
            let index = TableEviction::new(cfg.groups.clone(), t);
            self.limits.eviction.insert(table, index);
        } else {
            self.limits.eviction.remove(&table);
        }
        let limit = cfg.flow_limit;
        if cfg == TableConfig::default() {
            self.limits.configs.remove(&table);
        } else {
            self.limits.configs.insert(table, cfg);
        }
        let Some(limit) = limit.filter(|_| evict) else {
            return;
        };
        while self.tables[usize::from(table)].len() > limit {
            let t = &self.tables[usize::from(table)];
            let Some(e) = self.limits.eviction.get_mut(&table) else {
                break;
            };
            let Some(id) = e.choose(t) else {
                break;
            };
            self.remove(table, id, log);
            self.limits.stats.evicted += 1;
        }
    }

    /// `mod-flows [--strict]`: gives the selected flows `actions`. As in OpenFlow 1.0, if
    /// nothing is selected (and no cookie mask was given) the flow is added. Returns how
    /// many flows were selected.
    pub fn mod_flows(
        &mut self,
        fm: FlowMod,
        strict: bool,
        now: Time,
        log: &mut ChangeLog,
    ) -> Result<usize, FlowModFailure> {
        let actions = fm.actions.clone().unwrap_or_default();
        let ids = self.select(&fm, strict);
        if ids.is_empty() && fm.cookie_mask == 0 {
            self.insert(fm, now, log)?;
        } else {
            for &(t, id) in &ids {
                let r = self.tables[t as usize]
                    .get_mut(id)
                    .expect("selected rule exists");
                r.actions = actions.clone();
                r.modified = now;
                if fm.cookie_mask == 0 && fm.cookie != 0 {
                    r.cookie = fm.cookie;
                }
                log.push(Change::RuleModified {
                    bridge: self.id,
                    id,
                });
            }
        }
        Ok(ids.len())
    }

    /// `del-flows [--strict]`: returns how many flows went.
    pub fn del_flows(&mut self, fm: &FlowMod, strict: bool, log: &mut ChangeLog) -> usize {
        let ids = self.select(fm, strict);
        for &(t, id) in &ids {
            self.remove(t, id, log);
        }
        ids.len()
    }

    /// `replace-flows`: makes the bridge's flows exactly `flows`, or changes nothing if
    /// they do not fit under the tables' limits. Flows that stay the same keep their
    /// counters.
    pub fn replace_flows(
        &mut self,
        parsed: Vec<FlowMod>,
        now: Time,
        log: &mut ChangeLog,
    ) -> Result<ReplaceSummary, FlowModFailure> {
        // New flows go in in file order (a later line with the same match and priority
        // wins), so rule ids and dumps come out the same every time.
        let mut flows: Vec<Option<FlowMod>> = Vec::new();
        let mut wanted: HashMap<(u8, Match, u16), usize> = HashMap::new();
        for fm in parsed {
            let k = (fm.table.unwrap_or(0), fm.matcher, fm.priority);
            if let Some(&i) = wanted.get(&k) {
                flows[i] = None;
            }
            wanted.insert(k, flows.len());
            flows.push(Some(fm));
        }
        let existing: Vec<(u8, Match, u16, u64)> = self
            .tables
            .iter()
            .flat_map(|t| t.rules())
            .map(|r| (r.table, r.matcher, r.priority, r.id))
            .collect();
        let mut gone = Vec::new();
        let mut summary = ReplaceSummary::default();
        for (table, m, prio, id) in existing {
            let same = wanted.get(&(table, m, prio)).copied().filter(|&i| {
                let fm = flows[i].as_ref().expect("indexed flows are present");
                let r = self.tables[table as usize]
                    .get(id)
                    .expect("listed rule exists");
                Some(&r.actions) == fm.actions.as_ref()
                    && r.cookie == fm.cookie
                    && r.flags == fm.flags
                    && r.idle_timeout == fm.idle_timeout
                    && r.hard_timeout == fm.hard_timeout
            });
            match same {
                Some(i) => {
                    flows[i] = None;
                    summary.kept += 1;
                }
                None => {
                    if wanted.contains_key(&(table, m, prio)) {
                        summary.modified += 1;
                    } else {
                        summary.removed += 1;
                    }
                    gone.push((table, id));
                }
            }
        }
        // Room is checked before anything changes: the flows that go make room first.
        let mut removed: BTreeMap<u8, usize> = BTreeMap::new();
        for &(t, _) in &gone {
            *removed.entry(t).or_default() += 1;
        }
        let adds = flows
            .iter()
            .flatten()
            .map(|fm| (fm.table.unwrap_or(0), &fm.matcher, fm.priority));
        self.check_room(adds, &removed)
            .inspect_err(|_| self.limits.stats.refused += 1)?;
        for (table, id) in gone {
            self.remove(table, id, log);
        }
        for fm in flows.into_iter().flatten() {
            self.insert(fm, now, log)?;
            summary.added += 1;
        }
        // A flow replaced by one with the same match and priority is one modified,
        // not one removed and one added.
        summary.added -= summary.modified;
        Ok(summary)
    }

    /// The rules `dump-flows` shows for `filter`, in its order: table, then priority
    /// (high first).
    pub fn dump_rules(&self, filter: &FlowMod) -> Vec<&Rule> {
        let mut rules: Vec<&Rule> = self
            .select(filter, false)
            .into_iter()
            .map(|(t, id)| {
                self.tables[t as usize]
                    .get(id)
                    .expect("selected rule exists")
            })
            .collect();
        rules.sort_by_key(|r| (r.table, std::cmp::Reverse(r.priority), r.id));
        rules
    }

    /// Removes flows whose idle or hard timeout has passed, and aged MAC entries.
    /// Returns how many flows went.
    pub fn expire(&mut self, now: Time, log: &mut ChangeLog) -> usize {
        self.mac_table.age(now);
        let gone: Vec<(u8, u64)> = self
            .tables
            .iter()
            .flat_map(|t| t.rules())
            .filter(|r| r.expired(now).is_some())
            .map(|r| (r.table, r.id))
            .collect();
        for &(table, id) in &gone {
            self.remove(table, id, log);
        }
        gone.len()
    }

    /// Puts the bridge in fail-open mode (OVS's fail-open.c) or takes it out: a hidden
    /// rule in table 0, above every OpenFlow priority and never dumped, sends every
    /// packet to NORMAL. Returns whether anything changed; a change invalidates every
    /// cached translation.
    pub fn set_fail_open(&mut self, on: bool, log: &mut ChangeLog) -> bool {
        if self.tables[0].hidden().is_some() == on {
            return false;
        }
        self.tables[0].set_hidden(on.then(|| Rule {
            id: table::HIDDEN_RULE_ID,
            table: 0,
            priority: u16::MAX,
            matcher: Match::default(),
            actions: vec![Action::Output(crate::ofp::OFPP_NORMAL)],
            cookie: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: Default::default(),
            created: 0,
            modified: 0,
            last_used: 0,
            n_packets: 0,
            n_bytes: 0,
        }));
        log.push(Change::Topology);
        true
    }

    /// Whether the bridge is in fail-open mode.
    pub fn fail_open(&self) -> bool {
        self.tables[0].hidden().is_some()
    }

    /// Credits a rule with what a translation that used it forwarded.
    pub fn credit(&mut self, id: RuleId, packets: u64, bytes: u64, now: Time) {
        if let Some(r) = self.tables.iter_mut().find_map(|t| t.get_mut(id)) {
            r.n_packets += packets;
            r.n_bytes += bytes;
            r.last_used = now;
        }
    }

    /// Installs a learned flow, or refreshes it (its hard timeout restarts) if it is
    /// already there. A flow that does not fit under the limits is not installed
    /// (counted).
    pub fn install_learned(&mut self, lf: &LearnedFlow, now: Time, log: &mut ChangeLog) {
        let t = &mut self.tables[lf.table as usize];
        if let Some(id) = t.find_exact(&lf.matcher, lf.priority) {
            let r = t.get_mut(id).expect("found rule exists");
            if r.actions == lf.actions {
                r.modified = now;
                return;
            }
        }
        let fm = FlowMod {
            table: Some(lf.table),
            priority: lf.priority,
            cookie: lf.cookie,
            idle_timeout: lf.idle_timeout,
            hard_timeout: lf.hard_timeout,
            matcher: lf.matcher,
            actions: Some(lf.actions.clone()),
            ..FlowMod::default()
        };
        if self.insert_with(fm, now, log, false, true).is_err() {
            self.limits.stats.learn_refused += 1;
        }
    }

    fn remove(&mut self, table: u8, id: u64, log: &mut ChangeLog) {
        if let Some(r) = self.tables[table as usize].remove(id) {
            self.limits.removed(&r);
            log.push(Change::RuleRemoved {
                bridge: self.id,
                table,
                id,
                matcher: r.matcher,
                priority: r.priority,
            });
        }
    }

    /// Adds (or replaces, counters reset) the rule with this match and priority; a new
    /// rule needs room in its table (refusals counted).
    pub fn insert(
        &mut self,
        fm: FlowMod,
        now: Time,
        log: &mut ChangeLog,
    ) -> Result<(), FlowModFailure> {
        self.insert_with(fm, now, log, false, false)
    }

    /// An OpenFlow ADD (OVS's add_flow): replaces the rule with this match and
    /// priority (a new rule: cookie, actions, timeouts, duration), carrying over its
    /// packet and byte counts unless the flow mod has `reset_counts`, as OVS's
    /// `modify_keep_counts`, and its last use in any case (rule_insert forwards
    /// `used`, so `idle_age` goes on).
    pub fn add_replacing(
        &mut self,
        fm: FlowMod,
        now: Time,
        log: &mut ChangeLog,
    ) -> Result<(), FlowModFailure> {
        self.insert_with(fm, now, log, true, false)
    }

    /// `carry`: an OpenFlow ADD's counters carried over; `learned`: a flow `learn`
    /// installs.
    fn insert_with(
        &mut self,
        fm: FlowMod,
        now: Time,
        log: &mut ChangeLog,
        carry: bool,
        learned: bool,
    ) -> Result<(), FlowModFailure> {
        let table = fm.table.unwrap_or(0);
        if usize::from(table) >= self.tables.len() {
            return Err(FlowModFailure::BadTableId(table));
        }
        let (mut n_packets, mut n_bytes, mut last_used) = (0, 0, now);
        let old = self.tables[table as usize].find_exact(&fm.matcher, fm.priority);
        if old.is_none() {
            if let Err(e) = self.make_room(table, learned, log) {
                if !learned {
                    self.limits.stats.refused += 1;
                }
                return Err(e);
            }
        }
        if let Some(old) = old {
            if let Some(r) = self.tables[table as usize].get(old).filter(|_| carry) {
                last_used = r.last_used;
                if fm.flags.0 & FlowFlags::RESET_COUNTS == 0 {
                    (n_packets, n_bytes) = (r.n_packets, r.n_bytes);
                }
            }
            self.remove(table, old, log);
        }
        log.push(Change::RuleAdded {
            bridge: self.id,
            table,
            matcher: fm.matcher,
            priority: fm.priority,
        });
        let id = self.next_rule_id;
        self.next_rule_id += 1;
        self.tables[table as usize].insert(Rule {
            id,
            table,
            priority: fm.priority,
            matcher: fm.matcher,
            actions: fm.actions.unwrap_or_default(),
            cookie: fm.cookie,
            idle_timeout: fm.idle_timeout,
            hard_timeout: fm.hard_timeout,
            flags: fm.flags,
            created: now,
            modified: now,
            last_used,
            n_packets,
            n_bytes,
        });
        let rule = self.tables[table as usize]
            .get(id)
            .expect("the rule just inserted");
        self.limits.added(rule, learned);
        Ok(())
    }

    /// The rules a mod/del/dump selects: in `fm.table` (or all tables), with a match
    /// within `fm`'s (strict: equal to it, and the same priority), cookie under mask, and
    /// `out_port`.
    fn select(&self, fm: &FlowMod, strict: bool) -> Vec<(u8, u64)> {
        let mut ids = Vec::new();
        for (i, t) in self.tables.iter().enumerate() {
            if fm.table.is_some_and(|want| want as usize != i) {
                continue;
            }
            if strict {
                if let Some(id) = t.find_exact(&fm.matcher, fm.priority) {
                    ids.push((i as u8, id));
                }
                continue;
            }
            for r in t.rules() {
                let cookie_ok = (r.cookie & fm.cookie_mask) == (fm.cookie & fm.cookie_mask);
                let port_ok = fm.out_port.is_none_or(|p| r.outputs_to(p));
                if cookie_ok && port_ok && r.matcher.is_within(&fm.matcher) {
                    ids.push((i as u8, r.id));
                }
            }
        }
        if strict {
            ids.retain(|&(t, id)| {
                let r = self.tables[t as usize].get(id).expect("found rule exists");
                (r.cookie & fm.cookie_mask) == (fm.cookie & fm.cookie_mask)
                    && fm.out_port.is_none_or(|p| r.outputs_to(p))
            });
        }
        ids
    }
}
