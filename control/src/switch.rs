//! The switch: bridges, datapath port numbers, underlay routes, and the commands an OVS
//! user knows from `ovs-vsctl` and `ovs-ofctl`, applied to the pure pipeline.
//!
//! Nothing here does I/O or reads a clock: time comes in as an argument, packets come in
//! as byte slices and go out as byte vectors, so every behaviour is testable as
//! packets-in, packets-out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use hashbrown::HashMap;
use xvs_dataplane::execute::{execute, FrameBuf as Frame, DEFAULT_HEADROOM};
use xvs_dataplane::tunnel::decap_tunnel;
use xvs_dataplane::tunnel::{TunnelKeyMatch, TunnelMap, TunnelPort};
use xvs_dataplane::{FlowKey, MacAddr, PortNo, TunnelType};

use crate::bridge::{Bridge, BridgeId, Port, PortConfig, PortKind, TunnelKey};
use crate::changes::{Change, ChangeLog};
use crate::ofp::format::{format_actions, format_match};
use crate::ofp::{
    parse_flow, FlowMod, FlowParseError, Match, OfPort, ParseMode, PortNames, OFPP_MAX,
};
use crate::table::{Rule, Time};
use crate::xlate::{translate, LearnedFlow, Translation};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    #[error("no bridge named \"{0}\"")]
    NoSuchBridge(String),
    #[error("a bridge named \"{0}\" already exists")]
    BridgeExists(String),
    #[error("bridge name \"{0}\" is not valid: use 1-15 characters, no '/', no whitespace")]
    BadBridgeName(String),
    #[error("no port named \"{port}\" on bridge \"{bridge}\"")]
    NoSuchPort { bridge: String, port: String },
    #[error("a port named \"{0}\" already exists")]
    PortExists(String),
    #[error("\"{0}\" is not an underlay")]
    NoSuchUnderlay(String),
    #[error("OpenFlow port {ofport} is already used by \"{by}\" on bridge \"{bridge}\"")]
    OfportInUse {
        bridge: String,
        ofport: OfPort,
        by: String,
    },
    #[error("bad port option: {0}")]
    BadPortOption(String),
    #[error("line {line}: {error}")]
    FlowLine { line: usize, error: FlowParseError },
    #[error(transparent)]
    Flow(#[from] FlowParseError),
    #[error("flow text \"{0}\" has no actions")]
    MissingActions(String),
}

/// How tunnel packets toward one remote leave: the underlay port and its addresses.
/// Resolved by the daemon (routes and neighbours); set by hand in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnderlayRoute {
    pub port: PortNo,
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src_ip: Ipv4Addr,
    /// The underlay netdev's MTU: the largest outer IPv4 packet it carries.
    pub mtu: u16,
}

/// Where a datapath port belongs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DpPortOwner {
    Bridge {
        bridge: BridgeId,
        ofport: OfPort,
    },
    /// A netdev that carries tunnel packets; not part of any bridge.
    Underlay {
        name: String,
    },
}

/// Counters of what the pure pipeline dropped, in the spirit of `ovs-dpctl show`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropStats {
    /// Frames that failed to parse (truncated, bad lengths): dropped before lookup.
    pub malformed: u64,
    /// Tunnel packets that failed the outer checks (checksums, flags, protocol).
    pub bad_tunnel: u64,
    /// Tunnel packets with no tunnel port for their addresses and key.
    pub unknown_tunnel: u64,
    /// Tunnel packets not sent because they would exceed the underlay MTU.
    pub too_big: u64,
}

pub struct Switch {
    bridges: BTreeMap<BridgeId, Bridge>,
    bridge_by_name: HashMap<String, BridgeId>,
    next_bridge_id: BridgeId,
    dp_ports: HashMap<PortNo, DpPortOwner>,
    /// Port name -> (bridge, ofport), for patch peers and because names are switch-wide.
    port_index: HashMap<String, (BridgeId, OfPort)>,
    next_dp_port: PortNo,
    routes: HashMap<Ipv4Addr, UnderlayRoute>,
    pub drops: DropStats,
    log: ChangeLog,
}

impl Default for Switch {
    fn default() -> Self {
        Self::new()
    }
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && !name.contains('/')
        && !name.chars().any(char::is_whitespace)
}

impl Switch {
    pub fn new() -> Self {
        Switch {
            bridges: BTreeMap::new(),
            bridge_by_name: HashMap::new(),
            next_bridge_id: 1,
            dp_ports: HashMap::new(),
            port_index: HashMap::new(),
            next_dp_port: 1,
            routes: HashMap::new(),
            drops: DropStats::default(),
            log: ChangeLog::default(),
        }
    }

    // ----- change tracking, for the fast path -----

