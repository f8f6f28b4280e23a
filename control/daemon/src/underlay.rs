//! Tunnel underlays: which netdev carries each tunnel port's packets, and the next hop's
//! MAC toward each remote, found in the kernel (rtnetlink) and kept fresh.
//!
//! Like OVS, a tunnel port is always accepted: when its underlay cannot be found (no
//! route to the remote, nobody holds `local_ip`, the `underlay=` netdev is missing) the
//! port waits, `show` says why, and every [`Underlays::sync`] tries again. The kernel
//! keeps owning the underlay netdev: only tunnel packets for the local tunnel addresses
//! are taken from it (the XDP program's underlay mode), so ARP replies reach the kernel,
//! which keeps its neighbour table current, and we read it from there.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use xvs_dataplane::{MacAddr, PortNo, TunnelType};

use crate::netlink::{Link, Neighbour, NeighbourState, NetlinkError, Route, Rtnl};
use crate::ports::PortStatus;
pub use xvs_pipeline::present::show::{TunnelStatus, UnderlayInfo};
use xvs_pipeline::topology::{TunnelConfig, TunnelKey};
use xvs_pipeline::UnderlayRoute;

/// How often a missing next-hop MAC is asked of the kernel again.
const RESOLVE_RETRY: Duration = Duration::from_secs(1);

/// The kernel queries the underlay logic needs; [`Rtnl`] in the daemon.
pub trait KernelNet {
    fn link_by_name(&mut self, name: &str) -> Result<Option<Link>, NetlinkError>;
    fn link_by_index(&mut self, index: u32) -> Result<Option<Link>, NetlinkError>;
    fn link_with_address(&mut self, ip: Ipv4Addr) -> Result<Option<Link>, NetlinkError>;
    fn route_to(&mut self, dst: Ipv4Addr) -> Result<Option<Route>, NetlinkError>;
    fn neighbour(&mut self, ifindex: u32, ip: Ipv4Addr) -> Result<Option<Neighbour>, NetlinkError>;
    fn request_resolution(&mut self, ifindex: u32, ip: Ipv4Addr) -> Result<(), NetlinkError>;
}

impl KernelNet for Rtnl {
    fn link_by_name(&mut self, name: &str) -> Result<Option<Link>, NetlinkError> {
        Rtnl::link_by_name(self, name)
    }
    fn link_by_index(&mut self, index: u32) -> Result<Option<Link>, NetlinkError> {
        Rtnl::link_by_index(self, index)
    }
    fn link_with_address(&mut self, ip: Ipv4Addr) -> Result<Option<Link>, NetlinkError> {
        Rtnl::link_with_address(self, ip)
    }
    fn route_to(&mut self, dst: Ipv4Addr) -> Result<Option<Route>, NetlinkError> {
        Rtnl::route_to(self, dst)
    }
    fn neighbour(&mut self, ifindex: u32, ip: Ipv4Addr) -> Result<Option<Neighbour>, NetlinkError> {
        Rtnl::neighbour(self, ifindex, ip)
    }
    fn request_resolution(&mut self, ifindex: u32, ip: Ipv4Addr) -> Result<(), NetlinkError> {
        Rtnl::request_resolution(self, ifindex, ip)
    }
}

/// What the underlay logic changes outside itself: the switch's underlay ports and
/// routes, and the datapath. The daemon implements it over the control thread and the
/// port backend.
pub trait UnderlayEnv {
    /// Whether `name` is already a bridge's netdev port (it cannot also be an underlay).
    fn is_bridge_port(&mut self, name: &str) -> bool;
    /// Declares `name` an underlay in the switch; returns its datapath port.
    fn add_underlay(&mut self, name: &str) -> Result<PortNo, String>;
    fn remove_underlay(&mut self, name: &str);
    /// Starts taking tunnel packets from the netdev (XDP underlay mode).
    fn attach(&mut self, dp: PortNo, ifname: &str) -> Result<PortStatus, String>;
    fn detach(&mut self, dp: PortNo);
    fn add_local_ip(&mut self, dp: PortNo, ip: Ipv4Addr) -> Result<(), String>;
    fn remove_local_ip(&mut self, dp: PortNo, ip: Ipv4Addr);
    /// Sets (or with `None` removes) how tunnel packets toward `remote` leave.
    fn set_route(&mut self, remote: Ipv4Addr, route: Option<UnderlayRoute>);
}

