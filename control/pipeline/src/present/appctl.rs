//! The answers of `ovs-appctl` commands that have no other home, in the layout of
//! ovs-vswitchd 3.1's: `dpif/show` (ofproto-dpif.c), `dpif-netdev/pmd-stats-show`
//! (dpif-netdev.c), `upcall/show` (ofproto-dpif-upcall.c), `coverage/show`
//! (coverage.c) and `fdb/show` (ofproto-dpif.c). Where xvs has no such figure the line
//! is left out rather than made up; where OVS has no such figure, xvs's is added after
//! OVS's lines.

use std::fmt::Write as _;

use xvs_dataplane::worker::WorkerStatsSnapshot;
use xvs_dataplane::MacAddr;

use crate::ofp::{OfPort, OFPP_LOCAL};
use crate::ofproto::mac_learning::MacTable;
use crate::ofproto::table::Time;
use crate::revalidator::RevalidatorStats;
use crate::switch::Switch;
use crate::topology::{PortKind, Topology, TunnelKey};

/// The datapath's name, as `dpif/show` and `upcall/show` head their answers (OVS's
/// `system@ovs-system`).
pub const DATAPATH_NAME: &str = "xvs@datapath";

/// `dpif/show`: the datapath's hits and misses, then every bridge's ports (sorted by
/// name, as OVS sorts them) as `name ofport/dp_port: (type[: options])`.
/// `tier_hits`: the XDP tier's, datapath hits no worker counted.
pub fn dpif_show(topo: &Topology, workers: &[WorkerStatsSnapshot], tier_hits: u64) -> String {
    let (hits, misses) = workers
        .iter()
        .fold((tier_hits, 0), |(h, m), w| (h + w.hits, m + w.misses));
    let mut s = format!("{DATAPATH_NAME}: hit:{hits} missed:{misses}\n");
    let mut bridges: Vec<_> = topo.bridges().collect();
    bridges.sort_by(|a, b| a.name.cmp(&b.name));
    for br in bridges {
        let _ = writeln!(s, "  {}:", br.name);
        let mut ports: Vec<_> = br.ports.values().collect();
        ports.sort_by(|a, b| a.name().cmp(b.name()));
        for p in ports {
            let dp = p.dp_port.map_or("none".to_string(), |d| d.to_string());
            let mut options: Vec<(String, String)> = Vec::new();
            match &p.config.kind {
                PortKind::Patch { peer } => options.push(("peer".into(), peer.clone())),
                PortKind::Gre(t) | PortKind::Vxlan(t) => {
                    if t.csum {
                        options.push(("csum".into(), "true".into()));
                    }
                    match t.key {
                        TunnelKey::Flow => options.push(("key".into(), "flow".into())),
                        TunnelKey::Fixed(k) => options.push(("key".into(), k.to_string())),
                        TunnelKey::None => {}
                    }
                    if let Some(l) = t.local_ip {
                        options.push(("local_ip".into(), l.to_string()));
                    }
                    options.push(("remote_ip".into(), t.remote_ip.to_string()));
                }
                _ => {}
            }
            options.sort();
            let _ = write!(
                s,
                "    {} {}/{dp}: ({}",
                p.name(),
                p.ofport,
                p.config.kind.type_name()
            );
            for (i, (k, v)) in options.iter().enumerate() {
                let _ = write!(s, "{} {k}={v}", if i == 0 { ':' } else { ',' });
            }
            s.push_str(")\n");
        }
    }
    s
}

/// A worker as `pmd-stats-show` heads it: its core (and that core's NUMA node) when it
/// is pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerPlace {
    pub worker: usize,
    pub core: Option<usize>,
    pub numa: Option<usize>,
}

