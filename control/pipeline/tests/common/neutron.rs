//! Today's Neutron OVS agent on a node, written once for every test that needs it: the
//! br-tun tables it programs (tables 0, 2, 3 or 4, 10, 20, 21, 22: `learn`, flooding to
//! the tunnels, the ARP responder), and br-int joined to br-tun by patch ports with
//! tunnel ports whose underlay routes are resolved.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use xvs_dataplane::{MacAddr, PortNo};
use xvs_pipeline::{PortConfig, PortKind, Switch, TunnelConfig, UnderlayRoute};

/// One network on the node: its tunnel id (GRE key or VNI), the local VLAN the agent
/// gave it on br-int, and the tunnel ports (OpenFlow numbers on br-tun) it floods to.
pub struct Network {
    pub tun_id: u64,
    pub lvid: u16,
    pub flood: Vec<u32>,
}

/// An ARP responder entry (l2population): who answers for `ip` in local VLAN `lvid`.
pub struct ArpEntry {
    pub lvid: u16,
    pub ip: &'static str,
    pub mac: &'static str,
}

/// br-tun's flows as the agent installs them; patch-int is OpenFlow port 1.
pub struct BrTun {
    /// Tunnel ports (OpenFlow numbers on br-tun).
    pub tunnel_ports: Vec<u32>,
    /// Where tunnel packets are classified: 3 for GRE, 4 for VXLAN.
    pub tunnel_table: u8,
    pub networks: Vec<Network>,
    /// The `learn` action's hard timeout (the agent uses 300).
    pub learn_hard_timeout: u16,
    /// The agent's cookie on learned flows, if any.
    pub learn_cookie: Option<u64>,
    /// How `learn` names the input port: `NXM_OF_IN_PORT` or `OXM_OF_IN_PORT`.
    pub learn_in_port: &'static str,
    pub arp_responder: Option<ArpEntry>,
}

impl BrTun {
    /// The flows, one per line.
    pub fn flows(&self) -> String {
        let mut s = String::new();
        let mut line = |l: String| {
            s.push_str(&l);
            s.push('\n');
        };
        let t = self.tunnel_table;
        line("table=0,priority=1,in_port=1 actions=resubmit(,2)".into());
        for p in &self.tunnel_ports {
            line(format!(
                "table=0,priority=1,in_port={p} actions=resubmit(,{t})"
            ));
        }
        line("table=0,priority=0 actions=drop".into());
        line(
            "table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,20)"
                .into(),
        );
        line(
            "table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,22)"
                .into(),
        );
        line("table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff actions=resubmit(,21)".into());
        if t != 3 {
            line("table=3,priority=0 actions=drop".into());
        }
        for n in &self.networks {
            line(format!(
                "table={t},priority=1,tun_id={:#x} actions=mod_vlan_vid:{},resubmit(,10)",
                n.tun_id, n.lvid
            ));
        }
        line(format!("table={t},priority=0 actions=drop"));
        let cookie = self
            .learn_cookie
            .map(|c| format!("cookie={c:#x},"))
            .unwrap_or_default();
        line(format!(
            "table=10,priority=1 actions=learn(table=20,hard_timeout={},priority=1,{cookie}NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:{}[]),output:1",
            self.learn_hard_timeout, self.learn_in_port
        ));
        line("table=20,priority=0 actions=resubmit(,22)".into());
        line("table=21,priority=0 actions=resubmit(,22)".into());
        if let Some(a) = &self.arp_responder {
            let ip: Ipv4Addr = a.ip.parse().unwrap();
            line(format!(
                "table=21,priority=1,arp,dl_vlan={},arp_tpa={} actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:{},load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0x{}->NXM_NX_ARP_SHA[],load:{:#x}->NXM_OF_ARP_SPA[],IN_PORT",
                a.lvid,
                a.ip,
                a.mac,
                a.mac.replace(':', ""),
                u32::from(ip)
            ));
        }
        for n in &self.networks {
            let mut outputs = String::new();
            for p in &n.flood {
                let _ = write!(outputs, ",output:{p}");
            }
            line(format!(
                "table=22,priority=1,dl_vlan={} actions=strip_vlan,set_tunnel:{:#x}{outputs}",
                n.lvid, n.tun_id
            ));
        }
        line("table=22,priority=0 actions=drop".into());
        s
    }

    /// Makes `sw`'s br-tun exactly these flows.
    pub fn program(&self, sw: &mut Switch) {
        let flows = self.flows();
        let lines: Vec<&str> = flows.lines().collect();
        sw.replace_flows("br-tun", &lines, 0).unwrap();
    }
}

/// br-int with `ports`, and br-tun joined to it as the agent joins them: patch-tun on
/// br-int (after `ports`), patch-int (OpenFlow port 1) on br-tun.
pub fn int_and_tun_bridges(sw: &mut Switch, ports: Vec<PortConfig>) {
    sw.add_bridge("br-int").unwrap();
    sw.add_bridge("br-tun").unwrap();
    for p in ports {
        sw.add_port("br-int", p).unwrap();
    }
    sw.add_patch_pair(
        ("br-int", "patch-tun", None),
        ("br-tun", "patch-int", Some(1)),
    )
    .unwrap();
}

/// The underlay side of a node's tunnels: packets leave by `port` from `local`, with
/// `mac`, toward a next hop at `next_hop_mac`.
pub struct Underlay {
    pub port: PortNo,
    pub local: &'static str,
    pub mac: &'static str,
    pub next_hop_mac: &'static str,
}

impl Underlay {
    /// Adds the underlay netdev `name` to `sw`.
    pub fn add(
        sw: &mut Switch,
        name: &str,
        local: &'static str,
        mac: &'static str,
        next_hop_mac: &'static str,
    ) -> Self {
        let port = sw.add_underlay(name).unwrap();
        Underlay {
            port,
            local,
            mac,
            next_hop_mac,
        }
    }

    /// Adds a `key=flow` tunnel port to br-tun toward `remote`, with its route resolved.
    pub fn add_tunnel(&self, sw: &mut Switch, name: &str, vxlan: bool, ofport: u32, remote: &str) {
        let cfg = TunnelConfig::gre_key_flow(self.local.parse().unwrap(), remote.parse().unwrap());
        let kind = if vxlan {
            PortKind::Vxlan(cfg)
        } else {
            PortKind::Gre(cfg)
        };
        sw.add_port("br-tun", PortConfig::new(name, kind).ofport(ofport))
            .unwrap();
        sw.set_underlay_route(
            remote.parse().unwrap(),
            UnderlayRoute {
                port: self.port,
                src_mac: self.mac.parse::<MacAddr>().unwrap(),
                dst_mac: self.next_hop_mac.parse::<MacAddr>().unwrap(),
                src_ip: self.local.parse().unwrap(),
                mtu: 1500,
            },
        );
    }
}
