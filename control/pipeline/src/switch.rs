//! The switch: its shape ([`Topology`]) and its flow state ([`Ofproto`]) together, and
//! the commands an OVS user knows from `ovs-vsctl` and `ovs-ofctl`, applied to both. It
//! also runs single packets through the whole pipeline, as the slow path does: the
//! reference the fast path's caches must agree with.
//!
//! Nothing here does I/O or reads a clock: time comes in as an argument, packets come in
//! as byte slices and go out as byte vectors, so every behaviour is testable as
//! packets-in, packets-out.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use xvs_dataplane::classify::{classify, ClassifyDrop};
use xvs_dataplane::execute::{execute, FrameBuf, DEFAULT_HEADROOM};
use xvs_dataplane::tunnel::TunnelMap;
use xvs_dataplane::{FlowKey, PortNo};

pub use crate::error::SwitchError;
use crate::ofp::{parse_flow, FlowMod, OfPort, ParseMode};
use crate::ofproto::changes::{Change, ChangeLog};
use crate::ofproto::flow_mods::{FlowModFailure, FlowTableMod};
use crate::ofproto::limits::{FlowLimitStats, TableConfig};
use crate::ofproto::table::{Rule, Time};
pub use crate::ofproto::BridgeOptions;
use crate::ofproto::{BridgeTables, Ofproto};
use crate::port_traffic::PortTrafficTable;
use crate::present;
use crate::present::trace::TraceStyle;
pub use crate::topology::UnderlayRoute;
use crate::topology::{Bridge, BridgeId, MirrorConfig, PortConfig, PortKind, PortVlan, Topology};
use crate::xlate::{translate, DropReason, PipelineDrop, Translation, XlateError};

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
    /// Packets OVS would have sent to a controller by `output:CONTROLLER` (xvs sends
    /// them nowhere).
    pub controller: u64,
    /// Packets whose TTL `dec_ttl` found at 0 or 1 (OVS sends them to the controller).
    pub invalid_ttl: u64,
    /// Packets whose translation went over [`crate::xlate::MAX_DEPTH`] nested
    /// resubmits or patch crossings.
    pub recursion_too_deep: u64,
    /// Packets whose translation went over [`crate::xlate::MAX_RESUBMITS`] resubmits.
    pub too_many_resubmits: u64,
    /// Packets whose translation produced over [`crate::xlate::MAX_ACTIONS`] actions.
    pub too_many_actions: u64,
    /// Packets whose translation asked for over [`crate::xlate::MAX_LEARNED`] flows.
    pub too_many_learned: u64,
    /// Packets dropped because a table lookup found no rule (OVS's table miss).
    pub no_flow: u64,
    /// Packets the flows' actions sent nowhere (`drop`, no actions, NORMAL with nowhere
    /// to go, output only to the input port).
    pub flow_action: u64,
    /// Packets from a datapath port that no bridge has.
    pub bridge_not_found: u64,
}

impl DropStats {
    /// The counter of packets dropped for hitting `bound`.
    pub fn failed(&self, bound: XlateError) -> u64 {
        match bound {
            XlateError::RecursionTooDeep => self.recursion_too_deep,
            XlateError::TooManyResubmits => self.too_many_resubmits,
            XlateError::TooManyActions => self.too_many_actions,
            XlateError::TooManyLearned => self.too_many_learned,
        }
    }

    fn count_failed(&mut self, bound: XlateError, packets: u64) {
        let c = match bound {
            XlateError::RecursionTooDeep => &mut self.recursion_too_deep,
            XlateError::TooManyResubmits => &mut self.too_many_resubmits,
            XlateError::TooManyActions => &mut self.too_many_actions,
            XlateError::TooManyLearned => &mut self.too_many_learned,
        };
        *c += packets;
    }
}

