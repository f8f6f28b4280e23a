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
//!
//! ## Narrow and wide subtables
//!
//! Most masks (every L2 and IPv4 path of the Neutron bridges) consult only fields that
//! [`PackedKey`] holds: seven words, masked, hashed and compared in seven operations
//! each, a slot of one cache line. Those subtables are *narrow*, and the hot path is
//! theirs alone: the worker packs each key once and probes them in hit order.
//!
//! A mask that consults a field outside the packed key (TTL, transport ports, IPv6 or
//! ND addresses: `!mask.fits_packed()`) gets a *wide* subtable, keyed by a
//! [`WideKey`]: the packed key and seven more words, so that such entries match those
//! fields exactly too (a packed key alone would alias two IPv6 destinations). Wide
//! subtables are probed after every narrow one has missed, and only when there are
//! any: with none, a lookup costs what it did before they existed (one test of an empty
//! list, on the miss path only). Which subtable answers does not matter for
//! correctness: any entry whose masked key matches holds a translation valid for the
//! packet. The wide key is built from the full [`FlowKey`] at the first wide probe, so
//! [`FlowCache::lookup_keyed`] takes both.
//!
//! `metadata` and `regs` are the pipeline's state, zero in every packet's key: neither
//! key type holds them, and masks are cleared of them ([`FlowKey::packet_fields`])
//! before they choose a subtable, so two entries never differ by them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hashbrown::HashMap;
use smallvec::SmallVec;

use crate::actions::DpAction;
use crate::flow_key::{FlowKey, PackedKey, WideKey};

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

    /// Sets the counters to totals counted elsewhere (the XDP tier's, by the control
    /// thread: the one writer of these). `used` only moves forward.
    pub fn set_totals(&self, packets: u64, bytes: u64, used: u64) {
        self.packets.store(packets, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
        if used > self.used.load(Ordering::Relaxed) {
            self.used.store(used, Ordering::Relaxed);
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
    /// What the worker forwarded by this entry.
    pub stats: EntryStats,
    pub actions: ActionProgram,
    pub id: EntryId,
    /// The key, already masked.
    pub key: FlowKey,
    pub mask: FlowKey,
    /// What the XDP tier forwarded by this entry in the kernel (`xdp_tier.rs`), as the
    /// control thread last read it; zero for an entry never in the tier.
    pub xdp_stats: EntryStats,
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
            xdp_stats: EntryStats::default(),
        }
    }

    /// (packets, bytes, last used) of the entry in both tiers: the worker's and the
    /// XDP tier's.
    pub fn totals(&self) -> (u64, u64, u64) {
        let (p, b, u) = self.stats.read();
        let (xp, xb, xu) = self.xdp_stats.read();
        (p + xp, b + xb, u.max(xu))
    }
}

struct Subtable<K> {
    /// The entries' mask, cleared of `metadata` and `regs`.
    mask: FlowKey,
    packed_mask: K,
    entries: SlotTable<K>,
    /// Hits since the subtables were last ordered (a Cell: lookups take `&self`, so a
    /// batch can hold several entries at once).
    hits: std::cell::Cell<u64>,
}

impl<K: Copy + Eq + Default> Subtable<K> {
    fn new(mask: FlowKey, packed_mask: K) -> Self {
        Subtable {
            mask,
            packed_mask,
            entries: SlotTable::new(),
            hits: std::cell::Cell::new(0),
        }
    }
}

/// A key type of the cache's subtables: [`PackedKey`] (narrow) or [`WideKey`] (wide).
trait SubtableKey: Copy + Eq + Default {
    fn of(key: &FlowKey) -> Self;
    fn hash(&self, seed: u64) -> u64;
}

impl SubtableKey for PackedKey {
    fn of(key: &FlowKey) -> Self {
        key.pack()
    }
    fn hash(&self, seed: u64) -> u64 {
        PackedKey::hash(self, seed)
    }
}

