//! One scenario on one switch: topology, sink, switch, generator, warm-up, then several
//! measured windows; runs that look disturbed are repeated and marked.

use std::io::Write as _;
use std::time::Duration;

use crate::traffic::{CheckIn, Engine, GenConfig, Generator, Queues, Sink, SinkConfig};

use super::{HarnessError, Scenario, SwitchUnderTest, Topology};

#[derive(Debug, Clone, Copy)]
pub struct Cores {
    pub generator: usize,
    pub switch: usize,
    /// `None`: the sink thread is not pinned (on a 2-core machine every core is taken).
    pub sink: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub runs: usize,
    pub warmup: Duration,
    pub window: Duration,
    pub frame_len: usize,
    pub cores: Cores,
    /// A run below this share of the best run of the series is taken as disturbed by
    /// other load, repeated (up to `runs` extra times) and marked.
    pub disturbed_below: f64,
    /// The generator: in XDP by default (several Mpps), so the switch is the bottleneck.
    pub engine: Engine,
    /// Where the sink checks frames: in XDP by default, so no core is shared with it.
    pub check: CheckIn,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            runs: 3,
            warmup: Duration::from_secs(2),
            window: Duration::from_secs(3),
            frame_len: 64,
            cores: Cores {
                generator: 0,
                switch: 1,
                sink: None,
            },
            disturbed_below: 0.85,
            engine: Engine::XdpLoop,
            check: CheckIn::Xdp,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Run {
    /// Frames per second that reached the sink intact and as expected.
    pub pps: f64,
    pub disturbed: bool,
}

#[derive(Debug, Clone)]
pub struct Measurement {
    pub scenario: String,
    pub switch: String,
    pub runs: Vec<Run>,
    /// Offered by the generator, frames per second over the whole measurement.
    pub offered_pps: f64,
    /// Frames that arrived wrong (content, flow, length): must be 0.
    pub bad: u64,
    pub cycles_per_packet: Option<f64>,
    /// Misses the switch's slow path handled per second while measuring.
    pub upcalls_per_s: Option<f64>,
    pub switch_report: String,
}

impl Measurement {
    /// The median of the undisturbed runs (of all runs when every one was disturbed).
    pub fn median_pps(&self) -> f64 {
        let mut v: Vec<f64> = self
            .runs
            .iter()
            .filter(|r| !r.disturbed)
            .map(|r| r.pps)
            .collect();
        if v.is_empty() {
            v = self.runs.iter().map(|r| r.pps).collect();
        }
        median(&mut v)
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn traffic(e: impl std::fmt::Display) -> HarnessError {
    HarnessError::Traffic(e.to_string())
}

/// Measures `scenario` on `switch` in a fresh topology named with `prefix`.
pub fn measure(
    prefix: &str,
    scenario: &Scenario,
    switch: &mut dyn SwitchUnderTest,
    cfg: &RunConfig,
) -> Result<Measurement, HarnessError> {
    let topo = Topology::create(prefix)?;
    let flows = scenario.flow_set(&topo, cfg.frame_len).map_err(traffic)?;
    let sink = Sink::start(SinkConfig {
        netns: Some(topo.sink_ns.clone()),
        queues: Queues::All,
        core: cfg.cores.sink,
        check: cfg.check,
        ..SinkConfig::new(
            topo.sink_if.clone(),
            flows.clone(),
            scenario.expectation(&topo),
        )
    })
    .map_err(traffic)?;
    let result = (|| {
        switch.start(&topo, scenario, &flows, cfg.cores.switch)?;
        let generator = Generator::start(GenConfig {
            netns: Some(topo.gen_ns.clone()),
            core: Some(cfg.cores.generator),
            engine: cfg.engine,
            ..GenConfig::new(topo.gen_if.clone(), flows.clone())
        })
        .map_err(traffic)?;
        let label = format!("{} on {}", scenario.name(), switch.name());
        progress(&format!("{label}: warming up"));
        std::thread::sleep(cfg.warmup);
        switch.before_run(scenario)?;
        let upcalls0 = switch.stats().upcalls;
        let measuring = std::time::Instant::now();
        let mut runs: Vec<Run> = Vec::new();
        let mut extra = 0;
        while runs.iter().filter(|r| !r.disturbed).count() < cfg.runs && extra <= cfg.runs {
            let s0 = sink.snapshot();
            std::thread::sleep(cfg.window);
            let s1 = sink.snapshot();
            let pps = s1.ok_rate_since(&s0);
            runs.push(Run {
                pps,
                disturbed: false,
            });
            // Judge every run against the best so far: other load on this shared
            // machine only ever slows a run down.
            let best = runs.iter().map(|r| r.pps).fold(0.0, f64::max);
            let mut repeated = 0;
            for r in runs.iter_mut() {
                r.disturbed = r.pps < best * cfg.disturbed_below;
                repeated += usize::from(r.disturbed);
            }
            extra = repeated;
            progress(&format!(
                "{label}: run {} {:.3} Mpps{}",
                runs.len(),
                pps / 1e6,
                if runs.last().is_some_and(|r| r.disturbed) {
                    " (disturbed, repeated)"
                } else {
                    ""
                }
            ));
        }
        let stats = switch.stats();
        let upcalls_per_s = match (upcalls0, stats.upcalls) {
            (Some(a), Some(b)) => {
                Some(b.saturating_sub(a) as f64 / measuring.elapsed().as_secs_f64())
            }
            _ => None,
        };
        let gen = generator.stop().map_err(traffic)?;
        Ok::<_, HarnessError>((runs, gen.rate_pps(), stats, upcalls_per_s))
    })();
    switch.stop();
    let sink_stats = sink.stop().map_err(traffic)?;
    drop(topo);
    let (runs, offered_pps, stats, upcalls_per_s) = result?;
    progress_done();
    Ok(Measurement {
        scenario: scenario.name(),
        switch: switch.name().to_string(),
        runs,
        offered_pps,
        bad: sink_stats.bad,
        cycles_per_packet: stats.cycles_per_packet,
        upcalls_per_s,
        switch_report: stats.raw,
    })
}

/// The live progress line (stderr, rewritten in place).
fn progress(s: &str) {
    let mut e = std::io::stderr();
    let _ = write!(e, "\r\x1b[2K{s}");
    let _ = e.flush();
}

fn progress_done() {
    let _ = writeln!(std::io::stderr());
}
