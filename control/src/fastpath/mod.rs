//! The control thread's side of the fast path: turns translations of missed packets into
//! entries of the workers' caches, keeps those entries true to the flow and MAC tables,
//! and credits the traffic they forward to the OpenFlow rules behind them.
//!
//! - **Install**: an upcall is translated, its side effects applied (MAC learning,
//!   `learn`, counters), the packet sent back through its worker, and the translation
//!   installed in that worker's cache under the fields it consulted.
//! - **Invalidate**: every change the switch reports names what it can affect (a rule
//!   removed or modified: the entries that used it; a rule added: the entries whose
//!   lookup in that table it matches; a MAC mapping: the entries that looked it up or
//!   learned it; ports and routes: everything). Those entries are removed from their
//!   workers, then a barrier generation is sent: once every worker acknowledges it, no
//!   packet is forwarded by what the change replaced.
//! - **Stats**: each entry's counters are read back and credited to its rules, its MAC
//!   learning refreshed and its `learn` actions re-run, as if every packet it forwarded
//!   had gone through the slow path.
//!
//! Workers are only ever sent commands through their bounded queues; this module does
//! no I/O and reads no clock.

mod registry;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::Sender;
use hashbrown::{HashMap, HashSet};
use xvs_dataplane::cache::{CachedFlow, EntryId};
use xvs_dataplane::worker::{Upcall, WorkerCmd, WorkerStats, WorkerStatsSnapshot};
use xvs_dataplane::{FlowKey, MacAddr};

use crate::bridge::BridgeId;
use crate::changes::Change;
use crate::ofp::Match;
use crate::switch::Switch;
use crate::table::{RuleId, Time};
use crate::xlate::Translation;
use registry::{Installed, Registry, Tag};

/// Entries per worker, as OVS's default flow limit.
pub const DEFAULT_CACHE_CAPACITY: usize = 200_000;
/// Entries idle this long are removed (OVS's `max-idle`).
pub const DEFAULT_MAX_IDLE_MS: u64 = 10_000;

