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

use std::net::{Ipv4Addr, Ipv6Addr};

use smallvec::SmallVec;
use xvs_dataplane::actions::TunnelKind;
use xvs_dataplane::flow_key::{VLAN_PRESENT, VLAN_VID_MASK};
use xvs_dataplane::wire::{ethertype, ipv4};
use xvs_dataplane::{DpAction, FlowKey, MacAddr, Tpid, TunnelHeader};

use crate::ofp::{
    Action, Match, OfPort, OFPP_ALL, OFPP_CONTROLLER, OFPP_FLOOD, OFPP_IN_PORT, OFPP_NORMAL,
    OFPP_TABLE,
};
use crate::ofproto::table::{RuleId, Time};
use crate::ofproto::{BridgeTables, LearnedFlow, Ofproto};
use crate::topology::{Bridge, BridgeId, PortKind, Topology, TunnelKey, VlanMode};
use xvs_dataplane::PortNo;

mod actions;

/// Resubmits and patch crossings deeper than this are a loop (OVS uses 64 as well).
pub const MAX_DEPTH: u32 = 64;

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
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    NoBridgeForDpPort(PortNo),
    TooDeep,
    SecondVlanTag,
    ReservedPort,
    OutputToInputPort,
    NoSuchPort(OfPort),
    NoUnderlayRoute(Ipv4Addr),
    NoPatchPeer(String),
    PatchLoop,
    NormalInPortNotOnBridge,
    /// A VLAN ethertype with no (whole) tag.
    NormalPartialVlanTag,
    NormalTaggedOnAccessPort(u16),
    NormalVlanNotTrunked(u16),
    NormalDestinationIsInPort,
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

/// Whether `mac` is one of the addresses a bridge must never forward unless told to
/// (`other_config:forward-bpdu`), as OVS's `eth_addr_is_reserved` (lib/packets.c):
/// IEEE 802.1 01:80:c2:00:00:00 to :0f (STP, pause, LACP, 802.1X, LLDP, ...), Extreme's
/// EDP and EAPS, and Cisco's ISL, CDP/VTP/DTP/PAgP/UDLD, PVST+, UplinkFast and CFM.
pub fn is_reserved_mac(mac: MacAddr) -> bool {
    matches!(
        mac.to_u64(),
        0x0180_c200_0000..=0x0180_c200_000f
            | 0x00e0_2b00_0000
            | 0x00e0_2b00_0004
            | 0x00e0_2b00_0006
            | 0x0100_0c00_0000
            | 0x0100_0ccc_cccc
            | 0x0100_0ccc_cccd
            | 0x0100_0ccd_cdcd
            | 0x0100_0ccc_ccc0..=0x0100_0ccc_ccc7
    )
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
}

impl Translation {
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
    let mut out = Translation {
        consulted: base_consulted(),
        ..Default::default()
    };
    let owner = topo
        .dp_port_owner(key.in_port)
        .and_then(|(b, of)| Some((b, ofproto.get(b.id)?, of)));
    let Some((bridge, tables, ofport)) = owner else {
        let steps = vec![TraceStep {
            depth: 0,
            bridge: 0,
            event: TraceEvent::Dropped(DropReason::NoBridgeForDpPort(key.in_port)),
        }];
        return (out, if trace { steps } else { Vec::new() });
    };
    let mut flow = *key;
    flow.in_port = ofport;
    let mut ctx = Ctx {
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
        out: std::mem::take(&mut out),
        trace: trace.then(Vec::new),
        vxlan_src_port: vxlan_src_port(key),
    };
    ctx.trace_bridge_header();
    ctx.lookup_and_run(0);
    ctx.finish()
}

