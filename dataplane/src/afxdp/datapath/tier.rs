//! The XDP tier of a datapath: the maps of its XDP program (`xvs_ebpf::tier`) kept as
//! the revalidator asks ([`TierBackend`]): ports, output slots, tunnels, masks, entries
//! and their counters. The bytes are `xdp_tier.rs`'s; this file does the map writes.
//!
//! - Ports: every port with an XDP program is in `tier_ports` (underlays decapsulated);
//!   a port is an output only while its netdev takes frames redirected from XDP (a
//!   veth whose peer has NAPI, a tap, most NIC drivers: [`XdpFeatures`]), checked at
//!   every tick; an entry whose output slot went is punted to userspace by the program.
//! - Entries: a counter slot each (zeroed before the entry goes in); a removed entry's
//!   slot is given out again only after the grace period of [`TierBackend::quiesce`]
//!   (a program may still be counting into it).
//! - One program per network namespace: the tier is the namespace of the datapath's
//!   first port; ports elsewhere (tests only) stay out of it.
//! - A reload (every port went, then one came) empties the maps: entries of the earlier
//!   load are gone ([`TierBackend::counters`] says None), tunnels are written again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use hashbrown::HashMap;
use xvs_ebpf::tier::{self as maps, FlowKeyBytes, TierConfig, TierMaps, TunnelKeyBytes};
use xvs_ebpf::{NetnsId, XdpSet};

use super::config::PortStats;
use crate::actions::DpAction;
use crate::afxdp::xdp_features::XdpFeatures;
use crate::cache::CachedFlow;
use crate::flow_key::PortNo;
use crate::tunnel::TunnelMap;
use crate::xdp_tier::{
    flow_key_bytes, tunnel_entries, Terminal, TierBackend, TierCount, TierHandle, TierKey,
    TierRefusal, TierStats, XdpEntry,
};

const MEMBARRIER_CMD_QUERY: libc::c_int = 0;
const MEMBARRIER_CMD_GLOBAL: libc::c_int = 1;

/// Whether `membarrier(MEMBARRIER_CMD_GLOBAL)` (a `synchronize_rcu()`) is there to wait
/// for the kernel's grace periods: not on `nohz_full` hosts. Without it the tier could
/// not tell when a removed entry stops forwarding, so it is not used (logged).
pub(super) fn grace_periods_available() -> bool {
    // SAFETY: membarrier(2) takes no pointer.
    let r = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0) };
    let ok = r >= 0 && r & libc::c_long::from(MEMBARRIER_CMD_GLOBAL) != 0;
    if !ok {
        tracing::warn!(
            "membarrier(MEMBARRIER_CMD_GLOBAL) is not available here (nohz_full?): \
             the XDP tier is off"
        );
    }
    ok
}

#[derive(Debug, Clone)]
struct TierPort {
    ifindex: u32,
    underlay: bool,
    tx_slot: Option<u32>,
    /// The port's carrier, as the workers see it.
    carrier: Arc<AtomicBool>,
}

/// An output slot of the devmap. A slot keeps its port while entries point to it, even
/// emptied (their frames are punted): given to another port, it would send them there.
/// It is free once no entry points to it and a grace period has passed.
#[derive(Debug, Clone, Copy, Default)]
struct TxSlot {
    owner: Option<PortNo>,
    /// In the devmap now.
    active: bool,
    /// Entries that output through it.
    refs: u32,
}

#[derive(Debug, Clone)]
struct TierFlow {
    serial: u64,
    key: FlowKeyBytes,
    mask_slot: u32,
    in_port: PortNo,
    out_port: Option<PortNo>,
    tx_slot: Option<u32>,
    /// Bytes a frame gains on its way out (an outer header, a pushed tag).
    out_growth: i64,
    /// Counters as last read, to credit the ports with the difference.
    read: (u64, u64),
    /// Outputs of the cache entry left out because their port had no carrier (the
    /// workers drop them); the entry leaves the tier when that port's carrier changes.
    omitted: Vec<PortNo>,
}