impl SubtableKey for WideKey {
    fn of(key: &FlowKey) -> Self {
        key.pack_wide()
    }
    fn hash(&self, seed: u64) -> u64 {
        WideKey::hash(self, seed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    #[error("flow cache full ({0} entries)")]
    Full(usize),
}

pub struct FlowCache {
    /// Subtables whose mask fits the packed key: the hot path.
    subtables: Vec<Subtable<PackedKey>>,
    /// Subtables whose mask consults a field beyond it (see the module docs).
    wide: Vec<Subtable<WideKey>>,
    /// Every entry by id, for removal (its mask and key say where it lives).
    by_id: HashMap<EntryId, Arc<CachedFlow>>,
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

/// Adds `flow` to the subtable of its mask in `subtables` (made if missing); see
/// [`FlowCache::insert`]. Returns the id of the entry it replaced, if any.
fn insert_into<K: SubtableKey>(
    subtables: &mut Vec<Subtable<K>>,
    mask: FlowKey,
    flow: Arc<CachedFlow>,
    seed: u64,
    full: bool,
) -> Result<Option<EntryId>, ()> {
    let hash_of = move |k: &K| k.hash(seed);
    let idx = match subtables.iter().position(|st| st.mask == mask) {
        Some(i) => i,
        None => {
            subtables.push(Subtable::new(mask, K::of(&mask)));
            subtables.len() - 1
        }
    };
    let key = K::of(&flow.key);
    let hash = hash_of(&key);
    let st = &mut subtables[idx];
    let replacing = st.entries.find(hash, &key).map(|f| f.id);
    if replacing.is_none() && full {
        if st.entries.is_empty() {
            subtables.swap_remove(idx);
        }
        return Err(());
    }
    st.entries.insert(hash, key, flow, hash_of);
    Ok(replacing)
}

fn remove_from<K: SubtableKey>(
    subtables: &mut Vec<Subtable<K>>,
    flow: &CachedFlow,
    seed: u64,
) -> Option<Arc<CachedFlow>> {
    let mask = flow.mask.packet_fields();
    let idx = subtables.iter().position(|st| st.mask == mask)?;
    let key = K::of(&flow.key);
    let st = &mut subtables[idx];
    let removed = st
        .entries
        .remove(key.hash(seed), &key, move |k: &K| k.hash(seed));
    if st.entries.is_empty() {
        subtables.swap_remove(idx);
    }
    removed
}

impl FlowCache {
    pub fn new(capacity: usize) -> Self {
        FlowCache {
            subtables: Vec::new(),
            wide: Vec::new(),
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

    /// Distinct masks in use, narrow and wide.
    pub fn n_masks(&self) -> usize {
        self.subtables.len() + self.wide.len()
    }

    /// Wide subtables in use (see the module docs).
    pub fn n_wide_masks(&self) -> usize {
        self.wide.len()
    }

    /// The entry `key` hits, if any.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<&CachedFlow> {
        self.lookup_keyed(key, &key.pack())
    }

    /// [`FlowCache::lookup`] with the key packed already (`packed == key.pack()`): the
    /// narrow subtables first, then the wide ones if there are any.
    ///
    /// Always inlined, and the narrow probe takes the packed key alone: on a narrow hit
    /// the caller's `FlowKey` is never needed, so it need not be written out to memory
    /// whole for the call (passing `&FlowKey` to an out-of-line lookup cost the
    /// `fastpath` bench's `hit/1` about 20 ns).
    #[inline(always)]
    pub fn lookup_keyed(&self, key: &FlowKey, packed: &PackedKey) -> Option<&CachedFlow> {
        match self.lookup_narrow(packed) {
            None if !self.wide.is_empty() => self.lookup_wide(key, packed),
            hit => hit,
        }
    }

    /// The narrow subtables' part of a lookup: the hot path, as it was before wide
    /// subtables existed.
    #[inline]
    fn lookup_narrow(&self, key: &PackedKey) -> Option<&CachedFlow> {
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

    /// The wide subtables' part of a lookup, out of line: the narrow path stays as small
    /// as it was.
    #[inline(never)]
    fn lookup_wide(&self, key: &FlowKey, packed: &PackedKey) -> Option<&CachedFlow> {
        let seed = self.seed;
        let wide = WideKey {
            packed: *packed,
            ext: key.pack_ext(),
        };
        for st in &self.wide {
            let masked = wide.masked(&st.packed_mask);
            if let Some(flow) = st.entries.find(masked.hash(seed), &masked) {
                st.hits.set(st.hits.get() + 1);
                return Some(flow);
            }
        }
        None
    }

    /// Starts loading the slots a lookup of `key` will probe (in the first few narrow
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

    /// Adds an entry, replacing one with the same mask and masked key. The control
    /// thread keeps the number of entries under the capacity (it evicts first); a full
    /// cache refuses. A mask within the packed key goes to a narrow subtable, any other
    /// to a wide one; `metadata` and `regs` in it are ignored (module docs).
    pub fn insert(&mut self, flow: Arc<CachedFlow>) -> Result<(), CacheError> {
        debug_assert_eq!(
            flow.key,
            flow.key.masked(&flow.mask),
            "keys are stored masked"
        );
        let mask = flow.mask.packet_fields();
        let full = self.by_id.len() >= self.capacity;
        let (id, kept) = (flow.id, flow.clone());
        let replaced = if mask.fits_packed() {
            insert_into(&mut self.subtables, mask, flow, self.seed, full)
        } else {
            insert_into(&mut self.wide, mask, flow, self.seed, full)
        }
        .map_err(|()| CacheError::Full(self.capacity))?;
        if let Some(old) = replaced {
            self.by_id.remove(&old);
        }
        self.by_id.insert(id, kept);
        Ok(())
    }

    /// Removes the entry with this id, if present.
    pub fn remove(&mut self, id: EntryId) -> Option<Arc<CachedFlow>> {
        let flow = self.by_id.remove(&id)?;
        let removed = if flow.mask.packet_fields().fits_packed() {
            remove_from(&mut self.subtables, &flow, self.seed)
        } else {
            remove_from(&mut self.wide, &flow, self.seed)
        };
        debug_assert!(removed.as_ref().is_some_and(|e| e.id == id));
        removed
    }

    pub fn clear(&mut self) {
        self.subtables.clear();
        self.wide.clear();
        self.by_id.clear();
    }

    /// Puts the busiest subtables first (narrow and wide apart), so that most lookups
    /// stop at the first probe.
    pub fn reorder(&mut self) {
        self.subtables
            .sort_by_key(|st| std::cmp::Reverse(st.hits.get()));
        for st in &mut self.subtables {
            st.hits.set(st.hits.get() / 2);
        }
        self.wide.sort_by_key(|st| std::cmp::Reverse(st.hits.get()));
        for st in &mut self.wide {
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

    fn v6(dst: u128, tp_dst: u16, nd_target: u128) -> FlowKey {
        FlowKey {
            in_port: 1,
            dl_dst: MacAddr([2, 0, 0, 0, 0, 1]),
            dl_type: 0x86dd,
            nw_proto: 58,
            ipv6_dst: dst,
            tp_dst,
            nd_target,
            ..Default::default()
        }
    }

    fn insert(c: &mut FlowCache, id: EntryId, key: &FlowKey, mask: FlowKey) {
        c.insert(Arc::new(CachedFlow::new(
            id,
            key,
            mask,
            &[DpAction::Output(id as u32)],
            0,
        )))
        .unwrap();
    }

    /// Keys that differ only in a field beyond the packed key (here ipv6_dst, tp_dst,
    /// nd_target) get entries of their own under a mask that consults it, and a key
    /// that differs there finds neither.
    #[test]
    fn wide_masks_tell_apart_what_the_packed_key_cannot_hold() {
        let mut c = FlowCache::new(100);
        let mut mask = mask(false);
        mask.dl_type = u16::MAX;
        for (field, a, b) in [
            (0, v6(1 << 100, 0, 0), v6(2 << 100, 0, 0)),
            (1, v6(0, 135, 0), v6(0, 136, 0)),
            (2, v6(0, 0, 0xfe80 << 112 | 1), v6(0, 0, 0xfe80 << 112 | 2)),
        ] {
            assert_eq!(a.pack(), b.pack(), "the packed key cannot tell them apart");
            let mut m = mask;
            match field {
                0 => m.ipv6_dst = u128::MAX,
                1 => m.tp_dst = u16::MAX,
                _ => m.nd_target = u128::MAX,
            }
            assert!(!m.fits_packed());
            c.clear();
            insert(&mut c, 1, &a, m);
            insert(&mut c, 2, &b, m);
            assert_eq!((c.len(), c.n_masks(), c.n_wide_masks()), (2, 1, 1));
            assert_eq!(c.lookup(&a).unwrap().id, 1, "field {field}");
            assert_eq!(c.lookup(&b).unwrap().id, 2, "field {field}");
            let mut other = a;
            other.ipv6_dst ^= 1 << 3;
            other.tp_dst ^= 1 << 3;
            other.nd_target ^= 1 << 3;
            assert!(c.lookup(&other).is_none(), "field {field}");
            // Bits outside the mask do not matter.
            let mut same = a;
            same.ipv6_src = 99;
            same.nw_ttl = 3;
            assert_eq!(c.lookup(&same).unwrap().id, 1);
            // A narrow entry alongside: both kinds answer.
            insert(&mut c, 3, &key(7, 7), mask);
            assert_eq!(c.lookup(&key(7, 7)).unwrap().id, 3);
            assert_eq!(c.lookup(&b).unwrap().id, 2);
            c.reorder();
            assert_eq!(c.remove(2).unwrap().id, 2);
            assert!(c.lookup(&b).is_none());
            assert_eq!(c.remove(1).unwrap().id, 1);
            assert_eq!((c.n_masks(), c.n_wide_masks()), (1, 0));
            assert_eq!(c.lookup(&key(7, 7)).unwrap().id, 3);
        }
    }

    /// metadata and regs are zero in packet keys: a mask that names them (the pipeline
    /// clears them, this is the cache's own defence) neither splits entries nor makes a
    /// wide subtable, and a key's values there are never looked at.
    #[test]
    fn regs_and_metadata_never_tell_keys_apart() {
        let mut c = FlowCache::new(100);
        let mut m = mask(false);
        m.metadata = u64::MAX;
        m.regs = [u32::MAX; 16];
        let mut k = key(1, 1);
        k.metadata = 5;
        k.regs[3] = 7;
        insert(&mut c, 1, &k, m);
        assert_eq!((c.n_masks(), c.n_wide_masks()), (1, 0));
        assert_eq!(c.lookup(&key(1, 1)).unwrap().id, 1);
        // The same key with other pipeline state replaces the entry, and so does the
        // plain mask: one subtable, one entry.
        let mut k2 = key(1, 1);
        k2.regs[3] = 8;
        insert(&mut c, 2, &k2, m);
        insert(&mut c, 3, &key(1, 1), mask(false));
        assert_eq!((c.len(), c.n_masks()), (1, 1));
        assert_eq!(c.lookup(&k).unwrap().id, 3);
        // Likewise under a wide mask.
        let mut w = m;
        w.ipv6_dst = u128::MAX;
        let mut a = key(1, 2);
        a.ipv6_dst = 9;
        a.regs[0] = 1;
        insert(&mut c, 4, &a, w);
        a.regs[0] = 2;
        a.metadata = 3;
        assert_eq!(c.lookup(&a).unwrap().id, 4);
        assert_eq!(c.remove(4).unwrap().id, 4);
        assert_eq!(c.n_wide_masks(), 0);
    }

    #[test]
    fn full_cache_refuses_wide_entries_too() {
        let mut c = FlowCache::new(1);
        let mut m = mask(false);
        m.tp_dst = u16::MAX;
        insert(&mut c, 1, &v6(0, 1, 0), m);
        assert_eq!(
            c.insert(Arc::new(CachedFlow::new(2, &v6(0, 2, 0), m, &[], 0))),
            Err(CacheError::Full(1))
        );
        assert_eq!((c.len(), c.n_wide_masks()), (1, 1));
        // A replacement is taken.
        insert(&mut c, 3, &v6(0, 1, 0), m);
        assert_eq!(c.lookup(&v6(0, 1, 0)).unwrap().id, 3);
        assert!(c.remove(1).is_none());
    }
}
