//! `show` and `dump-ports`: the bridges and ports, how the datapath runs each netdev,
//! where each tunnel's packets leave, and the port counters. The daemon knows the
//! datapath and the kernel; it hands their state over in the plain types below.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde::Serialize;
use serde_json::{json, Value};
use xvs_dataplane::PortNo;

use crate::ofp::OfPort;
use crate::topology::{PortKind, Topology, TunnelKey, VlanMode};

/// How the datapath runs a netdev port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PortStatus {
    pub ifindex: u32,
    /// "native" or "generic" XDP ("none" without a datapath, "send-only" for a mirror's
    /// output port: no XDP, frames sent through the kernel).
    pub xdp_mode: String,
    pub zero_copy: bool,
    pub queues: u32,
    pub mtu: u32,
}

/// [`PortStatus::xdp_mode`] of a send-only port.
pub const SEND_ONLY: &str = "send-only";

/// Per-port counters, as `dump-ports` shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PortCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
}

/// How one tunnel port's packets leave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TunnelStatus {
    pub underlay: Option<String>,
    pub local_ip: Option<Ipv4Addr>,
    pub next_hop: Option<Ipv4Addr>,
    /// The next hop's MAC, once the kernel has resolved it.
    pub next_hop_mac: Option<String>,
    /// The kernel's neighbour state for the next hop ("reachable", "stale", ...).
    pub neighbour: Option<String>,
    /// The underlay's MTU: the largest outer packet; bigger ones are dropped and counted.
    pub mtu: Option<u32>,
    /// The largest inner frame this tunnel carries, Ethernet header and any 802.1Q tag
    /// included: the underlay MTU less the outer IPv4 and GRE or UDP+VXLAN headers.
    /// (An untagged VM's IP MTU is 14 less: what Neutron sets as the network MTU.)
    pub inner_frame_max: Option<u32>,
    pub error: Option<String>,
}

/// An underlay netdev in use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnderlayInfo {
    pub name: String,
    pub datapath_port: PortNo,
    pub mac: String,
    pub mtu: u32,
    pub local_ips: Vec<Ipv4Addr>,
    pub datapath: PortStatus,
}

/// What `show` prints beyond the topology.
pub struct DatapathState<'a> {
    /// How each netdev port's datapath side is doing, by port name.
    pub ports: &'a BTreeMap<String, Result<PortStatus, String>>,
    pub tunnels: &'a BTreeMap<String, TunnelStatus>,
    pub underlays: &'a [UnderlayInfo],
}

