//! Translation: runs a packet's key through the OpenFlow pipeline of every bridge it
//! crosses and compiles the outcome into datapath actions.
//!
//! Two copies of the packet's fields are kept, as in OVS's xlate: `flow`, what the
//! pipeline currently believes (changed by every action), and `packet`, what the datapath
//! frame will look like after the actions emitted so far. Field changes are emitted
//! ("committed") only when the frame leaves through a port, so that `mod_vlan_vid` then
//! `strip_vlan` costs nothing, and a flood to several ports with different tags emits one
//! change per port.
//!
//! The result carries the fields of the original key the outcome depended on
//! (`consulted`): the fast path may reuse the actions for every packet equal to this one
//! on those fields.
//!
//! Every translation is bounded (`bounds.rs`): past a bound it stops and the packet is
//! dropped. The rest is split by job: `actions.rs` what each action does, `commit.rs`
//! the field changes emitted at an output, `normal.rs` NORMAL.

use std::net::Ipv4Addr;

use xvs_dataplane::actions::TunnelKind;
use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::{DpAction, FlowKey, MacAddr, Tpid, TunnelHeader};

use crate::ofp::{
    Action, Match, OfPort, OFPP_ALL, OFPP_CONTROLLER, OFPP_FLOOD, OFPP_IN_PORT, OFPP_NORMAL,
    OFPP_TABLE,
};
use crate::ofproto::table::{RuleId, Time};
use crate::ofproto::{BridgeTables, LearnedFlow, Ofproto};
use crate::port_traffic::{Direction, PortCrossing};
use crate::topology::{Bridge, BridgeId, PortKind, Topology, TunnelKey};
use xvs_dataplane::PortNo;

mod actions;
mod bounds;
mod commit;
mod mirror;
mod normal;

pub use bounds::{XlateError, MAX_ACTIONS, MAX_DEPTH, MAX_LEARNED, MAX_RESUBMITS};
pub use normal::is_reserved_mac;

/// What the pipeline does after an action.
enum Step {
    Next,
    /// The rule's actions end here (`dec_ttl` on an expiring TTL).
    Stop,
    /// Translation continues in this table (`goto_table`).
    Goto(u8),
}

/// One step of a traced translation, for `ofproto/trace`: what happened, in which
/// bridge, at which resubmit/patch depth. [`crate::present`] turns steps into text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStep {
    pub depth: u32,
    /// The bridge the step happened in (0 before any bridge was found).
    pub bridge: BridgeId,
    pub event: TraceEvent,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// The packet enters this bridge's pipeline.
    Bridge,
    /// A table lookup found this rule.
    Rule {
        table: u8,
        matcher: Match,
        priority: u16,
        cookie: u64,
    },
    /// A table lookup found nothing: the packet is dropped there.
    NoMatch {
        table: u8,
    },
    /// The rule found has no actions.
    NoActions,
    Action(Action),
    /// A `learn` action asks for this flow.
    Learn(LearnedFlow),
    /// NORMAL learned where a source MAC is.
    MacLearned {
        mac: MacAddr,
        port: OfPort,
        vlan: u16,
    },
    /// NORMAL knows where the destination is.
    MacForward {
        port: OfPort,
    },
    /// NORMAL does not know the destination.
    Flood {
        vlan: u16,
    },
    /// Nothing sent, and why.
    Dropped(DropReason),
    /// The translation hit a bound: it stops here and the packet is dropped.
    Failed(XlateError),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    NoBridgeForDpPort(PortNo),
    SecondVlanTag,
    ReservedPort,
    OutputToInputPort,
    NoSuchPort(OfPort),
    NoUnderlayRoute(Ipv4Addr),
    NoPatchPeer(String),
    NormalInPortNotOnBridge,
    /// A VLAN ethertype with no (whole) tag.
    NormalPartialVlanTag,
    NormalTaggedOnAccessPort(u16),
    NormalVlanNotTrunked(u16),
    NormalDestinationIsInPort,
    /// The packet came in on a mirror's output port, which is reserved for mirroring
    /// (OVS drops it before the tables).
    InputIsMirrorOutput(String),
    /// NORMAL on a frame from a mirror's output port (only a patch crossing gets there).
    NormalInputIsMirrorOutput,
    /// NORMAL learned the destination on a mirror's output port.
    NormalLearnedPortIsMirrorOutput,
    /// A reserved destination ([`is_reserved_mac`]) on a bridge without `forward-bpdu`.
    NormalReservedDestination(MacAddr),
    /// `CONTROLLER` (any form): OVS sends a packet-in; xvs has no packet channel, so
    /// nothing is sent (counted in [`Translation::to_controller`]).
    Controller,
    /// `dec_ttl` on a packet whose TTL (hop limit) is 0 or 1: OVS sends it to the
    /// controller and stops the rule's actions; xvs stops them and sends nothing
    /// (counted in [`Translation::to_controller`]).
    InvalidTtl {
        ipv6: bool,
    },
    /// `goto_table` to a table not after the current one (only a flow not checked as
    /// flow text can have it): nothing more is done.
    GotoTableNotForward {
        from: u8,
        to: u8,
    },
}