impl<'a> Ctx<'a> {
    /// The translation and its trace, once the pipeline has run.
    fn finish(mut self) -> (Translation, Vec<TraceStep>) {
        let lines = self.trace.take().unwrap_or_default();
        let mut out = self.out;
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

    /// Looks `table` up and runs the rule found; a `goto_table` at its end continues in
    /// the next table here, as a tail jump (nothing of the rule is left to run).
    fn lookup_and_run(&mut self, table: u8) {
        if self.depth >= MAX_DEPTH {
            self.dropped(|| DropReason::TooDeep);
            return;
        }
        let (saved_table, saved_depth) = (self.table, self.depth);
        let mut next = Some(table);
        let mut first = true;
        while let Some(table) = next.take() {
            // As OVS's trace shows them, the tables a goto_table chain reaches are one
            // level under the table it started from.
            if !first {
                self.depth = saved_depth + 1;
            }
            first = false;
            let Some(ft) = self.tables.tables.get(table as usize) else {
                break;
            };
            self.table = table;
            self.out.lookups.push((self.bridge.id, table, self.flow));
            match ft.lookup(&self.flow, &mut self.out.consulted) {
                Some(rule) => {
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
                None => self.note(|| TraceEvent::NoMatch { table }),
            }
        }
        self.table = saved_table;
        self.depth = saved_depth;
    }

    /// Runs a rule's actions; returns the table a `goto_table` continues in.
    fn run(&mut self, actions: &'a [Action]) -> Option<u8> {
        for a in actions {
            self.note(|| TraceEvent::Action(a.clone()));
            match self.run_one(a) {
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
            }
            PortKind::Patch { peer } => self.cross_patch(peer),
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
            }
        }
    }

    fn cross_patch(&mut self, peer: &str) {
        let peer_end = self
            .topo
            .port_by_name(peer)
            .and_then(|(b, of)| Some((b, self.ofproto.get(b.id)?, of)));
        let Some((peer_bridge, peer_tables, peer_ofport)) = peer_end else {
            self.dropped(|| DropReason::NoPatchPeer(peer.to_string()));
            return;
        };
        if self.depth >= MAX_DEPTH {
            self.dropped(|| DropReason::PatchLoop);
            return;
        }
        let saved = (
            self.bridge,
            self.tables,
            self.table,
            self.flow,
            self.flow_tpid,
        );
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
        // The peer may have rewritten the frame: the frame must get this bridge's view of
        // the fields back before it leaves here, and that view is (for all we know) the
        // original packet's, so those fields become part of the key.
        self.out.consulted.union_with(&self.committed);
        self.dirty.union_with(&self.committed);
    }

    /// Emits the datapath actions that make the frame look like `flow`, in the order of
    /// OVS's `commit_odp_actions`: Ethernet, then the network layer (IPv4; IPv6 and, for
    /// ICMPv6, Neighbour Discovery; ARP), then the TCP/UDP ports, then ICMP type and code.
    /// (The tag comes first here, where OVS commits it after these: the frame is the
    /// same either way.) A field written by actions is set again even if the value did
    /// not change, so the key need not hold its old value; what decides which header a
    /// field lives in (`dl_type`, `nw_proto` unless an action wrote it) is consulted.
    ///
    /// `metadata` and `regs` are pipeline state, not packet fields: they have no
    /// datapath action, and they are kept out of what the frame is known to have had
    /// written (`committed`, which a patch crossing turns into consulted fields).
    fn commit(&mut self) {
        self.commit_vlan();
        let d = self.dirty.packet_fields();
        if d.is_zero() {
            self.dirty = FlowKey::default();
            return;
        }
        let f = self.flow;
        let mut emit = SmallVec::<[DpAction; 4]>::new();
        if !d.dl_src.is_zero() {
            emit.push(DpAction::SetEthSrc(f.dl_src));
        }
        if !d.dl_dst.is_zero() {
            emit.push(DpAction::SetEthDst(f.dl_dst));
        }
        let l3_dirty = d.nw_src | d.nw_dst != 0
            || d.nw_proto | d.nw_tos | d.nw_ttl != 0
            || !d.arp_sha.is_zero()
            || !d.arp_tha.is_zero()
            || d.ipv6_src | d.ipv6_dst | d.nd_target != 0;
        let l4_dirty = d.tp_src | d.tp_dst != 0;
        if l3_dirty || l4_dirty {
            // Which header these fields live in depends on the packet's type and
            // protocol, and OVS commits none of them for a packet without an L3 header
            // (`nw_proto` 0: not IP or ARP, or one whose header did not parse).
            self.out.consulted.dl_type = u16::MAX;
            if d.nw_proto == 0 {
                self.out.consulted.nw_proto = u8::MAX;
            }
        }
        if (l3_dirty || l4_dirty) && f.nw_proto != 0 {
            Self::commit_nw(&d, &f, &mut emit);
            Self::commit_l4(&d, &f, &mut emit);
        }
        self.out.actions.extend(emit);
        self.committed.union_with(&d);
        let masked_old = self.packet.masked(&FlowKey::complement(&d));
        self.packet = masked_old;
        self.packet.union_with(&f.masked(&d));
        self.dirty = FlowKey::default();
    }

    /// OVS's `commit_set_nw_action`: the network layer's fields, by ethertype.
    fn commit_nw(d: &FlowKey, f: &FlowKey, emit: &mut SmallVec<[DpAction; 4]>) {
        match f.dl_type {
            ethertype::ARP => {
                if d.nw_proto != 0 {
                    emit.push(DpAction::SetArpOp(f.nw_proto as u16));
                }
                if d.nw_src != 0 {
                    emit.push(DpAction::SetArpSpa(Ipv4Addr::from(f.nw_src)));
                }
                if d.nw_dst != 0 {
                    emit.push(DpAction::SetArpTpa(Ipv4Addr::from(f.nw_dst)));
                }
                if !d.arp_sha.is_zero() {
                    emit.push(DpAction::SetArpSha(f.arp_sha));
                }
                if !d.arp_tha.is_zero() {
                    emit.push(DpAction::SetArpTha(f.arp_tha));
                }
            }
            ethertype::IPV4 => {
                if d.nw_src != 0 {
                    emit.push(DpAction::SetIpv4Src(Ipv4Addr::from(f.nw_src)));
                }
                if d.nw_dst != 0 {
                    emit.push(DpAction::SetIpv4Dst(Ipv4Addr::from(f.nw_dst)));
                }
                if d.nw_tos != 0 {
                    emit.push(DpAction::SetIpv4Tos(f.nw_tos));
                }
                if d.nw_ttl != 0 {
                    emit.push(DpAction::SetIpv4Ttl(f.nw_ttl));
                }
            }
            ethertype::IPV6 => {
                if d.ipv6_src != 0 {
                    emit.push(DpAction::SetIpv6Src(Ipv6Addr::from(f.ipv6_src)));
                }
                if d.ipv6_dst != 0 {
                    emit.push(DpAction::SetIpv6Dst(Ipv6Addr::from(f.ipv6_dst)));
                }
                if d.nw_tos != 0 {
                    emit.push(DpAction::SetIpv6Tclass(f.nw_tos));
                }
                if d.nw_ttl != 0 {
                    emit.push(DpAction::SetIpv6HopLimit(f.nw_ttl));
                }
                // Neighbour Discovery: arp_sha/arp_tha are the link-layer addresses.
                if f.nw_proto == ipv4::PROTO_ICMPV6 {
                    if d.nd_target != 0 {
                        emit.push(DpAction::SetNdTarget(Ipv6Addr::from(f.nd_target)));
                    }
                    if !d.arp_sha.is_zero() {
                        emit.push(DpAction::SetNdSll(f.arp_sha));
                    }
                    if !d.arp_tha.is_zero() {
                        emit.push(DpAction::SetNdTll(f.arp_tha));
                    }
                }
            }
            _ => {}
        }
    }

    /// OVS's `commit_set_port_action` and `commit_set_icmp_action`: `tp_src`/`tp_dst` as
    /// TCP or UDP ports, or as ICMP (ICMPv6) type and code.
    fn commit_l4(d: &FlowKey, f: &FlowKey, emit: &mut SmallVec<[DpAction; 4]>) {
        if d.tp_src | d.tp_dst == 0 || !matches!(f.dl_type, ethertype::IPV4 | ethertype::IPV6) {
            return;
        }
        let v6 = f.dl_type == ethertype::IPV6;
        type Set = fn(u16) -> DpAction;
        let (src, dst): (Set, Set) = match f.nw_proto {
            ipv4::PROTO_TCP => (DpAction::SetTcpSrc, DpAction::SetTcpDst),
            ipv4::PROTO_UDP => (DpAction::SetUdpSrc, DpAction::SetUdpDst),
            ipv4::PROTO_ICMP if !v6 => (
                |t| DpAction::SetIcmpType(t as u8),
                |c| DpAction::SetIcmpCode(c as u8),
            ),
            ipv4::PROTO_ICMPV6 if v6 => (
                |t| DpAction::SetIcmpv6Type(t as u8),
                |c| DpAction::SetIcmpv6Code(c as u8),
            ),
            // SCTP's ports (OVS's set(sctp(...)), which recomputes the CRC32c) have no
            // datapath action yet: nothing may write them (see the pipeline's fields).
            _ => return,
        };
        if d.tp_src != 0 {
            emit.push(src(f.tp_src));
        }
        if d.tp_dst != 0 {
            emit.push(dst(f.tp_dst));
        }
    }

    /// The tag part of [`Self::commit`]. A tag with the TPID the frame already has is
    /// rewritten in place, so a frame received with an 802.1ad tag keeps it (as OVS keeps
    /// `flow->vlans[0].tpid`) without the key telling which TPID it was; a tag whose TPID
    /// the actions chose (`push_vlan`, or 0x8100 for a tag pushed after `strip_vlan`) is
    /// popped and pushed, as OVS does.
    fn commit_vlan(&mut self) {
        let (want, have) = (self.flow.vlan_tci, self.packet.vlan_tci);
        let want_tpid = self.flow_tpid.unwrap_or(Tpid::Is(ethertype::VLAN));
        let tagged = |tci: u16| tci & VLAN_PRESENT != 0;
        let push = DpAction::PushVlan {
            tpid: want_tpid,
            tci: want,
        };
        match (tagged(have), tagged(want)) {
            (true, true) if want_tpid == self.packet_tpid => {
                if want != have {
                    self.out.actions.push(DpAction::SetVlan(want));
                }
            }
            (true, true) => self.out.actions.extend([DpAction::PopVlan, push]),
            (false, true) => self.out.actions.push(push),
            (true, false) => self.out.actions.push(DpAction::PopVlan),
            // Bits without the present bit are no tag: nothing to do to the frame.
            (false, false) => {}
        }
        self.packet.vlan_tci = want;
        if tagged(want) {
            self.packet_tpid = want_tpid;
        }
    }

    /// The NORMAL action: a MAC-learning switch per VLAN, with access and trunk ports.
    fn normal(&mut self) {
        let bridge = self.bridge;
        let in_ofport = self.flow.in_port;
        let Some(in_port) = bridge.port(in_ofport) else {
            self.dropped(|| DropReason::NormalInPortNotOnBridge);
            return;
        };
        // A VLAN ethertype without a tag: the tag was too short to parse (OVS's
        // "partial VLAN tag"); OVS's NORMAL drops the frame.
        self.out.consulted.dl_type = u16::MAX;
        let vlan_type = matches!(self.flow.dl_type, ethertype::VLAN | ethertype::QINQ);
        if vlan_type && self.flow.vlan_tci & VLAN_PRESENT == 0 {
            self.dropped(|| DropReason::NormalPartialVlanTag);
            return;
        }
        // The frame's VLAN inside the bridge, as a TCI (OVS's xvlan): what NORMAL learns
        // and looks up by, and what each output port turns into its own tag.
        let flow_tci = self.flow.vlan_tci;
        let xvlan = match in_port.config.vlan.input(flow_tci) {
            Ok(x) => x,
            Err(vid) => {
                let why = if in_port.config.vlan.mode == VlanMode::Access {
                    DropReason::NormalTaggedOnAccessPort(vid)
                } else {
                    DropReason::NormalVlanNotTrunked(vid)
                };
                self.dropped(|| why);
                return;
            }
        };
        let vlan = xvlan & VLAN_VID_MASK;
        // As OVS's is_admissible: before learning, so such a frame teaches nothing. The
        // destination is part of every cache key.
        let dst = self.flow.dl_dst;
        if !self.tables.forward_bpdu && is_reserved_mac(dst) {
            self.dropped(|| DropReason::NormalReservedDestination(dst));
            return;
        }
        let src = self.flow.dl_src;
        // Whether NORMAL learns depends on the source's group bit: it is consulted
        // even when nothing is learned, else the cache entry of a frame with a
        // multicast source (learning nothing) would serve the same flow's unicast
        // frames, whose sources would then never be learned or refreshed. (OVS
        // consults the whole source in NORMAL; the group bit is all a multicast
        // source's translation depends on.)
        self.out.consulted.dl_src.0[0] |= 0x01;
        if !src.is_multicast() {
            self.out.consulted.dl_src = MacAddr::BROADCAST;
            self.out.macs.push((bridge.id, vlan, src, in_ofport));
            self.note(|| TraceEvent::MacLearned {
                mac: src,
                port: in_ofport,
                vlan,
            });
        }
        // What this same translation learned counts already, as in OVS, where NORMAL
        // updates the MAC table while translating (an ARP responder's reply coming back
        // through a patch port finds the requester).
        let known = if dst.is_multicast() {
            None
        } else {
            self.out.mac_lookups.push((bridge.id, vlan, dst));
            let learned_now = self
                .out
                .macs
                .iter()
                .rev()
                .find(|e| e.0 == bridge.id && e.1 == vlan && e.2 == dst);
            learned_now
                .map(|e| e.3)
                .or_else(|| self.tables.mac_table.lookup(vlan, dst, self.now))
        };
        match known {
            Some(p) if p == in_ofport => {
                self.dropped(|| DropReason::NormalDestinationIsInPort);
            }
            Some(p) => {
                self.note(|| TraceEvent::MacForward { port: p });
                self.normal_output(p, xvlan, flow_tci);
            }
            None => {
                self.note(|| TraceEvent::Flood { vlan });
                for (&p, port) in &bridge.ports {
                    if p != in_ofport && port.config.vlan.includes_vlan(vlan) {
                        self.normal_output(p, xvlan, flow_tci);
                    }
                }
            }
        }
    }

    fn normal_output(&mut self, ofport: OfPort, xvlan: u16, flow_tci: u16) {
        let Some(port) = self.bridge.port(ofport) else {
            return;
        };
        let saved = self.flow.vlan_tci;
        self.flow.vlan_tci = port.config.vlan.output(xvlan, flow_tci);
        self.output_to_port(ofport);
        self.flow.vlan_tci = saved;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::PortConfig;
    use crate::Switch;

    /// br0 with netdev ports p1 (datapath port 1) and p2.
    fn switch() -> Switch {
        let mut sw = Switch::new();
        sw.add_bridge("br0").unwrap();
        for p in ["p1", "p2"] {
            sw.add_port("br0", PortConfig::new(p, PortKind::Netdev))
                .unwrap();
        }
        sw
    }

    /// A translation context for `key` arriving on p1, as `translate` makes it.
    fn ctx<'a>(sw: &'a Switch, key: &FlowKey) -> Ctx<'a> {
        let topo = sw.topology();
        let bridge = topo.bridge("br0").unwrap();
        let p1 = sw.dp_port_named("p1").unwrap();
        let (_, ofport) = topo.dp_port_owner(p1).unwrap();
        let mut flow = *key;
        flow.in_port = ofport;
        Ctx {
            topo,
            ofproto: sw.ofproto(),
            now: 0,
            bridge,
            tables: sw.ofproto().get(bridge.id).unwrap(),
            table: 0,
            flow,
            packet: flow,
            flow_tpid: None,
            packet_tpid: Tpid::Received,
            dirty: FlowKey::default(),
            committed: FlowKey::default(),
            depth: 0,
            out: Translation {
                consulted: base_consulted(),
                ..Default::default()
            },
            trace: None,
            vxlan_src_port: 0,
        }
    }