#[derive(Debug, Default)]
struct TierState {
    netns: Option<NetnsId>,
    /// The load the state below describes.
    load: u64,
    features: Option<XdpFeatures>,
    ports: BTreeMap<PortNo, TierPort>,
    tx: Vec<TxSlot>,
    /// Mask slots: the mask and how many entries use it.
    masks: Vec<Option<(TierKey, u32)>>,
    flows: HashMap<u32, TierFlow>,
    free_slots: Vec<u32>,
    /// Slots of removed entries, free after the next grace period.
    pending_free: Vec<u32>,
    next_slot: u32,
    tunnels: Vec<(TunnelKeyBytes, PortNo)>,
    /// Serials of entries the tier took out by itself, with their final counts, until
    /// the revalidator reads them.
    spent: HashMap<u64, (u64, u64)>,
    next_serial: u64,
    /// Every slot's counters, read at once for a pass of the revalidator.
    snapshot: Option<Vec<(u64, u64)>>,
    /// The ports' traffic forwarded in the kernel, from the entries' counters.
    traffic: BTreeMap<PortNo, PortStats>,
    stats: TierStats,
}

/// The datapath's handle on its tier; clones share it.
#[derive(Clone)]
pub struct TierControl {
    set: XdpSet,
    state: Arc<Mutex<TierState>>,
}

impl std::fmt::Debug for TierControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TierControl")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn map_error(e: impl std::fmt::Display) -> TierRefusal {
    TierRefusal::Map(e.to_string())
}

