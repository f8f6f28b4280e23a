//! The per-worker flow cache: masked keys to compiled action programs.
//!
//! Entries carry their own mask (the fields their translation consulted), so the cache is
//! a short list of subtables, one per distinct mask, each a hash map from masked key to
//! entry (tuple-space search, as OVS's dpcls). A lookup probes the subtables in order
//! until one hits; workloads have a handful of masks (one per kind of path through the
//! pipeline), whatever the number of entries.
//!
//! A worker owns its cache outright: no lock, no atomic read-modify-write. The entries
//! are shared with the control thread only through their counters, which the worker
//! alone writes.
//!
//! Memory layout matters once the cache outgrows the CPU caches: the masked key sits in
//! the hash table's own bucket next to the entry pointer (the compare touches no other
//! line), and an entry starts with its counters and then its actions, so a hit touches
//! the table's control bytes, one bucket and one entry line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hashbrown::HashMap;
use smallvec::SmallVec;

use crate::actions::DpAction;
use crate::flow_key::{FlowKey, PackedKey};

mod table;
use table::SlotTable;

/// Assigned by the control thread, unique per installed entry.
pub type EntryId = u64;

/// The action program of an entry. Most paths have at most four actions (a tag change,
/// an output, an encapsulation), which then live inside the entry.
pub type ActionProgram = SmallVec<[DpAction; 4]>;

/// Counters of one entry: written by the owning worker only (plain load and store, no
/// locked instruction), read by the control thread to credit OpenFlow rules.
#[derive(Debug, Default)]
pub struct EntryStats {
    packets: AtomicU64,
    bytes: AtomicU64,
    used: AtomicU64,
}

impl EntryStats {
    /// Only the owning worker may call this: it is not an atomic increment.
    #[inline]
    pub fn record(&self, bytes: usize, now: u64) {
        let p = self.packets.load(Ordering::Relaxed);
        self.packets.store(p + 1, Ordering::Relaxed);
        let b = self.bytes.load(Ordering::Relaxed);
        self.bytes.store(b + bytes as u64, Ordering::Relaxed);
        if self.used.load(Ordering::Relaxed) != now {
            self.used.store(now, Ordering::Relaxed);
        }
    }

    /// (packets, bytes, last used) as seen now.
    pub fn read(&self) -> (u64, u64, u64) {
        (
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.used.load(Ordering::Relaxed),
        )
    }
}

/// One cached translation. `repr(C)`: counters and actions first, in the lines a hit
/// touches; key and mask (for the control thread) after them.
#[derive(Debug)]
#[repr(C)]
pub struct CachedFlow {
    pub stats: EntryStats,
    pub actions: ActionProgram,
    pub id: EntryId,
    /// The key, already masked.
    pub key: FlowKey,
    pub mask: FlowKey,
}

impl CachedFlow {
    pub fn new(id: EntryId, key: &FlowKey, mask: FlowKey, actions: &[DpAction], now: u64) -> Self {
        let stats = EntryStats::default();
        stats.used.store(now, Ordering::Relaxed);
        CachedFlow {
            stats,
            actions: actions.iter().copied().collect(),
            id,
            key: key.masked(&mask),
            mask,
        }
    }
}

struct Subtable {
    mask: FlowKey,
    packed_mask: PackedKey,
    entries: SlotTable,
    /// Hits since the subtables were last ordered (a Cell: lookups take `&self`, so a
    /// batch can hold several entries at once).
    hits: std::cell::Cell<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    #[error("flow cache full ({0} entries)")]
    Full(usize),
}

pub struct FlowCache {
    subtables: Vec<Subtable>,
    /// Where each entry lives, for removal by id: (mask, masked key).
    by_id: HashMap<EntryId, (FlowKey, PackedKey)>,
    capacity: usize,
    seed: u64,
}

/// A seed no packet can predict: std's per-process random keys, run through its hasher.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    h.finish()
}

