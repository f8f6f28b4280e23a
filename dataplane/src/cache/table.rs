//! The hash table under each cache subtable: open addressing with linear probing over
//! 64-byte slots (a masked key and its entry), at most half full.
//!
//! Written here rather than taken from hashbrown for one thing hashbrown cannot give: the
//! address a lookup will probe, known from the hash alone, so that a batch of packets
//! can prefetch its slots before looking at any of them (what OVS's dpcls does). A hit
//! then costs one slot line and one entry line, and a batch waits for memory once.
//!
//! Generic over the key: a [`PackedKey`](crate::flow_key::PackedKey) (with the entry
//! pointer, one 64-byte line) for the usual subtables, a
//! [`WideKey`](crate::flow_key::WideKey) (two lines) for the wide ones.

use std::sync::Arc;

use super::CachedFlow;

/// The masked key and the entry (`None`: empty slot), from a line boundary.
#[repr(C, align(64))]
struct Slot<K> {
    key: K,
    flow: Option<Arc<CachedFlow>>,
}

fn empty<K: Default>() -> Slot<K> {
    Slot {
        key: K::default(),
        flow: None,
    }
}

pub(super) struct SlotTable<K> {
    slots: Box<[Slot<K>]>,
    len: usize,
}

#[inline(always)]
pub(super) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

fn alloc<K: Default>(n: usize) -> Box<[Slot<K>]> {
    debug_assert!(n.is_power_of_two());
    let slots: Box<[Slot<K>]> = (0..n).map(|_| empty()).collect();
    let bytes = n * std::mem::size_of::<Slot<K>>();
    // Large tables are probed at random: huge pages save a page walk per probe.
    #[cfg(target_os = "linux")]
    if bytes >= 4 << 20 {
        // SAFETY: advice on memory we own; failing only means no huge pages.
        unsafe {
            libc::madvise(
                slots.as_ptr() as *mut libc::c_void,
                bytes,
                libc::MADV_HUGEPAGE,
            );
        }
    }
    slots
}

impl<K: Copy + Eq + Default> SlotTable<K> {
    pub(super) fn new() -> Self {
        SlotTable {
            slots: alloc(8),
            len: 0,
        }
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Starts loading the slot that a lookup of `hash` probes first.
    #[inline(always)]
    pub(super) fn prefetch(&self, hash: u64) {
        prefetch(&self.slots[hash as usize & self.mask()]);
    }

    #[inline]
    pub(super) fn find(&self, hash: u64, key: &K) -> Option<&Arc<CachedFlow>> {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let s = &self.slots[i];
            match &s.flow {
                None => return None,
                Some(f) if s.key == *key => return Some(f),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// Inserts, or replaces the entry with an equal key (returning it). `hash_of` is the
    /// table's hash function, for re-placing entries when the table grows.
    pub(super) fn insert(
        &mut self,
        hash: u64,
        key: K,
        flow: Arc<CachedFlow>,
        hash_of: impl Fn(&K) -> u64,
    ) -> Option<Arc<CachedFlow>> {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow(&hash_of);
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let s = &mut self.slots[i];
            match &s.flow {
                None => {
                    *s = Slot {
                        key,
                        flow: Some(flow),
                    };
                    self.len += 1;
                    return None;
                }
                Some(_) if s.key == key => return s.flow.replace(flow),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// Removes the entry with this key, shifting the rest of its probe run back so that
    /// no tombstones are needed (Knuth's algorithm R).
    pub(super) fn remove(
        &mut self,
        hash: u64,
        key: &K,
        hash_of: impl Fn(&K) -> u64,
    ) -> Option<Arc<CachedFlow>> {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            match &self.slots[i].flow {
                None => return None,
                Some(_) if self.slots[i].key == *key => break,
                Some(_) => i = (i + 1) & mask,
            }
        }
        let removed = self.slots[i].flow.take();
        self.len -= 1;
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            if self.slots[j].flow.is_none() {
                break;
            }
            let home = hash_of(&self.slots[j].key) as usize & mask;
            // Entry j may fill the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots.swap(hole, j);
                hole = j;
            }
        }
        debug_assert!(self.slots[hole].flow.is_none());
        removed
    }

    fn grow(&mut self, hash_of: &impl Fn(&K) -> u64) {
        let bigger = alloc(self.slots.len() * 2);
        let old = std::mem::replace(&mut self.slots, bigger);
        let mask = self.mask();
        for s in old.into_vec() {
            if let Some(flow) = s.flow {
                let mut i = hash_of(&s.key) as usize & mask;
                while self.slots[i].flow.is_some() {
                    i = (i + 1) & mask;
                }
                self.slots[i] = Slot {
                    key: s.key,
                    flow: Some(flow),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow_key::{FlowKey, PackedKey};
    use proptest::prelude::*;

    fn flow(id: u64) -> Arc<CachedFlow> {
        Arc::new(CachedFlow::new(
            id,
            &FlowKey::default(),
            FlowKey::default(),
            &[],
            0,
        ))
    }

    proptest! {
        /// Against a HashMap model, with a deliberately weak hash so that probe runs
        /// collide, wrap around the table's end, and get holes shifted back.
        #[test]
        fn behaves_like_a_map(ops in prop::collection::vec((any::<bool>(), 0u64..40), 1..400)) {
            let hash = |k: &PackedKey| k.0[0].wrapping_mul(3) % 16;
            let mut t = SlotTable::<PackedKey>::new();
            let mut model = std::collections::HashMap::new();
            for (i, (insert, k)) in ops.into_iter().enumerate() {
                let key = PackedKey([k, 0, 0, 0, 0, 0, 0]);
                if insert {
                    let old = t.insert(hash(&key), key, flow(i as u64), hash);
                    prop_assert_eq!(old.map(|f| f.id), model.insert(k, i as u64));
                } else {
                    let old = t.remove(hash(&key), &key, hash);
                    prop_assert_eq!(old.map(|f| f.id), model.remove(&k));
                }
                prop_assert_eq!(t.len(), model.len());
                for probe in 0..40u64 {
                    let key = PackedKey([probe, 0, 0, 0, 0, 0, 0]);
                    prop_assert_eq!(t.find(hash(&key), &key).map(|f| f.id), model.get(&probe).copied());
                }
            }
        }
    }
}