    /// Starts (or stops) recording what changes, for [`Switch::take_changes`].
    pub fn track_changes(&mut self, on: bool) {
        self.log.enabled = on;
        for br in self.bridges.values_mut() {
            br.mac_table.track = on;
        }
    }

    /// What changed since the last call (with tracking on).
    pub fn take_changes(&mut self) -> Vec<Change> {
        let mut out = self.log.take();
        for br in self.bridges.values_mut() {
            for (vlan, mac) in br.mac_table.changed.drain(..) {
                out.push(Change::Mac {
                    bridge: br.id,
                    vlan,
                    mac,
                });
            }
        }
        out
    }

    fn topology_changed(&mut self) {
        self.log.push(Change::Topology);
    }

    // ----- lookups used by translation -----

    pub fn bridge(&self, name: &str) -> Result<&Bridge, SwitchError> {
        self.bridge_by_name
            .get(name)
            .and_then(|id| self.bridges.get(id))
            .ok_or_else(|| SwitchError::NoSuchBridge(name.to_string()))
    }

    fn bridge_mut(&mut self, name: &str) -> Result<&mut Bridge, SwitchError> {
        let id = *self
            .bridge_by_name
            .get(name)
            .ok_or_else(|| SwitchError::NoSuchBridge(name.to_string()))?;
        Ok(self.bridges.get_mut(&id).expect("index and map agree"))
    }

    pub fn bridge_by_id(&self, id: BridgeId) -> Option<&Bridge> {
        self.bridges.get(&id)
    }

    pub fn bridges(&self) -> impl Iterator<Item = &Bridge> {
        self.bridges.values()
    }

    /// The bridge and OpenFlow port of a datapath port, if it is a bridge port.
    pub fn dp_port_owner(&self, dp: PortNo) -> Option<(&Bridge, OfPort)> {
        match self.dp_ports.get(&dp)? {
            DpPortOwner::Bridge { bridge, ofport } => Some((self.bridges.get(bridge)?, *ofport)),
            DpPortOwner::Underlay { .. } => None,
        }
    }

    pub fn port_by_name(&self, name: &str) -> Option<(&Bridge, OfPort)> {
        let (b, p) = self.port_index.get(name)?;
        Some((self.bridges.get(b)?, *p))
    }

    /// The datapath port number of a bridge port or underlay, by name.
    pub fn dp_port_named(&self, name: &str) -> Option<PortNo> {
        if let Some((b, p)) = self.port_by_name(name) {
            return b.port(p)?.dp_port;
        }
        self.dp_ports.iter().find_map(|(dp, o)| match o {
            DpPortOwner::Underlay { name: n } if n == name => Some(*dp),
            _ => None,
        })
    }

    pub fn dp_port_name(&self, dp: PortNo) -> Option<&str> {
        match self.dp_ports.get(&dp)? {
            DpPortOwner::Bridge { bridge, ofport } => {
                Some(self.bridges.get(bridge)?.port(*ofport)?.name())
            }
            DpPortOwner::Underlay { name } => Some(name),
        }
    }

    pub fn underlay_route(&self, remote: Ipv4Addr) -> Option<&UnderlayRoute> {
        self.routes.get(&remote)
    }

    // ----- ovs-vsctl -----

    pub fn add_bridge(&mut self, name: &str) -> Result<(), SwitchError> {
        if !valid_name(name) {
            return Err(SwitchError::BadBridgeName(name.to_string()));
        }
        if self.bridge_by_name.contains_key(name) {
            return Err(SwitchError::BridgeExists(name.to_string()));
        }
        let id = self.next_bridge_id;
        self.next_bridge_id += 1;
        let mut br = Bridge::new(id, name);
        // As in OVS, a new bridge is a learning switch until flows say otherwise.
        let normal = parse_flow("priority=0 actions=NORMAL", ParseMode::Add, &br)?;
        insert_rule(&mut br, normal, 0, &mut ChangeLog::default());
        br.mac_table.track = self.log.enabled;
        self.bridges.insert(id, br);
        self.bridge_by_name.insert(name.to_string(), id);
        self.topology_changed();
        Ok(())
    }

    pub fn del_bridge(&mut self, name: &str) -> Result<(), SwitchError> {
        let id = self
            .bridge_by_name
            .remove(name)
            .ok_or_else(|| SwitchError::NoSuchBridge(name.to_string()))?;
        let br = self.bridges.remove(&id).expect("index and map agree");
        for port in br.ports.values() {
            self.port_index.remove(port.name());
            if let Some(dp) = port.dp_port {
                self.dp_ports.remove(&dp);
            }
        }
        self.topology_changed();
        Ok(())
    }

    fn alloc_dp_port(&mut self) -> PortNo {
        while self.dp_ports.contains_key(&self.next_dp_port) {
            self.next_dp_port += 1;
        }
        let dp = self.next_dp_port;
        self.next_dp_port += 1;
        dp
    }

