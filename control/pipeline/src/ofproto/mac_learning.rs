//! The MAC table behind the NORMAL action: per-VLAN learning with aging and a size limit.

use std::collections::BTreeSet;

use hashbrown::HashMap;
use xvs_dataplane::MacAddr;

use super::table::Time;
use crate::ofp::OfPort;

/// OVS's defaults: `mac-aging-time` 300 s, `mac-table-size` 8192.
pub const DEFAULT_AGING_SECS: u64 = 300;
pub const DEFAULT_MAX_ENTRIES: usize = 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacEntry {
    pub port: OfPort,
    pub last_seen: Time,
}

/// What a call to [`MacTable::learn`] did: changes to an existing mapping matter to the
/// fast path, whose cached flows may send to the old port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LearnOutcome {
    /// Already known on this port; only its age was refreshed.
    Refreshed,
    New,
    /// Known on another port before (a VM migrated, or a loop).
    Moved {
        from: OfPort,
    },
    /// Group addresses are never learned.
    Ignored,
}

pub struct MacTable {
    entries: HashMap<(u16, MacAddr), MacEntry>,
    /// (last_seen, vlan, mac): the oldest entry first, for aging and eviction.
    by_age: BTreeSet<(Time, u16, MacAddr)>,
    pub aging_ms: u64,
    pub max_entries: usize,
    pub n_evicted: u64,
    /// When set, every (vlan, mac) whose mapping appears, moves or goes is recorded in
    /// `changed`, for the fast path to invalidate what depended on it.
    pub track: bool,
    pub changed: Vec<(u16, MacAddr)>,
}

impl Default for MacTable {
    fn default() -> Self {
        Self::new(DEFAULT_AGING_SECS * 1000, DEFAULT_MAX_ENTRIES)
    }
}

