//! The unmodified neutron-openvswitch-agent on a node (tests/python/neutron_agent_node.py:
//! the agent with a fake neutron-server in its process), and what a test tells that
//! server: networks, the ports nova binds to the node, the other nodes' ports (l2pop).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::nodes::Node;
use super::python::{python, script};

/// The agent's configuration choices a test varies.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub l2_population: bool,
    pub arp_responder: bool,
    /// `noop` or `iptables_hybrid`.
    pub firewall_driver: &'static str,
    /// `physnet:bridge` pairs for VLAN provider networks.
    pub bridge_mappings: Vec<(String, String)>,
    /// The tunnel endpoints the fake server's tunnel_sync answers with (without l2pop,
    /// the agent makes its tunnel ports from them).
    pub tunnels: Vec<String>,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig {
            l2_population: true,
            arp_responder: true,
            firewall_driver: "noop",
            bridge_mappings: Vec::new(),
            tunnels: Vec::new(),
        }
    }
}

/// The agent's neutron.conf for a node whose OVSDB is `db` and tunnel address `local_ip`.
pub fn agent_conf(dir: &Path, host: &str, db: &str, local_ip: &str, c: &AgentConfig) -> String {
    let mappings: Vec<String> = c
        .bridge_mappings
        .iter()
        .map(|(p, b)| format!("{p}:{b}"))
        .collect();
    format!(
        "[DEFAULT]
transport_url = fake:/
host = {host}
debug = False
state_path = {state}
rpc_response_timeout = 5
[AGENT]
root_helper = env
root_helper_daemon =
tunnel_types = gre,vxlan
l2_population = {l2pop}
arp_responder = {arp}
polling_interval = 2
report_interval = 0
[OVS]
ovsdb_connection = {db}
local_ip = {local_ip}
bridge_mappings = {mappings}
of_listen_address = 127.0.0.1
of_listen_port = 6633
of_connect_timeout = 60
of_request_timeout = 30
[SECURITYGROUP]
firewall_driver = {fw}
",
        state = dir.join("agent-state").display(),
        l2pop = c.l2_population,
        arp = c.arp_responder,
        mappings = mappings.join(","),
        fw = c.firewall_driver,
    )
}

/// One agent process; killed when dropped.
pub struct Agent {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// Events read while waiting for something else.
    pending: VecDeque<Value>,
    pub log: PathBuf,
    pub host: String,
}

impl Agent {
    /// Starts the agent in `node`'s namespace (so that the node's xvsd reaches it on
    /// 127.0.0.1:6633) with `config`.
    /// `config.tunnels`: what tunnel_sync answers from the start.
    pub fn start(node: &Node, host: &str, config: &AgentConfig) -> Agent {
        let dir = &node.xvsd.dir;
        let conf = dir.join("neutron-agent.conf");
        std::fs::write(
            &conf,
            agent_conf(dir, host, &node.xvsd.db.remote(), &node.ip, config),
        )
        .unwrap();
        Self::start_with(node.ns.name(), dir, &conf, host, &config.tunnels)
    }

