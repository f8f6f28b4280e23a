//! `ovs-appctl` for xvsd: the unixctl server at `$OVS_RUNDIR/ovs-vswitchd.PID.ctl` (or
//! `xvsd --unixctl=PATH`), speaking OVS's JSON-RPC ([`jsonrpc`], sans I/O) through a
//! `poll(2)` loop ([`server`]), and the commands operators and scripts use, answered
//! from what xvsd knows, in ovs-vswitchd 3.1's layout ([`xvs_pipeline::present`]).
//!
//! A command is checked as OVS's unixctl checks it (known name, argument count,
//! strings only; OVS's error texts), then run on one of the server's workers: those
//! that read the switch go through the control thread like any read.

pub mod jsonrpc;
pub mod server;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;
use xvs_dataplane::worker::WorkerStatsSnapshot;
use xvs_dataplane::PortNo;
use xvs_pipeline::present::appctl::{self as text, CoverageLine, WorkerPlace, DATAPATH_NAME};
use xvs_pipeline::present::dpctl::{self, DpFlow, DpPortNames};
use xvs_pipeline::present::trace::TraceStyle;
use xvs_pipeline::SwitchError;

use crate::vlog::Vlog;
use crate::Daemon;

/// What `version` answers: OVS's line first (scripts parse it for the OVS version xvs
/// behaves as: the same as OpenFlow's DESC says), then xvs's own.
pub fn version_text() -> String {
    format!(
        "ovs-vswitchd (Open vSwitch) 3.1.0\nxvsd (xvs) {}\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// A command: its name, the usage `list-commands` prints, and how many arguments it
/// takes.
#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    pub usage: &'static str,
    pub min: usize,
    pub max: usize,
}

const MANY: usize = usize::MAX;

/// Every command xvsd answers.
pub const COMMANDS: &[CommandSpec] = &[
    cmd("coverage/show", "", 0, 0),
    cmd("dpctl/dump-flows", "[-m] [--names | --no-names] [dp]", 0, 4),
    cmd("dpctl/show", "[-s] [dp]", 0, 2),
    cmd("dpif-netdev/pmd-stats-clear", "[-pmd core] [dp]", 0, 3),
    cmd("dpif-netdev/pmd-stats-show", "[-pmd core] [dp]", 0, 3),
    cmd("dpif/show", "", 0, 0),
    cmd("exit", "[--cleanup]", 0, 1),
    cmd("fdb/flush", "[bridge]", 0, 1),
    cmd("fdb/show", "bridge", 1, 1),
    cmd("list-commands", "", 0, 0),
    cmd(
        "ofproto/trace",
        "bridge br_flow [--names] [-generate|packet]",
        1,
        MANY,
    ),
    cmd("upcall/show", "", 0, 0),
    cmd("version", "", 0, 0),
    cmd("vlog/list", "", 0, 0),
    cmd("vlog/reopen", "", 0, 0),
    cmd("vlog/set", "{spec | PATTERN:destination:pattern}", 0, MANY),
];

const fn cmd(name: &'static str, usage: &'static str, min: usize, max: usize) -> CommandSpec {
    CommandSpec {
        name,
        usage,
        min,
        max,
    }
}

/// OVS's checks before a command runs (`process_command`): the command's arguments, or
/// the error it answers.
pub fn check(
    method: &str,
    params: &[Value],
) -> Result<(&'static CommandSpec, Vec<String>), String> {
    let Some(spec) = COMMANDS.iter().find(|c| c.name == method) else {
        return Err(format!(
            "\"{method}\" is not a valid command (use \"list-commands\" to see a list of valid commands)"
        ));
    };
    if params.len() < spec.min {
        return Err(format!(
            "\"{method}\" command requires at least {} arguments",
            spec.min
        ));
    }
    if params.len() > spec.max {
        return Err(format!(
            "\"{method}\" command takes at most {} arguments",
            spec.max
        ));
    }
    let mut args = Vec::with_capacity(params.len());
    for p in params {
        match p {
            Value::String(s) => args.push(s.clone()),
            _ => return Err(format!("\"{method}\" command has non-string argument")),
        }
    }
    Ok((spec, args))
}

/// `list-commands`.
pub fn list_commands() -> String {
    let mut s = String::from("The available commands are:\n");
    for c in COMMANDS {
        s.push_str(&format!("  {:<23} {}\n", c.name, c.usage));
    }
    s
}

/// OVS's `eth_from_hex`: hex digit pairs (white space between bytes allowed), at least
/// an Ethernet header; OVS's error otherwise.
fn packet_from_hex(s: &str) -> Result<Vec<u8>, &'static str> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 2);
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i + 1 < b.len() && b[i].is_ascii_hexdigit() && b[i + 1].is_ascii_hexdigit() {
            let hi = (b[i] as char).to_digit(16).expect("a hex digit") as u8;
            let lo = (b[i + 1] as char).to_digit(16).expect("a hex digit") as u8;
            out.push(hi << 4 | lo);
            i += 2;
        } else {
            break;
        }
    }
    if i < b.len() {
        return Err("Trailing garbage in packet data");
    }
    if out.len() < 14 {
        return Err("Packet data too short for Ethernet");
    }
    Ok(out)
}