#[derive(Default)]
pub struct Switch {
    topology: Topology,
    ofproto: Ofproto,
    pub drops: DropStats,
    /// Patch and tunnel ports' traffic, every input port's pipeline drops.
    pub port_traffic: PortTrafficTable,
    log: ChangeLog,
    /// Packets and bytes each mirror copied, by bridge and mirror name (OVS's
    /// `Mirror.statistics` `tx_packets`, `tx_bytes`).
    mirror_stats: hashbrown::HashMap<(BridgeId, String), (u64, u64)>,
}

impl Switch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn ofproto(&self) -> &Ofproto {
        &self.ofproto
    }

    // ----- change tracking, for the revalidator -----

    /// Starts (or stops) recording what changes, for [`Switch::take_changes`].
    pub fn track_changes(&mut self, on: bool) {
        self.log.enabled = on;
        for br in self.ofproto.iter_mut() {
            br.mac_table.track = on;
        }
    }

    /// What changed since the last call (with tracking on).
    pub fn take_changes(&mut self) -> Vec<Change> {
        let mut out = self.log.take();
        for br in self.ofproto.iter_mut() {
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

    // ----- lookups -----

    pub fn bridge(&self, name: &str) -> Result<&Bridge, SwitchError> {
        self.topology.bridge(name)
    }

    /// A bridge's flow tables and MAC table, by bridge name.
    pub fn tables(&self, name: &str) -> Result<&BridgeTables, SwitchError> {
        let id = self.topology.bridge(name)?.id;
        Ok(self.ofproto.get(id).expect("every bridge has tables"))
    }

    /// A bridge's tables to change, with the log the change goes in.
    fn tables_mut(
        &mut self,
        name: &str,
    ) -> Result<(&mut BridgeTables, &mut ChangeLog), SwitchError> {
        let id = self.topology.bridge(name)?.id;
        let tables = self.ofproto.get_mut(id).expect("every bridge has tables");
        Ok((tables, &mut self.log))
    }

    pub fn dp_port_named(&self, name: &str) -> Option<PortNo> {
        self.topology.dp_port_named(name)
    }

    pub fn dp_port_name(&self, dp: PortNo) -> Option<&str> {
        self.topology.dp_port_name(dp)
    }

    /// The underlay ports and tunnel ports, as the workers need them to decapsulate.
    pub fn tunnel_map(&self) -> Arc<TunnelMap> {
        self.topology.tunnel_map().clone()
    }

    // ----- ovs-vsctl -----

    /// Adds a bridge that is, as in OVS, a learning switch until flows say otherwise.
    pub fn add_bridge(&mut self, name: &str) -> Result<(), SwitchError> {
        self.add_bridge_with(name, true)
    }

    /// Adds a bridge; `normal`: with `priority=0 actions=NORMAL` (OVS's fail_mode
    /// standalone), else with no flow at all (secure).
    pub fn add_bridge_with(&mut self, name: &str, normal: bool) -> Result<(), SwitchError> {
        let id = self.topology.add_bridge(name)?;
        let mut tables = BridgeTables::new(id);
        if normal {
            let br = self.topology.bridge(name)?;
            let flow = parse_flow("priority=0 actions=NORMAL", ParseMode::Add, br)?;
            // A new bridge's tables have no limits: nothing can refuse this flow.
            let _ = tables.insert(flow, 0, &mut ChangeLog::default());
        }
        tables.mac_table.track = self.log.enabled;
        self.ofproto.insert(tables);
        self.topology_changed();
        Ok(())
    }

    pub fn del_bridge(&mut self, name: &str) -> Result<(), SwitchError> {
        let br = self.topology.del_bridge(name)?;
        self.ofproto.remove(br.id);
        self.port_traffic.remove_bridge(br.id);
        self.topology_changed();
        Ok(())
    }

    /// Empties a bridge's MAC table, or every bridge's (`ovs-appctl fdb/flush
    /// [BRIDGE]`); cached translations that used what it held are invalidated. Returns
    /// how many entries went.
    pub fn flush_macs(&mut self, bridge: Option<&str>) -> Result<usize, SwitchError> {
        match bridge {
            Some(name) => {
                let (tables, _) = self.tables_mut(name)?;
                Ok(tables.mac_table.flush())
            }
            None => Ok(self.ofproto.iter_mut().map(|t| t.mac_table.flush()).sum()),
        }
    }

    /// Sets a bridge's NORMAL options (`other_config:mac-table-size`, `mac-aging-time`,
    /// `forward-bpdu`), forced into OVS's ranges. The MAC table is resized (the least
    /// recently seen entries go) and its entries live by the new aging time at once;
    /// cached translations that depended on the old options are invalidated. Setting
    /// the options a bridge already has changes nothing and invalidates nothing.
    pub fn set_bridge_options(
        &mut self,
        name: &str,
        opts: BridgeOptions,
    ) -> Result<(), SwitchError> {
        let (tables, log) = self.tables_mut(name)?;
        tables.set_options(opts, log);
        Ok(())
    }

    /// Adds a port; returns its OpenFlow number.
    pub fn add_port(&mut self, bridge: &str, config: PortConfig) -> Result<OfPort, SwitchError> {
        let ofport = self.topology.add_port(bridge, config)?;
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

    /// Gives a port another VLAN configuration (`tag`, `trunks`, `vlan_mode`,
    /// `priority-tags`) in place, as ovs-vswitchd reconfigures a bundle: the port keeps
    /// its OpenFlow and datapath numbers (its netdev stays attached); the MAC addresses
    /// learned on it are forgotten (OVS's bundle_set flushes them when the VLAN
    /// configuration changes), and cached translations go.
    pub fn set_port_vlan(
        &mut self,
        bridge: &str,
        name: &str,
        vlan: PortVlan,
    ) -> Result<(), SwitchError> {
        let (id, ofport, changed) = self.topology.set_port_vlan(bridge, name, vlan)?;
        if changed {
            if let Some(tables) = self.ofproto.get_mut(id) {
                tables.mac_table.flush_port(ofport);
            }
            self.topology_changed();
        }
        Ok(())
    }

    /// Gives a bridge its mirrors (the `Mirror` rows of `Bridge.mirrors`), as OVS's
    /// bridge_configure_mirrors: returns the mirrors refused and the selected ports
    /// skipped, for the log; the others are in effect. When the mirrors in effect change,
    /// cached translations go (their copies, or the lack of them, are stale).
    pub fn set_mirrors(
        &mut self,
        bridge: &str,
        configs: Vec<MirrorConfig>,
    ) -> Result<crate::topology::mirror::Resolved, SwitchError> {
        let (resolved, changed) = self.topology.set_mirrors(bridge, configs)?;
        if changed {
            self.topology_changed();
        }
        // A mirror keeps its counts while it exists (by name), as OVS's does.
        let id = self.topology.bridge(bridge)?.id;
        let names: Vec<&str> = resolved.mirrors.iter().map(|m| m.name.as_str()).collect();
        self.mirror_stats
            .retain(|(b, n), _| *b != id || names.contains(&n.as_str()));
        Ok(resolved)
    }

    /// What each mirror in effect on `bridge` copied: (name, packets, bytes).
    pub fn mirror_stats(&self, bridge: &str) -> Result<Vec<(String, u64, u64)>, SwitchError> {
        let br = self.topology.bridge(bridge)?;
        Ok(br
            .mirrors
            .mirrors
            .iter()
            .map(|m| {
                let (p, b) = self
                    .mirror_stats
                    .get(&(br.id, m.name.clone()))
                    .copied()
                    .unwrap_or_default();
                (m.name.clone(), p, b)
            })
            .collect())
    }

    pub fn del_port(&mut self, bridge: &str, name: &str) -> Result<(), SwitchError> {
        let (id, port) = self.topology.del_port(bridge, name)?;
        self.port_traffic.remove_port(id, port.ofport);
        if let Some(tables) = self.ofproto.get_mut(id) {
            tables.mac_table.flush_port(port.ofport);
        }
        self.topology_changed();
        Ok(())
    }

    /// Declares a netdev that carries tunnel packets (the underlay); returns its
    /// datapath port.
    pub fn add_underlay(&mut self, name: &str) -> Result<PortNo, SwitchError> {
        let dp = self.topology.add_underlay(name)?;
        self.topology_changed();
        Ok(dp)
    }

    /// Stops treating a netdev as an underlay (its tunnel ports are gone). Routes that
    /// leave through it are removed with it.
    pub fn remove_underlay(&mut self, name: &str) -> Result<PortNo, SwitchError> {
        let dp = self.topology.remove_underlay(name)?;
        self.topology_changed();
        Ok(dp)
    }

    /// Sets how tunnel packets toward `remote` leave. Setting the route it already has
    /// changes nothing (so a periodic refresh does not flush the caches).
    pub fn set_underlay_route(&mut self, remote: Ipv4Addr, route: UnderlayRoute) {
        if self.topology.set_underlay_route(remote, route) {
            self.topology_changed();
        }
    }

    /// Forgets the route toward `remote`: tunnel outputs to it send nothing until one is set.
    pub fn remove_underlay_route(&mut self, remote: Ipv4Addr) {
        if self.topology.remove_underlay_route(remote) {
            self.topology_changed();
        }
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
        let (tables, log) = self.tables_mut(bridge)?;
        tables
            .add_flows(parsed, now, log)
            .map_err(|e| flow_mod_error(bridge, e))
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
        if fm.actions.is_none() {
            return Err(SwitchError::MissingActions(text.to_string()));
        }
        let (tables, log) = self.tables_mut(bridge)?;
        tables
            .mod_flows(fm, strict, now, log)
            .map_err(|e| flow_mod_error(bridge, e))
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
        let (tables, log) = self.tables_mut(bridge)?;
        Ok(tables.del_flows(&fm, strict, log))
    }

    /// `replace-flows`: makes the bridge's flows exactly `lines`. Flows that stay the
    /// same keep their counters; nothing changes if any line is bad. Returns how many
    /// flows were added, removed, modified and kept.
    pub fn replace_flows(
        &mut self,
        bridge: &str,
        lines: &[&str],
        now: Time,
    ) -> Result<crate::ofproto::ReplaceSummary, SwitchError> {
        let parsed = self.parse_lines(bridge, lines, ParseMode::Add)?;
        let (tables, log) = self.tables_mut(bridge)?;
        tables
            .replace_flows(parsed, now, log)
            .map_err(|e| flow_mod_error(bridge, e))
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
        Ok(present::flows::dump_flows_text(&rules, br, names, now))
    }

    /// The rules `dump-flows` would show, in its order: table, then priority (high first).
    pub fn dump_rules(
        &self,
        bridge: &str,
        filter: Option<&str>,
    ) -> Result<Vec<&Rule>, SwitchError> {
        let fm = match filter {
            Some(t) => parse_flow(t, ParseMode::Dump, self.bridge(bridge)?)?,
            None => FlowMod::default(),
        };
        Ok(self.tables(bridge)?.dump_rules(&fm))
    }

    // ----- OpenFlow connections -----

    /// One flow-table command as a FLOW_MOD carries it: how many flows it added,
    /// changed or removed, or why it was refused (then it changed nothing).
    pub fn flow_mod(
        &mut self,
        bridge: &str,
        m: FlowTableMod,
        now: Time,
    ) -> Result<Result<usize, FlowModFailure>, SwitchError> {
        let (tables, log) = self.tables_mut(bridge)?;
        Ok(tables.apply_mod(m, now, log))
    }

    /// Every command or none (a bundle's commit): on a refusal nothing is applied and
    /// the index of the refused command comes back.
    pub fn flow_mods_atomic(
        &mut self,
        bridge: &str,
        mods: Vec<FlowTableMod>,
        now: Time,
    ) -> Result<Result<Vec<usize>, (usize, FlowModFailure)>, SwitchError> {
        let (tables, log) = self.tables_mut(bridge)?;
        Ok(tables.apply_mods_atomic(mods, now, log))
    }

    // ----- flow-table limits -----

    /// Applies a bridge's `Flow_Table` rows, by table: a table not named has no limit.
    pub fn configure_tables(
        &mut self,
        bridge: &str,
        configs: &BTreeMap<u8, TableConfig>,
    ) -> Result<(), SwitchError> {
        let (tables, log) = self.tables_mut(bridge)?;
        let had: Vec<u8> = tables.limits.configs.keys().copied().collect();
        for t in had {
            if !configs.contains_key(&t) {
                tables.configure_table(t, TableConfig::default(), log);
            }
        }
        for (&t, cfg) in configs {
            tables.configure_table(t, cfg.clone(), log);
        }
        Ok(())
    }

    /// Sets the ceiling on a bridge's learned flows in tables without a `flow_limit`
    /// (by default
    /// [`crate::ofproto::limits::DEFAULT_LEARNED_LIMIT`]); learned flows over it stay until they go.
    pub fn set_learned_limit(&mut self, bridge: &str, limit: usize) -> Result<(), SwitchError> {
        let (tables, _) = self.tables_mut(bridge)?;
        tables.limits.learned_limit = limit;
        Ok(())
    }

    /// What every bridge's flow-table limits refused and evicted, in all.
    pub fn flow_limit_stats(&self) -> FlowLimitStats {
        let mut total = FlowLimitStats::default();
        for t in self.ofproto.iter() {
            total += t.limits.stats;
        }
        total
    }

    /// Puts `bridge` in fail-open mode (a hidden rule sends everything to NORMAL) or
    /// takes it out; returns whether that changed anything.
    pub fn set_fail_open(&mut self, bridge: &str, on: bool) -> Result<bool, SwitchError> {
        let (tables, log) = self.tables_mut(bridge)?;
        Ok(tables.set_fail_open(on, log))
    }

    /// Removes every flow of `bridge` (not a hidden rule); returns how many went.
    pub fn flush_flows(&mut self, bridge: &str) -> Result<usize, SwitchError> {
        self.del_flows(bridge, None, false)
    }

    /// Removes flows whose idle or hard timeout has passed, and aged MAC entries.
    /// Returns how many flows went.
    pub fn expire(&mut self, now: Time) -> usize {
        let log = &mut self.log;
        self.ofproto.iter_mut().map(|t| t.expire(now, log)).sum()
    }

    // ----- the packet path -----

    /// Translates a key without side effects (no learning, no counters).
    pub fn translate(&self, key: &FlowKey, now: Time) -> Translation {
        translate(&self.topology, &self.ofproto, key, now, false).0
    }

    /// `ofproto/trace BRIDGE FLOW` as `xvsctl trace` prints it (names everywhere).
    pub fn trace(&self, bridge: &str, packet: &str, now: Time) -> Result<String, SwitchError> {
        self.trace_styled(bridge, packet, None, TraceStyle::XVSCTL, now)
    }

    /// `ofproto/trace BRIDGE FLOW [PACKET]`: the translation of the packet `flow`
    /// describes (OpenFlow syntax, `in_port` required) entering `bridge`, or, with
    /// `packet`, of that frame's own fields entering where `flow` says (its `in_port`
    /// and `tun_id`; the rest of `flow` is not looked at, as OVS takes only the
    /// metadata from it). Nothing is learned and nothing counted.
    pub fn trace_styled(
        &self,
        bridge: &str,
        flow: &str,
        packet: Option<&[u8]>,
        style: TraceStyle,
        now: Time,
    ) -> Result<String, SwitchError> {
        let br = self.bridge(bridge)?;
        let fm = parse_flow(flow, ParseMode::Dump, br)?;
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
        if let Some(frame) = packet {
            let tun_id = key.tun_id;
            key = FlowKey::extract(dp, frame)
                .map_err(|_| SwitchError::BadPacket("Packet data too short for Ethernet".into()))?;
            key.tun_id = tun_id;
        }
        key.in_port = dp;
        let (tr, steps) = translate(&self.topology, &self.ofproto, &key, now, true);
        Ok(present::trace::trace_text_styled(
            &self.topology,
            br,
            &key,
            of_in,
            &tr,
            &steps,
            style,
        ))
    }

    /// Runs one frame through the pipeline as the slow path does for a miss: classify
    /// (as the workers do), translate, learn, count, execute. Returns (datapath port,
    /// frame) per output.
    pub fn process(&mut self, in_port: PortNo, frame: &[u8], now: Time) -> Vec<(PortNo, Vec<u8>)> {
        match classify(in_port, frame, self.topology.tunnel_map()) {
            Ok(c) => self.process_key(c.key, &frame[c.inner], now),
            Err(drop) => {
                match drop {
                    ClassifyDrop::Malformed(_) => self.drops.malformed += 1,
                    ClassifyDrop::BadTunnel(_) => self.drops.bad_tunnel += 1,
                    ClassifyDrop::UnknownTunnel { .. } => self.drops.unknown_tunnel += 1,
                }
                Vec::new()
            }
        }
    }

    fn process_key(&mut self, key: FlowKey, frame: &[u8], now: Time) -> Vec<(PortNo, Vec<u8>)> {
        let tr = self.translate(&key, now);
        self.apply_side_effects(&tr, 1, frame.len() as u64, now);
        let mut out = Vec::new();
        let mut f = FrameBuf::with_headroom(frame, DEFAULT_HEADROOM);
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
    /// learned flows. The revalidator calls this for the packets of a cached entry too.
    pub fn apply_side_effects(&mut self, tr: &Translation, packets: u64, bytes: u64, now: Time) {
        // A drop is counted for every packet, cached or not, by its reason (a failed
        // translation by its bound; what went to a controller below).
        match tr.drop_reason() {
            Some(PipelineDrop::Failed(e)) => self.drops.count_failed(e, packets),
            Some(PipelineDrop::NoFlow) => self.drops.no_flow += packets,
            Some(PipelineDrop::FlowAction) => self.drops.flow_action += packets,
            Some(PipelineDrop::BridgeNotFound) => self.drops.bridge_not_found += packets,
            Some(PipelineDrop::Controller) | None => {}
        }
        let topo = &self.topology;
        self.port_traffic.credit(tr, packets, bytes, |b, p| {
            topo.bridge_by_id(b).is_some_and(|br| br.port(p).is_some())
        });
        for &(b, id) in &tr.rules {
            if let Some(tables) = self.ofproto.get_mut(b) {
                tables.credit(id, packets, bytes, now);
            }
        }
        for &(b, mask) in &tr.mirrors {
            let Some(br) = self.topology.bridge_by_id(b) else {
                continue;
            };
            for (i, m) in br.mirrors.mirrors.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    let s = self.mirror_stats.entry((b, m.name.clone())).or_default();
                    s.0 += packets;
                    s.1 += bytes;
                }
            }
        }
        for &(b, vlan, mac, port) in &tr.macs {
            if let Some(tables) = self.ofproto.get_mut(b) {
                tables.mac_table.learn(vlan, mac, port, now);
            }
        }
        for lf in &tr.learned {
            if let Some(tables) = self.ofproto.get_mut(lf.bridge) {
                tables.install_learned(lf, now, &mut self.log);
            }
        }
        for why in &tr.to_controller {
            match why {
                DropReason::InvalidTtl { .. } => self.drops.invalid_ttl += packets,
                _ => self.drops.controller += packets,
            }
        }
    }
}

fn flow_mod_error(bridge: &str, error: FlowModFailure) -> SwitchError {
    SwitchError::FlowMod {
        bridge: bridge.to_string(),
        error,
    }
}
