//! The revalidator: manages the workers' caches from the control thread. It turns
//! translations of missed packets into cache entries, keeps those entries true to the
//! flow and MAC tables, and credits the traffic they forward to the OpenFlow rules
//! behind them (OVS's upcall handlers and revalidators in one).
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

mod change_set;
mod registry;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::Sender;
use hashbrown::HashSet;
use xvs_dataplane::cache::{CachedFlow, EntryId};
use xvs_dataplane::worker::{Upcall, WorkerCmd, WorkerStats, WorkerStatsSnapshot};
use xvs_dataplane::xdp_tier::{TierBackend, TierStats};

use crate::ofproto::table::Time;
use crate::switch::Switch;
use change_set::ChangeSet;
use registry::{Installed, Registry, Tag};

/// Entries per worker, as OVS's default flow limit.
pub const DEFAULT_CACHE_CAPACITY: usize = 200_000;
/// A translation that failed (hit a bound) is cached only with at most this many
/// distinct table lookups (about 400 bytes each, kept with the entry).
pub const MAX_FAILED_LOOKUPS_CACHED: usize = 64;
/// Entries idle this long are removed (OVS's `max-idle`).
pub const DEFAULT_MAX_IDLE_MS: u64 = 10_000;
/// An entry that forwarded at least this many packets between two ticks (500 ms) is
/// put into the XDP tier, when there is one and the entry is expressible there. Low: a
/// flow of a many-flow load forwards only a few packets a tick each, and an entry costs
/// the tier one map insert; a one-packet flow (a miss storm) never gets there.
pub const DEFAULT_TIER_PROMOTE_PACKETS: u64 = 2;

/// The control thread's end of one worker.
pub struct WorkerHandle {
    pub cmds: Sender<WorkerCmd>,
    pub stats: Arc<WorkerStats>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RevalidatorStats {
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
    /// Upcalls are dropped, not handled: the daemon started with the database's
    /// `flow-restore-wait` true, and it has not been false since (OVS's
    /// `recv_set_enable` off: no packet moves until the flows are restored).
    pub flow_restore_wait: bool,
    /// Upcalls dropped while `flow_restore_wait` held.
    pub flow_restore_wait_drops: u64,
    /// Entries in the caches, all workers together: the most seen at a tick, and a
    /// running average over the ticks (OVS's `upcall/show` `max` and `avg`).
    pub max_entries: u64,
    pub avg_entries: u64,
    /// How long the last tick's pass over every entry took (ms; set by the control
    /// thread, which has a clock).
    pub dump_duration_ms: u64,
    /// Frames the XDP tier forwarded (or dropped by an entry) in the kernel, as last
    /// read: datapath hits that no worker counted.
    pub tier_hits: u64,
}

pub struct Revalidator {
    workers: Vec<WorkerHandle>,
    reg: Registry,
    capacity: usize,
    generation: u64,
    pub max_idle_ms: u64,
    /// See [`DEFAULT_TIER_PROMOTE_PACKETS`].
    pub tier_promote_packets: u64,
    pub stats: RevalidatorStats,
    /// The latest time the control thread gave (the XDP tier's counters have no clock).
    now: Time,
    /// The XDP tier under the workers' caches, when the datapath runs one.
    tier: Option<Box<dyn TierBackend>>,
}

impl Revalidator {
    /// `capacity` is per worker; the workers' caches must hold at least as many.
    pub fn new(workers: Vec<WorkerHandle>, capacity: usize) -> Self {
        let n = workers.len();
        Revalidator {
            workers,
            reg: Registry::new(n),
            capacity: capacity.max(1),
            generation: 0,
            max_idle_ms: DEFAULT_MAX_IDLE_MS,
            tier_promote_packets: DEFAULT_TIER_PROMOTE_PACKETS,
            stats: RevalidatorStats::default(),
            now: 0,
            tier: None,
        }
    }

    /// Puts hot entries into an XDP tier from now on (an entry in both tiers is
    /// removed from both before the barrier of the change that removes it).
    pub fn set_tier(&mut self, tier: Box<dyn TierBackend>) {
        self.tier = Some(tier);
    }

    /// The XDP tier's figures, when there is one.
    pub fn tier_stats(&self) -> Option<TierStats> {
        self.tier.as_ref().map(|t| t.stats())
    }