impl WorkerPlace {
    /// OVS's `pmd thread numa_id N core_id C:`; an unpinned worker (OVS's PMDs are always
    /// pinned) is `pmd thread worker W:`.
    pub fn title(&self) -> String {
        match self.core {
            Some(c) => format!("pmd thread numa_id {} core_id {c}", self.numa.unwrap_or(0)),
            None => format!("pmd thread worker {}", self.worker),
        }
    }
}

/// The figures `pmd-stats-show` takes from a worker's counters less what they were at
/// the last `pmd-stats-clear`.
pub fn worker_delta(now: &WorkerStatsSnapshot, base: &WorkerStatsSnapshot) -> WorkerStatsSnapshot {
    let d = |a: u64, b: u64| a.saturating_sub(b);
    WorkerStatsSnapshot {
        hits: d(now.hits, base.hits),
        misses: d(now.misses, base.misses),
        lost: d(now.lost, base.lost),
        malformed: d(now.malformed, base.malformed),
        bad_tunnel: d(now.bad_tunnel, base.bad_tunnel),
        unknown_tunnel: d(now.unknown_tunnel, base.unknown_tunnel),
        executed: d(now.executed, base.executed),
        too_big: d(now.too_big, base.too_big),
        install_failed: d(now.install_failed, base.install_failed),
        entries: now.entries,
        acked: now.acked,
        busy_cycles: d(now.busy_cycles, base.busy_cycles),
        idle_cycles: d(now.idle_cycles, base.idle_cycles),
        polled_packets: d(now.polled_packets, base.polled_packets),
    }
}

/// `dpif-netdev/pmd-stats-show`, one block per worker, OVS's lines in OVS's order.
/// Mapped: packets received (frames the worker polled; hits, misses and drops before
/// lookup when the datapath does not count polls), megaflow hits (cache hits: xvs's
/// one cache level), miss with success upcall (misses queued for the control thread),
/// miss with failed upcall (lost: the queue was full), the loop's idle and processing
/// cycles. Recirculations, hardware offload, miniflow-extract, simple-match, EMC and
/// SMC hits are 0: xvs has none of them. Not shown, because xvs does not count them:
/// subtable lookups per megaflow hit, packets per output batch.
pub fn pmd_stats_show(workers: &[(WorkerPlace, WorkerStatsSnapshot)]) -> String {
    let mut s = String::new();
    for (place, st) in workers {
        let _ = writeln!(s, "{}:", place.title());
        let received = if st.polled_packets > 0 {
            st.polled_packets
        } else {
            st.hits + st.misses + st.malformed + st.bad_tunnel + st.unknown_tunnel
        };
        let passes = if received > 0 { 1.0 } else { 0.0 };
        let _ = write!(
            s,
            "  packets received: {received}\n  packet recirculations: 0\n  avg. datapath passes per packet: {passes:.2}\n  phwol hits: 0\n  mfex opt hits: 0\n  simple match hits: 0\n  emc hits: 0\n  smc hits: 0\n  megaflow hits: {}\n  miss with success upcall: {}\n  miss with failed upcall: {}\n",
            st.hits,
            st.misses.saturating_sub(st.lost),
            st.lost
        );
        let total = st.idle_cycles + st.busy_cycles;
        if total == 0 {
            continue;
        }
        let pct = |c: u64| c as f64 / total as f64 * 100.0;
        let _ = write!(
            s,
            "  idle cycles: {} ({:.2}%)\n  processing cycles: {} ({:.2}%)\n",
            st.idle_cycles,
            pct(st.idle_cycles),
            st.busy_cycles,
            pct(st.busy_cycles)
        );
        if received == 0 {
            continue;
        }
        let _ = write!(
            s,
            "  avg cycles per packet: {:.2} ({total}/{received})\n  avg processing cycles per packet: {:.2} ({}/{received})\n",
            total as f64 / received as f64,
            st.busy_cycles as f64 / received as f64,
            st.busy_cycles
        );
    }
    s
}

