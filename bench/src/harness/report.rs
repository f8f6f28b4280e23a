//! The results: a table with ratios against each peer, and CSV.

use std::fmt::Write as _;

use super::run::Measurement;

/// One line per run: scenario, switch, run, Mpps, disturbed; then the medians.
pub fn csv(ms: &[Measurement]) -> String {
    let mut s = String::from(
        "scenario,switch,run,mpps,disturbed,median_mpps,offered_mpps,bad,cycles_per_packet,upcalls_per_s\n",
    );
    for m in ms {
        for (i, r) in m.runs.iter().enumerate() {
            let _ = writeln!(
                s,
                "{},{},{},{:.4},{},{:.4},{:.4},{},{},{}",
                m.scenario,
                m.switch,
                i + 1,
                r.pps / 1e6,
                r.disturbed,
                m.median_pps() / 1e6,
                m.offered_pps / 1e6,
                m.bad,
                m.cycles_per_packet
                    .map(|c| format!("{c:.1}"))
                    .unwrap_or_default(),
                m.upcalls_per_s
                    .map(|u| format!("{u:.0}"))
                    .unwrap_or_default()
            );
        }
    }
    s
}

/// Medians per scenario and switch, and xvs's ratio against each peer.
pub fn table(ms: &[Measurement]) -> String {
    let mut switches: Vec<&str> = Vec::new();
    let mut scenarios: Vec<&str> = Vec::new();
    for m in ms {
        if !switches.contains(&m.switch.as_str()) {
            switches.push(&m.switch);
        }
        if !scenarios.contains(&m.scenario.as_str()) {
            scenarios.push(&m.scenario);
        }
    }
    let get = |sc: &str, sw: &str| ms.iter().find(|m| m.scenario == sc && m.switch == sw);
    let mut s = String::from("| scenario |");
    for sw in &switches {
        let _ = write!(s, " {sw} Mpps |");
    }
    // Ratios of each xvs (with and without its XDP tier) to each peer.
    let ours: Vec<&str> = switches
        .iter()
        .copied()
        .filter(|s| s.starts_with("xvs"))
        .collect();
    let peers: Vec<&str> = switches
        .iter()
        .copied()
        .filter(|s| !s.starts_with("xvs"))
        .collect();
    let pairs: Vec<(&str, &str)> = ours
        .iter()
        .flat_map(|o| peers.iter().map(move |p| (*o, *p)))
        .collect();
    for (o, p) in &pairs {
        let _ = write!(s, " {o} / {p} |");
    }
    // The switches that report their own work (xvs, OVS): cycles per packet and, where
    // any were handled, upcalls per second, side by side.
    let with_cycles: Vec<&str> = switches
        .iter()
        .copied()
        .filter(|sw| {
            ms.iter()
                .any(|m| m.switch == *sw && m.cycles_per_packet.is_some())
        })
        .collect();
    let with_upcalls: Vec<&str> = switches
        .iter()
        .copied()
        .filter(|sw| {
            ms.iter()
                .any(|m| m.switch == *sw && m.upcalls_per_s.is_some_and(|u| u >= 1.0))
        })
        .collect();
    for sw in &with_cycles {
        let _ = write!(s, " {sw} cycles/pkt |");
    }
    for sw in &with_upcalls {
        let _ = write!(s, " {sw} upcalls/s |");
    }
    s.push_str("\n|---|");
    for _ in 0..switches.len() + pairs.len() + with_cycles.len() + with_upcalls.len() {
        s.push_str("---|");
    }
    s.push('\n');
    for sc in &scenarios {
        let _ = write!(s, "| {sc} |");
        for sw in &switches {
            match get(sc, sw) {
                Some(m) => {
                    let marked = m.runs.iter().filter(|r| r.disturbed).count();
                    let _ = write!(
                        s,
                        " {:.3}{}{} |",
                        m.median_pps() / 1e6,
                        if marked > 0 {
                            format!(" ({marked} disturbed run(s) repeated)")
                        } else {
                            String::new()
                        },
                        if m.bad > 0 {
                            format!(" ({} BAD frames)", m.bad)
                        } else {
                            String::new()
                        }
                    );
                }
                None => s.push_str(" - |"),
            }
        }
        for (o, p) in &pairs {
            let xvs = get(sc, o).map(|m| m.median_pps());
            match (xvs, get(sc, p).map(|m| m.median_pps())) {
                (Some(x), Some(y)) if y > 0.0 => {
                    let _ = write!(s, " {:.2}x |", x / y);
                }
                _ => s.push_str(" - |"),
            }
        }
        for sw in &with_cycles {
            match get(sc, sw).and_then(|m| m.cycles_per_packet) {
                Some(c) => {
                    let _ = write!(s, " {c:.0} |");
                }
                None => s.push_str(" - |"),
            }
        }
        for sw in &with_upcalls {
            match get(sc, sw).and_then(|m| m.upcalls_per_s) {
                Some(u) if u >= 1.0 => {
                    let _ = write!(s, " {u:.0} |");
                }
                _ => s.push_str(" - |"),
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::run::Run;

    fn m(scenario: &str, switch: &str, mpps: &[(f64, bool)]) -> Measurement {
        Measurement {
            scenario: scenario.into(),
            switch: switch.into(),
            runs: mpps
                .iter()
                .map(|&(p, disturbed)| Run {
                    pps: p * 1e6,
                    disturbed,
                })
                .collect(),
            offered_pps: 1e6,
            bad: 0,
            cycles_per_packet: match switch {
                "xvs" => Some(812.0),
                "ovs-afxdp" => Some(1999.0),
                _ => None,
            },
            upcalls_per_s: (switch == "ovs-afxdp").then_some(93_000.0),
            switch_report: String::new(),
        }
    }

    #[test]
    fn medians_skip_disturbed_runs_and_ratios_are_per_peer() {
        let ms = [
            m(
                "l2-1",
                "xvs",
                &[(0.70, false), (0.30, true), (0.72, false), (0.71, false)],
            ),
            m(
                "l2-1",
                "l2fwd",
                &[(0.72, false), (0.74, false), (0.73, false)],
            ),
            m("l2-1", "linux-bridge", &[(0.60, false), (0.64, false)]),
            m("l2-1", "ovs-afxdp", &[(0.70, false)]),
        ];
        assert!((ms[0].median_pps() - 0.71e6).abs() < 1.0);
        assert!((ms[2].median_pps() - 0.62e6).abs() < 1.0);
        let t = table(&ms);
        let row = t.lines().find(|l| l.starts_with("| l2-1")).unwrap();
        assert!(row.contains("0.710 (1 disturbed run(s) repeated)"), "{row}");
        assert!(row.contains(&format!("{:.2}x", 0.71 / 0.73)), "{row}");
        assert!(row.contains(&format!("{:.2}x", 0.71 / 0.62)), "{row}");
        // Cycles of both switches that report them, then OVS's upcalls (xvs had none).
        assert!(row.ends_with("| 812 | 1999 | 93000 |"), "{row}");
        let header = t.lines().next().unwrap();
        assert!(
            header.ends_with("| xvs cycles/pkt | ovs-afxdp cycles/pkt | ovs-afxdp upcalls/s |"),
            "{header}"
        );
        assert_eq!(
            t.lines().nth(1).unwrap().matches("---").count(),
            header.matches('|').count() - 1
        );
        let c = csv(&ms);
        assert_eq!(c.lines().count(), 1 + 4 + 3 + 2 + 1);
        assert!(c.contains("l2-1,xvs,2,0.3000,true,0.7100"), "{c}");
    }
}
