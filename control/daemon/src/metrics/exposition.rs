//! The figures of one scrape and their OpenMetrics text, sans I/O.
//!
//! Names follow Greenstatic's `ovs_exporter` (the OVS exporter most dashboards are
//! built on): an `ovs_` prefix, `ovs_interface_*` per port, `ovs_dp_*` for the
//! datapath, `ovs_coverage_total{event}` for the coverage counters; xvs's workers are
//! OVS's PMD threads (`ovs_pmd_*{pmd}`), its upcall handler `ovs_upcall_*`. Counters
//! end in `_total`, as OpenMetrics wants them (the encoder adds it).

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
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

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn gauge_value(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// One metric family: its descriptor, then a sample per label set, in the order given
/// (ports by bridge and port number, workers in order: the text reads as dp-show does).
fn family(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: impl IntoIterator<Item = (Labels, u64)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in rows {
        let sample = m.encode_family(&labels)?;
        match kind {
            MetricType::Gauge => ConstGauge::new(gauge_value(v)).encode(sample)?,
            _ => ConstCounter::new(v).encode(sample)?,
        }
    }
    Ok(())
}

/// The snapshot as the registry's one collector: encoded as it is, no metric objects
/// made for it.
#[derive(Debug)]
struct Figures(Snapshot);

const PORT_FIGURES: [Figure<PortCounters>; 8] = [
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

const WORKER_FIGURES: [Figure<WorkerStatsSnapshot>; 7] = [
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

const UPCALL_FIGURES: [Figure<RevalidatorStats>; 8] = [
    ("handled", "Misses translated by the upcall handler.", |u| {
        u.upcalls
    }),
    (
        "installed",
        "Translations installed in a worker's cache.",
        |u| u.installed,
    ),
    (
        "duplicate",
        "Upcalls for an entry already installed.",
        |u| u.duplicates,
    ),
    (
        "uncacheable",
        "Translations not cached (they changed what they depended on).",
        |u| u.uncacheable,
    ),
    ("invalidated", "Cache entries removed by a change.", |u| {
        u.invalidated
    }),
    ("evicted", "Cache entries evicted for room.", |u| u.evicted),
    ("expired", "Cache entries removed for being idle.", |u| {
        u.expired
    }),
    (
        "barrier_timeouts",
        "Changes answered without every worker's acknowledgement.",
        |u| u.barrier_timeouts,
    ),
];

impl Collector for Figures {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let s = &self.0;
        let e = &mut enc;
        for (name, help, get) in PORT_FIGURES {
            let rows = s.ports.iter().map(|p| {
                let l = labels(&[
                    ("bridge", &p.bridge),
                    ("port", &p.port),
                    ("ofport", &p.ofport.to_string()),
                    ("type", &p.kind),
                ]);
                (l, get(&p.counters))
            });
            family(
                e,
                &format!("ovs_interface_{name}"),
                help,
                MetricType::Counter,
                rows,
            )?;
        }
        let pmd = |i: usize| labels(&[("pmd", &i.to_string())]);
        for (name, help, get) in WORKER_FIGURES {
            let rows = s.workers.iter().enumerate().map(|(i, w)| (pmd(i), get(w)));
            family(
                e,
                &format!("ovs_pmd_{name}"),
                help,
                MetricType::Counter,
                rows,
            )?;
        }
        let rows = s
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| (pmd(i), w.entries));
        family(
            e,
            "ovs_pmd_flows",
            "Entries in the worker's flow cache.",
            MetricType::Gauge,
            rows,
        )?;
        let one = |v: u64| [(Labels::new(), v)];
        family(
            e,
            "ovs_dp_flows",
            "Entries in the flow caches, all workers.",
            MetricType::Gauge,
            one(s.dp_flows),
        )?;
        family(
            e,
            "ovs_dp_flows_limit",
            "The most entries the flow caches may hold, all workers.",
            MetricType::Gauge,
            one(s.dp_flows_limit),
        )?;
        for (name, help, get) in UPCALL_FIGURES {
            family(
                e,
                &format!("ovs_upcall_{name}"),
                help,
                MetricType::Counter,
                one(get(&s.upcalls)),
            )?;
        }
        family(
            e,
            "ovs_upcall_dump_duration_ms",
            "How long the last pass over every cache entry took.",
            MetricType::Gauge,
            one(s.upcalls.dump_duration_ms),
        )?;
        let rows = s
            .coverage
            .iter()
            .map(|(event, v)| (labels(&[("event", event)]), *v));
        family(
            e,
            "ovs_coverage",
            "coverage/show's counters, every drop reason among them (datapath_drop_*, drop_action_*).",
            MetricType::Counter,
            rows,
        )?;
        let rows = s.flows.iter().map(|(bridge, table, n)| {
            (
                labels(&[("bridge", bridge), ("table", &table.to_string())]),
                *n,
            )
        });
        family(
            e,
            "ovs_bridge_flows",
            "OpenFlow rules per bridge and table.",
            MetricType::Gauge,
            rows,
        )
    }
}

/// The OpenMetrics text of `s` (ends with `# EOF`).
pub fn encode_snapshot(s: &Snapshot) -> String {
    let mut reg = Registry::default();
    reg.register_collector(Box::new(Figures(s.clone())));
    let mut out = String::new();
    // Writing to a String does not fail, nor do the figures.
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
        // In the snapshot's order: worker 0 before worker 1, every time.
        let w0 = t.find(r#"ovs_pmd_lookups_hit_total{pmd="0"}"#).unwrap();
        let w1 = t.find(r#"ovs_pmd_lookups_hit_total{pmd="1"}"#).unwrap();
        assert!(w0 < w1, "{t}");
        assert_eq!(t, encode_snapshot(&s));
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