/// `ofproto/trace`'s arguments as OVS's `parse_flow_and_packet` reads them: options
/// anywhere, at most three other arguments, the last one a packet in hex if it is one.
#[derive(Debug, PartialEq, Eq)]
pub struct TraceArgs {
    pub bridge: String,
    pub flow: String,
    pub packet: Option<Vec<u8>>,
    pub names: bool,
}

pub fn parse_trace_args(argv: &[String]) -> Result<TraceArgs, String> {
    let mut args: Vec<&str> = Vec::new();
    let mut generate = false;
    let mut names = false;
    let mut i = 0;
    while i < argv.len() {
        let a = argv[i].as_str();
        match a {
            "-generate" | "--generate" => generate = true,
            "-names" | "--names" => names = true,
            "--l7" | "--l7-len" => {
                // Only for -generate's packet, which xvs does not build: accepted and
                // left unused, as the flow alone is traced.
                if i + 1 >= argv.len() {
                    return Err(format!("Missing argument for option {a}"));
                }
                i += 1;
            }
            "--ct-next" => {
                return Err("--ct-next: xvs has no connection tracking".into());
            }
            _ if a.starts_with('-') => return Err(format!("{a}: unknown option")),
            _ if args.len() >= 3 => return Err("too many arguments".into()),
            _ => args.push(a),
        }
        i += 1;
    }
    let mut packet = None;
    if !generate && args.len() > 1 {
        match packet_from_hex(args[args.len() - 1]) {
            Ok(p) => {
                packet = Some(p);
                args.pop();
            }
            Err(e) if args.len() > 2 => return Err(e.into()),
            Err(_) => {}
        }
    }
    match args.as_slice() {
        [bridge, flow] => Ok(TraceArgs {
            bridge: bridge.to_string(),
            flow: flow.to_string(),
            packet,
            names,
        }),
        [flow] => Err(format!(
            "{flow}: xvs traces a bridge's OpenFlow flow, not a datapath flow (or the bridge name was omitted)"
        )),
        _ => Err("Syntax error".into()),
    }
}

/// Totals of the coverage counters, sampled every [`COVERAGE_INTERVAL`] for an hour,
/// for `coverage/show`'s rates.
struct CoverageHistory {
    samples: VecDeque<(Instant, Vec<u64>)>,
    next: Option<Instant>,
}

/// How often coverage totals are sampled (OVS's `COVERAGE_RUN_INTERVAL`).
pub const COVERAGE_INTERVAL: Duration = Duration::from_secs(5);

impl CoverageHistory {
    /// The totals at least `ago` old, the newest such; zeros if xvsd is younger.
    fn at(&self, now: Instant, ago: Duration, n: usize) -> Vec<u64> {
        self.samples
            .iter()
            .rev()
            .find(|(t, _)| now.duration_since(*t) >= ago)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| vec![0; n])
    }
}

/// What `exit` asked, and whether xvsd is done stopping.
#[derive(Default)]
struct ExitState {
    requested: bool,
    cleanup: bool,
    done: bool,
}

/// The commands' side of the unixctl server: what they read and change.
pub struct Appctl {
    daemon: Weak<Daemon>,
    vlog: Option<Arc<Vlog>>,
    stop: Arc<AtomicBool>,
    places: Vec<WorkerPlace>,
    coverage: Mutex<CoverageHistory>,
    exit: Mutex<ExitState>,
    exited: Condvar,
    pub received: AtomicU64,
    pub replied: AtomicU64,
}

