//! What changed in the switch since the fast path last looked: the input of precise
//! cache invalidation.

use xvs_dataplane::MacAddr;

use super::table::RuleId;
use crate::ofp::Match;
use crate::topology::BridgeId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A rule appeared: cached translations whose lookup in this table it matches may
    /// now end differently.
    RuleAdded {
        bridge: BridgeId,
        table: u8,
        matcher: Match,
        priority: u16,
    },
    /// A rule went (deleted, replaced, expired): translations that used it are stale,
    /// and so are those whose `learn` created it (they must run again to re-create it).
    RuleRemoved {
        bridge: BridgeId,
        table: u8,
        id: RuleId,
        matcher: Match,
        priority: u16,
    },
    /// A rule's actions changed.
    RuleModified { bridge: BridgeId, id: RuleId },
    /// A MAC table mapping appeared, moved or went.
    Mac {
        bridge: BridgeId,
        vlan: u16,
        mac: MacAddr,
    },
    /// Bridges, ports or underlay routes changed: everything cached is suspect.
    Topology,
}

/// Collects changes only while someone (the fast path) consumes them.
#[derive(Default, Debug)]
pub struct ChangeLog {
    pub enabled: bool,
    changes: Vec<Change>,
}

impl ChangeLog {
    pub fn push(&mut self, c: Change) {
        if self.enabled {
            self.changes.push(c);
        }
    }

    pub fn take(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }
}