    /// Starts the agent with the configuration file `conf`, in network namespace
    /// `netns`, its OVS tools pointed at `dir`.
    pub fn start_with(
        netns: &str,
        dir: &Path,
        conf: &Path,
        host: &str,
        tunnels: &[String],
    ) -> Agent {
        let log = dir.join(format!("neutron-agent-{host}.log"));
        let venv_bin = python().parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}",
            venv_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new("ip")
            // Its own process group: the privsep helper and the ovsdb-client monitor
            // it starts go with it.
            .process_group(0)
            .args(["netns", "exec", netns])
            .arg(python())
            .arg(script("neutron_agent_node.py"))
            .arg(conf)
            .arg(host)
            .env("PATH", path)
            .env("OVS_RUNDIR", dir)
            .env("XVS_TUNNELS", tunnels.join(","))
            .stdout(Stdio::piped())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .stdin(Stdio::piped())
            .spawn()
            .expect("start neutron-openvswitch-agent");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut a = Agent {
            stdin: child.stdin.take(),
            child,
            lines,
            pending: VecDeque::new(),
            log,
            host: host.to_string(),
        };
        a.wait_event(Duration::from_secs(60), |e| e["event"] == "server_started");
        a
    }

    fn next(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("agent {}: not JSON ({e}): {line}", self.host));
                assert!(
                    v.get("error").is_none(),
                    "agent {}'s fake server failed: {}\n{}",
                    self.host,
                    v["error"],
                    v["traceback"].as_str().unwrap_or("")
                );
                Some(v)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
                "agent {} ended ({:?}):\n{}",
                self.host,
                self.child.try_wait(),
                self.log_tail()
            ),
        }
    }

    /// The first event (kept or new) that `want` accepts, within `timeout`; panics
    /// with the agent's log otherwise.
    pub fn wait_event(&mut self, timeout: Duration, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&want) {
            return self.pending.remove(i).unwrap();
        }
        let deadline = Instant::now() + timeout;
        while let Some(v) = self.next(deadline) {
            if want(&v) {
                return v;
            }
            self.pending.push_back(v);
        }
        panic!(
            "agent {}: no such event in {timeout:?} (had {:?}):\n{}",
            self.host,
            self.pending,
            self.log_tail()
        );
    }

    /// Waits until the agent has reported every one of `ports` up (update_device_list).
    pub fn wait_up(&mut self, ports: &[&str], timeout: Duration) {
        self.wait_devices(ports, "up", timeout)
    }

    pub fn wait_down(&mut self, ports: &[&str], timeout: Duration) {
        self.wait_devices(ports, "down", timeout)
    }

    fn wait_devices(&mut self, ports: &[&str], which: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut left: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
        while !left.is_empty() {
            let e = self.wait_event(deadline.saturating_duration_since(Instant::now()), |e| {
                e["event"] == "devices"
                    && e[which]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|d| left.iter().any(|p| d == p)))
            });
            left.retain(|p| !e[which].as_array().unwrap().iter().any(|d| d == p));
        }
    }

    /// Forgets the events received so far.
    pub fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            let _ = line;
        }
        self.pending.clear();
    }

    /// Tells the fake server something (see the script); waits for its "ok".
    pub fn tell(&mut self, command: Value) {
        let stdin = self.stdin.as_mut().expect("the agent's stdin is open");
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        let kind = command["cmd"].clone();
        self.wait_event(Duration::from_secs(30), |e| e["ok"] == kind);
    }

    pub fn network(&mut self, id: &str, kind: &str, seg: u32, physnet: Option<&str>) {
        self.tell(json!({"cmd": "network", "id": id, "type": kind,
                         "segmentation_id": seg, "physical_network": physnet}));
    }

    pub fn port(&mut self, id: &str, network: &str, mac: &str, ip: &str) {
        self.tell(json!({"cmd": "port", "id": id, "network": network, "mac": mac, "ip": ip}));
    }

    /// l2pop: the ports `ports` (MAC, IP) of `network` are behind `remote_ip`.
    pub fn fdb(&mut self, add: bool, network: &str, remote_ip: &str, ports: &[(&str, &str)]) {
        let cmd = if add { "fdb_add" } else { "fdb_remove" };
        self.tell(
            json!({"cmd": cmd, "network": network, "remote_ip": remote_ip,
                         "ports": ports.iter().map(|(m, i)| json!([m, i])).collect::<Vec<_>>()}),
        );
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("DeprecationWarning") && !l.contains("privsep log:"))
            .collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// How many lines the agent has logged: a mark for [`Agent::errors`].
    pub fn log_mark(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// Lines of the agent's log at ERROR (or tracebacks), but those between the marks of
    /// each of `excused` (lines from, lines to): while the test stopped the switch.
    pub fn errors(&self, excused: &[(usize, usize)]) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .enumerate()
            .filter(|(i, _)| !excused.iter().any(|(a, b)| (a..b).contains(&i)))
            .map(|(_, l)| l)
            .filter(|l| l.contains(" ERROR ") || l.starts_with("Traceback"))
            .map(str::to_string)
            .collect()
    }

    /// Kills the agent (SIGKILL, as a crash or `systemctl kill`); the flows stay.
    pub fn kill(self) {}
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stdin.take();
        // The whole group: the agent, its privsep helper, its ovsdb-client monitor.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
        if std::thread::panicking() {
            // The test's directory goes with it: keep the agent's log.
            let dir = self.log.parent().and_then(|d| d.file_name());
            let kept = std::env::temp_dir().join(format!(
                "xvs-failed-{}-{}",
                dir.unwrap_or_default().to_string_lossy(),
                self.log.file_name().unwrap().to_string_lossy()
            ));
            if std::fs::copy(&self.log, &kept).is_ok() {
                eprintln!("agent {}'s log kept in {}", self.host, kept.display());
            }
        }
    }
}

/// A file of the test's node directory, for reading after a failure.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn touch(path: &Path) {
    File::create(path).unwrap();
}