impl MacTable {
    pub fn new(aging_ms: u64, max_entries: usize) -> Self {
        MacTable {
            entries: HashMap::new(),
            by_age: BTreeSet::new(),
            aging_ms,
            max_entries: max_entries.max(1),
            n_evicted: 0,
            track: false,
            changed: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn note_change(&mut self, vlan: u16, mac: MacAddr) {
        if self.track {
            self.changed.push((vlan, mac));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The port `mac` was last seen on in `vlan`, unless that has aged out.
    pub fn lookup(&self, vlan: u16, mac: MacAddr, now: Time) -> Option<OfPort> {
        let e = self.entries.get(&(vlan, mac))?;
        (now.saturating_sub(e.last_seen) < self.aging_ms).then_some(e.port)
    }

    pub fn learn(&mut self, vlan: u16, mac: MacAddr, port: OfPort, now: Time) -> LearnOutcome {
        if mac.is_multicast() {
            return LearnOutcome::Ignored;
        }
        let outcome = match self.entries.get(&(vlan, mac)).copied() {
            Some(e) => {
                self.by_age.remove(&(e.last_seen, vlan, mac));
                if e.port == port {
                    LearnOutcome::Refreshed
                } else {
                    LearnOutcome::Moved { from: e.port }
                }
            }
            None => {
                if self.entries.len() >= self.max_entries {
                    self.evict_oldest();
                }
                LearnOutcome::New
            }
        };
        if outcome != LearnOutcome::Refreshed {
            self.note_change(vlan, mac);
        }
        self.entries.insert(
            (vlan, mac),
            MacEntry {
                port,
                last_seen: now,
            },
        );
        self.by_age.insert((now, vlan, mac));
        outcome
    }

    fn evict_oldest(&mut self) {
        if let Some(oldest) = self.by_age.pop_first() {
            self.entries.remove(&(oldest.1, oldest.2));
            self.n_evicted += 1;
            self.note_change(oldest.1, oldest.2);
        }
    }

    /// Drops entries not seen for the aging time. Returns how many went.
    pub fn age(&mut self, now: Time) -> usize {
        let mut n = 0;
        while let Some(&(seen, vlan, mac)) = self.by_age.first() {
            if now.saturating_sub(seen) < self.aging_ms {
                break;
            }
            self.by_age.pop_first();
            self.entries.remove(&(vlan, mac));
            self.note_change(vlan, mac);
            n += 1;
        }
        n
    }

    /// Changes the size limit. Entries beyond it go at once, least recently seen first
    /// (OVS's `mac_learning_run` expires them on its next run), each a change.
    pub fn set_max_entries(&mut self, max_entries: usize) {
        self.max_entries = max_entries.max(1);
        while self.entries.len() > self.max_entries {
            self.evict_oldest();
        }
    }

    /// Changes the aging time. An entry lives `aging_ms` from when it was last seen, so
    /// every entry gains or loses the difference at once (as OVS shifts every entry's
    /// expiry), and any of them may have appeared or gone for a lookup: each counts as
    /// changed. Entries now too old go at the next [`MacTable::age`].
    pub fn set_aging_ms(&mut self, aging_ms: u64) {
        if aging_ms == self.aging_ms {
            return;
        }
        self.aging_ms = aging_ms;
        if self.track {
            self.changed.extend(self.entries.keys().copied());
        }
    }

    /// Forgets everything learned on `port` (the port was removed or reconfigured).
    pub fn flush_port(&mut self, port: OfPort) {
        let gone: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| e.port == port)
            .map(|(k, e)| (*k, e.last_seen))
            .collect();
        for &((vlan, mac), seen) in &gone {
            self.entries.remove(&(vlan, mac));
            self.by_age.remove(&(seen, vlan, mac));
            self.note_change(vlan, mac);
        }
    }

    /// Forgets every entry (`ovs-appctl fdb/flush`); returns how many there were.
    pub fn flush(&mut self) -> usize {
        let n = self.entries.len();
        let keys: Vec<(u16, MacAddr)> = self.entries.keys().copied().collect();
        self.entries.clear();
        self.by_age.clear();
        for (vlan, mac) in keys {
            self.note_change(vlan, mac);
        }
        n
    }

    /// (vlan, mac, port, age in seconds), least recently seen first: the order of OVS's
    /// LRU list, which `ovs-appctl fdb/show` prints.
    pub fn dump_lru(&self, now: Time) -> Vec<(u16, MacAddr, OfPort, u64)> {
        self.by_age
            .iter()
            .filter_map(|&(seen, vlan, mac)| {
                let e = self.entries.get(&(vlan, mac))?;
                Some((vlan, mac, e.port, now.saturating_sub(seen) / 1000))
            })
            .collect()
    }

    /// (vlan, mac, port, age in seconds), sorted like `ovs-appctl fdb/show`: by port, vlan, mac.
    pub fn dump(&self, now: Time) -> Vec<(u16, MacAddr, OfPort, u64)> {
        let mut v: Vec<_> = self
            .entries
            .iter()
            .map(|((vlan, mac), e)| (*vlan, *mac, e.port, now.saturating_sub(e.last_seen) / 1000))
            .collect();
        v.sort_by_key(|&(vlan, mac, port, _)| (port, vlan, mac));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(last: u8) -> MacAddr {
        MacAddr([0xfa, 0x16, 0x3e, 0, 0, last])
    }

    #[test]
    fn learn_move_age_evict() {
        let mut t = MacTable::new(300_000, 2);
        assert_eq!(t.learn(1, mac(1), 5, 0), LearnOutcome::New);
        assert_eq!(t.learn(1, mac(1), 5, 10), LearnOutcome::Refreshed);
        assert_eq!(t.learn(1, MacAddr::BROADCAST, 5, 10), LearnOutcome::Ignored);
        assert_eq!(t.lookup(1, mac(1), 20), Some(5));
        assert_eq!(t.lookup(2, mac(1), 20), None, "VLANs are separate");
        assert_eq!(t.learn(1, mac(1), 6, 30), LearnOutcome::Moved { from: 5 });
        assert_eq!(t.lookup(1, mac(1), 40), Some(6));

        // Full: the least recently seen entry makes room.
        t.learn(1, mac(2), 7, 50);
        t.learn(1, mac(1), 6, 60);
        t.learn(1, mac(3), 8, 70);
        assert_eq!(t.len(), 2);
        assert_eq!(t.lookup(1, mac(2), 70), None);
        assert_eq!(t.n_evicted, 1);

        // Aging.
        assert_eq!(t.lookup(1, mac(1), 60 + 300_000), None);
        assert_eq!(t.age(60 + 300_000), 1);
        assert_eq!(t.len(), 1);
        t.track = true;
        t.flush_port(8);
        assert!(t.is_empty());
        assert_eq!(
            t.changed,
            vec![(1, mac(3))],
            "a flush is a change the fast path hears of"
        );
    }

    #[test]
    fn resize_and_reage() {
        let mut t = MacTable::new(300_000, 10);
        t.track = true;
        for i in 0..4 {
            t.learn(1, mac(i), 5, u64::from(i) * 1000);
        }
        t.changed.clear();
        // Shrinking evicts the least recently seen; growing evicts nothing.
        t.set_max_entries(2);
        assert_eq!(t.len(), 2);
        assert_eq!(t.changed, vec![(1, mac(0)), (1, mac(1))]);
        assert_eq!(t.n_evicted, 2);
        t.changed.clear();
        t.set_max_entries(100);
        assert_eq!(t.len(), 2);
        assert!(t.changed.is_empty());

        // A shorter aging time applies to entries already there, a longer one too.
        t.set_aging_ms(300_000);
        assert!(t.changed.is_empty(), "the same aging time is no change");
        t.set_aging_ms(15_000);
        assert_eq!(t.changed.len(), 2, "every entry counts as changed");
        assert_eq!(t.lookup(1, mac(3), 3000 + 14_999), Some(5));
        assert_eq!(t.lookup(1, mac(3), 3000 + 15_000), None);
        t.set_aging_ms(60_000);
        assert_eq!(t.lookup(1, mac(3), 3000 + 15_000), Some(5));
        assert_eq!(t.age(2000 + 60_000), 1);
        assert_eq!(t.len(), 1);
    }
}