impl TierControl {
    pub(super) fn new(set: XdpSet) -> TierControl {
        TierControl {
            set,
            state: Arc::new(Mutex::new(TierState {
                tx: vec![TxSlot::default(); maps::MAX_TX as usize],
                masks: vec![None; maps::MAX_MASKS as usize],
                ..Default::default()
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TierState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the maps of the tier's namespace, after bringing the state up to
    /// the program loaded now (a reload empties the tier).
    fn with_maps<R>(
        &self,
        st: &mut TierState,
        f: impl FnOnce(&mut TierMaps, &mut TierState) -> R,
    ) -> Option<R> {
        let netns = st.netns?;
        self.set.tier(netns, |m, load| {
            if load != st.load {
                st.reset(load);
                for (k, p) in &st.tunnels {
                    let _ = m.insert_tunnel(k, *p);
                }
            }
            f(m, st)
        })
    }

    /// A port with an XDP program joined the datapath (called in the port's
    /// namespace, after its program is attached).
    pub(super) fn add_port(
        &self,
        port: PortNo,
        ifindex: u32,
        netns: NetnsId,
        underlay: bool,
        carrier: Arc<AtomicBool>,
    ) {
        let mut st = self.lock();
        if st.netns.is_none() || st.ports.is_empty() {
            if st.netns != Some(netns) {
                st.features = None;
            }
            st.netns = Some(netns);
        }
        if st.netns != Some(netns) {
            tracing::warn!(
                "port {port}: in another network namespace than the XDP tier's; left out of it"
            );
            return;
        }
        if st.features.is_none() {
            match XdpFeatures::open() {
                Ok(f) => st.features = Some(f),
                Err(e) => tracing::warn!(
                    "the kernel does not say which ports take XDP redirects ({e}): \
                     the XDP tier outputs to no port"
                ),
            }
        }
        st.ports.insert(
            port,
            TierPort {
                ifindex,
                underlay,
                tx_slot: None,
                carrier,
            },
        );
        let flags = maps::PORT_ON | if underlay { maps::PORT_UNDERLAY } else { 0 };
        let r = self.with_maps(&mut st, |m, st| {
            m.set_port(ifindex, port, flags)?;
            st.probe_tx(m, port);
            Ok::<(), xvs_ebpf::EbpfError>(())
        });
        if let Some(Err(e)) = r {
            tracing::warn!("port {port}: not in the XDP tier: {e}");
        }
    }

    /// A port left (its program already detached, which took it out of `tier_ports`).
    pub(super) fn remove_port(&self, port: PortNo) {
        let mut st = self.lock();
        let Some(p) = st.ports.remove(&port) else {
            return;
        };
        if let Some(slot) = p.tx_slot {
            let _ = self.with_maps(&mut st, |m, _| m.remove_tx(slot));
            st.tx[slot as usize].active = false;
        }
        st.traffic.remove(&port);
    }

    /// `port`'s carrier changed: the entries that output to it, or left it out, no
    /// longer do what a worker does; they leave the tier (their final counts kept for
    /// the revalidator, which may offer them again).
    pub(super) fn carrier_changed(&self, port: PortNo) {
        let mut st = self.lock();
        let st = &mut *st;
        self.with_maps(st, |m, st| {
            let stale: Vec<u32> = st
                .flows
                .iter()
                .filter(|(_, f)| f.out_port == Some(port) || f.omitted.contains(&port))
                .map(|(s, _)| *s)
                .collect();
            for slot in stale {
                let final_counts = m.counter(slot).unwrap_or((0, 0));
                let f = st.remove_flow(m, slot).expect("listed above");
                st.credit_read(&f, final_counts);
                st.spent.insert(f.serial, final_counts);
            }
        });
    }

    /// What the tier forwarded for each port (to add to the workers' counts).
    pub(super) fn port_traffic(&self) -> BTreeMap<PortNo, PortStats> {
        self.lock().traffic.clone()
    }
}

impl TierState {
    fn reset(&mut self, load: u64) {
        self.load = load;
        self.masks.iter_mut().for_each(|m| *m = None);
        self.flows.clear();
        self.free_slots.clear();
        self.spent.clear();
        self.snapshot = None;
        self.pending_free.clear();
        self.next_slot = 0;
        self.tx.iter_mut().for_each(|t| *t = TxSlot::default());
        for p in self.ports.values_mut() {
            p.tx_slot = None;
        }
    }

    /// Gives `port` an output slot while its netdev takes redirects, takes it away
    /// when it no longer does.
    fn probe_tx(&mut self, m: &mut TierMaps, port: PortNo) {
        let Some(p) = self.ports.get(&port).cloned() else {
            return;
        };
        let takes = self
            .features
            .as_mut()
            .is_some_and(|f| f.takes_redirects(p.ifindex));
        match (takes, p.tx_slot) {
            (true, None) => {
                // Its own slot again if entries still point to it, else a free one.
                let slot = self
                    .tx
                    .iter()
                    .position(|t| t.owner == Some(port) && !t.active)
                    .or_else(|| self.tx.iter().position(|t| t.owner.is_none()));
                let Some(slot) = slot else {
                    return;
                };
                if m.set_tx(slot as u32, p.ifindex).is_ok() {
                    self.tx[slot].owner = Some(port);
                    self.tx[slot].active = true;
                    self.ports.get_mut(&port).expect("present").tx_slot = Some(slot as u32);
                }
            }
            (false, Some(slot)) => {
                tracing::info!(
                    "port {port}: its netdev no longer takes XDP redirects; the XDP tier \
                     leaves its frames to userspace"
                );
                let _ = m.remove_tx(slot);
                self.tx[slot as usize].active = false;
                self.ports.get_mut(&port).expect("present").tx_slot = None;
            }
            _ => {}
        }
    }

    fn n_masks(&self) -> u32 {
        self.masks
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |i| i as u32 + 1)
    }

    fn alloc_slot(&mut self) -> Option<u32> {
        if let Some(s) = self.free_slots.pop() {
            return Some(s);
        }
        if self.next_slot < maps::MAX_FLOWS {
            self.next_slot += 1;
            return Some(self.next_slot - 1);
        }
        None
    }

    /// Takes the entry in `slot` out of the maps; its slot is free after the next grace
    /// period.
    fn remove_flow(&mut self, m: &mut TierMaps, slot: u32) -> Option<TierFlow> {
        let f = self.flows.remove(&slot)?;
        if let Err(e) = m.remove_flow(&f.key) {
            tracing::error!("XDP tier: removing entry {slot}: {e}");
        }
        let ms = f.mask_slot as usize;
        if let Some((_, n)) = self.masks[ms].as_mut() {
            *n -= 1;
            if *n == 0 {
                // The flows' keys carry the slot: an unused mask only costs a probe
                // until the slot is given to another.
                self.masks[ms] = None;
            }
        }
        if let Some(t) = f.tx_slot {
            self.tx[t as usize].refs -= 1;
        }
        self.pending_free.push(slot);
        self.stats.removed += 1;
        Some(f)
    }

    /// Credits what an entry forwarded since its last read, `(packets, bytes)` being its
    /// counters now: to the ports and the tier's packets.
    fn credit_read(&mut self, f: &TierFlow, (p, b): (u64, u64)) {
        let (dp, db) = (p.saturating_sub(f.read.0), b.saturating_sub(f.read.1));
        self.credit_ports(f, dp, db);
        self.stats.packets += dp;
    }

    fn credit_ports(&mut self, f: &TierFlow, dp: u64, db: u64) {
        if dp == 0 {
            return;
        }
        // A decapsulated frame came in on the underlay: when there is one, it is that.
        let rx_port = if self.ports.contains_key(&f.in_port) {
            Some(f.in_port)
        } else {
            let mut u = self.ports.iter().filter(|(_, p)| p.underlay);
            match (u.next(), u.next()) {
                (Some((&n, _)), None) => Some(n),
                _ => None,
            }
        };
        if let Some(p) = rx_port {
            let t = self.traffic.entry(p).or_default();
            t.rx_packets += dp;
            t.rx_bytes += db;
        }
        if let Some(p) = f.out_port {
            let t = self.traffic.entry(p).or_default();
            t.tx_packets += dp;
            t.tx_bytes = t
                .tx_bytes
                .saturating_add_signed(db as i64 + f.out_growth * dp as i64);
        }
    }
}

impl TierBackend for TierControl {
    fn install(&mut self, flow: &CachedFlow) -> Result<TierHandle, TierRefusal> {
        if flow.mask.in_port != u32::MAX {
            return Err(TierRefusal::InPortWildcarded);
        }
        let mut st = self.lock();
        let st = &mut *st;
        // Outputs to a port without carrier are dropped by the workers: the same here.
        let mut omitted = Vec::new();
        let mut actions: Vec<DpAction> = flow
            .actions
            .iter()
            .copied()
            .filter(|a| {
                let port = match a {
                    DpAction::Output(p) | DpAction::TunnelOutput { port: p, .. } => *p,
                    _ => return true,
                };
                let down = st
                    .ports
                    .get(&port)
                    .is_some_and(|p| !p.carrier.load(Ordering::Relaxed));
                if down && !omitted.contains(&port) {
                    omitted.push(port);
                }
                !down
            })
            .collect();
        // Header changes after the last output left (a tag pushed for the output that
        // was left out) change nothing anyone sees.
        while matches!(
            actions.last(),
            Some(
                DpAction::PushVlan { .. }
                    | DpAction::PopVlan
                    | DpAction::SetVlan(_)
                    | DpAction::SetEthSrc(_)
                    | DpAction::SetEthDst(_)
            )
        ) && !omitted.is_empty()
        {
            actions.pop();
        }
        let r = self.with_maps(st, |m, st| {
            let slot = st.alloc_slot().ok_or(TierRefusal::Full)?;
            let entry =
                XdpEntry::from_cache_entry(&flow.key, &flow.mask, &actions, flow.id, slot, |p| {
                    st.ports.get(&p).and_then(|p| p.tx_slot)
                });
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    st.free_slots.push(slot);
                    return Err(e.into());
                }
            };
            let mask_slot = match st
                .masks
                .iter()
                .position(|m| m.is_some_and(|(k, _)| k == entry.mask))
            {
                Some(i) => i,
                None => {
                    let Some(i) = st.masks.iter().position(Option::is_none) else {
                        st.free_slots.push(slot);
                        return Err(TierRefusal::MasksFull);
                    };
                    m.set_mask(i as u32, &entry.mask.to_bytes())
                        .map_err(map_error)?;
                    st.masks[i] = Some((entry.mask, 0));
                    i
                }
            };
            let key = flow_key_bytes(mask_slot as u32, &entry.key);
            let done = m
                .clear_counter(slot)
                .and_then(|()| m.insert_flow(&key, &entry.actions.to_bytes()));
            if let Err(e) = done {
                st.free_slots.push(slot);
                if st.masks[mask_slot].is_some_and(|(_, n)| n == 0) {
                    st.masks[mask_slot] = None;
                }
                return Err(map_error(e));
            }
            if let Some((_, n)) = st.masks[mask_slot].as_mut() {
                *n += 1;
            }
            let n_masks = st.n_masks();
            if m.config().n_masks != n_masks {
                m.set_config(TierConfig {
                    enabled: true,
                    trace: false,
                    n_masks,
                })
                .map_err(map_error)?;
            }
            let (out_port, tx_slot, out_growth) = match entry.actions.terminal {
                Terminal::Drop => (None, None, 0),
                Terminal::Output { port, tx_slot } => (Some(port), Some(tx_slot), 0),
                Terminal::Encap {
                    port, tx_slot, len, ..
                } => (Some(port), Some(tx_slot), i64::from(len)),
            };
            if let Some(t) = tx_slot {
                st.tx[t as usize].refs += 1;
            }
            let a = &entry.actions;
            let growth =
                out_growth + 4 * i64::from(a.push_vlan.is_some()) - 4 * i64::from(a.pop_vlan);
            st.next_serial += 1;
            let serial = st.next_serial;
            st.flows.insert(
                slot,
                TierFlow {
                    serial,
                    key,
                    mask_slot: mask_slot as u32,
                    in_port: flow.key.in_port,
                    out_port,
                    tx_slot,
                    out_growth: growth,
                    read: (0, 0),
                    omitted: std::mem::take(&mut omitted),
                },
            );
            st.stats.installed += 1;
            Ok(TierHandle {
                slot,
                load: st.load,
                serial,
            })
        });
        let r = r.unwrap_or(Err(TierRefusal::NotLoaded));
        if let Err(e) = &r {
            st.stats.refused += 1;
            st.stats.last_refusal = e.kind();
            tracing::debug!(
                "XDP tier: entry {} stays in userspace: {e} (actions {:?})",
                flow.id,
                flow.actions.iter().collect::<Vec<_>>()
            );
        }
        r
    }

    fn remove(&mut self, h: TierHandle) {
        let mut st = self.lock();
        let st = &mut *st;
        self.with_maps(st, |m, st| {
            if h.load != st.load {
                return;
            }
            st.spent.remove(&h.serial);
            if st.flows.get(&h.slot).is_some_and(|f| f.serial == h.serial) {
                st.remove_flow(m, h.slot);
            }
        });
    }

    fn quiesce(&mut self) {
        let mut st = self.lock();
        if st.pending_free.is_empty() {
            return;
        }
        // MEMBARRIER_CMD_GLOBAL returns after synchronize_rcu(): every XDP program run
        // (a NAPI poll, in an RCU read-side section, redirects flushed at its end)
        // that could have looked up a removed entry is over.
        // SAFETY: membarrier(2) takes no pointer.
        let r = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) };
        if r < 0 {
            // Checked at start; should it fail now, a generous wait is the best left.
            tracing::error!(
                "membarrier(MEMBARRIER_CMD_GLOBAL): {}; waiting 100 ms for the XDP tier instead",
                std::io::Error::last_os_error()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let pending = std::mem::take(&mut st.pending_free);
        st.free_slots.extend(pending);
        for t in st.tx.iter_mut() {
            if !t.active && t.refs == 0 {
                t.owner = None;
            }
        }
        st.stats.grace_periods += 1;
    }

    fn counters(&mut self, h: TierHandle) -> Option<TierCount> {
        let mut st = self.lock();
        let st = &mut *st;
        self.with_maps(st, |m, st| {
            if h.load != st.load {
                return None;
            }
            if let Some((packets, bytes)) = st.spent.remove(&h.serial) {
                return Some(TierCount {
                    packets,
                    bytes,
                    live: false,
                });
            }
            let f = st
                .flows
                .get(&h.slot)
                .filter(|f| f.serial == h.serial)?
                .clone();
            let (p, b) = match st.snapshot.as_ref().and_then(|s| s.get(h.slot as usize)) {
                Some(&c) => c,
                None => m.counter(h.slot).ok()?,
            };
            st.credit_read(&f, (p, b));
            if let Some(f) = st.flows.get_mut(&h.slot) {
                f.read = (p, b);
            }
            Some(TierCount {
                packets: p,
                bytes: b,
                live: true,
            })
        })
        .flatten()
    }

    fn begin_pass(&mut self) {
        let mut st = self.lock();
        let st = &mut *st;
        self.with_maps(st, |m, st| {
            st.snapshot = if st.flows.is_empty() {
                None
            } else {
                m.counters_upto(st.next_slot).ok()
            };
        });
    }

    fn end_pass(&mut self) {
        self.lock().snapshot = None;
    }

    fn set_tunnels(&mut self, map: &TunnelMap) {
        let mut st = self.lock();
        let st = &mut *st;
        let new = tunnel_entries(map);
        self.with_maps(st, |m, st| {
            for (k, _) in &st.tunnels {
                if !new.iter().any(|(n, _)| n == k) {
                    let _ = m.remove_tunnel(k);
                }
            }
            for (k, p) in &new {
                if let Err(e) = m.insert_tunnel(k, *p) {
                    tracing::error!("XDP tier: tunnel port {p}: {e}");
                }
            }
        });
        st.tunnels = new;
    }

    fn tick(&mut self) {
        let mut st = self.lock();
        let st = &mut *st;
        self.with_maps(st, |m, st| {
            let ports: Vec<PortNo> = st.ports.keys().copied().collect();
            for p in ports {
                st.probe_tx(m, p);
            }
        });
    }

    fn stats(&self) -> TierStats {
        let st = self.lock();
        TierStats {
            entries: st.flows.len() as u64,
            masks: st.masks.iter().filter(|m| m.is_some()).count() as u64,
            tx_ports: st.ports.values().filter(|p| p.tx_slot.is_some()).count() as u64,
            ..st.stats
        }
    }
}
