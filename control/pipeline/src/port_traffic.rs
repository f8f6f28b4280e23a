//! What the pipeline counts per port: the traffic of the ports the datapath has no
//! socket for (patch ports, tunnel ports), and the frames each input port's flows
//! dropped.
//!
//! As OVS's xlate cache (`XC_NETDEV`): a translation notes the ports it crosses (a
//! patch port: tx on the end it leaves by, rx on its peer; a tunnel port: rx when the
//! frame was decapsulated from it, tx when it is encapsulated into it), and whatever
//! credits the translation's rules with packets and bytes (the upcall, then the
//! revalidator's `sync_stats` for every packet a cache entry forwarded) credits those
//! ports too. Nothing is counted per packet on a worker: a cache entry's own counters
//! are the only per-packet cost, and they exist already.
//!
//! Bytes are the frame as it entered the datapath (after decapsulation), as OVS counts
//! a datapath flow's bytes for every port its translation crossed.

use hashbrown::HashMap;
use serde::Serialize;

use crate::ofp::OfPort;
use crate::topology::BridgeId;
use crate::xlate::Translation;

/// One port's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PortTraffic {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Frames that entered the datapath on this port and that the pipeline sent nowhere
    /// (`drop`, no flow, a bound of the translation, ...: every reason `coverage/show`
    /// names for the pipeline).
    pub rx_dropped: u64,
}

/// Which way a frame crossed a port, seen from the bridge the port is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Into the bridge: a patch port's peer sent it, or it was decapsulated from a
    /// tunnel.
    Rx,
    /// Out of the bridge: sent to a patch port, or encapsulated into a tunnel.
    Tx,
}

/// A port a translation's frame crossed without a datapath port's socket counting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortCrossing {
    pub bridge: BridgeId,
    pub ofport: OfPort,
    pub direction: Direction,
}

/// The counters of every port that has some, by (bridge, OpenFlow port). A port's go
/// with it.
#[derive(Clone, Debug, Default)]
pub struct PortTrafficTable {
    ports: HashMap<(BridgeId, OfPort), PortTraffic>,
}

impl PortTrafficTable {
    /// A port's counters (zero if nothing was counted).
    pub fn get(&self, bridge: BridgeId, ofport: OfPort) -> PortTraffic {
        self.ports
            .get(&(bridge, ofport))
            .copied()
            .unwrap_or_default()
    }

    /// Forgets a port (it was removed).
    pub fn remove_port(&mut self, bridge: BridgeId, ofport: OfPort) {
        self.ports.remove(&(bridge, ofport));
    }

    /// Forgets a bridge's ports.
    pub fn remove_bridge(&mut self, bridge: BridgeId) {
        self.ports.retain(|(b, _), _| *b != bridge);
    }

    /// Credits `packets` frames of `bytes` bytes, all translated as `tr`, to the ports
    /// it crossed and, if it dropped them, to its input port's drops. `exists` says
    /// whether a port is still there: a cache entry's last packets are credited after
    /// its port was removed, and must not bring the port's counters back.
    pub fn credit(
        &mut self,
        tr: &Translation,
        packets: u64,
        bytes: u64,
        exists: impl Fn(BridgeId, OfPort) -> bool,
    ) {
        if packets == 0 {
            return;
        }
        let mut bump = |bridge: BridgeId, ofport: OfPort, f: &dyn Fn(&mut PortTraffic)| {
            if exists(bridge, ofport) {
                f(self.ports.entry((bridge, ofport)).or_default());
            }
        };
        for c in &tr.crossings {
            match c.direction {
                Direction::Rx => bump(c.bridge, c.ofport, &|t| {
                    t.rx_packets += packets;
                    t.rx_bytes += bytes;
                }),
                Direction::Tx => bump(c.bridge, c.ofport, &|t| {
                    t.tx_packets += packets;
                    t.tx_bytes += bytes;
                }),
            }
        }
        if let Some((bridge, ofport)) = tr.input {
            if tr.drop_reason().is_some() {
                bump(bridge, ofport, &|t| t.rx_dropped += packets);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xvs_dataplane::DpAction;

    fn crossing(bridge: BridgeId, ofport: OfPort, direction: Direction) -> PortCrossing {
        PortCrossing {
            bridge,
            ofport,
            direction,
        }
    }

    /// Through a patch pair and out of a tunnel, as br-int → br-tun → gre.
    fn forwarded() -> Translation {
        Translation {
            actions: vec![DpAction::Output(9)],
            input: Some((1, 5)),
            crossings: vec![
                crossing(1, 2, Direction::Tx),
                crossing(2, 1, Direction::Rx),
                crossing(2, 3, Direction::Tx),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn a_forwarded_frame_counts_on_every_port_it_crossed_and_drops_nothing() {
        let mut t = PortTrafficTable::default();
        t.credit(&forwarded(), 3, 300, |_, _| true);
        t.credit(&forwarded(), 1, 60, |_, _| true);
        let tx = PortTraffic {
            tx_packets: 4,
            tx_bytes: 360,
            ..Default::default()
        };
        assert_eq!(t.get(1, 2), tx);
        assert_eq!(t.get(2, 3), tx);
        assert_eq!(
            t.get(2, 1),
            PortTraffic {
                rx_packets: 4,
                rx_bytes: 360,
                ..Default::default()
            }
        );
        // The input port's own traffic is its datapath port's to count.
        assert_eq!(t.get(1, 5), PortTraffic::default());
    }

    #[test]
    fn a_dropped_frame_counts_on_its_input_port_and_where_it_went_before() {
        let mut t = PortTrafficTable::default();
        // Decapsulated from tunnel port 3 of bridge 2, then no flow matched.
        let tr = Translation {
            input: Some((2, 3)),
            crossings: vec![crossing(2, 3, Direction::Rx)],
            table_misses: 1,
            ..Default::default()
        };
        t.credit(&tr, 2, 200, |_, _| true);
        assert_eq!(
            t.get(2, 3),
            PortTraffic {
                rx_packets: 2,
                rx_bytes: 200,
                rx_dropped: 2,
                ..Default::default()
            }
        );
    }

    #[test]
    fn a_removed_port_is_not_counted_again() {
        let mut t = PortTrafficTable::default();
        t.credit(&forwarded(), 1, 100, |_, _| true);
        t.remove_port(1, 2);
        t.credit(&forwarded(), 1, 100, |b, p| (b, p) != (1, 2));
        assert_eq!(t.get(1, 2), PortTraffic::default());
        assert_eq!(t.get(2, 3).tx_packets, 2);
        t.remove_bridge(2);
        assert_eq!(t.get(2, 3), PortTraffic::default());
        assert_eq!(t.get(2, 1), PortTraffic::default());
    }

    #[test]
    fn nothing_is_counted_for_no_packets() {
        let mut t = PortTrafficTable::default();
        t.credit(&forwarded(), 0, 0, |_, _| true);
        assert!(t.ports.is_empty());
    }
}