    pub fn n_entries(&self) -> usize {
        self.reg.len()
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Every entry in the workers' caches, per worker (`dpctl/dump-flows`): shared with
    /// the worker, so its counters can be read after the control thread lets go.
    pub fn entries(&self) -> Vec<Vec<Arc<CachedFlow>>> {
        let mut per: Vec<Vec<Arc<CachedFlow>>> = vec![Vec::new(); self.workers.len()];
        for inst in self.reg.entries() {
            per[inst.worker].push(inst.flow.clone());
        }
        per
    }

    /// The most entries the caches may hold, all workers together.
    pub fn capacity(&self) -> usize {
        self.capacity * self.workers.len()
    }

    /// Number of workers.
    pub fn n_workers(&self) -> usize {
        self.workers.len()
    }

    pub fn worker_stats(&self) -> Vec<WorkerStatsSnapshot> {
        self.workers.iter().map(|w| w.stats.snapshot()).collect()
    }

    fn send(&self, worker: usize, cmd: WorkerCmd) {
        // A worker that has stopped has no cache left to keep right.
        let _ = self.workers[worker].cmds.send(cmd);
    }

    /// Sends every worker its tunnel ports (after a topology change).
    pub fn push_tunnels(&mut self, sw: &Switch) {
        let map = sw.tunnel_map();
        if let Some(t) = self.tier.as_mut() {
            t.set_tunnels(&map);
        }
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
                credit(sw, &mut inst, self.tier.as_deref_mut(), self.now);
                if let (Some(h), Some(t)) = (inst.tier, self.tier.as_mut()) {
                    // Out of the kernel's tier before the barrier: `commit` waits for
                    // the grace period after which no frame is forwarded by it.
                    t.remove(h);
                }
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

    /// Takes what changed in the switch since the last call and removes the entries it
    /// may have made wrong (their packets credited first); on a topology change, sends
    /// the workers their new tunnel ports. The one place where changes turn into
    /// removals; returns how many entries went.
    pub fn revalidate(&mut self, sw: &mut Switch) -> usize {
        self.revalidate_changes(sw).0
    }

    /// [`Revalidator::revalidate`], also returning what the changes were.
    fn revalidate_changes(&mut self, sw: &mut Switch) -> (usize, ChangeSet) {
        let changes = sw.take_changes();
        if changes.is_empty() {
            return (0, ChangeSet::default());
        }
        let cs = ChangeSet::new(&changes);
        let victims = self.victims(&cs);
        let n = self.remove_entries(sw, victims);
        self.stats.invalidated += n as u64;
        if cs.flush {
            self.stats.flushes += 1;
            self.push_tunnels(sw);
        }
        (n, cs)
    }

    /// Applies what changed in the switch to the caches and sends a barrier. The change
    /// is in force for every packet once [`Revalidator::barrier_reached`] says so.
    pub fn commit(&mut self, sw: &mut Switch) -> u64 {
        self.revalidate(sw);
        if let Some(t) = self.tier.as_mut() {
            t.quiesce();
        }
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

    /// Starts or ends the wait for flows to be restored (see
    /// [`RevalidatorStats::flow_restore_wait`]). The caches are empty while it lasts
    /// (nothing is installed), so its end needs no flush.
    pub fn set_flow_restore_wait(&mut self, wait: bool) {
        self.stats.flow_restore_wait = wait;
    }

    /// Handles a miss: translate, apply side effects, send the packet, cache the result;
    /// while waiting for flows to be restored, drops it (counted).
    pub fn handle_upcall(&mut self, sw: &mut Switch, up: Upcall, now: Time) {
        self.now = self.now.max(now);
        if self.stats.flow_restore_wait {
            self.stats.flow_restore_wait_drops += 1;
            return;
        }
        self.stats.upcalls += 1;
        let worker = up.worker.min(self.workers.len().saturating_sub(1));
        let tr = sw.translate(&up.key, now);
        sw.apply_side_effects(&tr, 1, up.frame.len() as u64, now);
        // What the packet taught (MACs, learned flows) may make other entries wrong;
        // this translation saw its own lessons, and is cached unless others changed it.
        let (_, cs) = self.revalidate_changes(sw);
        let actions = tr.actions.iter().copied().collect();
        // A failed translation is cached as a drop, but not when it looked up so many
        // distinct fields (a resubmit tree that changes registers at every level) that
        // its entry would hold megabytes: then each of its packets comes here, bounded.
        let too_big = tr.error.is_some() && tr.lookups.len() > MAX_FAILED_LOOKUPS_CACHED;
        let cacheable = !too_big && (cs.is_empty() || !cs.affects(&tr, true));
        // Registers and metadata are the pipeline's own state, never part of a key.
        let mask = tr.cache_mask();
        let masked = up.key.masked(&mask);
        if !cacheable {
            self.stats.uncacheable += 1;
        } else if self.reg.find_key(worker, &mask, &masked).is_some() {
            self.stats.duplicates += 1;
        } else {
            if self.reg.per_worker[worker] >= self.capacity {
                self.evict_one(sw, worker);
            }
            let id = self.reg.next_id();
            let flow = Arc::new(CachedFlow::new(id, &up.key, mask, &tr.actions, now));
            self.send(worker, WorkerCmd::Install(flow.clone()));
            self.reg.insert(Installed {
                flow,
                worker,
                tr,
                credited: (0, 0),
                seen_by_eviction: 0,
                tier: None,
                tier_base: (0, 0),
                tick_packets: 0,
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
            let packets = e.flow.totals().0;
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
        self.revalidate(sw);
    }

    /// Credits every entry's new packets to its rules; with `idle_limit`, also returns
    /// the entries idle for longer. One pass: with a full cache each entry's counters
    /// are a cache miss, and this pass is the control thread's biggest fixed cost.
    fn credit_all(&mut self, sw: &mut Switch, idle_limit: Option<Time>, now: Time) -> Vec<EntryId> {
        self.now = self.now.max(now);
        let mut idle = Vec::new();
        let mut tier = self.tier.as_deref_mut();
        if let Some(t) = tier.as_deref_mut() {
            t.begin_pass();
        }
        for (id, inst) in self.reg.entries_mut() {
            let used = credit(sw, inst, tier.as_deref_mut(), now);
            if idle_limit.is_some_and(|limit| now.saturating_sub(used) > limit) {
                idle.push(id);
            }
        }
        if let Some(t) = tier {
            t.end_pass();
            self.stats.tier_hits = t.stats().packets;
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
        let n = self.reg.len() as u64;
        self.stats.max_entries = self.stats.max_entries.max(n);
        self.stats.avg_entries = (self.stats.avg_entries + n) / 2;
        let idle = self.credit_all(sw, Some(self.max_idle_ms), now);
        self.revalidate(sw);
        sw.expire(now);
        let n = self.remove_entries(sw, idle);
        self.stats.expired += n as u64;
        self.promote_hot();
        self.commit(sw)
    }

    /// Puts the entries that were hot since the last tick into the XDP tier (those it
    /// can carry out; the others are tried again while they stay hot).
    fn promote_hot(&mut self) {
        let Some(tier) = self.tier.as_mut() else {
            return;
        };
        tier.tick();
        let threshold = self.tier_promote_packets.max(1);
        let mut full = false;
        for (_, inst) in self.reg.entries_mut() {
            let p = inst.flow.totals().0;
            let hot = p - inst.tick_packets.min(p) >= threshold;
            inst.tick_packets = p;
            if hot && !full && inst.tier.is_none() {
                match tier.install(&inst.flow) {
                    Ok(h) => inst.tier = Some(h),
                    // No room for anyone else this tick.
                    Err(xvs_dataplane::xdp_tier::TierRefusal::Full) => full = true,
                    // Counted, with the reason, by the tier (dp-show); offered again
                    // while the entry stays hot.
                    Err(_) => {}
                }
            }
        }
    }
}

/// Credits an entry's packets since it was last credited to its rules; returns when
/// the entry was last used.
fn credit(
    sw: &mut Switch,
    inst: &mut Installed,
    tier: Option<&mut (dyn TierBackend + 'static)>,
    now: Time,
) -> Time {
    if let (Some(h), Some(tier)) = (inst.tier, tier) {
        match tier.counters(h) {
            Some(c) => {
                // Earlier stays in the tier (a handle spent, the entry offered again)
                // counted from zero too: the entry's totals add them up.
                let (p, b) = (inst.tier_base.0 + c.packets, inst.tier_base.1 + c.bytes);
                let (seen, _, used) = inst.flow.xdp_stats.read();
                // The kernel's counters have no clock: an entry that forwarded since
                // the last read was used now.
                let used = if p > seen { now.max(used) } else { used };
                inst.flow.xdp_stats.set_totals(p, b, used);
                if !c.live {
                    inst.tier = None;
                    inst.tier_base = (p, b);
                }
            }
            None => {
                inst.tier = None;
                let (p, b, _) = inst.flow.xdp_stats.read();
                inst.tier_base = (p, b);
            }
        }
    }
    let (p, b, used) = inst.flow.totals();
    let (dp, db) = (p - inst.credited.0, b - inst.credited.1);
    if dp > 0 {
        sw.apply_side_effects(&inst.tr, dp, db, used);
    }
    inst.credited = (p, b);
    used
}
