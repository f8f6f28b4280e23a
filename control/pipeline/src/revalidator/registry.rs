//! The control thread's record of every cache entry installed in a worker, and the
//! indexes that say which entries a change can affect.
//!
//! Built for the upcall rate: an entry lives in a slab slot (its id is the slot and a
//! generation, so a stale id is recognised without a lookup), and each index is an
//! append-only list of ids per tag, where a tag (a rule, a table, a MAC, a learned flow)
//! is reduced to a 64-bit hash. Removing an entry touches no index: its ids go stale and
//! are dropped when a list would otherwise grow. Two tags that collide only make an
//! invalidation remove more entries than it must, which is safe.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashMap};
use smallvec::SmallVec;
use xvs_dataplane::cache::{CachedFlow, EntryId};
use xvs_dataplane::xdp_tier::TierHandle;
use xvs_dataplane::{FlowKey, MacAddr};

use crate::ofp::Match;
use crate::ofproto::table::RuleId;
use crate::topology::BridgeId;
use crate::xlate::Translation;

pub(super) struct Installed {
    pub flow: Arc<CachedFlow>,
    pub worker: usize,
    pub tr: Translation,
    /// Packets and bytes already credited to the rules.
    pub credited: (u64, u64),
    /// Packets counted when eviction last passed over this entry (second chance).
    pub seen_by_eviction: u64,
    /// Its place in the XDP tier, when it was promoted there.
    pub tier: Option<TierHandle>,
    /// (packets, bytes) of its earlier stays in the XDP tier.
    pub tier_base: (u64, u64),
    /// Packets (both tiers) at the last tick, to tell a hot entry.
    pub tick_packets: u64,
}

/// What an entry depends on.
#[derive(Hash)]
pub(super) enum Tag<'a> {
    Rule(BridgeId, RuleId),
    Table(BridgeId, u8),
    Mac(BridgeId, u16, MacAddr),
    Learned(BridgeId, u8, &'a Match, u16),
}

pub(super) struct Registry {
    slots: Vec<Option<Installed>>,
    /// Generation of each slot, bumped when it is freed.
    gens: Vec<u32>,
    free: Vec<u32>,
    live: usize,
    tags: HashMap<u64, Vec<EntryId>>,
    /// (worker, hash of mask and masked key) -> entry: what a worker's cache holds.
    by_key: HashMap<(usize, u64), EntryId>,
    pub per_worker: Vec<usize>,
    /// Per worker, entries in order of installation, for eviction (ids may be stale).
    pub fifo: Vec<VecDeque<EntryId>>,
    hasher: DefaultHashBuilder,
}

fn slot_of(id: EntryId) -> usize {
    (id & 0xffff_ffff) as usize
}

fn gen_of(id: EntryId) -> u32 {
    (id >> 32) as u32
}