/// What a tunnel port asks of the underlay (from its `add-port` options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelSpec {
    pub kind: TunnelType,
    pub config: TunnelConfig,
    /// `underlay=IF`: use this netdev whatever the routes say.
    pub underlay: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Binding {
    underlay: String,
    local: Ipv4Addr,
}

#[derive(Debug)]
struct Tunnel {
    spec: TunnelSpec,
    bound: Option<Binding>,
    error: Option<String>,
}

#[derive(Debug)]
struct UnderlayPort {
    dp: PortNo,
    link: Link,
    local_ips: BTreeSet<Ipv4Addr>,
    status: PortStatus,
}

#[derive(Debug, Default)]
struct Remote {
    next_hop: Option<Ipv4Addr>,
    neighbour: Option<NeighbourState>,
    mac: Option<MacAddr>,
    asked: Option<Instant>,
    route: Option<UnderlayRoute>,
}

#[derive(Debug, Default)]
pub struct Underlays {
    tunnels: BTreeMap<String, Tunnel>,
    ports: BTreeMap<String, UnderlayPort>,
    remotes: BTreeMap<Ipv4Addr, Remote>,
}

/// Bytes a tunnel adds in front of the inner Ethernet header, outer IPv4 included.
fn overhead(spec: &TunnelSpec) -> u32 {
    let encap = match spec.kind {
        TunnelType::Gre => {
            4 + if spec.config.key == TunnelKey::None {
                0
            } else {
                4
            } + if spec.config.csum { 4 } else { 0 }
        }
        TunnelType::Vxlan => 8 + 8,
    };
    20 + encap
}

fn state_name(s: NeighbourState) -> &'static str {
    match s {
        NeighbourState::Incomplete => "incomplete",
        NeighbourState::Reachable => "reachable",
        NeighbourState::Stale => "stale",
        NeighbourState::Delay => "delay",
        NeighbourState::Probe => "probe",
        NeighbourState::Failed => "failed",
        NeighbourState::NoArp => "noarp",
        NeighbourState::Permanent => "permanent",
        NeighbourState::None => "none",
    }
}

impl Underlays {
    pub fn add_tunnel(&mut self, port: &str, spec: TunnelSpec) {
        self.tunnels.insert(
            port.to_string(),
            Tunnel {
                spec,
                bound: None,
                error: Some("waiting for the first underlay lookup".into()),
            },
        );
    }

    /// Nothing moves packets (`xvsd --datapath none`): no underlay is looked for, and
    /// `show` says so.
    pub fn without_datapath(&mut self) {
        for t in self.tunnels.values_mut() {
            t.bound = None;
            t.error =
                Some("no datapath (xvsd --datapath none): the underlay is not looked for".into());
        }
    }

    pub fn remove_tunnel(&mut self, port: &str) {
        self.tunnels.remove(port);
    }

    /// Whether something is still unresolved (a tunnel without underlay, a remote
    /// without next-hop MAC): the daemon then syncs more often.
    pub fn pending(&self) -> bool {
        self.tunnels.values().any(|t| t.bound.is_none())
            || self.remotes.values().any(|r| r.route.is_none())
    }

    pub fn status(&self, port: &str) -> Option<TunnelStatus> {
        let t = self.tunnels.get(port)?;
        let b = t.bound.as_ref();
        let u = b.and_then(|b| self.ports.get(&b.underlay));
        let r = self.remotes.get(&t.spec.config.remote_ip);
        let mtu = u.map(|u| u.link.mtu);
        Some(TunnelStatus {
            underlay: b.map(|b| b.underlay.clone()),
            local_ip: b.map(|b| b.local),
            next_hop: r.and_then(|r| r.next_hop),
            next_hop_mac: r.and_then(|r| r.mac).map(|m| m.to_string()),
            neighbour: r
                .and_then(|r| r.neighbour)
                .map(|s| state_name(s).to_string()),
            mtu,
            inner_frame_max: mtu.map(|m| m.saturating_sub(overhead(&t.spec))),
            error: t.error.clone(),
        })
    }