    /// Adds a port; returns its OpenFlow number.
    pub fn add_port(&mut self, bridge: &str, config: PortConfig) -> Result<OfPort, SwitchError> {
        if !valid_name(&config.name) {
            return Err(SwitchError::BadPortOption(format!(
                "port name \"{}\" is not valid: use 1-15 characters, no '/', no whitespace",
                config.name
            )));
        }
        if self.port_index.contains_key(&config.name) || self.dp_port_named(&config.name).is_some()
        {
            return Err(SwitchError::PortExists(config.name));
        }
        if let Some(t) = config.tag {
            if t > 4095 {
                return Err(SwitchError::BadPortOption(format!(
                    "tag={t}: a VLAN id is 0..4095"
                )));
            }
        }
        if let Some(&bad) = config.trunks.iter().find(|&&v| v > 4095) {
            return Err(SwitchError::BadPortOption(format!(
                "trunks: {bad} is not a VLAN id (0..4095)"
            )));
        }
        if let PortKind::Patch { peer } = &config.kind {
            if peer == &config.name {
                return Err(SwitchError::BadPortOption(format!(
                    "patch port \"{peer}\" cannot be its own peer"
                )));
            }
        }
        let br = self.bridge(bridge)?;
        let ofport = match config.ofport {
            Some(n) if n == 0 || n >= OFPP_MAX => {
                return Err(SwitchError::BadPortOption(format!(
                    "ofport={n}: must be 1..{}",
                    OFPP_MAX - 1
                )));
            }
            Some(n) => {
                if let Some(p) = br.port(n) {
                    return Err(SwitchError::OfportInUse {
                        bridge: bridge.to_string(),
                        ofport: n,
                        by: p.name().to_string(),
                    });
                }
                n
            }
            None => br.free_ofport(),
        };
        let bridge_id = br.id;
        let dp_port = match config.kind {
            PortKind::Patch { .. } => None,
            _ => Some(self.alloc_dp_port()),
        };
        if let Some(dp) = dp_port {
            self.dp_ports.insert(
                dp,
                DpPortOwner::Bridge {
                    bridge: bridge_id,
                    ofport,
                },
            );
        }
        self.port_index
            .insert(config.name.clone(), (bridge_id, ofport));
        let br = self.bridge_mut(bridge)?;
        br.port_by_name.insert(config.name.clone(), ofport);
        br.ports.insert(
            ofport,
            Port {
                config,
                ofport,
                dp_port,
            },
        );
        self.topology_changed();
        Ok(ofport)
    }

    /// Joins two bridges with a pair of patch ports, as the OVS agent joins br-int and
    /// br-tun: (bridge, port name, OpenFlow number wanted) for each end. Both or neither.
    pub fn add_patch_pair(
        &mut self,
        a: (&str, &str, Option<OfPort>),
        b: (&str, &str, Option<OfPort>),
    ) -> Result<(), SwitchError> {
        let end = |(_, name, of): (&str, &str, Option<OfPort>), peer: &str| {
            let mut c = PortConfig::new(
                name,
                PortKind::Patch {
                    peer: peer.to_string(),
                },
            );
            c.ofport = of;
            c
        };
        self.add_port(a.0, end(a, b.1))?;
        if let Err(e) = self.add_port(b.0, end(b, a.1)) {
            self.del_port(a.0, a.1).expect("just added");
            return Err(e);
        }
        Ok(())
    }

    pub fn del_port(&mut self, bridge: &str, name: &str) -> Result<(), SwitchError> {
        let br = self.bridge_mut(bridge)?;
        let ofport = br
            .port_by_name
            .remove(name)
            .ok_or_else(|| SwitchError::NoSuchPort {
                bridge: bridge.to_string(),
                port: name.to_string(),
            })?;
        let port = br.ports.remove(&ofport).expect("index and map agree");
        br.mac_table.flush_port(ofport);
        self.port_index.remove(name);
        if let Some(dp) = port.dp_port {
            self.dp_ports.remove(&dp);
        }
        self.topology_changed();
        Ok(())
    }

    /// Declares a netdev that carries tunnel packets (the underlay); returns its
    /// datapath port.
    pub fn add_underlay(&mut self, name: &str) -> Result<PortNo, SwitchError> {
        if self.dp_port_named(name).is_some() {
            return Err(SwitchError::PortExists(name.to_string()));
        }
        let dp = self.alloc_dp_port();
        self.dp_ports.insert(
            dp,
            DpPortOwner::Underlay {
                name: name.to_string(),
            },
        );
        self.topology_changed();
        Ok(dp)
    }