impl FlowCache {
    pub fn new(capacity: usize) -> Self {
        FlowCache {
            subtables: Vec::new(),
            by_id: HashMap::new(),
            capacity,
            seed: random_seed(),
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn n_masks(&self) -> usize {
        self.subtables.len()
    }

    /// The entry `key` hits, if any.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<&CachedFlow> {
        self.lookup_packed(&key.pack())
    }

    /// [`FlowCache::lookup`] for a key packed already.
    #[inline]
    pub fn lookup_packed(&self, key: &PackedKey) -> Option<&CachedFlow> {
        let seed = self.seed;
        for st in &self.subtables {
            let masked = key.masked(&st.packed_mask);
            if let Some(flow) = st.entries.find(masked.hash(seed), &masked) {
                st.hits.set(st.hits.get() + 1);
                return Some(flow);
            }
        }
        None
    }

    /// Starts loading the slots a lookup of `key` will probe (in the first few
    /// subtables), so that a batch's memory accesses overlap.
    #[inline]
    pub fn prefetch(&self, key: &PackedKey) {
        let seed = self.seed;
        for st in self.subtables.iter().take(4) {
            st.entries.prefetch(key.masked(&st.packed_mask).hash(seed));
        }
    }

    /// Starts loading the lines of `flow` that a hit touches (counters, actions).
    #[inline]
    pub fn prefetch_entry(flow: &CachedFlow) {
        let p = flow as *const CachedFlow as *const u8;
        table::prefetch(p);
        table::prefetch(p.wrapping_add(64));
    }

    /// Adds an entry, replacing one with the same masked key. The control thread keeps
    /// the number of entries under the capacity (it evicts first); a full cache refuses.
    pub fn insert(&mut self, flow: Arc<CachedFlow>) -> Result<(), CacheError> {
        debug_assert_eq!(
            flow.key,
            flow.key.masked(&flow.mask),
            "keys are stored masked"
        );
        debug_assert!(
            flow.mask.fits_packed(),
            "a mask over fields the packed key does not hold would alias keys: {:?}",
            flow.mask
        );
        let seed = self.seed;
        let hash_of = move |k: &PackedKey| k.hash(seed);
        let idx = match self.subtables.iter().position(|st| st.mask == flow.mask) {
            Some(i) => i,
            None => {
                self.subtables.push(Subtable {
                    mask: flow.mask,
                    packed_mask: flow.mask.pack(),
                    entries: SlotTable::new(),
                    hits: std::cell::Cell::new(0),
                });
                self.subtables.len() - 1
            }
        };
        let key = flow.key.pack();
        let hash = hash_of(&key);
        let st = &mut self.subtables[idx];
        let replacing = st.entries.find(hash, &key).map(|f| f.id);
        if replacing.is_none() && self.by_id.len() >= self.capacity {
            if st.entries.is_empty() {
                self.subtables.swap_remove(idx);
            }
            return Err(CacheError::Full(self.capacity));
        }
        if let Some(old) = replacing {
            self.by_id.remove(&old);
        }
        self.by_id.insert(flow.id, (flow.mask, key));
        st.entries.insert(hash, key, flow, hash_of);
        Ok(())
    }

    /// Removes the entry with this id, if present.
    pub fn remove(&mut self, id: EntryId) -> Option<Arc<CachedFlow>> {
        let (mask, key) = self.by_id.remove(&id)?;
        let idx = self.subtables.iter().position(|st| st.mask == mask)?;
        let seed = self.seed;
        let st = &mut self.subtables[idx];
        let removed = st
            .entries
            .remove(key.hash(seed), &key, move |k: &PackedKey| k.hash(seed));
        debug_assert!(removed.as_ref().is_some_and(|e| e.id == id));
        if st.entries.is_empty() {
            self.subtables.swap_remove(idx);
        }
        removed
    }

    pub fn clear(&mut self) {
        self.subtables.clear();
        self.by_id.clear();
    }

    /// Puts the busiest subtables first, so that most lookups stop at the first probe.
    pub fn reorder(&mut self) {
        self.subtables
            .sort_by_key(|st| std::cmp::Reverse(st.hits.get()));
        for st in &mut self.subtables {
            st.hits.set(st.hits.get() / 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mac::MacAddr;

    fn key(port: u32, dst: u8) -> FlowKey {
        FlowKey {
            in_port: port,
            dl_dst: MacAddr([2, 0, 0, 0, 0, dst]),
            dl_src: MacAddr([2, 0, 0, 0, 0, 99]),
            ..Default::default()
        }
    }

    fn mask(with_src: bool) -> FlowKey {
        FlowKey {
            in_port: u32::MAX,
            dl_dst: MacAddr::BROADCAST,
            dl_src: if with_src {
                MacAddr::BROADCAST
            } else {
                MacAddr::ZERO
            },
            ..Default::default()
        }
    }

    #[test]
    fn masked_lookup_insert_remove() {
        let mut c = FlowCache::new(2);
        c.insert(Arc::new(CachedFlow::new(
            1,
            &key(1, 1),
            mask(false),
            &[DpAction::Output(2)],
            0,
        )))
        .unwrap();
        c.insert(Arc::new(CachedFlow::new(
            2,
            &key(1, 2),
            mask(true),
            &[DpAction::Output(3)],
            0,
        )))
        .unwrap();
        assert_eq!(c.n_masks(), 2);
        // Any source matches entry 1; entry 2 needs source 99.
        let mut k = key(1, 1);
        k.dl_src = MacAddr([9; 6]);
        assert_eq!(c.lookup(&k).unwrap().id, 1);
        assert_eq!(c.lookup(&key(1, 2)).unwrap().id, 2);
        let mut k2 = key(1, 2);
        k2.dl_src = MacAddr([9; 6]);
        assert!(c.lookup(&k2).is_none());
        // Full: a third distinct entry is refused, a replacement is not.
        assert_eq!(
            c.insert(Arc::new(CachedFlow::new(
                3,
                &key(2, 2),
                mask(false),
                &[],
                0
            ))),
            Err(CacheError::Full(2))
        );
        c.insert(Arc::new(CachedFlow::new(
            4,
            &key(1, 1),
            mask(false),
            &[],
            0,
        )))
        .unwrap();
        assert_eq!(c.len(), 2);
        assert!(c.remove(1).is_none(), "replaced");
        assert_eq!(c.remove(4).unwrap().id, 4);
        assert_eq!(c.n_masks(), 1);
        assert!(c.lookup(&key(1, 1)).is_none());
    }

    #[test]
    fn stats_record() {
        let f = CachedFlow::new(1, &key(1, 1), mask(false), &[], 5);
        f.stats.record(60, 7);
        f.stats.record(64, 9);
        assert_eq!(f.stats.read(), (2, 124, 9));
    }
}
