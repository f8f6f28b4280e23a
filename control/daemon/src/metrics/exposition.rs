//! The figures of one scrape and their OpenMetrics text, sans I/O.
//!
//! Names follow Greenstatic's `ovs_exporter` (the OVS exporter most dashboards are
//! built on): an `ovs_` prefix, `ovs_interface_*` per port, `ovs_dp_*` for the
//! datapath, `ovs_coverage_total{event}` for the coverage counters; xvs's workers are
//! OVS's PMD threads (`ovs_pmd_*{pmd}`), its upcall handler `ovs_upcall_*`. Counters
//! end in `_total`, as OpenMetrics wants them (the encoder adds it).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use xvs_dataplane::worker::WorkerStatsSnapshot;
use xvs_pipeline::present::show::PortCounters;
use xvs_pipeline::revalidator::RevalidatorStats;

/// One bridge port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSample {
    pub bridge: String,
    pub port: String,
    pub ofport: u32,
    /// As the database's `Interface.type` says it ("system", "internal", "patch", "gre",
    /// "vxlan").
    pub kind: String,
    pub counters: PortCounters,
}

/// Everything one scrape shows, read through the control thread.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub ports: Vec<PortSample>,
    /// Per worker, in worker order.
    pub workers: Vec<WorkerStatsSnapshot>,
    pub upcalls: RevalidatorStats,
    /// Entries in every worker's cache, and the most they may hold.
    pub dp_flows: u64,
    pub dp_flows_limit: u64,
    /// Every `coverage/show` counter (the drop reasons among them), by name.
    pub coverage: Vec<(String, u64)>,
    /// OpenFlow rules per (bridge, table), tables with rules only.
    pub flows: Vec<(String, u8, u64)>,
}

type Labels = Vec<(String, String)>;

/// A metric's name (after its prefix), help, and how to read it from a sample.
type Figure<T> = (&'static str, &'static str, fn(&T) -> u64);