    /// Every tunnel port's status, by port name.
    pub fn statuses(&self) -> BTreeMap<String, TunnelStatus> {
        self.tunnels
            .keys()
            .filter_map(|n| Some((n.clone(), self.status(n)?)))
            .collect()
    }

    pub fn underlays(&self) -> Vec<UnderlayInfo> {
        self.ports
            .iter()
            .map(|(name, u)| UnderlayInfo {
                name: name.clone(),
                datapath_port: u.dp,
                mac: u.link.mac.to_string(),
                mtu: u.link.mtu,
                local_ips: u.local_ips.iter().copied().collect(),
                datapath: u.status.clone(),
            })
            .collect()
    }

    /// Brings the underlays, local addresses and next-hop routes in line with the
    /// tunnel ports and what the kernel says now. Problems are kept per tunnel port
    /// (for `show`), never returned: the next sync tries again.
    pub fn sync(&mut self, net: &mut dyn KernelNet, env: &mut dyn UnderlayEnv, now: Instant) {
        // 1. Which netdev and local address each tunnel uses.
        let mut links: BTreeMap<String, Link> = BTreeMap::new();
        for t in self.tunnels.values_mut() {
            match bind(net, env, &t.spec) {
                Ok((binding, link)) => {
                    links.insert(link.name.clone(), link);
                    t.bound = Some(binding);
                    t.error = None;
                }
                Err(e) => {
                    t.bound = None;
                    t.error = Some(e);
                }
            }
        }

        // 2. Underlay ports: attach new ones, refresh kept ones, detach unused ones.
        let unused: Vec<String> = self
            .ports
            .keys()
            .filter(|n| !links.contains_key(*n))
            .cloned()
            .collect();
        for name in unused {
            if let Some(u) = self.ports.remove(&name) {
                env.detach(u.dp);
                env.remove_underlay(&name);
                // The switch dropped the routes through it: they must be set again.
                self.remotes
                    .retain(|_, r| r.route.is_none_or(|route| route.port != u.dp));
                tracing::info!(underlay = %name, "underlay released");
            }
        }
        for (name, link) in links {
            if let Some(u) = self.ports.get_mut(&name) {
                u.link = link;
                continue;
            }
            match attach(env, &name) {
                Ok((dp, status)) => {
                    tracing::info!(underlay = %name, dp, mtu = link.mtu, "underlay attached");
                    self.ports.insert(
                        name,
                        UnderlayPort {
                            dp,
                            link,
                            local_ips: BTreeSet::new(),
                            status,
                        },
                    );
                }
                Err(e) => {
                    for t in self.tunnels.values_mut() {
                        if t.bound.as_ref().is_some_and(|b| b.underlay == name) {
                            t.bound = None;
                            t.error = Some(format!("underlay {name}: {e}"));
                        }
                    }
                }
            }
        }

        // 3. The local tunnel addresses the XDP program takes packets for.
        for (name, u) in self.ports.iter_mut() {
            let want: BTreeSet<Ipv4Addr> = self
                .tunnels
                .values()
                .filter_map(|t| t.bound.as_ref())
                .filter(|b| &b.underlay == name)
                .map(|b| b.local)
                .collect();
            for ip in u.local_ips.difference(&want) {
                env.remove_local_ip(u.dp, *ip);
            }
            u.local_ips.retain(|ip| want.contains(ip));
            for ip in want {
                if u.local_ips.contains(&ip) {
                    continue;
                }
                match env.add_local_ip(u.dp, ip) {
                    Ok(()) => {
                        u.local_ips.insert(ip);
                    }
                    Err(e) => {
                        for t in self.tunnels.values_mut() {
                            if t.bound.as_ref().is_some_and(|b| b.local == ip) {
                                t.error = Some(format!("local_ip {ip} on {name}: {e}"));
                            }
                        }
                    }
                }
            }
        }

        // 4. The next hop toward each remote, and the route the switch encapsulates with.
        let mut wanted: BTreeMap<Ipv4Addr, Binding> = BTreeMap::new();
        for t in self.tunnels.values() {
            if let Some(b) = &t.bound {
                wanted
                    .entry(t.spec.config.remote_ip)
                    .or_insert_with(|| b.clone());
            }
        }
        let gone: Vec<Ipv4Addr> = self
            .remotes
            .keys()
            .filter(|r| !wanted.contains_key(*r))
            .copied()
            .collect();
        for r in gone {
            self.remotes.remove(&r);
            env.set_route(r, None);
        }
        for (remote, b) in wanted {
            let Some(u) = self.ports.get(&b.underlay) else {
                continue;
            };
            let r = self.remotes.entry(remote).or_default();
            let before = r.route;
            resolve(net, u, remote, &b, r, now);
            if r.route != before || before.is_none() {
                env.set_route(remote, r.route);
            }
        }
    }
}