impl Registry {
    pub fn new(workers: usize) -> Self {
        Registry {
            slots: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            live: 0,
            tags: HashMap::new(),
            by_key: HashMap::new(),
            per_worker: vec![0; workers],
            fifo: vec![VecDeque::new(); workers],
            hasher: DefaultHashBuilder::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn tag(&self, t: Tag<'_>) -> u64 {
        self.hasher.hash_one(t)
    }

    fn key_hash(&self, mask: &FlowKey, masked: &FlowKey) -> u64 {
        self.hasher.hash_one((mask.pack().0, masked.pack().0))
    }

    /// The tags of a translation, deduplicated.
    pub fn tags_of(&self, tr: &Translation) -> SmallVec<[u64; 16]> {
        let mut v: SmallVec<[u64; 16]> = SmallVec::new();
        v.extend(tr.rules.iter().map(|&(b, r)| self.tag(Tag::Rule(b, r))));
        v.extend(
            tr.lookups
                .iter()
                .map(|&(b, t, _)| self.tag(Tag::Table(b, t))),
        );
        v.extend(
            tr.mac_lookups
                .iter()
                .map(|&(b, vl, m)| self.tag(Tag::Mac(b, vl, m))),
        );
        v.extend(
            tr.macs
                .iter()
                .map(|&(b, vl, m, _)| self.tag(Tag::Mac(b, vl, m))),
        );
        v.extend(
            tr.learned
                .iter()
                .map(|l| self.tag(Tag::Learned(l.bridge, l.table, &l.matcher, l.priority))),
        );
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn get(&self, id: EntryId) -> Option<&Installed> {
        let s = slot_of(id);
        if self.gens.get(s) != Some(&gen_of(id)) {
            return None;
        }
        self.slots[s].as_ref()
    }

    pub fn get_mut(&mut self, id: EntryId) -> Option<&mut Installed> {
        let s = slot_of(id);
        if self.gens.get(s) != Some(&gen_of(id)) {
            return None;
        }
        self.slots[s].as_mut()
    }

    pub fn is_live(&self, id: EntryId) -> bool {
        self.get(id).is_some()
    }

    /// The id the next [`Registry::insert`] will use.
    pub fn next_id(&self) -> EntryId {
        match self.free.last() {
            Some(&s) => (self.gens[s as usize] as u64) << 32 | s as u64,
            None => self.slots.len() as u64,
        }
    }

    /// The live entry of `worker` with this mask and masked key, if any.
    pub fn find_key(&self, worker: usize, mask: &FlowKey, masked: &FlowKey) -> Option<EntryId> {
        let id = *self.by_key.get(&(worker, self.key_hash(mask, masked)))?;
        let e = self.get(id)?;
        (e.worker == worker && e.flow.mask == *mask && e.flow.key == *masked).then_some(id)
    }

    /// Records an entry whose flow was made with [`Registry::next_id`].
    pub fn insert(&mut self, inst: Installed) -> EntryId {
        let id = self.next_id();
        debug_assert_eq!(
            inst.flow.id, id,
            "the flow carries the id it is recorded under"
        );
        let s = slot_of(id);
        if s == self.slots.len() {
            self.slots.push(None);
            self.gens.push(0);
        } else {
            self.free.pop();
        }
        for t in self.tags_of(&inst.tr) {
            let list = self.tags.entry(t).or_default();
            if list.len() == list.capacity() {
                // About to grow: drop stale ids first, so a list only grows with live ones.
                let (slots, gens) = (&self.slots, &self.gens);
                list.retain(|&i| {
                    gens.get(slot_of(i)) == Some(&gen_of(i)) && slots[slot_of(i)].is_some()
                });
            }
            list.push(id);
        }
        let kh = self.key_hash(&inst.flow.mask, &inst.flow.key);
        self.by_key.insert((inst.worker, kh), id);
        self.per_worker[inst.worker] += 1;
        self.fifo[inst.worker].push_back(id);
        self.slots[s] = Some(inst);
        self.live += 1;
        id
    }

    pub fn remove(&mut self, id: EntryId) -> Option<Installed> {
        let s = slot_of(id);
        if self.gens.get(s) != Some(&gen_of(id)) {
            return None;
        }
        let inst = self.slots[s].take()?;
        self.gens[s] = self.gens[s].wrapping_add(1);
        self.free.push(s as u32);
        self.live -= 1;
        self.per_worker[inst.worker] -= 1;
        let kh = (inst.worker, self.key_hash(&inst.flow.mask, &inst.flow.key));
        if self.by_key.get(&kh) == Some(&id) {
            self.by_key.remove(&kh);
        }
        Some(inst)
    }

    /// Live entries carrying tag `t`.
    pub fn tagged(&self, t: u64) -> impl Iterator<Item = EntryId> + '_ {
        self.tags
            .get(&t)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&id| self.is_live(id))
    }

    pub fn ids(&self) -> Vec<EntryId> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_some())
            .map(|(s, _)| (self.gens[s] as u64) << 32 | s as u64)
            .collect()
    }

    pub fn entries(&self) -> impl Iterator<Item = &Installed> + '_ {
        self.slots.iter().flatten()
    }

    pub fn entries_mut(&mut self) -> impl Iterator<Item = (EntryId, &mut Installed)> + '_ {
        let gens = &self.gens;
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(move |(s, e)| e.as_mut().map(|e| ((gens[s] as u64) << 32 | s as u64, e)))
    }

    /// Drops stale ids from `worker`'s eviction queue once it is much longer than needed.
    pub fn compact_fifo(&mut self, worker: usize, capacity: usize) {
        if self.fifo[worker].len() > 2 * capacity + 1024 {
            let (slots, gens) = (&self.slots, &self.gens);
            self.fifo[worker].retain(|&i| {
                gens.get(slot_of(i)) == Some(&gen_of(i)) && slots[slot_of(i)].is_some()
            });
        }
    }
}