/// The outcome of translating one packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Translation {
    /// What the datapath does to the frame; empty means drop.
    pub actions: Vec<DpAction>,
    /// The bits of the input key the actions depend on (always in_port, tun_id, the VLAN
    /// TCI and dl_dst, plus whatever the tables, NORMAL, `move` and `learn` looked at).
    pub consulted: FlowKey,
    /// Every rule the packet hit, to be credited with its packets and bytes.
    pub rules: Vec<(BridgeId, RuleId)>,
    /// (bridge, vlan, mac, ofport) that NORMAL learned from the packet: to refresh on
    /// every packet a cached entry forwards, as OVS's xlate cache does.
    pub macs: Vec<(BridgeId, u16, MacAddr, OfPort)>,
    /// Flows that `learn` actions install (again, for every packet).
    pub learned: Vec<LearnedFlow>,
    /// Tunnel remotes without a resolved underlay route: the packet was not sent there.
    pub unresolved: Vec<Ipv4Addr>,
    /// Every table lookup: (bridge, table, the fields as they were at that lookup). A
    /// rule added later that matches one of these may change the outcome.
    pub lookups: Vec<(BridgeId, u8, FlowKey)>,
    /// Every MAC table lookup NORMAL made: (bridge, vlan, destination).
    pub mac_lookups: Vec<(BridgeId, u16, MacAddr)>,
    /// What OVS would have sent to a controller (`output:CONTROLLER`, `dec_ttl` with TTL
    /// 0 or 1), which xvs drops: one entry per occurrence, counted per packet.
    pub to_controller: Vec<DropReason>,
    /// The bound the translation hit, if it did: then `actions` is empty (a drop, to be
    /// counted for every packet) and the translation taught nothing (no MACs, no
    /// learned flows, nothing for a controller). The rules it went through are still
    /// credited, and its lookups kept, so that a change to them brings the packet back.
    pub error: Option<XlateError>,
    /// Table lookups that found no rule (OVS's table miss: the packet goes no further
    /// there). Tells why a translation with no actions dropped its packet.
    pub table_misses: u32,
    /// The packet came in on a datapath port no bridge has (OVS's
    /// `drop_action_bridge_not_found`).
    pub no_bridge: bool,
    /// The bridge port the packet entered by (`None` with `no_bridge`): a drop counts
    /// there.
    pub input: Option<(BridgeId, OfPort)>,
    /// The patch and tunnel ports the packet crossed, to be credited with its packets
    /// and bytes (OVS's `XC_NETDEV`; see [`crate::port_traffic`]).
    pub crossings: Vec<PortCrossing>,
    /// The mirrors that got a copy: (bridge, mask of the bridge's mirrors), to be
    /// credited with every packet (`Mirror.statistics`), as OVS's xlate cache does.
    pub mirrors: Vec<(BridgeId, u32)>,
}

/// Why a translation drops its packet, when it does (no actions): what `coverage/show`
/// counts it as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineDrop {
    /// A bound of the translation was hit.
    Failed(XlateError),
    /// No bridge has the input port.
    BridgeNotFound,
    /// A table lookup found no rule (and nothing else sent the packet anywhere).
    NoFlow,
    /// Only to a controller, which xvs does not have (counted there).
    Controller,
    /// The rules' actions sent it nowhere: `drop`, no actions, NORMAL with nowhere to
    /// go, output to the input port, ...
    FlowAction,
}