    /// Sets fields of the flow as actions would (value and dirty bits), then sends the
    /// packet out of p2: the datapath actions before the output, and the consulted mask.
    fn commit_of(key: &FlowKey, set: impl Fn(&mut FlowKey)) -> (Vec<DpAction>, FlowKey) {
        let sw = switch();
        let mut c = ctx(&sw, key);
        set(&mut c.flow);
        let mut all = FlowKey::EXACT;
        set(&mut all);
        // Dirty: the bits `set` changed when applied to all-ones and to all-zeroes.
        let mut none = FlowKey::default();
        set(&mut none);
        c.dirty = none;
        c.dirty.union_with(&all.complement());
        let p2 = sw.topology().bridge("br0").unwrap();
        let of2 = p2
            .ports
            .iter()
            .find(|(_, p)| p.config.name == "p2")
            .map(|(o, _)| *o)
            .unwrap();
        c.output_to_port(of2);
        let (mut t, _) = c.finish();
        let out = t.actions.pop();
        assert!(matches!(out, Some(DpAction::Output(_))), "{out:?}");
        (t.actions, t.consulted)
    }

    fn v6(next: u8) -> FlowKey {
        FlowKey {
            dl_type: ethertype::IPV6,
            nw_proto: next,
            ipv6_src: 1,
            ipv6_dst: 2,
            nw_ttl: 64,
            tp_src: 1000,
            tp_dst: 53,
            ..FlowKey::default()
        }
    }