/// Finds the netdev and local address a tunnel uses.
fn bind(
    net: &mut dyn KernelNet,
    env: &mut dyn UnderlayEnv,
    spec: &TunnelSpec,
) -> Result<(Binding, Link), String> {
    let remote = spec.config.remote_ip;
    let nl = |e: NetlinkError| format!("rtnetlink: {e}");
    let route_src = |net: &mut dyn KernelNet| -> Result<Option<Route>, String> {
        net.route_to(remote).map_err(nl)
    };
    let (link, local) = match (&spec.underlay, spec.config.local_ip) {
        (Some(name), local) => {
            let link = net
                .link_by_name(name)
                .map_err(nl)?
                .ok_or_else(|| format!("underlay={name}: no such netdev"))?;
            let local = match local {
                Some(l) => l,
                None => route_src(net)?
                    .and_then(|r| r.prefsrc)
                    .ok_or_else(|| format!("no local address toward {remote}: give local_ip"))?,
            };
            (link, local)
        }
        (None, Some(local)) => {
            let link = net.link_with_address(local).map_err(nl)?.ok_or_else(|| {
                format!(
                    "local_ip={local}: no netdev in xvsd's network namespace holds this address"
                )
            })?;
            (link, local)
        }
        (None, None) => {
            let route = route_src(net)?
                .ok_or_else(|| format!("remote_ip={remote}: no route to this address"))?;
            let link = net
                .link_by_index(route.oif)
                .map_err(nl)?
                .ok_or_else(|| format!("the route to {remote} leaves through a vanished netdev"))?;
            let local = route.prefsrc.ok_or_else(|| {
                format!("the route to {remote} has no source address: give local_ip")
            })?;
            (link, local)
        }
    };
    if env.is_bridge_port(&link.name) {
        return Err(format!(
            "{} is a bridge port; a tunnel underlay must be a netdev outside the bridges",
            link.name
        ));
    }
    Ok((
        Binding {
            underlay: link.name.clone(),
            local,
        },
        link,
    ))
}

fn attach(env: &mut dyn UnderlayEnv, name: &str) -> Result<(PortNo, PortStatus), String> {
    let dp = env.add_underlay(name)?;
    match env.attach(dp, name) {
        Ok(status) => Ok((dp, status)),
        Err(e) => {
            env.remove_underlay(name);
            Err(e)
        }
    }
}