    /// Stops treating a netdev as an underlay (its tunnel ports are gone). Routes that
    /// leave through it are removed with it.
    pub fn remove_underlay(&mut self, name: &str) -> Result<PortNo, SwitchError> {
        let dp = self
            .dp_ports
            .iter()
            .find(|(_, o)| matches!(o, DpPortOwner::Underlay { name: n } if n == name))
            .map(|(dp, _)| *dp)
            .ok_or_else(|| SwitchError::NoSuchUnderlay(name.to_string()))?;
        self.dp_ports.remove(&dp);
        self.routes.retain(|_, r| r.port != dp);
        self.topology_changed();
        Ok(dp)
    }

    /// Sets how tunnel packets toward `remote` leave. Setting the route it already has
    /// changes nothing (so a periodic refresh does not flush the caches).
    pub fn set_underlay_route(&mut self, remote: Ipv4Addr, route: UnderlayRoute) {
        if self.routes.insert(remote, route) != Some(route) {
            self.topology_changed();
        }
    }

    /// Forgets the route toward `remote`: tunnel outputs to it send nothing until one is set.
    pub fn remove_underlay_route(&mut self, remote: Ipv4Addr) {
        if self.routes.remove(&remote).is_some() {
            self.topology_changed();
        }
    }

    /// The underlay routes, by remote address.
    pub fn underlay_routes(&self) -> impl Iterator<Item = (Ipv4Addr, &UnderlayRoute)> {
        self.routes.iter().map(|(ip, r)| (*ip, r))
    }

    /// The underlay ports and tunnel ports, as the workers need them to decapsulate.
    pub fn tunnel_map(&self) -> TunnelMap {
        let mut underlays: Vec<PortNo> = self
            .dp_ports
            .iter()
            .filter(|(_, o)| matches!(o, DpPortOwner::Underlay { .. }))
            .map(|(dp, _)| *dp)
            .collect();
        underlays.sort_unstable();
        let tunnels = self
            .bridges
            .values()
            .flat_map(|b| b.ports.values())
            .filter_map(|p| match (p.config.kind.tunnel(), p.dp_port) {
                (Some((kind, t)), Some(port)) => Some(TunnelPort {
                    kind,
                    remote: t.remote_ip,
                    local: t.local_ip,
                    key: match (t.key, kind) {
                        (TunnelKey::Flow, _) => TunnelKeyMatch::Any,
                        (TunnelKey::Fixed(k), _) => TunnelKeyMatch::Exactly(k),
                        (TunnelKey::None, TunnelType::Gre) => TunnelKeyMatch::NoKey,
                        // A VXLAN header always has a VNI: without a key it is 0.
                        (TunnelKey::None, TunnelType::Vxlan) => TunnelKeyMatch::Exactly(0),
                    },
                    port,
                }),
                _ => None,
            })
            .collect();
        TunnelMap { underlays, tunnels }
    }

    // ----- ovs-ofctl -----

    pub fn add_flow(&mut self, bridge: &str, text: &str, now: Time) -> Result<(), SwitchError> {
        self.add_flows(bridge, &[text], now)
    }

    /// Adds every flow, or none of them if any line is bad. Blank lines and `#`
    /// comments are skipped, as in `ovs-ofctl add-flows`.
    pub fn add_flows(
        &mut self,
        bridge: &str,
        lines: &[&str],
        now: Time,
    ) -> Result<(), SwitchError> {
        let parsed = self.parse_lines(bridge, lines, ParseMode::Add)?;
        let bid = self.bridge(bridge)?.id;
        let br = self.bridges.get_mut(&bid).expect("just found");
        for fm in parsed {
            insert_rule(br, fm, now, &mut self.log);
        }
        Ok(())
    }