    const A6: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0099;

    #[test]
    fn ipv4_fields_in_ovs_order() {
        let key = FlowKey {
            dl_type: ethertype::IPV4,
            nw_proto: 6,
            nw_src: 1,
            nw_dst: 2,
            ..FlowKey::default()
        };
        let (acts, consulted) = commit_of(&key, |f| {
            f.tp_dst = 8080;
            f.nw_ttl = 9;
            f.nw_tos = 0x20;
            f.nw_dst = 0x0a00_0001;
            f.tp_src = 80;
        });
        assert_eq!(
            acts,
            [
                DpAction::SetIpv4Dst(Ipv4Addr::new(10, 0, 0, 1)),
                DpAction::SetIpv4Tos(0x20),
                DpAction::SetIpv4Ttl(9),
                DpAction::SetTcpSrc(80),
                DpAction::SetTcpDst(8080),
            ]
        );
        assert_eq!((consulted.dl_type, consulted.nw_proto), (u16::MAX, u8::MAX));
        // UDP and ICMP by nw_proto.
        let udp = FlowKey {
            nw_proto: 17,
            ..key
        };
        let (acts, _) = commit_of(&udp, |f| f.tp_src = 7);
        assert_eq!(acts, [DpAction::SetUdpSrc(7)]);
        let icmp = FlowKey { nw_proto: 1, ..key };
        let (acts, _) = commit_of(&icmp, |f| {
            f.tp_src = 0;
            f.tp_dst = 3
        });
        assert_eq!(acts, [DpAction::SetIcmpType(0), DpAction::SetIcmpCode(3)]);
        // ICMPv6's number inside IPv4, or a protocol without ports: nothing.
        for proto in [58, 47, 132] {
            let k = FlowKey {
                nw_proto: proto,
                ..key
            };
            assert_eq!(commit_of(&k, |f| f.tp_dst = 3).0, [], "proto {proto}");
        }
    }