/// `upcall/show`: the caches' entries (now, running average, most seen, limit), how
/// long the last pass over them took, and per worker its entries (OVS: per revalidator
/// thread; xvs's one revalidator is the control thread, and a worker's cache is the
/// share it keeps). Then xvs's upcall handler counters, which OVS does not show here.
pub fn upcall_show(stats: &RevalidatorStats, per_worker: &[usize], limit: usize) -> String {
    let current: usize = per_worker.iter().sum();
    let mut s = format!("{DATAPATH_NAME}:\n");
    let _ = writeln!(
        s,
        "  flows         : (current {current}) (avg {}) (max {}) (limit {limit})",
        stats.avg_entries,
        stats.max_entries.max(current as u64)
    );
    let _ = writeln!(s, "  dump duration : {}ms", stats.dump_duration_ms);
    s.push('\n');
    for (i, n) in per_worker.iter().enumerate() {
        let _ = writeln!(s, "  {i}: (keys {n})");
    }
    let f = stats;
    let _ = writeln!(
        s,
        "\n  upcalls: handled:{} installed:{} duplicate:{} uncacheable:{} invalidated:{} evicted:{} expired:{} barrier-timeouts:{}",
        f.upcalls, f.installed, f.duplicates, f.uncacheable, f.invalidated, f.evicted, f.expired, f.barrier_timeouts
    );
    s
}

/// Every counter `coverage/show` knows, by name, with its total now.
pub fn coverage_counters(
    sw: &Switch,
    workers: &[WorkerStatsSnapshot],
    reval: &RevalidatorStats,
) -> Vec<(&'static str, u64)> {
    let mut w = WorkerStatsSnapshot::default();
    for s in workers {
        w += *s;
    }
    let d = &sw.drops;
    let l = sw.flow_limit_stats();
    vec![
        // The datapath (the workers), in OVS's names where OVS counts the same thing.
        ("datapath_drop_rx_invalid_packet", w.malformed),
        ("datapath_drop_tunnel_pop_error", w.bad_tunnel),
        ("datapath_drop_invalid_tnl_port", w.unknown_tunnel),
        ("datapath_drop_upcall_error", w.lost),
        ("datapath_drop_tunnel_too_big", w.too_big + d.too_big),
        // The pipeline, for every packet (cached or not).
        ("drop_action_of_pipeline", d.flow_action),
        ("drop_action_no_flow", d.no_flow),
        ("drop_action_bridge_not_found", d.bridge_not_found),
        ("drop_action_recursion_too_deep", d.recursion_too_deep),
        ("drop_action_too_many_resubmit", d.too_many_resubmits),
        ("drop_action_too_many_actions", d.too_many_actions),
        ("drop_action_too_many_learned", d.too_many_learned),
        ("drop_action_controller", d.controller),
        ("drop_action_invalid_ttl", d.invalid_ttl),
        (
            "drop_action_forwarding_disabled",
            reval.flow_restore_wait_drops,
        ),
        // What happened on the way, as OVS names it.
        (
            "upcall_received",
            reval.upcalls + reval.flow_restore_wait_drops,
        ),
        ("xlate_actions", reval.upcalls),
        ("dpif_flow_put", reval.installed),
        ("cache_install_failed", w.install_failed),
        (
            "dpif_flow_del",
            reval.invalidated + reval.evicted + reval.expired,
        ),
        ("dpif_execute", w.executed),
        ("handler_duplicate_upcall", reval.duplicates),
        ("upcall_uncacheable", reval.uncacheable),
        ("flow_limit_refused", l.refused),
        ("flow_limit_evicted", l.evicted),
        ("learn_limit_refused", l.learn_refused),
        ("learn_limit_evicted", l.learn_evicted),
    ]
}

/// One counter's totals: now, and 5 s, 1 min and 1 h ago (`None` before the daemon was
/// that old: counted from 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoverageLine {
    pub name: String,
    pub total: u64,
    pub ago_5s: u64,
    pub ago_1m: u64,
    pub ago_1h: u64,
}