/// The control thread's end of one worker.
pub struct WorkerHandle {
    pub cmds: Sender<WorkerCmd>,
    pub stats: Arc<WorkerStats>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastPathStats {
    pub upcalls: u64,
    pub installed: u64,
    /// Upcalls for an entry that was already installed (it was on its way).
    pub duplicates: u64,
    /// Upcalls whose translation changed the state it depended on (so it was not cached).
    pub uncacheable: u64,
    pub invalidated: u64,
    pub evicted: u64,
    pub expired: u64,
    pub flushes: u64,
    /// Changes answered without every worker's acknowledgement (a worker not polling).
    pub barrier_timeouts: u64,
}

/// What a batch of changes can affect, digested for quick checks.
#[derive(Default)]
struct ChangeSet {
    flush: bool,
    /// Rules removed or modified.
    rules: HashSet<(BridgeId, RuleId)>,
    /// Removed rules, by what a `learn` would re-create.
    learned: HashSet<(BridgeId, u8, Match, u16)>,
    macs: HashSet<(BridgeId, u16, MacAddr)>,
    /// Added rules per (bridge, table): may one match a lookup an entry made?
    added: HashMap<(BridgeId, u8), AddedRules>,
}

/// Rules added to one table, grouped by mask, to test quickly whether one of them may
/// match any key an entry stands for.
#[derive(Default)]
struct AddedRules {
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
    fn new(changes: &[Change]) -> Self {
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

    fn is_empty(&self) -> bool {
        !self.flush
            && self.rules.is_empty()
            && self.learned.is_empty()
            && self.macs.is_empty()
            && self.added.is_empty()
    }

    /// Whether a rule added to (bridge, table) may match a lookup made there with `key`
    /// by an entry that consulted `known`.
    fn added_matches(&self, bridge: BridgeId, table: u8, key: &FlowKey, known: &FlowKey) -> bool {
        self.added
            .get(&(bridge, table))
            .is_some_and(|a| a.may_match(key, known))
    }

    /// Whether a translation may end differently after these changes. With
    /// `own_learning`, MAC changes the translation made itself do not count: it already
    /// saw them (NORMAL reads what it learns).
    fn affects(&self, tr: &Translation, own_learning: bool) -> bool {
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

pub struct FastPath {
    workers: Vec<WorkerHandle>,
    reg: Registry,
    capacity: usize,
    generation: u64,
    pub max_idle_ms: u64,
    pub stats: FastPathStats,
}

impl FastPath {
    /// `capacity` is per worker; the workers' caches must hold at least as many.
    pub fn new(workers: Vec<WorkerHandle>, capacity: usize) -> Self {
        let n = workers.len();
        FastPath {
            workers,
            reg: Registry::new(n),
            capacity: capacity.max(1),
            generation: 0,
            max_idle_ms: DEFAULT_MAX_IDLE_MS,
            stats: FastPathStats::default(),
        }
    }

    pub fn n_entries(&self) -> usize {
        self.reg.len()
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn worker_stats(&self) -> Vec<WorkerStatsSnapshot> {
        self.workers.iter().map(|w| w.stats.snapshot()).collect()
    }

    fn send(&self, worker: usize, cmd: WorkerCmd) {
        // A worker that has stopped has no cache left to keep right.
        let _ = self.workers[worker].cmds.send(cmd);
    }

    /// Sends every worker its tunnel ports (after a topology change).
    pub fn push_tunnels(&self, sw: &Switch) {
        let map = Arc::new(sw.tunnel_map());
        for w in 0..self.workers.len() {
            self.send(w, WorkerCmd::SetTunnels(map.clone()));
        }
    }

    /// Removes entries from the registry and from their workers' caches, crediting what
    /// they forwarded since the last sync first.
    fn remove_entries(&mut self, sw: &mut Switch, ids: impl IntoIterator<Item = EntryId>) -> usize {
        let mut per_worker: Vec<Vec<EntryId>> = vec![Vec::new(); self.workers.len()];
        for id in ids {
            if let Some(mut inst) = self.reg.remove(id) {
                credit(sw, &mut inst);
                per_worker[inst.worker].push(id);
            }
        }
        let mut n = 0;
        for (w, ids) in per_worker.into_iter().enumerate() {
            if !ids.is_empty() {
                n += ids.len();
                self.send(w, WorkerCmd::Remove(ids));
            }
        }
        n
    }

    /// The entries `cs` may have made wrong.
    fn victims(&self, cs: &ChangeSet) -> Vec<EntryId> {
        if cs.flush {
            return self.reg.ids();
        }
        let mut v: HashSet<EntryId> = HashSet::new();
        for &(b, r) in &cs.rules {
            v.extend(self.reg.tagged(self.reg.tag(Tag::Rule(b, r))));
        }
        for (b, t, m, p) in &cs.learned {
            v.extend(self.reg.tagged(self.reg.tag(Tag::Learned(*b, *t, m, *p))));
        }
        for &(b, vl, m) in &cs.macs {
            v.extend(self.reg.tagged(self.reg.tag(Tag::Mac(b, vl, m))));
        }
        for &(b, t) in cs.added.keys() {
            for id in self.reg.tagged(self.reg.tag(Tag::Table(b, t))) {
                if v.contains(&id) {
                    continue;
                }
                let tr = &self.reg.get(id).expect("tagged yields live entries").tr;
                let hit = tr.lookups.iter().any(|(lb, lt, k)| {
                    *lb == b && *lt == t && cs.added_matches(b, t, k, &tr.consulted)
                });
                if hit {
                    v.insert(id);
                }
            }
        }
        v.into_iter().collect()
    }

    /// Removes what `changes` made wrong. Returns how many entries went.
    fn invalidate(&mut self, sw: &mut Switch, changes: &[Change]) -> usize {
        if changes.is_empty() {
            return 0;
        }
        let cs = ChangeSet::new(changes);
        let victims = self.victims(&cs);
        let n = self.remove_entries(sw, victims);
        self.stats.invalidated += n as u64;
        if cs.flush {
            self.stats.flushes += 1;
            self.push_tunnels(sw);
        }
        n
    }

    /// Applies what changed in the switch to the caches and sends a barrier. The change
    /// is in force for every packet once [`FastPath::barrier_reached`] says so.
    pub fn commit(&mut self, sw: &mut Switch) -> u64 {
        let changes = sw.take_changes();
        self.invalidate(sw, &changes);
        self.generation += 1;
        for w in 0..self.workers.len() {
            self.send(w, WorkerCmd::Barrier(self.generation));
        }
        self.generation
    }

    /// Whether every worker has applied everything sent before barrier `generation`.
    pub fn barrier_reached(&self, generation: u64) -> bool {
        self.workers
            .iter()
            .all(|w| w.stats.acked.load(Ordering::Acquire) >= generation)
    }

    /// Handles a miss: translate, apply side effects, send the packet, cache the result.
    pub fn handle_upcall(&mut self, sw: &mut Switch, up: Upcall, now: Time) {
        self.stats.upcalls += 1;
        let worker = up.worker.min(self.workers.len().saturating_sub(1));
        let tr = sw.translate(&up.key, now);
        sw.apply_side_effects(&tr, 1, up.frame.len() as u64, now);
        let changes = sw.take_changes();
        let cs = ChangeSet::new(&changes);
        if !cs.is_empty() {
            let victims = self.victims(&cs);
            let n = self.remove_entries(sw, victims);
            self.stats.invalidated += n as u64;
            if cs.flush {
                self.push_tunnels(sw);
            }
        }
        let actions = tr.actions.iter().copied().collect();
        let cacheable = cs.is_empty() || !cs.affects(&tr, true);
        let masked = up.key.masked(&tr.consulted);
        if !cacheable {
            self.stats.uncacheable += 1;
        } else if self.reg.find_key(worker, &tr.consulted, &masked).is_some() {
            self.stats.duplicates += 1;
        } else {
            if self.reg.per_worker[worker] >= self.capacity {
                self.evict_one(sw, worker);
            }
            let id = self.reg.next_id();
            let flow = Arc::new(CachedFlow::new(id, &up.key, tr.consulted, &tr.actions, now));
            self.send(worker, WorkerCmd::Install(flow.clone()));
            self.reg.insert(Installed {
                flow,
                worker,
                tr,
                credited: (0, 0),
                seen_by_eviction: 0,
            });
            self.stats.installed += 1;
        }
        self.send(
            worker,
            WorkerCmd::Execute {
                frame: up.frame,
                actions,
            },
        );
    }

    /// Makes room in `worker`'s cache. Second chance (CLOCK): an entry that forwarded
    /// packets since eviction last looked at it goes to the back of the queue, so a miss
    /// storm of one-packet flows evicts its own entries, not the busy ones.
    fn evict_one(&mut self, sw: &mut Switch, worker: usize) {
        // Bounded, so one eviction never walks a whole busy cache.
        for _ in 0..64 {
            let Some(id) = self.reg.fifo[worker].pop_front() else {
                return;
            };
            let Some(e) = self.reg.get_mut(id) else {
                continue;
            };
            let packets = e.flow.stats.read().0;
            if packets == e.seen_by_eviction {
                self.remove_entries(sw, [id]);
                self.stats.evicted += 1;
                return;
            }
            e.seen_by_eviction = packets;
            self.reg.fifo[worker].push_back(id);
        }
        // Everything looked busy: the oldest goes anyway.
        while let Some(id) = self.reg.fifo[worker].pop_front() {
            if self.reg.is_live(id) {
                self.remove_entries(sw, [id]);
                self.stats.evicted += 1;
                break;
            }
        }
        self.reg.compact_fifo(worker, self.capacity);
    }

    /// Credits every entry's new traffic to its rules, MAC entries and learned flows,
    /// then removes what that changed.
    pub fn sync_stats(&mut self, sw: &mut Switch, now: Time) {
        self.credit_all(sw, None, now);
        let changes = sw.take_changes();
        self.invalidate(sw, &changes);
    }

    /// Credits every entry's new packets to its rules; with `idle_limit`, also returns
    /// the entries idle for longer. One pass: with a full cache each entry's counters
    /// are a cache miss, and this pass is the control thread's biggest fixed cost.
    fn credit_all(&mut self, sw: &mut Switch, idle_limit: Option<Time>, now: Time) -> Vec<EntryId> {
        let mut idle = Vec::new();
        for (id, inst) in self.reg.entries_mut() {
            let used = credit(sw, inst);
            if idle_limit.is_some_and(|limit| now.saturating_sub(used) > limit) {
                idle.push(id);
            }
        }
        idle
    }

    /// Removes entries idle for longer than `max_idle_ms` (their packets credited first).
    pub fn expire_idle(&mut self, sw: &mut Switch, now: Time) -> usize {
        let idle = self.credit_all(sw, Some(self.max_idle_ms), now);
        let n = self.remove_entries(sw, idle);
        self.stats.expired += n as u64;
        n
    }

    /// What the control thread does now and then: counters back to the rules, flow and
    /// MAC timeouts, idle entries out. Returns the barrier generation of the changes.
    pub fn tick(&mut self, sw: &mut Switch, now: Time) -> u64 {
        let idle = self.credit_all(sw, Some(self.max_idle_ms), now);
        let changes = sw.take_changes();
        self.invalidate(sw, &changes);
        sw.expire(now);
        let n = self.remove_entries(sw, idle);
        self.stats.expired += n as u64;
        self.commit(sw)
    }

    /// `dp-show`: per worker and in total, as `ovs-dpctl show` and `pmd-stats-show`.
    pub fn dp_show(&self) -> String {
        let mut total = WorkerStatsSnapshot::default();
        let mut s = String::new();
        let per: Vec<_> = self.worker_stats();
        for st in &per {
            total += *st;
        }
        let line = |s: &mut String, name: &str, st: &WorkerStatsSnapshot| {
            let _ = write!(
                s,
                "  {name}: lookups: hit:{} missed:{} lost:{}  flows: {}  malformed:{} bad-tunnel:{} unknown-tunnel:{} too-big:{}",
                st.hits, st.misses, st.lost, st.entries, st.malformed, st.bad_tunnel, st.unknown_tunnel, st.too_big
            );
            // The worker loop's cycles, as pmd-stats-show's processing/idle cycles.
            let idle_pct = if st.busy_cycles + st.idle_cycles == 0 {
                0.0
            } else {
                100.0 - st.busy_percent()
            };
            let per_packet = st
                .cycles_per_packet()
                .map_or("n/a".to_string(), |c| format!("{c:.1}"));
            let _ = writeln!(
                s,
                "  busy cycles: {} ({:.1}%)  idle cycles: {} ({idle_pct:.1}%)  avg busy cycles/packet: {per_packet} (packets {})",
                st.busy_cycles,
                st.busy_percent(),
                st.idle_cycles,
                st.polled_packets
            );
        };
        let _ = writeln!(s, "xvs@datapath:");
        line(&mut s, "total", &total);
        for (i, st) in per.iter().enumerate() {
            line(&mut s, &format!("worker {i}"), st);
        }
        if total.busy_cycles + total.idle_cycles > 0 {
            // Counted cycles mean a datapath started, which measured the rate already.
            let hz = xvs_dataplane::worker::cycle_counter_hz();
            let ns = total
                .cycles_per_packet()
                .map_or("n/a".to_string(), |c| format!("{:.1}", c * 1e9 / hz as f64));
            let _ = writeln!(
                s,
                "  cycles: {:.3} GHz  avg busy ns/packet: {ns}",
                hz as f64 / 1e9
            );
        }
        let f = &self.stats;
        let _ = writeln!(
            s,
            "  upcalls: handled:{} installed:{} duplicate:{} uncacheable:{} invalidated:{} evicted:{} expired:{} barrier-timeouts:{}",
            f.upcalls, f.installed, f.duplicates, f.uncacheable, f.invalidated, f.evicted, f.expired, f.barrier_timeouts
        );
        s
    }
}

/// Credits what `inst` forwarded since `inst.credited`; returns the new mark.
/// Credits an entry's packets since it was last credited to its rules; returns when
/// the entry was last used.
fn credit(sw: &mut Switch, inst: &mut Installed) -> Time {
    let (p, b, used) = inst.flow.stats.read();
    let (dp, db) = (p - inst.credited.0, b - inst.credited.1);
    if dp > 0 {
        sw.apply_side_effects(&inst.tr, dp, db, used);
    }
    inst.credited = (p, b);
    used
}