    #[test]
    fn ipv6_fields_in_ovs_order() {
        let (acts, consulted) = commit_of(&v6(17), |f| {
            f.tp_dst = 5353;
            f.nw_ttl = 1;
            f.ipv6_dst = A6;
            f.nw_tos = 0xb8;
            f.ipv6_src = 3;
        });
        assert_eq!(
            acts,
            [
                DpAction::SetIpv6Src(Ipv6Addr::from(3)),
                DpAction::SetIpv6Dst(Ipv6Addr::from(A6)),
                DpAction::SetIpv6Tclass(0xb8),
                DpAction::SetIpv6HopLimit(1),
                DpAction::SetUdpDst(5353),
            ]
        );
        assert_eq!((consulted.dl_type, consulted.nw_proto), (u16::MAX, u8::MAX));
        // Neighbour Discovery: target and link-layer addresses, then ICMPv6 type/code.
        let mac: MacAddr = "02:00:00:00:00:07".parse().unwrap();
        let (acts, _) = commit_of(&v6(58), |f| {
            f.tp_src = 136;
            f.arp_tha = mac;
            f.nd_target = A6;
            f.arp_sha = mac;
        });
        assert_eq!(
            acts,
            [
                DpAction::SetNdTarget(Ipv6Addr::from(A6)),
                DpAction::SetNdSll(mac),
                DpAction::SetNdTll(mac),
                DpAction::SetIcmpv6Type(136),
            ]
        );
        // ND fields of a packet that is not ICMPv6 have no header to go to.
        assert_eq!(commit_of(&v6(6), |f| f.nd_target = A6).0, []);
        let (acts, _) = commit_of(&v6(6), |f| f.tp_src = 22);
        assert_eq!(acts, [DpAction::SetTcpSrc(22)]);
    }