/// Reads the next hop's MAC from the kernel, asking it to resolve when it has none.
fn resolve(
    net: &mut dyn KernelNet,
    u: &UnderlayPort,
    remote: Ipv4Addr,
    b: &Binding,
    r: &mut Remote,
    now: Instant,
) {
    // Through a gateway when the kernel routes the remote through one on this netdev;
    // with `underlay=` pointing elsewhere, the remote is taken as on-link there.
    let next_hop = match net.route_to(remote) {
        Ok(Some(route)) if route.oif == u.link.index => route.gateway.unwrap_or(remote),
        _ => remote,
    };
    if r.next_hop != Some(next_hop) {
        *r = Remote {
            next_hop: Some(next_hop),
            ..Remote::default()
        };
    }
    let neigh = net.neighbour(u.link.index, next_hop).ok().flatten();
    r.neighbour = neigh.as_ref().map(|n| n.state);
    match neigh.as_ref().and_then(|n| n.usable_mac()) {
        Some(mac) => r.mac = Some(mac),
        None => {
            // The kernel forgot or failed the entry: without traffic of its own through
            // the kernel it will not ask again unless told to. The MAC it had stays in
            // use meanwhile, as OVS keeps the one it learnt: an entry fails when the
            // underlay was down longer than the kernel's probes (3 s), though the remote
            // is there again once it is up; frames to a remote that is really gone are
            // lost whichever MAC they carry, and one that moved is found again by the
            // kernel, asked every second.
            if r.asked
                .is_none_or(|t| now.duration_since(t) >= RESOLVE_RETRY)
            {
                r.asked = Some(now);
                if let Err(e) = net.request_resolution(u.link.index, next_hop) {
                    tracing::warn!(%next_hop, error = %e, "asking the kernel to resolve a next hop");
                }
            }
        }
    }
    r.route = r.mac.map(|dst_mac| UnderlayRoute {
        port: u.dp,
        src_mac: u.link.mac,
        dst_mac,
        src_ip: b.local,
        mtu: u.link.mtu.min(u32::from(u16::MAX)) as u16,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel with some netdevs, routes and neighbours, that records resolution requests.
    #[derive(Default)]
    struct FakeNet {
        links: Vec<(Link, Vec<Ipv4Addr>)>,
        routes: BTreeMap<Ipv4Addr, Route>,
        neighbours: BTreeMap<(u32, Ipv4Addr), Neighbour>,
        asked: Vec<(u32, Ipv4Addr)>,
    }

    impl KernelNet for FakeNet {
        fn link_by_name(&mut self, name: &str) -> Result<Option<Link>, NetlinkError> {
            Ok(self
                .links
                .iter()
                .find(|l| l.0.name == name)
                .map(|l| l.0.clone()))
        }
        fn link_by_index(&mut self, index: u32) -> Result<Option<Link>, NetlinkError> {
            Ok(self
                .links
                .iter()
                .find(|l| l.0.index == index)
                .map(|l| l.0.clone()))
        }
        fn link_with_address(&mut self, ip: Ipv4Addr) -> Result<Option<Link>, NetlinkError> {
            Ok(self
                .links
                .iter()
                .find(|l| l.1.contains(&ip))
                .map(|l| l.0.clone()))
        }
        fn route_to(&mut self, dst: Ipv4Addr) -> Result<Option<Route>, NetlinkError> {
            Ok(self.routes.get(&dst).cloned())
        }
        fn neighbour(
            &mut self,
            ifindex: u32,
            ip: Ipv4Addr,
        ) -> Result<Option<Neighbour>, NetlinkError> {
            Ok(self.neighbours.get(&(ifindex, ip)).cloned())
        }
        fn request_resolution(&mut self, ifindex: u32, ip: Ipv4Addr) -> Result<(), NetlinkError> {
            self.asked.push((ifindex, ip));
            Ok(())
        }
    }

    /// The switch and datapath side, as a log of what was done to them.
    #[derive(Default)]
    struct FakeEnv {
        bridge_ports: Vec<String>,
        next_dp: PortNo,
        underlays: BTreeMap<String, PortNo>,
        attached: BTreeSet<PortNo>,
        local_ips: BTreeSet<(PortNo, Ipv4Addr)>,
        routes: BTreeMap<Ipv4Addr, UnderlayRoute>,
        route_sets: usize,
        fail_attach: bool,
    }

    impl UnderlayEnv for FakeEnv {
        fn is_bridge_port(&mut self, name: &str) -> bool {
            self.bridge_ports.iter().any(|p| p == name)
        }
        fn add_underlay(&mut self, name: &str) -> Result<PortNo, String> {
            self.next_dp += 1;
            self.underlays.insert(name.into(), self.next_dp);
            Ok(self.next_dp)
        }
        fn remove_underlay(&mut self, name: &str) {
            let dp = self.underlays.remove(name).unwrap();
            self.routes.retain(|_, r| r.port != dp);
        }
        fn attach(&mut self, dp: PortNo, ifname: &str) -> Result<PortStatus, String> {
            if self.fail_attach {
                return Err(format!("{ifname}: no XDP today"));
            }
            self.attached.insert(dp);
            Ok(PortStatus::default())
        }
        fn detach(&mut self, dp: PortNo) {
            assert!(self.attached.remove(&dp));
        }
        fn add_local_ip(&mut self, dp: PortNo, ip: Ipv4Addr) -> Result<(), String> {
            self.local_ips.insert((dp, ip));
            Ok(())
        }
        fn remove_local_ip(&mut self, dp: PortNo, ip: Ipv4Addr) {
            assert!(self.local_ips.remove(&(dp, ip)));
        }
        fn set_route(&mut self, remote: Ipv4Addr, route: Option<UnderlayRoute>) {
            self.route_sets += 1;
            match route {
                Some(r) => self.routes.insert(remote, r),
                None => self.routes.remove(&remote),
            };
        }
    }

    const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 254);
    const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 253);
    const FAR: Ipv4Addr = Ipv4Addr::new(10, 9, 1, 1);
    const GW: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const ETH1_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 0xfe]);
    const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 0xfd]);
    const GW_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);

    fn kernel() -> FakeNet {
        let eth1 = Link {
            index: 7,
            name: "eth1".into(),
            mac: ETH1_MAC,
            mtu: 1500,
            up: true,
        };
        let mut net = FakeNet::default();
        net.links.push((eth1, vec![LOCAL]));
        net.routes.insert(
            REMOTE,
            Route {
                oif: 7,
                gateway: None,
                prefsrc: Some(LOCAL),
            },
        );
        net.routes.insert(
            FAR,
            Route {
                oif: 7,
                gateway: Some(GW),
                prefsrc: Some(LOCAL),
            },
        );
        net
    }

    fn reachable(mac: MacAddr) -> Neighbour {
        Neighbour {
            mac: Some(mac),
            state: NeighbourState::Reachable,
        }
    }

    fn spec(kind: TunnelType, remote: Ipv4Addr, local: Option<Ipv4Addr>) -> TunnelSpec {
        TunnelSpec {
            kind,
            config: TunnelConfig {
                remote_ip: remote,
                local_ip: local,
                key: TunnelKey::Flow,
                csum: false,
            },
            underlay: None,
        }
    }

    #[test]
    fn a_tunnel_attaches_its_underlay_and_waits_for_the_next_hop() {
        let (mut net, mut env, mut u) = (kernel(), FakeEnv::default(), Underlays::default());
        let t0 = Instant::now();
        u.add_tunnel("gre-1", spec(TunnelType::Gre, REMOTE, Some(LOCAL)));
        u.sync(&mut net, &mut env, t0);
        let dp = env.underlays["eth1"];
        assert!(env.attached.contains(&dp));
        assert_eq!(env.local_ips, BTreeSet::from([(dp, LOCAL)]));
        // No neighbour yet: the kernel is asked, no route is set, and it is pending.
        assert_eq!(net.asked, vec![(7, REMOTE)]);
        assert!(env.routes.is_empty());
        assert!(u.pending());
        // Asking again waits for RESOLVE_RETRY.
        u.sync(&mut net, &mut env, t0 + Duration::from_millis(200));
        assert_eq!(net.asked.len(), 1);
        u.sync(&mut net, &mut env, t0 + RESOLVE_RETRY);
        assert_eq!(net.asked.len(), 2);

        net.neighbours.insert((7, REMOTE), reachable(PEER_MAC));
        u.sync(&mut net, &mut env, t0 + 2 * RESOLVE_RETRY);
        let want = UnderlayRoute {
            port: dp,
            src_mac: ETH1_MAC,
            dst_mac: PEER_MAC,
            src_ip: LOCAL,
            mtu: 1500,
        };
        assert_eq!(env.routes[&REMOTE], want);
        assert!(!u.pending());
        let st = u.status("gre-1").unwrap();
        assert_eq!(st.error, None);
        assert_eq!(st.underlay.as_deref(), Some("eth1"));
        assert_eq!(st.neighbour.as_deref(), Some("reachable"));
        // GRE with a key: 20 + 8 bytes of outer headers.
        assert_eq!((st.mtu, st.inner_frame_max), (Some(1500), Some(1472)));

        // Nothing changed: the route is not set again (no cache flush every second).
        let sets = env.route_sets;
        u.sync(&mut net, &mut env, t0 + 3 * RESOLVE_RETRY);
        assert_eq!(env.route_sets, sets);
    }

    #[test]
    fn changes_in_the_kernel_reach_the_route() {
        let (mut net, mut env, mut u) = (kernel(), FakeEnv::default(), Underlays::default());
        let t0 = Instant::now();
        net.neighbours.insert((7, REMOTE), reachable(PEER_MAC));
        u.add_tunnel("vxlan-1", spec(TunnelType::Vxlan, REMOTE, None));
        u.sync(&mut net, &mut env, t0);
        assert_eq!(env.routes[&REMOTE].dst_mac, PEER_MAC);
        assert_eq!(u.status("vxlan-1").unwrap().inner_frame_max, Some(1464));

        // The remote moved to another MAC (the kernel learnt it from ARP).
        let moved = MacAddr([2, 0, 0, 0, 9, 9]);
        net.neighbours.insert((7, REMOTE), reachable(moved));
        u.sync(&mut net, &mut env, t0 + RESOLVE_RETRY);
        assert_eq!(env.routes[&REMOTE].dst_mac, moved);

        // A stale entry is still used (the kernel would use it too)...
        net.neighbours.insert(
            (7, REMOTE),
            Neighbour {
                mac: Some(moved),
                state: NeighbourState::Stale,
            },
        );
        u.sync(&mut net, &mut env, t0 + 2 * RESOLVE_RETRY);
        assert_eq!(env.routes[&REMOTE].dst_mac, moved);
        // ...and a failed one (the underlay was down longer than the kernel's probes)
        // leaves the route with the MAC it had, while the kernel is asked again, every
        // second, until it resolves: it once took the route away, and the frames with
        // it, for up to a second after a flap the tunnel had already come back from
        // (found by the soak).
        net.neighbours.insert(
            (7, REMOTE),
            Neighbour {
                mac: None,
                state: NeighbourState::Failed,
            },
        );
        net.asked.clear();
        u.sync(&mut net, &mut env, t0 + 3 * RESOLVE_RETRY);
        assert_eq!(env.routes[&REMOTE].dst_mac, moved);
        assert_eq!(net.asked, vec![(7, REMOTE)]);
        assert_eq!(
            u.status("vxlan-1").unwrap().neighbour.as_deref(),
            Some("failed")
        );
        u.sync(
            &mut net,
            &mut env,
            t0 + 3 * RESOLVE_RETRY + RESOLVE_RETRY / 2,
        );
        assert_eq!(net.asked.len(), 1, "asked again before a second went by");
        u.sync(&mut net, &mut env, t0 + 4 * RESOLVE_RETRY);
        assert_eq!(net.asked.len(), 2, "asked again after a second");
        assert_eq!(env.routes[&REMOTE].dst_mac, moved);
        // Once resolved, to another MAC, that one is used.
        let again = MacAddr([2, 0, 0, 0, 9, 10]);
        net.neighbours.insert((7, REMOTE), reachable(again));
        u.sync(&mut net, &mut env, t0 + 4 * RESOLVE_RETRY);
        assert_eq!(env.routes[&REMOTE].dst_mac, again);

        // The MTU of the underlay changed.
        net.links[0].0.mtu = 9000;
        u.sync(&mut net, &mut env, t0 + 5 * RESOLVE_RETRY);
        assert_eq!(env.routes[&REMOTE].mtu, 9000);
    }

    #[test]
    fn a_remote_behind_a_gateway_uses_the_gateway_mac() {
        let (mut net, mut env, mut u) = (kernel(), FakeEnv::default(), Underlays::default());
        net.neighbours.insert((7, GW), reachable(GW_MAC));
        u.add_tunnel("gre-far", spec(TunnelType::Gre, FAR, None));
        u.sync(&mut net, &mut env, Instant::now());
        assert_eq!(env.routes[&FAR].dst_mac, GW_MAC);
        assert_eq!(env.routes[&FAR].src_ip, LOCAL);
        assert_eq!(u.status("gre-far").unwrap().next_hop, Some(GW));
    }

    #[test]
    fn problems_are_shown_and_retried_and_the_last_tunnel_releases_the_underlay() {
        let (mut net, mut env, mut u) = (kernel(), FakeEnv::default(), Underlays::default());
        let t0 = Instant::now();
        let unknown = Ipv4Addr::new(203, 0, 113, 9);
        u.add_tunnel("gre-2", spec(TunnelType::Gre, unknown, None));
        u.add_tunnel(
            "gre-3",
            spec(TunnelType::Gre, REMOTE, Some(Ipv4Addr::new(10, 0, 0, 1))),
        );
        let mut named = spec(TunnelType::Gre, REMOTE, Some(LOCAL));
        named.underlay = Some("eth9".into());
        u.add_tunnel("gre-4", named);
        let mut bridged = spec(TunnelType::Gre, REMOTE, Some(LOCAL));
        bridged.underlay = Some("eth1".into());
        env.bridge_ports.push("eth1".into());
        u.add_tunnel("gre-5", bridged);
        u.sync(&mut net, &mut env, t0);
        let err = |u: &Underlays, p: &str| u.status(p).unwrap().error.unwrap_or_default();
        assert!(
            err(&u, "gre-2").contains("no route"),
            "{}",
            err(&u, "gre-2")
        );
        assert!(
            err(&u, "gre-3").contains("local_ip=10.0.0.1"),
            "{}",
            err(&u, "gre-3")
        );
        assert!(
            err(&u, "gre-4").contains("underlay=eth9"),
            "{}",
            err(&u, "gre-4")
        );
        assert!(
            err(&u, "gre-5").contains("bridge port"),
            "{}",
            err(&u, "gre-5")
        );
        assert!(env.underlays.is_empty() && u.pending());

        // The address appears (an operator configured it) and eth1 leaves its bridge:
        // the next sync binds the ports.
        net.links[0].1.push(Ipv4Addr::new(10, 0, 0, 1));
        env.bridge_ports.clear();
        net.neighbours.insert((7, REMOTE), reachable(PEER_MAC));
        u.sync(&mut net, &mut env, t0 + RESOLVE_RETRY);
        assert_eq!(u.status("gre-3").unwrap().error, None);
        let dp = env.underlays["eth1"];
        assert!(env.local_ips.contains(&(dp, Ipv4Addr::new(10, 0, 0, 1))));

        for p in ["gre-2", "gre-3", "gre-4", "gre-5"] {
            u.remove_tunnel(p);
        }
        u.sync(&mut net, &mut env, t0 + 2 * RESOLVE_RETRY);
        assert!(env.underlays.is_empty() && env.attached.is_empty() && env.routes.is_empty());
        assert!(u.underlays().is_empty());
    }

    #[test]
    fn an_underlay_that_cannot_be_attached_is_reported_on_its_tunnels() {
        let (mut net, mut env, mut u) = (kernel(), FakeEnv::default(), Underlays::default());
        env.fail_attach = true;
        u.add_tunnel("gre-1", spec(TunnelType::Gre, REMOTE, Some(LOCAL)));
        u.sync(&mut net, &mut env, Instant::now());
        let e = u.status("gre-1").unwrap().error.unwrap();
        assert!(
            e.contains("underlay eth1") && e.contains("no XDP today"),
            "{e}"
        );
        assert!(env.underlays.is_empty());
    }
}