fn counters(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, Counter> {
    let f = Family::<Labels, Counter>::default();
    reg.register(name, help, f.clone());
    f
}

fn gauges(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge> {
    let f = Family::<Labels, Gauge>::default();
    reg.register(name, help, f.clone());
    f
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn gauge_value(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The OpenMetrics text of `s` (ends with `# EOF`).
pub fn encode_snapshot(s: &Snapshot) -> String {
    let mut reg = Registry::default();

    let port_counters: [Figure<PortCounters>; 8] = [
        ("rx_packets", "Frames received on the port.", |c| c.rx_packets),
        ("rx_bytes", "Bytes received on the port.", |c| c.rx_bytes),
        (
            "rx_dropped",
            "Frames received on the port and dropped: by the kernel or the AF_XDP ring, or by the flows (no flow, drop action, a bound of the translation).",
            |c| c.rx_dropped,
        ),
        ("rx_errors", "Receive errors (invalid descriptors).", |c| c.rx_errors),
        ("tx_packets", "Frames sent on the port.", |c| c.tx_packets),
        ("tx_bytes", "Bytes sent on the port.", |c| c.tx_bytes),
        (
            "tx_dropped",
            "Frames not sent on the port: tx ring full, no free frame, too big.",
            |c| c.tx_dropped,
        ),
        ("tx_errors", "Transmit errors (invalid descriptors, failed kicks).", |c| c.tx_errors),
    ];
    for (name, help, get) in port_counters {
        let f = counters(&mut reg, &format!("ovs_interface_{name}"), help);
        for p in &s.ports {
            let ofport = p.ofport.to_string();
            let l = labels(&[
                ("bridge", &p.bridge),
                ("port", &p.port),
                ("ofport", &ofport),
                ("type", &p.kind),
            ]);
            f.get_or_create(&l).inc_by(get(&p.counters));
        }
    }

    let worker_counters: [Figure<WorkerStatsSnapshot>; 7] = [
        (
            "lookups_hit",
            "Frames forwarded by the worker's flow cache.",
            |w| w.hits,
        ),
        (
            "lookups_missed",
            "Frames that missed the worker's flow cache (upcalls).",
            |w| w.misses,
        ),
        (
            "lookups_lost",
            "Misses dropped: the upcall queue was full.",
            |w| w.lost,
        ),
        (
            "busy_cycles",
            "Cycles of the worker loop's iterations that did work.",
            |w| w.busy_cycles,
        ),
        (
            "idle_cycles",
            "Cycles of the worker loop's iterations that found nothing to do.",
            |w| w.idle_cycles,
        ),
        ("packets", "Frames the worker received.", |w| {
            w.polled_packets
        }),
        (
            "executed",
            "Frames the worker sent for the upcall handler.",
            |w| w.executed,
        ),
    ];
    for (name, help, get) in worker_counters {
        let f = counters(&mut reg, &format!("ovs_pmd_{name}"), help);
        for (i, w) in s.workers.iter().enumerate() {
            f.get_or_create(&labels(&[("pmd", &i.to_string())]))
                .inc_by(get(w));
        }
    }
    let f = gauges(
        &mut reg,
        "ovs_pmd_flows",
        "Entries in the worker's flow cache.",
    );
    for (i, w) in s.workers.iter().enumerate() {
        f.get_or_create(&labels(&[("pmd", &i.to_string())]))
            .set(gauge_value(w.entries));
    }

    let dp = gauges(
        &mut reg,
        "ovs_dp_flows",
        "Entries in the flow caches, all workers.",
    );
    dp.get_or_create(&Vec::new()).set(gauge_value(s.dp_flows));
    let dp = gauges(
        &mut reg,
        "ovs_dp_flows_limit",
        "The most entries the flow caches may hold, all workers.",
    );
    dp.get_or_create(&Vec::new())
        .set(gauge_value(s.dp_flows_limit));

    let u = &s.upcalls;
    let upcall_counters: [(&str, &str, u64); 8] = [
        (
            "handled",
            "Misses translated by the upcall handler.",
            u.upcalls,
        ),
        (
            "installed",
            "Translations installed in a worker's cache.",
            u.installed,
        ),
        (
            "duplicate",
            "Upcalls for an entry already installed.",
            u.duplicates,
        ),
        (
            "uncacheable",
            "Translations not cached (they changed what they depended on).",
            u.uncacheable,
        ),
        (
            "invalidated",
            "Cache entries removed by a change.",
            u.invalidated,
        ),
        ("evicted", "Cache entries evicted for room.", u.evicted),
        (
            "expired",
            "Cache entries removed for being idle.",
            u.expired,
        ),
        (
            "barrier_timeouts",
            "Changes answered without every worker's acknowledgement.",
            u.barrier_timeouts,
        ),
    ];
    for (name, help, v) in upcall_counters {
        counters(&mut reg, &format!("ovs_upcall_{name}"), help)
            .get_or_create(&Vec::new())
            .inc_by(v);
    }
    gauges(
        &mut reg,
        "ovs_upcall_dump_duration_ms",
        "How long the last pass over every cache entry took.",
    )
    .get_or_create(&Vec::new())
    .set(gauge_value(u.dump_duration_ms));

    let cov = counters(
        &mut reg,
        "ovs_coverage",
        "coverage/show's counters, every drop reason among them (datapath_drop_*, drop_action_*).",
    );
    for (event, v) in &s.coverage {
        cov.get_or_create(&labels(&[("event", event)])).inc_by(*v);
    }

    let flows = gauges(
        &mut reg,
        "ovs_bridge_flows",
        "OpenFlow rules per bridge and table.",
    );
    for (bridge, table, n) in &s.flows {
        flows
            .get_or_create(&labels(&[
                ("bridge", bridge),
                ("table", &table.to_string()),
            ]))
            .set(gauge_value(*n));
    }

    let mut out = String::new();
    // Writing to a String does not fail.
    let _ = encode(&mut out, &reg);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample `name{labels}` in `text`.
    fn sample(text: &str, name_and_labels: &str) -> Option<u64> {
        text.lines().find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == name_and_labels).then(|| v.parse().ok()).flatten()
        })
    }

    #[test]
    fn every_figure_is_a_sample_with_its_labels() {
        let s = Snapshot {
            ports: vec![PortSample {
                bridge: "br-tun".into(),
                port: "patch-int".into(),
                ofport: 1,
                kind: "patch".into(),
                counters: PortCounters {
                    rx_packets: 7,
                    tx_bytes: 980,
                    ..Default::default()
                },
            }],
            workers: vec![
                WorkerStatsSnapshot {
                    hits: 5,
                    entries: 2,
                    ..Default::default()
                },
                WorkerStatsSnapshot {
                    lost: 3,
                    ..Default::default()
                },
            ],
            upcalls: RevalidatorStats {
                upcalls: 9,
                ..Default::default()
            },
            dp_flows: 2,
            dp_flows_limit: 400_000,
            coverage: vec![("drop_action_no_flow".into(), 4)],
            flows: vec![("br-int".into(), 0, 12)],
        };
        let t = encode_snapshot(&s);
        let port = r#"{bridge="br-tun",port="patch-int",ofport="1",type="patch"}"#;
        assert_eq!(
            sample(&t, &format!("ovs_interface_rx_packets_total{port}")),
            Some(7)
        );
        assert_eq!(
            sample(&t, &format!("ovs_interface_tx_bytes_total{port}")),
            Some(980)
        );
        assert_eq!(
            sample(&t, &format!("ovs_interface_rx_dropped_total{port}")),
            Some(0)
        );
        assert_eq!(sample(&t, r#"ovs_pmd_lookups_hit_total{pmd="0"}"#), Some(5));
        assert_eq!(
            sample(&t, r#"ovs_pmd_lookups_lost_total{pmd="1"}"#),
            Some(3)
        );
        assert_eq!(sample(&t, r#"ovs_pmd_flows{pmd="0"}"#), Some(2));
        assert_eq!(sample(&t, "ovs_dp_flows"), Some(2));
        assert_eq!(sample(&t, "ovs_upcall_handled_total"), Some(9));
        assert_eq!(
            sample(&t, r#"ovs_coverage_total{event="drop_action_no_flow"}"#),
            Some(4)
        );
        assert_eq!(
            sample(&t, r#"ovs_bridge_flows{bridge="br-int",table="0"}"#),
            Some(12)
        );
        assert!(
            t.contains("# TYPE ovs_interface_rx_packets counter\n"),
            "{t}"
        );
        assert!(t.ends_with("# EOF\n"), "{t}");
    }

    #[test]
    fn a_port_name_cannot_break_the_text() {
        let s = Snapshot {
            ports: vec![PortSample {
                bridge: "b".into(),
                port: "a\"b\\c\nd".into(),
                ofport: 2,
                kind: "system".into(),
                counters: PortCounters::default(),
            }],
            ..Default::default()
        };
        let t = encode_snapshot(&s);
        assert!(t.contains(r#"port="a\"b\\c\nd""#), "{t}");
    }
}