    /// OVS commits no L3/L4 field of a packet whose nw_proto is 0 (no L3 header, or one
    /// that did not parse): `nw_proto` is then consulted, and nothing is emitted.
    #[test]
    fn nothing_without_an_l3_header() {
        let broken = FlowKey {
            dl_type: ethertype::IPV4,
            ..FlowKey::default()
        };
        let (acts, consulted) = commit_of(&broken, |f| f.nw_dst = 5);
        assert_eq!(acts, []);
        assert_eq!(consulted.nw_proto, u8::MAX);
        // Ethernet fields still go.
        let (acts, _) = commit_of(&broken, |f| f.dl_dst = MacAddr::BROADCAST);
        assert_eq!(acts, [DpAction::SetEthDst(MacAddr::BROADCAST)]);
        // An action that wrote nw_proto decides itself: not consulted.
        let arp = FlowKey {
            dl_type: ethertype::ARP,
            nw_proto: 1,
            ..FlowKey::default()
        };
        let (acts, consulted) = commit_of(&arp, |f| f.nw_proto = 2);
        assert_eq!(acts, [DpAction::SetArpOp(2)]);
        assert_eq!(consulted.nw_proto, 0);
    }

    /// Registers and metadata written by actions are no packet field: no datapath
    /// action, and never in the consulted mask handed to the cache.
    #[test]
    fn regs_and_metadata_stay_out() {
        let key = v6(17);
        let (acts, consulted) = commit_of(&key, |f| {
            f.regs[0] = 7;
            f.metadata = 9;
        });
        assert_eq!(acts, []);
        assert_eq!(consulted, base_consulted());
        let sw = switch();
        let mut c = ctx(&sw, &key);
        c.out.consulted.regs = [u32::MAX; 16];
        c.out.consulted.metadata = u64::MAX;
        c.dirty.regs[3] = u32::MAX;
        c.commit();
        assert!(c.committed.is_zero());
        assert_eq!(c.finish().0.consulted, base_consulted());
    }