/// The NUMA node of a CPU, from sysfs.
fn numa_node_of(cpu: usize) -> Option<usize> {
    let dir = std::fs::read_dir(format!("/sys/devices/system/cpu/cpu{cpu}")).ok()?;
    dir.flatten().find_map(|e| {
        e.file_name()
            .to_str()?
            .strip_prefix("node")?
            .parse::<usize>()
            .ok()
    })
}

impl Appctl {
    /// `cores[w]`: the core worker `w` is pinned to, if it is. `stop` is xvsd's: `exit`
    /// sets it.
    pub fn new(
        daemon: Weak<Daemon>,
        vlog: Option<Arc<Vlog>>,
        stop: Arc<AtomicBool>,
        cores: &[Option<usize>],
    ) -> Appctl {
        let places = cores
            .iter()
            .enumerate()
            .map(|(worker, &core)| WorkerPlace {
                worker,
                core,
                numa: core.map(|c| numa_node_of(c).unwrap_or(0)),
            })
            .collect();
        Appctl {
            daemon,
            vlog,
            stop,
            places,
            coverage: Mutex::new(CoverageHistory {
                samples: VecDeque::new(),
                next: None,
            }),
            exit: Mutex::new(ExitState::default()),
            exited: Condvar::new(),
            received: AtomicU64::new(0),
            replied: AtomicU64::new(0),
        }
    }

    fn daemon(&self) -> Result<Arc<Daemon>, String> {
        self.daemon
            .upgrade()
            .ok_or_else(|| "xvsd is stopping".to_string())
    }

    /// Runs a checked command: its text, or its error text.
    pub fn run(&self, name: &str, args: &[String]) -> Result<String, String> {
        match name {
            "list-commands" => Ok(list_commands()),
            "version" => Ok(version_text()),
            "exit" => self.exit(args),
            "ofproto/trace" => self.trace(args),
            "dpif/show" => self.dpif_show(),
            "dpctl/show" => self.dpctl_show(args),
            "dpctl/dump-flows" => self.dump_flows(args),
            "fdb/show" => self.fdb_show(&args[0]),
            "fdb/flush" => self.fdb_flush(args.first().map(String::as_str)),
            "coverage/show" => self.coverage_show(),
            "dpif-netdev/pmd-stats-show" => self.pmd_stats(args, false),
            "dpif-netdev/pmd-stats-clear" => self.pmd_stats(args, true),
            "upcall/show" => self.upcall_show(),
            "vlog/list" => Ok(self.vlog()?.list()),
            "vlog/set" => self.vlog()?.set(args).map(|_| String::new()),
            "vlog/reopen" => self.vlog()?.reopen().map(|_| String::new()),
            _ => Err(format!(
                "\"{name}\" is not a valid command (use \"list-commands\" to see a list of valid commands)"
            )),
        }
    }

    fn vlog(&self) -> Result<&Vlog, String> {
        self.vlog
            .as_deref()
            .ok_or_else(|| "xvsd's logging is not set up for vlog".to_string())
    }

    // ----- exit -----