/// `show` as (JSON, text).
pub fn show(topo: &Topology, dp: &DatapathState<'_>) -> (Value, String) {
    let mut text = String::from("xvsd\n");
    let mut bridges = Vec::new();
    for br in topo.bridges() {
        let _ = writeln!(text, "    Bridge {}", br.name);
        let mut ports = Vec::new();
        for p in br.ports.values() {
            let c = &p.config;
            let _ = writeln!(text, "        Port {} (ofport {})", p.name(), p.ofport);
            let v = &c.vlan;
            if let Some(t) = v.tag {
                let _ = writeln!(text, "            tag: {t}");
            }
            if !v.trunks.is_empty() {
                let _ = writeln!(text, "            trunks: {:?}", v.trunks);
            }
            // Only what differs from OVS's default (access with a tag, else trunk).
            if v.mode != VlanMode::Trunk && (v.mode != VlanMode::Access || v.tag.is_none()) {
                let _ = writeln!(text, "            vlan_mode: {}", v.mode.name());
            }
            let _ = writeln!(text, "            Interface {}", p.name());
            let mut j = json!({"name": p.name(), "ofport": p.ofport, "type": c.kind.type_name(),
                               "tag": c.vlan.tag, "trunks": c.vlan.trunks,
                               "vlan_mode": c.vlan.mode.name(), "datapath_port": p.dp_port});
            match &c.kind {
                PortKind::Patch { peer } => {
                    let _ = writeln!(
                        text,
                        "                type: patch\n                options: {{peer={peer}}}"
                    );
                    j["peer"] = json!(peer);
                }
                PortKind::Gre(t) | PortKind::Vxlan(t) => {
                    let key = match t.key {
                        TunnelKey::Flow => "flow".to_string(),
                        TunnelKey::Fixed(k) => k.to_string(),
                        TunnelKey::None => "none".to_string(),
                    };
                    let local = t
                        .local_ip
                        .map(|l| format!(", local_ip={l}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        text,
                        "                type: {}\n                options: {{key={key}{local}, remote_ip={}}}",
                        c.kind.type_name(),
                        t.remote_ip
                    );
                    j["options"] = json!({"key": key, "remote_ip": t.remote_ip.to_string(),
                                          "local_ip": t.local_ip.map(|l| l.to_string())});
                    if let Some(ts) = dp.tunnels.get(p.name()) {
                        tunnel_status_text(&mut text, ts);
                        j["tunnel"] = json!(ts);
                    }
                }
                PortKind::Netdev | PortKind::Internal => match dp.ports.get(p.name()) {
                    Some(Ok(s)) if s.xdp_mode == "none" => {
                        let _ = writeln!(text, "                datapath: none (pipeline only)");
                    }
                    Some(Ok(s)) if s.xdp_mode == SEND_ONLY => {
                        let _ = writeln!(
                            text,
                            "                datapath: port {}, send-only through the kernel (a mirror's output: packet taps such as tcpdump see what it is sent; nothing is received)",
                            p.dp_port.unwrap_or(0)
                        );
                        j["datapath"] = json!(s);
                    }
                    Some(Ok(s)) => {
                        let _ = writeln!(
                            text,
                            "                datapath: port {}, {} XDP, {}, {} queue(s)",
                            p.dp_port.unwrap_or(0),
                            s.xdp_mode,
                            if s.zero_copy {
                                "zero-copy"
                            } else {
                                "copy mode"
                            },
                            s.queues
                        );
                        j["datapath"] = json!(s);
                    }
                    Some(Err(e)) => {
                        let _ = writeln!(text, "                error: \"{e}\"");
                        j["error"] = json!(e);
                    }
                    None => {}
                },
            }
            ports.push(j);
        }
        bridges.push(json!({"name": br.name, "ports": ports}));
    }
    for u in dp.underlays {
        let ips: Vec<String> = u.local_ips.iter().map(|ip| ip.to_string()).collect();
        let _ = writeln!(
            text,
            "    Underlay {} (datapath port {}): mac {}, mtu {}, tunnel addresses {}, {} XDP, {}",
            u.name,
            u.datapath_port,
            u.mac,
            u.mtu,
            ips.join(" "),
            u.datapath.xdp_mode,
            if u.datapath.zero_copy {
                "zero-copy"
            } else {
                "copy mode"
            },
        );
    }
    (
        json!({ "bridges": bridges, "underlays": dp.underlays }),
        text,
    )
}

fn tunnel_status_text(text: &mut String, ts: &TunnelStatus) {
    if let Some(e) = &ts.error {
        let _ = writeln!(text, "                error: \"{e}\"");
        return;
    }
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let _ = writeln!(
        text,
        "                underlay: {} from {}, next hop {} at {} ({})",
        or_dash(ts.underlay.clone()),
        or_dash(ts.local_ip.map(|i| i.to_string())),
        or_dash(ts.next_hop.map(|i| i.to_string())),
        ts.next_hop_mac.as_deref().unwrap_or("unresolved"),
        ts.neighbour.as_deref().unwrap_or("no neighbour entry"),
    );
    if let (Some(mtu), Some(inner)) = (ts.mtu, ts.inner_frame_max) {
        let _ = writeln!(
            text,
            "                mtu: {mtu} on the underlay; inner frames up to {inner} bytes, Ethernet header and any 802.1Q tag included (larger ones dropped, counted as too-big)"
        );
    }
}

/// `dump-ports` as (JSON, text): (OpenFlow number, name, counters) per port.
pub fn dump_ports(bridge: &str, ports: &[(OfPort, String, PortCounters)]) -> (Value, String) {
    let mut text = format!("port stats for {bridge}: {} ports\n", ports.len());
    let mut out = Vec::new();
    for (ofport, name, c) in ports {
        let _ = writeln!(
            text,
            "  port {ofport:>2} ({name}): rx pkts={}, bytes={}, drop={}\n{:12}tx pkts={}, bytes={}, drop={}",
            c.rx_packets, c.rx_bytes, c.rx_dropped, "", c.tx_packets, c.tx_bytes, c.tx_dropped
        );
        out.push(json!({"ofport": ofport, "name": name, "counters": c}));
    }
    (Value::Array(out), text)
}