    fn parse_lines(
        &self,
        bridge: &str,
        lines: &[&str],
        mode: ParseMode,
    ) -> Result<Vec<FlowMod>, SwitchError> {
        let br = self.bridge(bridge)?;
        let many = lines.len() > 1;
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            match parse_flow(t, mode, br) {
                Ok(fm) => out.push(fm),
                Err(error) if many => return Err(SwitchError::FlowLine { line: i + 1, error }),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// `mod-flows [--strict]`: replaces the actions of the selected flows. As in
    /// OpenFlow 1.0, if nothing is selected (and no cookie mask was given) the flow is
    /// added.
    pub fn mod_flows(
        &mut self,
        bridge: &str,
        text: &str,
        strict: bool,
        now: Time,
    ) -> Result<usize, SwitchError> {
        let fm = parse_flow(text, ParseMode::Modify, self.bridge(bridge)?)?;
        let actions = fm
            .actions
            .clone()
            .ok_or_else(|| SwitchError::MissingActions(text.to_string()))?;
        let bid = self.bridge(bridge)?.id;
        let br = self.bridges.get_mut(&bid).expect("just found");
        let ids = select(br, &fm, strict);
        if ids.is_empty() && fm.cookie_mask == 0 {
            insert_rule(br, fm, now, &mut self.log);
        } else {
            for &(t, id) in &ids {
                let r = br.tables[t as usize]
                    .get_mut(id)
                    .expect("selected rule exists");
                r.actions = actions.clone();
                r.modified = now;
                if fm.cookie_mask == 0 && fm.cookie != 0 {
                    r.cookie = fm.cookie;
                }
                self.log.push(Change::RuleModified { bridge: bid, id });
            }
        }
        Ok(ids.len())
    }

    /// `del-flows [--strict] [MATCH]`: without a match, every flow of every table.
    pub fn del_flows(
        &mut self,
        bridge: &str,
        text: Option<&str>,
        strict: bool,
    ) -> Result<usize, SwitchError> {
        let fm = match text {
            Some(t) => parse_flow(t, ParseMode::Delete, self.bridge(bridge)?)?,
            None => FlowMod::default(),
        };
        let bid = self.bridge(bridge)?.id;
        let br = self.bridges.get_mut(&bid).expect("just found");
        let ids = select(br, &fm, strict);
        for &(t, id) in &ids {
            remove_rule(br, t, id, &mut self.log);
        }
        Ok(ids.len())
    }

    /// `replace-flows`: makes the bridge's flows exactly `lines`. Flows that stay the
    /// same keep their counters; nothing changes if any line is bad.
    pub fn replace_flows(
        &mut self,
        bridge: &str,
        lines: &[&str],
        now: Time,
    ) -> Result<(), SwitchError> {
        let parsed = self.parse_lines(bridge, lines, ParseMode::Add)?;
        let bid = self.bridge(bridge)?.id;
        let br = self.bridges.get_mut(&bid).expect("just found");
        // New flows go in in file order (a later line with the same match and priority
        // wins), so rule ids and dumps come out the same every time.
        let mut flows: Vec<Option<FlowMod>> = Vec::new();
        let mut wanted: HashMap<(u8, Match, u16), usize> = HashMap::new();
        for fm in parsed {
            let k = (fm.table.unwrap_or(0), fm.matcher, fm.priority);
            if let Some(&i) = wanted.get(&k) {
                flows[i] = None;
            }
            wanted.insert(k, flows.len());
            flows.push(Some(fm));
        }
        let existing: Vec<(u8, Match, u16, u64)> = br
            .tables
            .iter()
            .flat_map(|t| t.rules())
            .map(|r| (r.table, r.matcher, r.priority, r.id))
            .collect();
        for (table, m, prio, id) in existing {
            let same = wanted.get(&(table, m, prio)).copied().filter(|&i| {
                let fm = flows[i].as_ref().expect("indexed flows are present");
                let r = br.tables[table as usize]
                    .get(id)
                    .expect("listed rule exists");
                Some(&r.actions) == fm.actions.as_ref()
                    && r.cookie == fm.cookie
                    && r.idle_timeout == fm.idle_timeout
                    && r.hard_timeout == fm.hard_timeout
            });
            match same {
                Some(i) => flows[i] = None,
                None => remove_rule(br, table, id, &mut self.log),
            }
        }
        for fm in flows.into_iter().flatten() {
            insert_rule(br, fm, now, &mut self.log);
        }
        Ok(())
    }

    /// `dump-flows [MATCH]`, formatted as ovs-ofctl prints it.
    pub fn dump_flows(
        &self,
        bridge: &str,
        filter: Option<&str>,
        names: bool,
        now: Time,
    ) -> Result<String, SwitchError> {
        let br = self.bridge(bridge)?;
        let rules = self.dump_rules(bridge, filter)?;
        let mut s = String::new();
        for r in rules {
            s.push_str(&format_rule(r, br, names, now));
            s.push('\n');
        }
        Ok(s)
    }

    /// The rules `dump-flows` would show, in its order: table, then priority (high first).
    pub fn dump_rules(
        &self,
        bridge: &str,
        filter: Option<&str>,
    ) -> Result<Vec<&Rule>, SwitchError> {
        let br = self.bridge(bridge)?;
        let fm = match filter {
            Some(t) => parse_flow(t, ParseMode::Dump, br)?,
            None => FlowMod::default(),
        };
        let mut rules: Vec<&Rule> = select(br, &fm, false)
            .into_iter()
            .map(|(t, id)| br.tables[t as usize].get(id).expect("selected rule exists"))
            .collect();
        rules.sort_by_key(|r| (r.table, std::cmp::Reverse(r.priority), r.id));
        Ok(rules)
    }

    /// Removes flows whose idle or hard timeout has passed, and aged MAC entries.
    /// Returns how many flows went.
    pub fn expire(&mut self, now: Time) -> usize {
        let mut n = 0;
        for br in self.bridges.values_mut() {
            br.mac_table.age(now);
            let gone: Vec<(u8, u64)> = br
                .tables
                .iter()
                .flat_map(|t| t.rules())
                .filter(|r| r.expired(now).is_some())
                .map(|r| (r.table, r.id))
                .collect();
            for (table, id) in gone {
                remove_rule(br, table, id, &mut self.log);
                n += 1;
            }
        }
        n
    }

    // ----- the packet path -----

    /// Translates a key without side effects (no learning, no counters).
    pub fn translate(&self, key: &FlowKey, now: Time) -> Translation {
        translate(self, key, now, false).0
    }

    /// `ofproto/trace`: every table, rule and action on the way, and the datapath actions.
    pub fn trace(&self, bridge: &str, packet: &str, now: Time) -> Result<String, SwitchError> {
        let br = self.bridge(bridge)?;
        let fm = parse_flow(packet, ParseMode::Dump, br)?;
        let mut key = fm.matcher.value;
        let of_in = key.in_port;
        let Some(port) = br.port(of_in) else {
            return Err(SwitchError::NoSuchPort {
                bridge: bridge.to_string(),
                port: format!("in_port={of_in}"),
            });
        };
        let Some(dp) = port.dp_port else {
            return Err(SwitchError::BadPortOption(format!(
                "cannot trace from patch port \"{}\": trace from the port where packets enter",
                port.name()
            )));
        };
        key.in_port = dp;
        let (tr, lines) = translate(self, &key, now, true);
        let mut s = String::new();
        let mut shown = key;
        shown.in_port = of_in;
        let _ = writeln!(
            s,
            "Flow: {}",
            format_match(
                &Match {
                    value: shown,
                    mask: relevant_fields(&shown)
                },
                None,
                br,
                true
            )
        );
        s.push('\n');
        for l in lines {
            let _ = writeln!(s, "{l}");
        }
        s.push('\n');
        let mut mega = Match {
            value: key.masked(&tr.consulted),
            mask: tr.consulted,
        };
        mega.value.in_port = of_in;
        mega.mask.in_port = u32::MAX;
        let _ = writeln!(s, "Megaflow: {}", format_match(&mega, None, br, true));
        let acts: Vec<String> = tr
            .actions
            .iter()
            .map(|a| self.format_dp_action(a))
            .collect();
        let _ = writeln!(
            s,
            "Datapath actions: {}",
            if acts.is_empty() {
                "drop".to_string()
            } else {
                acts.join(",")
            }
        );
        Ok(s)
    }

    pub fn format_dp_action(&self, a: &xvs_dataplane::DpAction) -> String {
        use xvs_dataplane::DpAction::*;
        let port = |p: &PortNo| match self.dp_port_name(*p) {
            Some(n) => format!("{p}({n})"),
            None => p.to_string(),
        };
        match a {
            Output(p) => port(p),
            TunnelOutput { port: p, header } => {
                format!("tnl_push({},out_port({}))", header_text(header), port(p))
            }
            other => dp_action_text(other),
        }
    }

    /// Runs one frame through the pipeline as the slow path does for a miss: parse,
    /// translate, learn, count, execute. Returns (datapath port, frame) per output.
    pub fn process(&mut self, in_port: PortNo, frame: &[u8], now: Time) -> Vec<(PortNo, Vec<u8>)> {
        if matches!(
            self.dp_ports.get(&in_port),
            Some(DpPortOwner::Underlay { .. })
        ) {
            return self.receive_underlay(frame, now);
        }
        match FlowKey::extract(in_port, frame) {
            Ok(key) => self.process_key(key, frame, now),
            Err(_) => {
                self.drops.malformed += 1;
                Vec::new()
            }
        }
    }

    fn receive_underlay(&mut self, frame: &[u8], now: Time) -> Vec<(PortNo, Vec<u8>)> {
        let d = match decap_tunnel(frame) {
            Ok(d) => d,
            Err(_) => {
                self.drops.bad_tunnel += 1;
                return Vec::new();
            }
        };
        let Some(tport) = self
            .tunnel_map()
            .lookup_type(d.kind, d.outer_src, d.outer_dst, d.key)
        else {
            self.drops.unknown_tunnel += 1;
            return Vec::new();
        };
        let inner = &frame[d.inner_range()];
        match FlowKey::extract(tport, inner) {
            Ok(mut key) => {
                key.tun_id = d.key.unwrap_or(0) as u64;
                self.process_key(key, inner, now)
            }
            Err(_) => {
                self.drops.malformed += 1;
                Vec::new()
            }
        }
    }

    fn process_key(&mut self, key: FlowKey, frame: &[u8], now: Time) -> Vec<(PortNo, Vec<u8>)> {
        let tr = self.translate(&key, now);
        self.apply_side_effects(&tr, 1, frame.len() as u64, now);
        let mut out = Vec::new();
        let mut f = Frame::with_headroom(frame, DEFAULT_HEADROOM);
        // The pipeline only emits actions the frame supports; an error here is a bug.
        let r = execute(&tr.actions, &mut f, |p, bytes| {
            out.push((p, bytes.to_vec()))
        });
        match r {
            Ok(done) => self.drops.too_big += u64::from(done.too_big),
            Err(e) => debug_assert!(false, "{e:?}"),
        }
        out
    }

    /// What a packet that followed `tr` leaves behind: rule counters, MAC learning and
    /// learned flows. The fast path calls this for the packets of a cached entry too.
    pub fn apply_side_effects(&mut self, tr: &Translation, packets: u64, bytes: u64, now: Time) {
        for &(b, id) in &tr.rules {
            if let Some(br) = self.bridges.get_mut(&b) {
                if let Some(r) = br.tables.iter_mut().find_map(|t| t.get_mut(id)) {
                    r.n_packets += packets;
                    r.n_bytes += bytes;
                    r.last_used = now;
                }
            }
        }
        for &(b, vlan, mac, port) in &tr.macs {
            if let Some(br) = self.bridges.get_mut(&b) {
                br.mac_table.learn(vlan, mac, port, now);
            }
        }
        for lf in &tr.learned {
            self.install_learned(lf, now);
        }
    }

    /// Installs a learned flow, or refreshes it (its hard timeout restarts) if it is
    /// already there.
    fn install_learned(&mut self, lf: &LearnedFlow, now: Time) {
        let Some(br) = self.bridges.get_mut(&lf.bridge) else {
            return;
        };
        let t = &mut br.tables[lf.table as usize];
        if let Some(id) = t.find_exact(&lf.matcher, lf.priority) {
            let r = t.get_mut(id).expect("found rule exists");
            if r.actions == lf.actions {
                r.modified = now;
                return;
            }
        }
        let fm = FlowMod {
            table: Some(lf.table),
            priority: lf.priority,
            cookie: lf.cookie,
            idle_timeout: lf.idle_timeout,
            hard_timeout: lf.hard_timeout,
            matcher: lf.matcher,
            actions: Some(lf.actions.clone()),
            ..FlowMod::default()
        };
        insert_rule(br, fm, now, &mut self.log);
    }
}

fn remove_rule(br: &mut Bridge, table: u8, id: u64, log: &mut ChangeLog) {
    if let Some(r) = br.tables[table as usize].remove(id) {
        log.push(Change::RuleRemoved {
            bridge: br.id,
            table,
            id,
            matcher: r.matcher,
            priority: r.priority,
        });
    }
}

/// Adds (or replaces, counters reset) the rule with this match and priority.
fn insert_rule(br: &mut Bridge, fm: FlowMod, now: Time, log: &mut ChangeLog) {
    let table = fm.table.unwrap_or(0);
    if let Some(old) = br.tables[table as usize].find_exact(&fm.matcher, fm.priority) {
        remove_rule(br, table, old, log);
    }
    log.push(Change::RuleAdded {
        bridge: br.id,
        table,
        matcher: fm.matcher,
        priority: fm.priority,
    });
    let id = br.next_rule_id;
    br.next_rule_id += 1;
    br.tables[table as usize].insert(Rule {
        id,
        table,
        priority: fm.priority,
        matcher: fm.matcher,
        actions: fm.actions.unwrap_or_default(),
        cookie: fm.cookie,
        idle_timeout: fm.idle_timeout,
        hard_timeout: fm.hard_timeout,
        created: now,
        modified: now,
        last_used: now,
        n_packets: 0,
        n_bytes: 0,
    });
}

/// The rules a mod/del/dump selects: in `fm.table` (or all tables), with a match within
/// `fm`'s (strict: equal to it, and the same priority), cookie under mask, and `out_port`.
fn select(br: &Bridge, fm: &FlowMod, strict: bool) -> Vec<(u8, u64)> {
    let mut ids = Vec::new();
    for (i, t) in br.tables.iter().enumerate() {
        if fm.table.is_some_and(|want| want as usize != i) {
            continue;
        }
        if strict {
            if let Some(id) = t.find_exact(&fm.matcher, fm.priority) {
                ids.push((i as u8, id));
            }
            continue;
        }
        for r in t.rules() {
            let cookie_ok = (r.cookie & fm.cookie_mask) == (fm.cookie & fm.cookie_mask);
            let port_ok = fm.out_port.is_none_or(|p| r.outputs_to(p));
            if cookie_ok && port_ok && r.matcher.is_within(&fm.matcher) {
                ids.push((i as u8, r.id));
            }
        }
    }
    if strict {
        ids.retain(|&(t, id)| {
            let r = br.tables[t as usize].get(id).expect("found rule exists");
            (r.cookie & fm.cookie_mask) == (fm.cookie & fm.cookie_mask)
                && fm.out_port.is_none_or(|p| r.outputs_to(p))
        });
    }
    ids
}

/// The fields that mean something for this packet, for showing it: L2 always, the
/// tunnel id when it came from a tunnel, and the IPv4 or ARP fields of its type.
fn relevant_fields(key: &FlowKey) -> FlowKey {
    let mut m = FlowKey {
        in_port: u32::MAX,
        vlan_tci: u16::MAX,
        dl_src: MacAddr::BROADCAST,
        dl_dst: MacAddr::BROADCAST,
        dl_type: u16::MAX,
        ..FlowKey::default()
    };
    if key.tun_id != 0 {
        m.tun_id = u64::MAX;
    }
    match key.dl_type {
        xvs_dataplane::flow_key::ETH_TYPE_IPV4 => {
            (m.nw_src, m.nw_dst, m.nw_proto) = (u32::MAX, u32::MAX, u8::MAX);
        }
        xvs_dataplane::flow_key::ETH_TYPE_ARP => {
            (m.nw_src, m.nw_dst, m.nw_proto) = (u32::MAX, u32::MAX, u8::MAX);
            (m.arp_sha, m.arp_tha) = (MacAddr::BROADCAST, MacAddr::BROADCAST);
        }
        _ => {}
    }
    m
}

/// One line of `ovs-ofctl dump-flows`.
pub fn format_rule(r: &Rule, ports: &dyn PortNames, names: bool, now: Time) -> String {
    let age = |t: Time| now.saturating_sub(t);
    let dur = age(r.created);
    let mut s = format!(
        " cookie={:#x}, duration={}.{:03}s, table={}, n_packets={}, n_bytes={}, ",
        r.cookie,
        dur / 1000,
        dur % 1000,
        r.table,
        r.n_packets,
        r.n_bytes
    );
    if r.idle_timeout != 0 {
        let _ = write!(s, "idle_timeout={}, ", r.idle_timeout);
    }
    if r.hard_timeout != 0 {
        let _ = write!(s, "hard_timeout={}, ", r.hard_timeout);
    }
    let _ = write!(s, "idle_age={}, ", age(r.last_used) / 1000);
    if r.modified != r.created {
        let _ = write!(s, "hard_age={}, ", age(r.modified) / 1000);
    }
    let m = format_match(&r.matcher, Some(r.priority), ports, names);
    if !m.is_empty() {
        s.push_str(&m);
        s.push(' ');
    }
    s.push_str("actions=");
    s.push_str(&format_actions(&r.actions, ports, names));
    s
}

fn header_text(h: &xvs_dataplane::TunnelHeader) -> String {
    let (proto, encap) = match h.kind {
        xvs_dataplane::actions::TunnelKind::Gre { key, csum } => {
            let mut flags = 0u16;
            if csum {
                flags |= 0x8000;
            }
            if key.is_some() {
                flags |= 0x2000;
            }
            let key = key.map(|k| format!(",key={k:#x}")).unwrap_or_default();
            (47, format!("gre((flags={flags:#x},proto=0x6558){key})"))
        }
        xvs_dataplane::actions::TunnelKind::Vxlan { vni, src_port } => (
            17,
            format!("udp(src={src_port},dst=4789,csum=0x0),vxlan(flags=0x8000000,vni={vni:#x})"),
        ),
    };
    format!(
        "header(eth(dst={},src={},dl_type=0x0800),ipv4(src={},dst={},proto={},tos={:#x},ttl={},frag={}),{})",
        h.eth_dst,
        h.eth_src,
        h.ip_src,
        h.ip_dst,
        proto,
        h.tos,
        h.ttl,
        if h.dont_fragment { "0x4000" } else { "0" },
        encap
    )
}

/// Datapath actions in the style of `ovs-dpctl dump-flows`.
pub fn dp_action_text(a: &xvs_dataplane::DpAction) -> String {
    use xvs_dataplane::DpAction::*;
    let vlan = |tci: &u16| format!("vid={},pcp={}", tci & 0x0fff, tci >> 13);
    match a {
        Output(p) => p.to_string(),
        PushVlan(t) => format!("push_vlan({})", vlan(t)),
        PopVlan => "pop_vlan".into(),
        SetVlan(t) => format!("set(vlan({}))", vlan(t)),
        SetEthSrc(m) => format!("set(eth(src={m}))"),
        SetEthDst(m) => format!("set(eth(dst={m}))"),
        SetArpOp(o) => format!("set(arp(op={o}))"),
        SetArpSha(m) => format!("set(arp(sha={m}))"),
        SetArpTha(m) => format!("set(arp(tha={m}))"),
        SetArpSpa(a) => format!("set(arp(sip={a}))"),
        SetArpTpa(a) => format!("set(arp(tip={a}))"),
        SetIpv4Src(a) => format!("set(ipv4(src={a}))"),
        SetIpv4Dst(a) => format!("set(ipv4(dst={a}))"),
        TunnelOutput { port, header } => {
            format!("tnl_push({},out_port({port}))", header_text(header))
        }
    }
}