impl Translation {
    /// Why this translation drops its packet; `None` when it sends it somewhere.
    pub fn drop_reason(&self) -> Option<PipelineDrop> {
        if let Some(e) = self.error {
            return Some(PipelineDrop::Failed(e));
        }
        if !self.actions.is_empty() {
            return None;
        }
        Some(if self.no_bridge {
            PipelineDrop::BridgeNotFound
        } else if !self.to_controller.is_empty() {
            PipelineDrop::Controller
        } else if self.table_misses > 0 {
            PipelineDrop::NoFlow
        } else {
            PipelineDrop::FlowAction
        })
    }

    /// The mask a cache entry for this translation is keyed by: `consulted` without the
    /// pipeline's own state (`metadata` and the registers start at zero for every packet
    /// and are only ever what the consulted fields and the rules made them).
    pub fn cache_mask(&self) -> FlowKey {
        FlowKey {
            metadata: 0,
            regs: [0; 16],
            ..self.consulted
        }
    }
}

struct Ctx<'a> {
    topo: &'a Topology,
    ofproto: &'a Ofproto,
    now: Time,
    bridge: &'a Bridge,
    tables: &'a BridgeTables,
    table: u8,
    flow: FlowKey,
    packet: FlowKey,
    /// The TPID of `flow`'s tag, which the key does not hold: `Received` while it is the
    /// tag the frame came with, `None` when no TPID was chosen (OVS's 0: untagged, or
    /// stripped), so that a tag pushed by `mod_vlan_vid`, NORMAL or a load gets 0x8100.
    flow_tpid: Option<Tpid>,
    /// The TPID of the frame's tag after the actions emitted so far.
    packet_tpid: Tpid,
    /// Fields written by actions and not yet committed to the frame.
    dirty: FlowKey,
    /// Fields the frame has had written, ever.
    committed: FlowKey,
    depth: u32,
    out: Translation,
    trace: Option<Vec<TraceStep>>,
    /// The UDP source port of VXLAN packets sent for this packet.
    vxlan_src_port: u16,
    /// Lookups that found a rule after the first (OVS's `resubmits`).
    resubmits: u32,
    /// The bound hit: nothing more is done.
    error: Option<XlateError>,
    /// The mirrors of the current bridge that have had their copy (OVS's
    /// `ctx->mirrors`): each sends a packet once.
    mirrored: u32,
}

/// A VXLAN source port in 49152..=65535 (RFC 7348) that spreads inner flows over the
/// underlay's ECMP paths and RSS queues. It hashes only fields every cache key holds
/// (`base_consulted`), so a cache hit sends exactly the port the slow path chose.
fn vxlan_src_port(key: &FlowKey) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |v: u64| {
        h ^= v;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        h ^= h >> 29;
    };
    mix(u64::from(key.in_port));
    mix(key.tun_id);
    mix(u64::from(key.vlan_tci));
    mix(key.dl_dst.to_u64());
    49152 + (h % 16384) as u16
}

/// Removes repeated elements, keeping the first of each in place.
fn dedup<T: Copy + Eq + std::hash::Hash>(v: &mut Vec<T>) {
    let mut seen = hashbrown::HashSet::with_capacity(v.len());
    v.retain(|x| seen.insert(*x));
}

/// The always-consulted part of a key: what the fast path's cache is keyed by at least.
pub fn base_consulted() -> FlowKey {
    FlowKey {
        in_port: u32::MAX,
        tun_id: u64::MAX,
        vlan_tci: u16::MAX,
        dl_dst: MacAddr::BROADCAST,
        ..Default::default()
    }
}