/// `coverage/show`: a header with a hash of the totals, every counter that is not 0
/// with its rates over the last 5 s, minute and hour (`%-24s %5.1f/sec %9.3f/sec
/// %13.4f/sec   total: N`), then how many were never hit.
pub fn coverage_show(lines: &[CoverageLine]) -> String {
    // FNV-1a over the totals: changes when any count does.
    let mut hash: u32 = 0x811c_9dc5;
    for l in lines {
        for b in l.total.to_le_bytes() {
            hash ^= u32::from(b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    let mut s = format!(
        "Event coverage, avg rate over last: 5 seconds, last minute, last hour,  hash={hash:08x}:\n"
    );
    let mut never = 0;
    for l in lines {
        if l.total == 0 {
            never += 1;
            continue;
        }
        let rate = |then: u64, secs: f64| l.total.saturating_sub(then) as f64 / secs;
        let _ = writeln!(
            s,
            "{:<24} {:5.1}/sec {:9.3}/sec {:13.4}/sec   total: {}",
            l.name,
            rate(l.ago_5s, 5.0),
            rate(l.ago_1m, 60.0),
            rate(l.ago_1h, 3600.0),
            l.total
        );
    }
    let _ = writeln!(s, "{never} events never hit");
    s
}

/// `fdb/show BRIDGE`: the MAC table, least recently seen first (OVS's LRU order), each
/// port by number (`LOCAL` for the bridge's own).
pub fn fdb_show(macs: &MacTable, now: Time) -> String {
    let mut s = String::from(" port  VLAN  MAC                Age\n");
    for (vlan, mac, port, age) in macs.dump_lru(now) {
        let _ = writeln!(
            s,
            "{:>5}  {vlan:>4}  {}  {age:>3}",
            port_text(port),
            mac_text(mac)
        );
    }
    s
}

fn port_text(p: OfPort) -> String {
    if p == OFPP_LOCAL {
        "LOCAL".into()
    } else {
        p.to_string()
    }
}

fn mac_text(m: MacAddr) -> String {
    m.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_rates_as_ovs_prints_them() {
        let lines = vec![
            CoverageLine {
                name: "drop_action_no_flow".into(),
                total: 65,
                ago_5s: 60,
                ago_1m: 5,
                ago_1h: 0,
            },
            CoverageLine {
                name: "dpif_flow_put".into(),
                total: 0,
                ago_5s: 0,
                ago_1m: 0,
                ago_1h: 0,
            },
        ];
        let s = coverage_show(&lines);
        let mut it = s.lines();
        assert!(it.next().unwrap().starts_with(
            "Event coverage, avg rate over last: 5 seconds, last minute, last hour,  hash="
        ));
        assert_eq!(
            it.next().unwrap(),
            "drop_action_no_flow        1.0/sec     1.000/sec        0.0181/sec   total: 65"
        );
        assert_eq!(it.next().unwrap(), "1 events never hit");
    }

    #[test]
    fn pmd_stats_lines() {
        let st = WorkerStatsSnapshot {
            hits: 7,
            misses: 3,
            lost: 1,
            polled_packets: 10,
            busy_cycles: 300,
            idle_cycles: 700,
            ..Default::default()
        };
        let place = WorkerPlace {
            worker: 0,
            core: Some(1),
            numa: Some(0),
        };
        let s = pmd_stats_show(&[(place, st)]);
        assert!(s.starts_with("pmd thread numa_id 0 core_id 1:\n  packets received: 10\n"));
        assert!(s.contains(
            "  megaflow hits: 7\n  miss with success upcall: 2\n  miss with failed upcall: 1\n"
        ));
        assert!(s.contains("  idle cycles: 700 (70.00%)\n  processing cycles: 300 (30.00%)\n"));
        assert!(s.ends_with("  avg processing cycles per packet: 30.00 (300/10)\n"));
    }
}
