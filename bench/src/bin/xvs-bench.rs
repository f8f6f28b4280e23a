//! xvs-bench: packet rates of xvs and its peers on veth pairs, side by side in one run.
//! As root. Writes a table (stdout and `--out/results.md`), a CSV (`--out/results.csv`)
//! and a chart (`--out/results.png`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use xvs_bench::harness::chart::png;
use xvs_bench::harness::report::{csv, table};
use xvs_bench::harness::{measure, peers, Cores, RunConfig, Scenario, SwitchUnderTest, Xvs};
use xvs_bench::traffic::{CheckIn, Engine};

#[derive(Parser, Debug)]
#[command(
    name = "xvs-bench",
    version,
    about = "Packet rates of xvs and its peers on veth pairs"
)]
struct Args {
    /// Scenarios: l2-N (br-int between two access ports, N flows), gre-encap-N (VM ->
    /// br-int -> patch -> br-tun -> GRE), gre-decap-N (GRE -> VM), miss-N (flow-setup
    /// storm over N flows with the default cache size).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "l2-1,l2-1000,l2-100000,gre-encap-1,gre-encap-1000,gre-decap-1,miss-1000000"
    )]
    scenarios: Vec<String>,
    /// Switches under test: xvs; peers linux-bridge (kernel bridge, RPS to the switch
    /// core), linux-bridge-norps (softirq on the generator's core), xdp-redirect (in-kernel
    /// XDP devmap redirect, the ceiling), l2fwd (bare AF_XDP forwarder, the I/O limit), all
    /// three L2 scenarios only; ovs-afxdp (Open vSwitch 3.1, userspace datapath, AF_XDP
    /// ports, the same flows; needs `apt-get install openvswitch-switch`), every scenario.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "xvs,linux-bridge,xdp-redirect,l2fwd,ovs-afxdp"
    )]
    switches: Vec<String>,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds per measured run.
    #[arg(long, default_value_t = 3)]
    window: u64,
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    #[arg(long, default_value_t = 64)]
    frame_len: usize,
    #[arg(long, default_value_t = 0)]
    generator_core: usize,
    #[arg(long, default_value_t = 1)]
    switch_core: usize,
    #[arg(long)]
    sink_core: Option<usize>,
    /// The generator: xdp-loop (frames made in XDP on a veth loop, several Mpps) or
    /// afxdp (an AF_XDP socket, about 0.66 Mpps here: below what the switches forward).
    #[arg(long, default_value = "xdp-loop")]
    generator: String,
    /// Where the sink checks frames: xdp (in the kernel, the default) or userspace (every
    /// frame through the sink thread, which then shares a core with someone).
    #[arg(long, default_value = "xdp")]
    check: String,
    /// Where xvsd and xvsctl are.
    #[arg(long, default_value = "target/release")]
    xvs_bin: PathBuf,
    /// Folder for results.csv and results.md.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

fn scenario(s: &str) -> Result<Scenario, String> {
    let (kind, n) = s
        .rsplit_once('-')
        .ok_or_else(|| format!("scenario {s:?}: NAME-FLOWS"))?;
    let flows: u32 = n
        .parse()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or_else(|| format!("scenario {s:?}: flows are 1..=1000000"))?;
    match kind {
        "l2" => Ok(Scenario::L2 { flows }),
        "gre-encap" => Ok(Scenario::GreEncap { flows }),
        "gre-decap" => Ok(Scenario::GreDecap { flows }),
        "miss" => Ok(Scenario::Miss { flows }),
        _ => Err(format!(
            "scenario {s:?}: unknown (l2-N, gre-encap-N, gre-decap-N, miss-N)"
        )),
    }
}

fn main() -> ExitCode {
    let a = Args::parse();
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("xvs-bench needs root (namespaces, XDP, AF_XDP)");
        return ExitCode::FAILURE;
    }
    let scenarios: Vec<Scenario> = match a.scenarios.iter().map(|s| scenario(s)).collect() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let engine = match a.generator.as_str() {
        "xdp-loop" => Engine::XdpLoop,
        "afxdp" => Engine::AfXdp,
        other => {
            eprintln!("generator {other:?}: unknown (xdp-loop, afxdp)");
            return ExitCode::FAILURE;
        }
    };
    let check = match a.check.as_str() {
        "xdp" => CheckIn::Xdp,
        "userspace" => CheckIn::Userspace,
        other => {
            eprintln!("check {other:?}: unknown (xdp, userspace)");
            return ExitCode::FAILURE;
        }
    };
    let mut switches: Vec<Box<dyn SwitchUnderTest>> = Vec::new();
    for s in &a.switches {
        match s.as_str() {
            "xvs" => switches.push(Box::new(Xvs::new(a.xvs_bin.clone()))),
            "xvs-xdp" => switches.push(Box::new(Xvs::with_xdp_tier(a.xvs_bin.clone()))),
            "linux-bridge" => switches.push(Box::new(peers::LinuxBridge::new())),
            "linux-bridge-norps" => switches.push(Box::new(peers::LinuxBridge::without_rps())),
            "xdp-redirect" => switches.push(Box::new(peers::XdpRedirect::new())),
            "l2fwd" => switches.push(Box::new(peers::L2Fwd::new())),
            "ovs-afxdp" => switches.push(Box::new(peers::OvsAfxdp::new())),
            other => {
                eprintln!(
                    "switch {other:?}: unknown (xvs, xvs-xdp, linux-bridge, linux-bridge-norps, \
                     xdp-redirect, l2fwd, ovs-afxdp)"
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let cfg = RunConfig {
        runs: a.runs.max(1),
        warmup: Duration::from_secs(a.warmup),
        window: Duration::from_secs(a.window.max(1)),
        frame_len: a.frame_len,
        cores: Cores {
            generator: a.generator_core,
            switch: a.switch_core,
            sink: a.sink_core,
        },
        engine,
        check,
        ..RunConfig::default()
    };
    let prefix = format!("xb{}", std::process::id());
    let mut results = Vec::new();
    let mut failed = false;
    for sc in &scenarios {
        for sw in switches.iter_mut() {
            if !sw.supports(sc) {
                continue;
            }
            match measure(&prefix, sc, sw.as_mut(), &cfg) {
                Ok(m) => results.push(m),
                Err(e) => {
                    eprintln!("\n{} on {}: {e}", sc.name(), sw.name());
                    failed = true;
                }
            }
        }
    }
    let t = table(&results);
    println!("{t}");
    if let Err(e) = std::fs::create_dir_all(&a.out)
        .and_then(|_| std::fs::write(a.out.join("results.csv"), csv(&results)))
        .and_then(|_| std::fs::write(a.out.join("results.md"), &t))
    {
        eprintln!("writing results to {}: {e}", a.out.display());
        failed = true;
    }
    if let Err(e) = png(&results, &a.out.join("results.png")) {
        eprintln!("drawing {}: {e}", a.out.join("results.png").display());
        failed = true;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