/// Translates `key` (whose `in_port` is a datapath port) starting in table 0 of the
/// bridge that owns that port. With `trace`, every step on the way is returned too.
pub fn translate(
    topo: &Topology,
    ofproto: &Ofproto,
    key: &FlowKey,
    now: Time,
    trace: bool,
) -> (Translation, Vec<TraceStep>) {
    let owner = topo
        .dp_port_owner(key.in_port)
        .and_then(|(b, of)| Some((b, ofproto.get(b.id)?, of)));
    let Some((bridge, tables, ofport)) = owner else {
        let steps = vec![TraceStep {
            depth: 0,
            bridge: 0,
            event: TraceEvent::Dropped(DropReason::NoBridgeForDpPort(key.in_port)),
        }];
        let out = Translation {
            consulted: base_consulted(),
            no_bridge: true,
            ..Default::default()
        };
        return (out, if trace { steps } else { Vec::new() });
    };
    let mut ctx = Ctx::new(topo, ofproto, now, bridge, tables, key, ofport);
    ctx.out.input = Some((bridge.id, ofport));
    // A tunnel port counts the frames decapsulated from it (OVS's `netdev_vport_inc_rx`).
    if bridge
        .port(ofport)
        .is_some_and(|p| matches!(p.config.kind, PortKind::Gre(_) | PortKind::Vxlan(_)))
    {
        ctx.out.crossings.push(PortCrossing {
            bridge: bridge.id,
            ofport,
            direction: Direction::Rx,
        });
    }
    ctx.trace = trace.then(Vec::new);
    ctx.trace_bridge_header();
    // As OVS's xlate_actions: a mirror's output port receives nothing; any other port's
    // packet gets its ingress mirrors' copies before the tables run.
    if bridge.mirrors.is_output(ofport) {
        let name = bridge.port(ofport).map(|p| p.name().to_string());
        ctx.dropped(|| DropReason::InputIsMirrorOutput(name.unwrap_or_default()));
        return ctx.finish();
    }
    ctx.mirror_ingress(ofport);
    ctx.run_tables(0, false);
    ctx.finish()
}

impl<'a> Ctx<'a> {
    /// A context for `key` (whose `in_port` is a datapath port) entering `bridge` at its
    /// OpenFlow port `ofport`, with nothing done yet.
    fn new(
        topo: &'a Topology,
        ofproto: &'a Ofproto,
        now: Time,
        bridge: &'a Bridge,
        tables: &'a BridgeTables,
        key: &FlowKey,
        ofport: OfPort,
    ) -> Self {
        let mut flow = *key;
        flow.in_port = ofport;
        Ctx {
            topo,
            ofproto,
            now,
            bridge,
            tables,
            table: 0,
            flow,
            packet: flow,
            flow_tpid: (key.vlan_tci & VLAN_PRESENT != 0).then_some(Tpid::Received),
            packet_tpid: Tpid::Received,
            dirty: FlowKey::default(),
            committed: FlowKey::default(),
            depth: 0,
            out: Translation {
                consulted: base_consulted(),
                ..Default::default()
            },
            trace: None,
            vxlan_src_port: vxlan_src_port(key),
            resubmits: 0,
            error: None,
            mirrored: 0,
        }
    }

    /// The translation and its trace, once the pipeline has run.
    fn finish(mut self) -> (Translation, Vec<TraceStep>) {
        let lines = self.trace.take().unwrap_or_default();
        let mut out = self.out;
        if let Some(e) = self.error {
            // A failed translation is a drop and teaches nothing: what it did before
            // the bound is a part of an outcome that does not exist. Its rules are
            // credited once each.
            out.error = Some(e);
            out.actions = Vec::new();
            out.macs = Vec::new();
            out.learned = Vec::new();
            out.unresolved = Vec::new();
            out.to_controller = Vec::new();
            out.mirrors = Vec::new();
            // It went nowhere: only the tunnel it came from still counts it (OVS counts a
            // tunnel's rx whatever the translation's outcome).
            out.crossings.retain(|c| {
                c.direction == Direction::Rx && Some((c.bridge, c.ofport)) == out.input
            });
            dedup(&mut out.rules);
        }
        // A cached translation keeps its lookups for as long as it is cached (to be
        // checked against new rules), and a resubmit tree repeats the same ones: only
        // distinct ones are kept. Few lookups are the rule, and need no work.
        if out.lookups.len() > 8 {
            dedup(&mut out.lookups);
        }
        // A rule matching on metadata or a register consults pipeline state, not the
        // packet: every packet's key has them zero (a register loaded from a packet
        // field had that field consulted by the load), so they tell no two packets
        // apart, and the cache is keyed by packet fields only.
        out.consulted = out.consulted.packet_fields();
        (out, lines)
    }

