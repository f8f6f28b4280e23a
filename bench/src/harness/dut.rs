//! Switches under test: something that forwards from the topology's `sw_in` to `sw_out`
//! for a scenario, pinned to the switch core. xvs here; the peers in `peers/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::scenario::{
    decap_brtun_flows, folsom_brtun_flows, Scenario, LOCAL_TUNNEL_IP, LOCAL_VLAN, REMOTE_TUNNEL_IP,
};
use super::topology::ip_in;
use super::{HarnessError, Topology};
use crate::traffic::FlowSet;

/// What a switch reports about its own work, when it can (xvs's and OVS's dp-show).
#[derive(Debug, Clone, Default)]
pub struct SwitchStats {
    /// Busy cycles of the forwarding thread per packet.
    pub cycles_per_packet: Option<f64>,
    /// Misses handled by the slow path so far (upcalls), cumulative.
    pub upcalls: Option<u64>,
    /// The switch's own text (dp-show), kept with the results.
    pub raw: String,
}

pub trait SwitchUnderTest {
    /// Short name for tables and CSV ("xvs", "ovs-afxdp", "linux-bridge", ...).
    fn name(&self) -> &str;
    /// Whether it can run `scenario` (not every peer does GRE).
    fn supports(&self, scenario: &Scenario) -> bool;
    /// Starts forwarding `sw_in` -> `sw_out` in the switch namespace, on `core`.
    fn start(
        &mut self,
        topo: &Topology,
        scenario: &Scenario,
        flows: &FlowSet,
        core: usize,
    ) -> Result<(), HarnessError>;
    /// Called before each measured run, after the warm-up (e.g. to reset counters).
    fn before_run(&mut self, _scenario: &Scenario) -> Result<(), HarnessError> {
        Ok(())
    }
    fn stats(&mut self) -> SwitchStats {
        SwitchStats::default()
    }
    /// Stops and leaves the namespace's interfaces as they were found.
    fn stop(&mut self);
}

/// xvsd with one worker pinned to the switch core, following a private ovsdb-server
/// (as it runs on a node), programmed through xvsctl.
pub struct Xvs {
    bin: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
    db: Option<Child>,
    /// dp-show's busy cycles and packets when the measured runs began.
    base: Option<(u64, u64)>,
    /// Run with `--xdp-tier on` (reported as "xvs-xdp").
    tier: bool,
}

impl Xvs {
    /// `bin`: the folder holding `xvsd` and `xvsctl` (target/release).
    pub fn new(bin: PathBuf) -> Xvs {
        let dir = std::env::temp_dir().join(format!("xvs-bench-{}", std::process::id()));
        Xvs {
            bin,
            dir,
            child: None,
            db: None,
            base: None,
            tier: false,
        }
    }

    /// The same with the XDP tier on: hot entries are forwarded in the XDP program
    /// (in the receiving veth's NAPI, on the sender's core, as xdp-redirect's).
    pub fn with_xdp_tier(bin: PathBuf) -> Xvs {
        let mut x = Xvs::new(bin);
        x.dir = std::env::temp_dir().join(format!("xvs-bench-xdp-{}", std::process::id()));
        x.tier = true;
        x
    }

