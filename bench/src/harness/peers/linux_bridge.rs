//! `linux-bridge`: the kernel bridge between `sw_in` and `sw_out` (L2 scenarios only).
//!
//! The bridge `xvsbr0` is created in the switch namespace with STP off (ports forward at
//! once), netfilter hooks off and, for every destination MAC of the scenario's flows, a
//! static fdb entry toward `sw_out`: known unicast, as a learning bridge forwards once it
//! has seen the destination (xvs's and OVS's exact flows for l2-N; the one-flow NORMAL
//! case is a flood to the one other port in those, a unicast here: the same work).
//!
//! **Where it runs.** The bridge has no thread: it forwards in softirq. The generator's
//! AF_XDP copy-mode transmit on `gen0` hands an skb to `sw_in`, whose NAPI (GRO is on) is
//! scheduled on the sending CPU, i.e. the generator's core. Without RPS the whole bridge
//! path (and `sink0`'s receive, scheduled from there) would run on the generator's core,
//! slowing the generator and leaving the switch core idle. So by default
//! ([`LinuxBridge::new`]) RPS on every rx queue of `sw_in` steers receive processing to
//! the switch core: `sw_in`'s NAPI (skb from the veth ring, GRO) stays on the generator's
//! core, the bridge lookup and forwarding, `sw_out`'s transmit and `sink0`'s XDP receive
//! run in the switch core's backlog softirq. [`LinuxBridge::without_rps`] measures the
//! bridge where the kernel puts it by default (name `linux-bridge-norps`).

use super::super::dut::{SwitchStats, SwitchUnderTest};
use super::super::topology::ip_in;
use super::super::{sh, HarnessError, Scenario, Topology};
use super::{cpu_mask, peer_err};
use crate::traffic::FlowSet;

const BRIDGE: &str = "xvsbr0";

pub struct LinuxBridge {
    rps: bool,
    started: Option<Started>,
}

struct Started {
    ns: String,
    sw_in: String,
    sw_out: String,
    /// `rps_cpus` files set (to be put back to 0).
    rps_files: Vec<String>,
}

impl LinuxBridge {
    /// The bridge with RPS steering its work to the switch core.
    pub fn new() -> LinuxBridge {
        LinuxBridge {
            rps: true,
            started: None,
        }
    }

    /// The bridge where the kernel runs it: in `sw_in`'s NAPI, on the generator's core.
    pub fn without_rps() -> LinuxBridge {
        LinuxBridge {
            rps: false,
            started: None,
        }
    }

    fn err(&self, detail: impl Into<String>) -> HarnessError {
        peer_err(self.name(), detail)
    }
}

impl Default for LinuxBridge {
    fn default() -> Self {
        LinuxBridge::new()
    }
}

/// `ip netns exec NS sh -c SCRIPT`
fn sh_in(ns: &str, script: &str) -> Result<String, HarnessError> {
    sh("ip", &["netns", "exec", ns, "sh", "-c", script])
}

fn mac_text(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

impl SwitchUnderTest for LinuxBridge {
    fn name(&self) -> &str {
        if self.rps {
            "linux-bridge"
        } else {
            "linux-bridge-norps"
        }
    }

    fn supports(&self, scenario: &Scenario) -> bool {
        matches!(scenario, Scenario::L2 { .. })
    }

    fn start(
        &mut self,
        topo: &Topology,
        scenario: &Scenario,
        flows: &FlowSet,
        core: usize,
    ) -> Result<(), HarnessError> {
        if !self.supports(scenario) {
            return Err(self.err(format!("{} is not an L2 scenario", scenario.name())));
        }
        let ns = topo.switch_ns.as_str();
        // Recorded first: stop() undoes whatever part of this was done.
        self.started = Some(Started {
            ns: ns.into(),
            sw_in: topo.sw_in.clone(),
            sw_out: topo.sw_out.clone(),
            rps_files: Vec::new(),
        });
        ip_in(
            ns,
            &[
                "link",
                "add",
                "name",
                BRIDGE,
                "type",
                "bridge",
                "stp_state",
                "0",
                "forward_delay",
                "0",
                "mcast_snooping",
                "0",
                "nf_call_iptables",
                "0",
                "nf_call_ip6tables",
                "0",
                "nf_call_arptables",
                "0",
            ],
        )?;
        sh(
            "ip",
            &[
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{BRIDGE}.disable_ipv6=1"),
            ],
        )?;
        for port in [&topo.sw_in, &topo.sw_out] {
            ip_in(ns, &["link", "set", port, "master", BRIDGE])?;
        }
        ip_in(ns, &["link", "set", BRIDGE, "up"])?;

        // Every destination known on sw_out (one batch: 100,000 entries take seconds).
        let batch: String = (0..flows.flows())
            .map(|i| {
                format!(
                    "fdb replace {} dev {} master static\n",
                    mac_text(flows.dst_mac(i)),
                    topo.sw_out
                )
            })
            .collect();
        let file = std::env::temp_dir().join(format!("xvs-bench-fdb-{}", std::process::id()));
        std::fs::write(&file, batch).map_err(|e| self.err(format!("{}: {e}", file.display())))?;
        let r = sh("bridge", &["-n", ns, "-batch", &file.to_string_lossy()]);
        let _ = std::fs::remove_file(&file);
        r?;

        if self.rps {
            let mask = cpu_mask(core);
            let queues = sh_in(
                ns,
                &format!("ls -d /sys/class/net/{}/queues/rx-*", topo.sw_in),
            )?;
            for q in queues.split_whitespace() {
                let f = format!("{q}/rps_cpus");
                sh_in(ns, &format!("echo {mask} > {f}"))?;
                if let Some(s) = self.started.as_mut() {
                    s.rps_files.push(f);
                }
            }
        }

        // STP is off: both ports forward as soon as the bridge is up; make sure.
        let start = std::time::Instant::now();
        loop {
            let links = sh("bridge", &["-n", ns, "link", "show"])?;
            let forwarding = links
                .lines()
                .filter(|l| l.contains(&format!("master {BRIDGE}")))
                .filter(|l| l.contains("state forwarding"))
                .count();
            if forwarding == 2 {
                break;
            }
            if start.elapsed() > std::time::Duration::from_secs(5) {
                return Err(self.err(format!("ports not forwarding: {links}")));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(())
    }

    fn stats(&mut self) -> SwitchStats {
        // No thread of its own, so no cycles per packet; the ports' counters tell drops.
        let raw = self
            .started
            .as_ref()
            .map(|s| {
                [BRIDGE, &s.sw_in, &s.sw_out]
                    .iter()
                    .filter_map(|i| ip_in(&s.ns, &["-s", "link", "show", i]).ok())
                    .collect::<String>()
            })
            .unwrap_or_default();
        SwitchStats {
            upcalls: None,
            cycles_per_packet: None,
            raw,
        }
    }

    fn stop(&mut self) {
        let Some(s) = self.started.take() else {
            return;
        };
        for f in &s.rps_files {
            let _ = sh_in(&s.ns, &format!("echo 0 > {f}"));
        }
        // Deleting the bridge releases its ports (and drops the fdb).
        let _ = ip_in(&s.ns, &["link", "del", BRIDGE]);
    }
}

impl Drop for LinuxBridge {
    fn drop(&mut self) {
        self.stop();
    }
}