    fn note(&mut self, event: impl FnOnce() -> TraceEvent) {
        if let Some(t) = self.trace.as_mut() {
            t.push(TraceStep {
                depth: self.depth,
                bridge: self.bridge.id,
                event: event(),
            });
        }
    }

    fn dropped(&mut self, why: impl FnOnce() -> DropReason) {
        self.note(|| TraceEvent::Dropped(why()));
    }

    fn trace_bridge_header(&mut self) {
        self.note(|| TraceEvent::Bridge);
    }

    /// A resubmit or a patch crossing: looks `table` up and runs the rule found, within
    /// the translation's bounds.
    fn lookup_and_run(&mut self, table: u8) {
        if self.may_resubmit() {
            self.run_tables(table, true);
        }
    }

    /// Looks `table` up and runs the rule found; a `goto_table` at its end continues in
    /// the next table here, as a tail jump (nothing of the rule is left to run).
    /// `counted`: the lookup is a resubmit (every one is but the translation's first).
    fn run_tables(&mut self, table: u8, mut counted: bool) {
        let (saved_table, saved_depth) = (self.table, self.depth);
        let mut next = Some(table);
        let mut first = true;
        while let Some(table) = next.take() {
            // As OVS's trace shows them, the tables a goto_table chain reaches are one
            // level under the table it started from. Each is a resubmit for the bounds.
            if !first {
                // Checked at the depth the chain started from: goto_table goes forward
                // only, so it does not deepen a loop (OVS counts it only as a resubmit).
                self.depth = saved_depth;
                if !self.may_resubmit() {
                    break;
                }
                self.depth = saved_depth + 1;
                counted = true;
            }
            first = false;
            let Some(ft) = self.tables.tables.get(table as usize) else {
                break;
            };
            self.table = table;
            self.out.lookups.push((self.bridge.id, table, self.flow));
            match ft.lookup(&self.flow, &mut self.out.consulted) {
                Some(rule) => {
                    // As OVS's xlate_recursively: a resubmit is counted when it finds a
                    // rule.
                    if counted {
                        self.resubmits += 1;
                    }
                    self.out.rules.push((self.bridge.id, rule.id));
                    self.note(|| TraceEvent::Rule {
                        table,
                        matcher: rule.matcher,
                        priority: rule.priority,
                        cookie: rule.cookie,
                    });
                    let actions: &'a [Action] = &rule.actions;
                    if actions.is_empty() {
                        self.note(|| TraceEvent::NoActions);
                    }
                    next = self.run(actions);
                }
                None => {
                    self.out.table_misses += 1;
                    self.note(|| TraceEvent::NoMatch { table })
                }
            }
        }
        self.table = saved_table;
        self.depth = saved_depth;
    }

    /// Runs a rule's actions; returns the table a `goto_table` continues in.
    fn run(&mut self, actions: &'a [Action]) -> Option<u8> {
        for a in actions {
            if self.error.is_some() {
                return None;
            }
            self.note(|| TraceEvent::Action(a.clone()));
            let step = self.run_one(a);
            self.check_produced();
            if self.error.is_some() {
                return None;
            }
            match step {
                Step::Next => {}
                Step::Stop => return None,
                Step::Goto(t) => return Some(t),
            }
        }
        None
    }

    fn output(&mut self, p: OfPort) {
        match p {
            OFPP_IN_PORT => {
                let in_port = self.flow.in_port;
                self.output_to_port(in_port);
            }
            OFPP_NORMAL => self.normal(),
            OFPP_FLOOD | OFPP_ALL => {
                let in_port = self.flow.in_port;
                let bridge = self.bridge;
                for &q in bridge.ports.keys() {
                    if q != in_port {
                        self.output_to_port(q);
                    }
                }
            }
            OFPP_CONTROLLER => self.punt_to_controller(DropReason::Controller),
            OFPP_TABLE => {
                self.dropped(|| DropReason::ReservedPort);
            }
            // LOCAL is the bridge's own interface, a port like the others when it exists.
            p if p == self.flow.in_port => {
                self.dropped(|| DropReason::OutputToInputPort);
            }
            p => self.output_to_port(p),
        }
    }