    /// `exit [--cleanup]`: stops xvsd as SIGTERM does; answered once it has stopped
    /// (ports detached; with `--cleanup`, internal ports' netdevs removed too, as OVS
    /// removes its datapath), as OVS answers after its cleanup.
    fn exit(&self, args: &[String]) -> Result<String, String> {
        let mut st = self.exit.lock().unwrap_or_else(|e| e.into_inner());
        st.requested = true;
        st.cleanup |= args.first().is_some_and(|a| a == "--cleanup");
        self.stop.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !st.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("xvsd did not stop within 60 s".into());
            }
            st = self
                .exited
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(String::new())
    }

    /// Whether `exit` was asked for, and with `--cleanup`.
    pub fn exit_requested(&self) -> Option<bool> {
        let st = self.exit.lock().unwrap_or_else(|e| e.into_inner());
        st.requested.then_some(st.cleanup)
    }

    /// xvsd has stopped: `exit` is answered.
    pub fn exit_done(&self) {
        let mut st = self.exit.lock().unwrap_or_else(|e| e.into_inner());
        st.done = true;
        self.exited.notify_all();
    }

    // ----- the switch -----

    fn trace(&self, argv: &[String]) -> Result<String, String> {
        let a = parse_trace_args(argv)?;
        let d = self.daemon()?;
        let style = TraceStyle {
            names: a.names,
            ..TraceStyle::OVS
        };
        d.control().read(move |sw, _, now| {
            if sw.bridge(&a.bridge).is_err() {
                return Err(format!("{}: unknown bridge", a.bridge));
            }
            sw.trace_styled(&a.bridge, &a.flow, a.packet.as_deref(), style, now)
                .map_err(|e| match e {
                    SwitchError::Flow(e) => format!("Bad openflow flow syntax: {e}"),
                    e => e.to_string(),
                })
        })
    }

    fn dpif_show(&self) -> Result<String, String> {
        let d = self.daemon()?;
        Ok(d.control().read(|sw, reval, _| {
            text::dpif_show(sw.topology(), &reval.worker_stats(), reval.stats.tier_hits)
        }))
    }

    /// The datapath argument of `dpctl/*` and `pmd-stats-*`: xvs has one.
    fn check_dp(dp: &str) -> Result<(), String> {
        let short = DATAPATH_NAME.split('@').nth(1).unwrap_or(DATAPATH_NAME);
        if dp == DATAPATH_NAME || dp == short {
            Ok(())
        } else {
            Err(format!(
                "datapath \"{dp}\" not found: xvsd has one, {DATAPATH_NAME}"
            ))
        }
    }

    /// `dpctl/show [-s] [dp]`: as OVS's, from the datapath's ports.
    fn dpctl_show(&self, args: &[String]) -> Result<String, String> {
        let mut stats = false;
        for a in args {
            match a.as_str() {
                "-s" | "--statistics" => stats = true,
                a if a.starts_with('-') => return Err(format!("{a}: unknown option")),
                dp => Self::check_dp(dp)?,
            }
        }
        let d = self.daemon()?;
        let (workers, names, entries, tunnels, tier_hits) = d.control().read(|sw, reval, _| {
            let topo = sw.topology();
            // As OVS: a port's type after its name, unless it is a plain netdev.
            let mut names = topo.dp_port_names();
            // A tunnel's datapath port counts what the pipeline credited to it.
            let mut tunnels = BTreeMap::new();
            for br in topo.bridges() {
                for p in br.ports.values() {
                    let kind = p.config.kind.type_name();
                    if let (Some(dp), false) = (p.dp_port, kind == "system") {
                        if let Some(n) = names.get_mut(&dp) {
                            n.push_str(&format!(" ({kind})"));
                        }
                        if p.config.kind.tunnel().is_some() {
                            tunnels.insert(dp, sw.port_traffic.get(br.id, p.ofport));
                        }
                    }
                }
            }
            (
                reval.worker_stats(),
                names,
                reval.n_entries(),
                tunnels,
                reval.stats.tier_hits,
            )
        });
        let (hit, missed, lost) = workers.iter().fold((tier_hits, 0, 0), |(h, m, l), w| {
            (h + w.hits, m + w.misses, l + w.lost)
        });
        let mut s = format!(
            "{DATAPATH_NAME}:\n  lookups: hit:{hit} missed:{missed} lost:{lost}\n  flows: {entries}\n"
        );
        for (dp, name) in &names {
            s.push_str(&format!("  port {dp}: {name}\n"));
            if stats {
                let c = match tunnels.get(dp) {
                    Some(t) => xvs_pipeline::present::show::PortCounters {
                        rx_packets: t.rx_packets,
                        rx_bytes: t.rx_bytes,
                        rx_dropped: t.rx_dropped,
                        tx_packets: t.tx_packets,
                        tx_bytes: t.tx_bytes,
                        ..Default::default()
                    },
                    None => d.port_counters(*dp),
                };
                s.push_str(&format!(
                    "    RX packets:{} errors:? dropped:{} overruns:? frame:?\n    TX packets:{} errors:? dropped:{} aborted:? carrier:?\n    collisions:?\n    RX bytes:{}  TX bytes:{}\n",
                    c.rx_packets, c.rx_dropped, c.tx_packets, c.tx_dropped, c.rx_bytes, c.tx_bytes
                ));
            }
        }
        Ok(s)
    }

    /// `dpctl/dump-flows [-m] [--names|--no-names] [dp]`: every worker's cache entries,
    /// their own counters (not yet credited to the rules, or already: the entry's
    /// whole life).
    fn dump_flows(&self, args: &[String]) -> Result<String, String> {
        let mut names = false;
        for a in args {
            match a.as_str() {
                "-m" | "--more" => {}
                "--names" => names = true,
                "--no-names" => names = false,
                a if a.starts_with('-') => return Err(format!("{a}: unknown option")),
                a if a.contains('=') => {
                    return Err(format!(
                        "\"{a}\": xvs does not filter dpctl/dump-flows (no filter=, type= or pmd=)"
                    ))
                }
                dp => Self::check_dp(dp)?,
            }
        }
        let d = self.daemon()?;
        let (entries, ports, now) = d
            .control()
            .read(|sw, reval, now| (reval.entries(), sw.topology().dp_port_names(), now));
        // Formatted here, not on the control thread.
        let workers: Vec<(String, Vec<DpFlow>)> = entries
            .into_iter()
            .enumerate()
            .map(|(w, flows)| {
                let title = match self.places.get(w).and_then(|p| p.core) {
                    Some(c) => format!("pmd on cpu core: {c}"),
                    None => format!("worker {w}"),
                };
                let flows = flows
                    .iter()
                    .map(|f| {
                        let (packets, bytes, used) = f.totals();
                        DpFlow {
                            key: f.key,
                            mask: f.mask,
                            actions: f.actions.to_vec(),
                            packets,
                            bytes,
                            used: (packets > 0).then_some(used),
                        }
                    })
                    .collect();
                (title, flows)
            })
            .collect();
        let port_names: BTreeMap<PortNo, String> = ports;
        let p = DpPortNames {
            names: names.then_some(&port_names),
        };
        Ok(dpctl::dump_flows_text(&workers, now, &p))
    }

    fn fdb_show(&self, bridge: &str) -> Result<String, String> {
        let d = self.daemon()?;
        let b = bridge.to_string();
        d.control().read(move |sw, _, now| match sw.tables(&b) {
            Ok(t) => Ok(text::fdb_show(&t.mac_table, now)),
            Err(_) => Err("no such bridge".to_string()),
        })
    }

    fn fdb_flush(&self, bridge: Option<&str>) -> Result<String, String> {
        let d = self.daemon()?;
        let b = bridge.map(str::to_string);
        d.control()
            .change(move |sw, _| sw.flush_macs(b.as_deref()))
            .map_err(|_| "no such bridge".to_string())?;
        Ok("table successfully flushed".into())
    }

    /// `-pmd CORE` and a datapath name, as OVS's `dpif_netdev_pmd_info` reads them.
    fn pmd_filter(args: &[String]) -> Result<Option<usize>, String> {
        let mut core = None;
        let mut i = 0;
        while i < args.len() {
            match args[i].as_str() {
                "-pmd" => {
                    let c = args
                        .get(i + 1)
                        .and_then(|c| c.parse::<usize>().ok())
                        .ok_or_else(|| "Invalid pmd".to_string())?;
                    core = Some(c);
                    i += 1;
                }
                dp => Self::check_dp(dp)?,
            }
            i += 1;
        }
        Ok(core)
    }

    /// `pmd-stats-show`, or `pmd-stats-clear` (`clear`): the figures since the last
    /// clear.
    fn pmd_stats(&self, args: &[String], clear: bool) -> Result<String, String> {
        let core = Self::pmd_filter(args)?;
        let d = self.daemon()?;
        let now = d.control().read(|_, reval, _| reval.worker_stats());
        let chosen = |w: usize| core.is_none() || self.places.get(w).and_then(|p| p.core) == core;
        let since = d.workers_since_clear(&now, clear.then_some(&chosen as &dyn Fn(usize) -> bool));
        if clear {
            return Ok(String::new());
        }
        let rows: Vec<(WorkerPlace, WorkerStatsSnapshot)> = since
            .into_iter()
            .enumerate()
            .filter(|(w, _)| chosen(*w))
            .map(|(w, st)| {
                let place = self.places.get(w).copied().unwrap_or(WorkerPlace {
                    worker: w,
                    core: None,
                    numa: None,
                });
                (place, st)
            })
            .collect();
        Ok(text::pmd_stats_show(&rows))
    }

    fn upcall_show(&self) -> Result<String, String> {
        let d = self.daemon()?;
        Ok(d.control().read(|_, reval, _| {
            let per: Vec<usize> = reval.entries().iter().map(Vec::len).collect();
            text::upcall_show(&reval.stats, &per, reval.capacity())
        }))
    }

    // ----- coverage -----

    /// Every coverage counter's total now.
    fn coverage_totals(&self) -> Result<Vec<(&'static str, u64)>, String> {
        let d = self.daemon()?;
        let mut c = d
            .control()
            .read(|sw, reval, _| text::coverage_counters(sw, &reval.worker_stats(), &reval.stats));
        c.push(("unixctl_received", self.received.load(Ordering::Relaxed)));
        c.push(("unixctl_replied", self.replied.load(Ordering::Relaxed)));
        Ok(c)
    }

    /// Samples the coverage totals when one is due (call often; xvsd's main loop does).
    pub fn tick(&self, now: Instant) {
        {
            let h = self.coverage.lock().unwrap_or_else(|e| e.into_inner());
            if h.next.is_some_and(|t| now < t) {
                return;
            }
        }
        let Ok(totals) = self.coverage_totals() else {
            return;
        };
        let mut h = self.coverage.lock().unwrap_or_else(|e| e.into_inner());
        h.samples
            .push_back((now, totals.into_iter().map(|(_, v)| v).collect()));
        // An hour of samples, and one more to reach back a whole hour.
        let keep = (3600 / COVERAGE_INTERVAL.as_secs()) as usize + 1;
        while h.samples.len() > keep {
            h.samples.pop_front();
        }
        h.next = Some(now + COVERAGE_INTERVAL);
    }

    fn coverage_show(&self) -> Result<String, String> {
        let totals = self.coverage_totals()?;
        let now = Instant::now();
        let h = self.coverage.lock().unwrap_or_else(|e| e.into_inner());
        let n = totals.len();
        let at = |secs: u64| h.at(now, Duration::from_secs(secs), n);
        let (a5, a60, a3600) = (at(5), at(60), at(3600));
        let lines: Vec<CoverageLine> = totals
            .iter()
            .enumerate()
            .map(|(i, (name, total))| CoverageLine {
                name: name.to_string(),
                total: *total,
                ago_5s: a5.get(i).copied().unwrap_or(0).min(*total),
                ago_1m: a60.get(i).copied().unwrap_or(0).min(*total),
                ago_1h: a3600.get(i).copied().unwrap_or(0).min(*total),
            })
            .collect();
        Ok(text::coverage_show(&lines))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unixctl_checks_with_ovs_errors() {
        assert_eq!(
            check("nosuch", &[]).unwrap_err(),
            "\"nosuch\" is not a valid command (use \"list-commands\" to see a list of valid commands)"
        );
        assert_eq!(
            check("version", &[json!("x")]).unwrap_err(),
            "\"version\" command takes at most 0 arguments"
        );
        assert_eq!(
            check("fdb/show", &[]).unwrap_err(),
            "\"fdb/show\" command requires at least 1 arguments"
        );
        assert_eq!(
            check("fdb/show", &[json!(1)]).unwrap_err(),
            "\"fdb/show\" command has non-string argument"
        );
        assert_eq!(check("fdb/show", &[json!("br")]).unwrap().1, vec!["br"]);
        assert!(list_commands()
            .starts_with("The available commands are:\n  coverage/show           \n"));
    }

    #[test]
    fn trace_arguments_as_ovs_reads_them() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let t = parse_trace_args(&v(&["br-int", "in_port=1"])).unwrap();
        assert_eq!(
            (t.bridge.as_str(), t.flow.as_str(), t.packet),
            ("br-int", "in_port=1", None)
        );
        let hex = "0000000000020000000000010800 4500";
        let t = parse_trace_args(&v(&["--names", "br-int", "in_port=1", hex])).unwrap();
        assert!(t.names);
        assert_eq!(t.packet.unwrap().len(), 16);
        assert_eq!(
            parse_trace_args(&v(&["br-int", "in_port=1", "00zz"])).unwrap_err(),
            "Trailing garbage in packet data"
        );
        assert_eq!(
            parse_trace_args(&v(&["br-int", "in_port=1", "0000"])).unwrap_err(),
            "Packet data too short for Ethernet"
        );
        assert_eq!(
            parse_trace_args(&v(&["br-int", "in_port=1", "-x"])).unwrap_err(),
            "-x: unknown option"
        );
        assert_eq!(
            parse_trace_args(&v(&["a", "b", "c", "d"])).unwrap_err(),
            "too many arguments"
        );
        assert!(parse_trace_args(&v(&["in_port(1)"]))
            .unwrap_err()
            .ends_with("(or the bridge name was omitted)"));
    }
}