    /// A frame with a multicast source teaches NORMAL nothing; the cache entry its
    /// translation makes must not serve a unicast source from the same port, which
    /// NORMAL learns. Found by the `xlate` fuzz target (fuzz/): the mask had no bit of
    /// `dl_src`, so a key with the unicast source matched it.
    #[test]
    fn normal_consults_whether_the_source_is_multicast() {
        let sw = switch();
        let p1 = sw.dp_port_named("p1").unwrap();
        let key = |src: [u8; 6]| FlowKey {
            in_port: p1,
            dl_src: MacAddr(src),
            dl_dst: MacAddr([0xfa, 0x16, 0x3e, 0, 0, 2]),
            dl_type: 0x0800,
            ..FlowKey::default()
        };
        let multicast = key([0x05, 2, 1, 0xfa, 0x16, 0x3e]);
        let unicast = key([0xfa, 0x16, 0x3e, 0, 0, 1]);
        let tr = sw.translate(&multicast, 0);
        assert!(tr.macs.is_empty(), "a multicast source is not learned");
        let mask = tr.cache_mask();
        assert_ne!(
            unicast.masked(&mask),
            multicast.masked(&mask),
            "a unicast source does not hit the multicast source's entry"
        );
        assert_eq!(sw.translate(&unicast, 0).macs.len(), 1);
        // Another multicast source does: nothing else of the source counts.
        let other = key([0x01, 0, 0x5e, 0, 0, 1]);
        assert_eq!(other.masked(&mask), multicast.masked(&mask));
        assert_eq!(sw.translate(&other, 0).actions, tr.actions);
    }
}