    fn output_to_port(&mut self, ofport: OfPort) {
        // A flood goes on port by port after a failure in one of them: nothing more.
        if self.error.is_some() {
            return;
        }
        let bridge = self.bridge;
        let Some(port) = bridge.port(ofport) else {
            self.dropped(|| DropReason::NoSuchPort(ofport));
            return;
        };
        match &port.config.kind {
            PortKind::Netdev | PortKind::Internal => {
                self.commit();
                let dp = port
                    .dp_port
                    .expect("netdev and internal ports have datapath ports");
                self.out.actions.push(DpAction::Output(dp));
                self.mirror_egress(ofport);
            }
            // As in OVS, a patch port's egress mirrors see nothing: the packet goes on
            // in the peer bridge (whose own ports' mirrors see it there).
            PortKind::Patch { peer } => self.cross_patch(ofport, peer),
            PortKind::Gre(cfg) | PortKind::Vxlan(cfg) => {
                let key = match cfg.key {
                    TunnelKey::Flow => Some(self.flow.tun_id as u32),
                    TunnelKey::Fixed(k) => Some(k),
                    TunnelKey::None => None,
                };
                let kind = match port.config.kind {
                    PortKind::Vxlan(_) => TunnelKind::Vxlan {
                        vni: key.unwrap_or(0) & 0xff_ffff,
                        src_port: self.vxlan_src_port,
                    },
                    _ => TunnelKind::Gre {
                        key,
                        csum: cfg.csum,
                    },
                };
                let Some(route) = self.topo.underlay_route(cfg.remote_ip) else {
                    let remote = cfg.remote_ip;
                    self.dropped(|| DropReason::NoUnderlayRoute(remote));
                    self.out.unresolved.push(cfg.remote_ip);
                    return;
                };
                self.commit();
                let header = TunnelHeader {
                    kind,
                    eth_src: route.src_mac,
                    eth_dst: route.dst_mac,
                    ip_src: cfg.local_ip.unwrap_or(route.src_ip),
                    ip_dst: cfg.remote_ip,
                    ttl: 64,
                    tos: 0,
                    dont_fragment: true,
                    mtu: route.mtu,
                };
                self.out.actions.push(DpAction::TunnelOutput {
                    port: route.port,
                    header,
                });
                self.out.crossings.push(PortCrossing {
                    bridge: bridge.id,
                    ofport,
                    direction: Direction::Tx,
                });
                // The copy is the inner frame, as OVS mirrors a tunnel port.
                self.mirror_egress(ofport);
            }
        }
    }

    /// Sends the packet through patch port `ofport` of this bridge into its peer.
    fn cross_patch(&mut self, ofport: OfPort, peer: &str) {
        let peer_end = self
            .topo
            .port_by_name(peer)
            .and_then(|(b, of)| Some((b, self.ofproto.get(b.id)?, of)));
        let Some((peer_bridge, peer_tables, peer_ofport)) = peer_end else {
            self.dropped(|| DropReason::NoPatchPeer(peer.to_string()));
            return;
        };
        let saved = (
            self.bridge,
            self.tables,
            self.table,
            self.flow,
            self.flow_tpid,
        );
        // Another bridge's mirrors are its own (OVS's independent_mirrors).
        let saved_mirrored = self.mirrored;
        if peer_bridge.id != self.bridge.id {
            self.mirrored = 0;
        }
        self.bridge = peer_bridge;
        self.tables = peer_tables;
        self.flow.in_port = peer_ofport;
        self.depth += 1;
        self.trace_bridge_header();
        self.lookup_and_run(0);
        self.depth -= 1;
        (
            self.bridge,
            self.tables,
            self.table,
            self.flow,
            self.flow_tpid,
        ) = saved;
        self.mirrored = saved_mirrored;
        // The peer may have rewritten the frame: the frame must get this bridge's view of
        // the fields back before it leaves here, and that view is (for all we know) the
        // original packet's, so those fields become part of the key.
        self.out.consulted.union_with(&self.committed);
        self.dirty.union_with(&self.committed);
        // What crossed counts on both ends, whatever the peer did with it (as OVS's
        // patch_port_output).
        self.out.crossings.push(PortCrossing {
            bridge: self.bridge.id,
            ofport,
            direction: Direction::Tx,
        });
        self.out.crossings.push(PortCrossing {
            bridge: peer_bridge.id,
            ofport: peer_ofport,
            direction: Direction::Rx,
        });
    }
}