    /// A private ovsdb-server with OVS's schema in `dir`, the database xvsd follows.
    fn start_database(&mut self) -> Result<(), HarnessError> {
        let db = self.dir.join("conf.db");
        let schema = "/usr/share/openvswitch/vswitch.ovsschema";
        let created = Command::new("ovsdb-tool")
            .arg("create")
            .arg(&db)
            .arg(schema)
            .status()
            .map_err(|e| {
                HarnessError::Missing(
                    "ovsdb-tool".into(),
                    format!("{e}: install openvswitch-switch (scripts/install-deps.sh does)"),
                )
            })?;
        if !created.success() {
            return Err(self.err(format!("ovsdb-tool create {}", db.display())));
        }
        let sock = self.dir.join("db.sock");
        let child = Command::new("ovsdb-server")
            .arg(&db)
            .arg(format!("--remote=punix:{}", sock.display()))
            .arg(format!(
                "--unixctl={}",
                self.dir.join("ovsdb-server.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                self.dir.join("ovsdb-server.log").display()
            ))
            .arg("--no-chdir")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| self.err(format!("starting ovsdb-server: {e}")))?;
        self.db = Some(child);
        let start = Instant::now();
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            if start.elapsed() > Duration::from_secs(10) {
                return Err(self.err("ovsdb-server did not come up".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let init = Command::new("ovs-vsctl")
            .arg(format!("--db=unix:{}", sock.display()))
            .args(["--no-wait", "init"])
            .status()
            .map_err(|e| self.err(format!("ovs-vsctl: {e}")))?;
        if !init.success() {
            return Err(self.err("ovs-vsctl init".into()));
        }
        Ok(())
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("xvsd.sock")
    }

    pub fn ctl(&self, args: &[&str]) -> Result<String, HarnessError> {
        let out = Command::new(self.bin.join("xvsctl"))
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .output()
            .map_err(|e| self.err(format!("running xvsctl: {e}")))?;
        if !out.status.success() {
            return Err(self.err(format!(
                "xvsctl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn err(&self, detail: String) -> HarnessError {
        HarnessError::Switch {
            switch: "xvs".into(),
            detail,
        }
    }

    /// Replaces `bridge`'s flows with `flows`, in chunks: one request line of a million
    /// flows would exceed the control protocol's 64 MiB line limit.
    fn add_flows(&self, bridge: &str, flows: &[String]) -> Result<(), HarnessError> {
        const CHUNK: usize = 100_000;
        let file = self.dir.join(format!("{bridge}.flows"));
        for (i, chunk) in flows.chunks(CHUNK).enumerate() {
            std::fs::write(&file, chunk.join("\n") + "\n").map_err(|e| self.err(e.to_string()))?;
            let verb = if i == 0 { "replace-flows" } else { "add-flows" };
            self.ctl(&[verb, bridge, &file.to_string_lossy()])?;
        }
        Ok(())
    }
}

impl Xvs {
    /// br-tun joined to br-int, with gre-1 toward the remote over `underlay`, which gets
    /// the local tunnel address (and the remote as a permanent neighbour when given).
    fn tunnel_bridge(
        &self,
        topo: &Topology,
        underlay: &str,
        remote_mac: Option<[u8; 6]>,
    ) -> Result<(), HarnessError> {
        let ns = &topo.switch_ns;
        ip_in(
            ns,
            &[
                "addr",
                "add",
                &format!("{LOCAL_TUNNEL_IP}/24"),
                "dev",
                underlay,
            ],
        )?;
        if let Some(mac) = remote_mac {
            let mac = mac.map(|b| format!("{b:02x}")).join(":");
            let remote = REMOTE_TUNNEL_IP.to_string();
            ip_in(
                ns,
                &[
                    "neigh",
                    "replace",
                    &remote,
                    "lladdr",
                    &mac,
                    "dev",
                    underlay,
                    "nud",
                    "permanent",
                ],
            )?;
        }
        self.ctl(&["add-br", "br-tun"])?;
        self.ctl(&[
            "add-port",
            "br-int",
            "patch-tun",
            "type=patch",
            "peer=patch-int",
        ])?;
        self.ctl(&[
            "add-port",
            "br-tun",
            "patch-int",
            "type=patch",
            "peer=patch-tun",
            "ofport=1",
        ])?;
        self.ctl(&[
            "add-port",
            "br-tun",
            "gre-1",
            "type=gre",
            &format!("remote_ip={REMOTE_TUNNEL_IP}"),
            &format!("local_ip={LOCAL_TUNNEL_IP}"),
            "key=flow",
            "ofport=2",
        ])?;
        Ok(())
    }

    fn wait_resolved(&self) -> Result<(), HarnessError> {
        let start = Instant::now();
        while !self.ctl(&["show"])?.contains("(permanent)") {
            if start.elapsed() > Duration::from_secs(10) {
                let show = self.ctl(&["show"])?;
                return Err(self.err(format!("the tunnel did not resolve: {show}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

impl SwitchUnderTest for Xvs {
    fn name(&self) -> &str {
        if self.tier {
            "xvs-xdp"
        } else {
            "xvs"
        }
    }

    fn supports(&self, _scenario: &Scenario) -> bool {
        true
    }

    fn start(
        &mut self,
        topo: &Topology,
        scenario: &Scenario,
        flows: &FlowSet,
        core: usize,
    ) -> Result<(), HarnessError> {
        for exe in ["xvsd", "xvsctl"] {
            if !self.bin.join(exe).exists() {
                return Err(HarnessError::Missing(
                    self.bin.join(exe).display().to_string(),
                    "build it with `cargo build --release -p xvs-daemon`".into(),
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir).map_err(|e| self.err(e.to_string()))?;
        self.start_database()?;
        let log = std::fs::File::create(self.dir.join("xvsd.log"))
            .map_err(|e| self.err(e.to_string()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &topo.switch_ns])
            .arg(self.bin.join("xvsd"))
            .arg("--socket")
            .arg(self.socket())
            .arg(format!("unix:{}", self.dir.join("db.sock").display()))
            .args([
                "--workers",
                "1",
                "--cores",
                &core.to_string(),
                "--log",
                "warn",
                "--xdp-tier",
                if self.tier { "on" } else { "off" },
            ])
            // A cache that holds every flow of the many-flow scenarios; the miss storm
            // keeps the default (200,000, like OVS's flow limit).
            .args(match scenario {
                Scenario::Miss { .. } => vec![],
                _ => vec!["--cache-size", "1000000"],
            })
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| self.err(format!("starting xvsd: {e}")))?;
        self.child = Some(child);
        let start = Instant::now();
        while !self.socket().exists() {
            if start.elapsed() > Duration::from_secs(20) {
                return Err(self.err("xvsd did not come up".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.ctl(&["add-br", "br-int"])?;
        let tag = format!("tag={LOCAL_VLAN}");
        match scenario {
            Scenario::L2 { flows: n } | Scenario::Miss { flows: n } => {
                self.ctl(&["add-port", "br-int", &topo.sw_in, &tag])?;
                self.ctl(&["add-port", "br-int", &topo.sw_out, &tag])?;
                if *n > 1 {
                    self.add_flows(
                        "br-int",
                        &scenario.l2_exact_flows(flows, &topo.sw_in, &topo.sw_out),
                    )?;
                }
            }
            Scenario::GreEncap { .. } => {
                self.ctl(&["add-port", "br-int", &topo.sw_in, &tag])?;
                // The remote's MAC is a permanent neighbour: the sink takes every frame,
                // ARP included, so the kernel could not resolve it.
                self.tunnel_bridge(topo, &topo.sw_out, Some(topo.sink_mac))?;
                self.add_flows("br-tun", &folsom_brtun_flows("patch-int", "gre-1"))?;
                self.wait_resolved()?;
            }
            Scenario::GreDecap { flows: n } => {
                self.ctl(&["add-port", "br-int", &topo.sw_out, &tag])?;
                self.tunnel_bridge(topo, &topo.sw_in, None)?;
                self.add_flows("br-tun", &decap_brtun_flows(*n, "patch-int"))?;
            }
        }
        Ok(())
    }

    fn before_run(&mut self, _scenario: &Scenario) -> Result<(), HarnessError> {
        self.base = busy_totals(&self.ctl(&["dp-show"])?);
        Ok(())
    }

    fn stats(&mut self) -> SwitchStats {
        let raw = self.ctl(&["dp-show"]).unwrap_or_default();
        // Over the measured runs only: the totals now less those at `before_run`.
        let cycles_per_packet = busy_totals(&raw).and_then(|(cycles, packets)| {
            let (c0, p0) = self.base.unwrap_or((0, 0));
            let packets = packets.saturating_sub(p0);
            (packets > 0).then(|| cycles.saturating_sub(c0) as f64 / packets as f64)
        });
        let upcalls = raw
            .split("upcalls: handled:")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok());
        SwitchStats {
            cycles_per_packet,
            upcalls,
            raw,
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: plain kill(2) of our child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let start = Instant::now();
            while matches!(c.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(mut db) = self.db.take() {
            let _ = db.kill();
            let _ = db.wait();
        }
    }
}

/// The busy cycles and packets of dp-show's `total:` line.
fn busy_totals(dp_show: &str) -> Option<(u64, u64)> {
    let total = dp_show
        .lines()
        .find(|l| l.trim_start().starts_with("total:"))?;
    let number_after = |key: &str| -> Option<u64> {
        total
            .split(key)
            .nth(1)?
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    Some((number_after("busy cycles: ")?, number_after("(packets ")?))
}

impl Drop for Xvs {
    fn drop(&mut self) {
        self.stop();
    }
}
