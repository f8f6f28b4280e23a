//! The XDP tier against the userspace cache, on the real kernel (BPF_PROG_TEST_RUN; root,
//! and the test fails loudly without it).
//!
//! Random flow tables (priority-ordered rules over in_port, VLAN, ethertype, MACs, and
//! sometimes an L3 field; random action lists, most in the tier's shape) are turned
//! into cache entries as the slow path does (the key of a packet under the union of
//! the masks of every rule looked at up to the one that matched, so entries never
//! disagree where they overlap). Every entry goes into a userspace `FlowCache`; the
//! expressible ones into the XDP program's maps. Random frames (tagged, QinQ, cut
//! tags, ARP/IPv4/IPv6, GRE and VXLAN packets, runts) go through both, and the test
//! requires: either the program punts, with the frame untouched, or userspace hits an
//! entry and the program's frame and output port (or drop) are exactly userspace's;
//! and every entry's per-CPU counters equal what userspace recorded for the frames the
//! program took.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use proptest::prelude::*;

use xvs_dataplane::cache::{CachedFlow, FlowCache};
use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::testnet::require_root;
use xvs_dataplane::tunnel::{
    tunnel_header_len, write_tunnel_header, TunnelKeyMatch, TunnelMap, TunnelPort,
};
use xvs_dataplane::xdp_tier::{flow_key_bytes, tunnel_entries, TierMasks, XdpEntry};
use xvs_dataplane::{
    classify, execute, DpAction, FlowKey, FrameBuf, MacAddr, PortNo, Tpid, TunnelHeader,
    TunnelKind, TunnelType, DEFAULT_HEADROOM,
};
use xvs_ebpf::tier::{
    TierConfig, TierHarness, TraceKind, PORT_ON, PORT_UNDERLAY, XDP_DROP, XDP_PASS, XDP_REDIRECT,
};

/// The loopback device: test runs need a real ingress device with queue 0.
const LO: u32 = 1;
/// Ports with an output slot in the tier (slot = port); port 9 has none.
const TIER_PORTS: [PortNo; 4] = [1, 2, 3, 4];
const UNDERLAY: PortNo = 5;
/// Our tunnel address (in `local_ips`), another host's, and two remotes.
const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 254);
const NOT_LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 250);
const REMOTES: [Ipv4Addr; 2] = [
    Ipv4Addr::new(192, 168, 1, 253),
    Ipv4Addr::new(192, 168, 1, 252),
];

/// One loaded program for the whole test binary (a load is ~100 ms of verifier).
fn harness() -> &'static Mutex<TierHarness> {
    static H: OnceLock<Mutex<TierHarness>> = OnceLock::new();
    H.get_or_init(|| {
        require_root();
        let mut h = TierHarness::load().expect("the verifier refused the XDP program");
        for p in TIER_PORTS.into_iter().chain([UNDERLAY]) {
            h.maps.set_tx(p, LO).expect("devmap slot");
        }
        h.local_ips
            .insert([LO, u32::from_ne_bytes(LOCAL.octets())], 1, 0)
            .expect("local_ips");
        Mutex::new(h)
    })
}

fn mac(b: u8) -> MacAddr {
    MacAddr([0xfa, 0x16, 0x3e, 0, 0, b])
}

// ---- tables -----------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Rule {
    value: FlowKey,
    mask: FlowKey,
    actions: Vec<DpAction>,
}

fn tunnel_header(kind: TunnelKind, mtu: u16) -> TunnelHeader {
    TunnelHeader {
        kind,
        eth_src: mac(0xa1),
        eth_dst: mac(0xa2),
        ip_src: Ipv4Addr::new(192, 168, 1, 254),
        ip_dst: Ipv4Addr::new(192, 168, 1, 253),
        ttl: 64,
        tos: 0,
        dont_fragment: true,
        mtu,
    }
}

fn arb_port() -> impl Strategy<Value = PortNo> {
    prop_oneof![Just(1u32), Just(2), Just(3), Just(4), Just(9)]
}

fn arb_tci() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(1u16),
        Just(7),
        Just(0x2005),
        Just(0xf001),
        any::<u16>()
    ]
}

fn arb_mac() -> impl Strategy<Value = MacAddr> {
    prop_oneof![
        (1u8..4).prop_map(mac),
        Just(MacAddr::BROADCAST),
        Just(MacAddr([1, 0, 0x5e, 0, 0, 1])),
    ]
}

fn arb_terminal() -> impl Strategy<Value = Option<DpAction>> {
    let kinds = prop_oneof![
        Just(TunnelKind::Gre {
            key: Some(0x3e7),
            csum: false
        }),
        Just(TunnelKind::Gre {
            key: None,
            csum: false
        }),
        Just(TunnelKind::Gre {
            key: Some(1),
            csum: true
        }),
        (any::<u32>(), 49152u16..).prop_map(|(vni, src_port)| TunnelKind::Vxlan {
            vni: vni & 0xff_ffff,
            src_port
        }),
    ];
    prop_oneof![
        1 => Just(None),
        3 => arb_port().prop_map(|p| Some(DpAction::Output(p))),
        3 => (kinds, prop_oneof![Just(1500u16), Just(100), Just(60)]).prop_map(|(k, mtu)| Some(
            DpAction::TunnelOutput {
                port: UNDERLAY,
                header: tunnel_header(k, mtu),
            }
        )),
    ]
}

/// Mostly the tier's shape (pop, set, push, eth sets, one terminal), sometimes any
/// order, a second output or an L3 rewrite.
fn arb_actions() -> impl Strategy<Value = Vec<DpAction>> {
    let tpid = prop_oneof![
        Just(Tpid::Is(0x8100)),
        Just(Tpid::Is(0x88a8)),
        Just(Tpid::Received)
    ];
    let canonical = (
        any::<bool>(),
        proptest::option::of(arb_tci()),
        proptest::option::of((tpid, arb_tci())),
        proptest::option::of(arb_mac()),
        proptest::option::of(arb_mac()),
        arb_terminal(),
    )
        .prop_map(|(pop, set, push, src, dst, terminal)| {
            let mut v = Vec::new();
            if let Some(m) = dst {
                v.push(DpAction::SetEthDst(m));
            }
            if pop {
                v.push(DpAction::PopVlan);
            }
            if let Some(t) = set {
                v.push(DpAction::SetVlan(t));
            }
            if let Some(m) = src {
                v.push(DpAction::SetEthSrc(m));
            }
            if let Some((tpid, tci)) = push {
                v.push(DpAction::PushVlan { tpid, tci });
            }
            v.extend(terminal);
            v
        });
    let any_action = prop_oneof![
        arb_port().prop_map(DpAction::Output),
        Just(DpAction::PopVlan),
        arb_tci().prop_map(DpAction::SetVlan),
        arb_tci().prop_map(|tci| DpAction::PushVlan {
            tpid: Tpid::Is(0x8100),
            tci
        }),
        arb_mac().prop_map(DpAction::SetEthDst),
        Just(DpAction::SetIpv4Ttl(9)),
        arb_terminal().prop_map(|t| t.unwrap_or(DpAction::Output(1))),
    ];
    prop_oneof![
        4 => canonical,
        1 => proptest::collection::vec(any_action, 0..5),
    ]
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    (
        proptest::option::of(prop_oneof![
            Just(1u32),
            Just(2),
            Just(3),
            Just(10),
            Just(11),
            Just(12)
        ]),
        proptest::option::weighted(
            0.3,
            prop_oneof![Just(0x3e7u64), Just(0x1234_5678), Just(0xab_cdef), Just(0)],
        ),
        // VLAN: none, exact TCI, VID only, "no tag".
        prop_oneof![
            Just(None),
            arb_tci().prop_map(|t| Some((VLAN_PRESENT | (t & 0x0fff), 0x1fffu16))),
            arb_tci().prop_map(|t| Some((VLAN_PRESENT | t, 0xffffu16))),
            Just(Some((0u16, 0x1fffu16))),
        ],
        proptest::option::of(prop_oneof![Just(0x0800u16), Just(0x0806), Just(0x86dd)]),
        // dl_dst exact or its multicast bit.
        prop_oneof![
            Just(None),
            arb_mac().prop_map(|m| Some((m, MacAddr::BROADCAST))),
            any::<bool>().prop_map(|mc| Some((
                MacAddr([u8::from(mc), 0, 0, 0, 0, 0]),
                MacAddr([1, 0, 0, 0, 0, 0])
            ))),
        ],
        proptest::option::of(arb_mac()),
        // An L3 field: such entries stay in userspace.
        proptest::option::weighted(0.15, prop_oneof![Just(0x0a00_0001u32), Just(0x0a00_0002)]),
        arb_actions(),
    )
        .prop_map(
            |(in_port, tun_id, vlan, dl_type, dl_dst, dl_src, nw_dst, actions)| {
                let mut value = FlowKey::default();
                let mut mask = FlowKey::default();
                if let Some(p) = in_port {
                    (value.in_port, mask.in_port) = (p, u32::MAX);
                }
                if let Some(t) = tun_id {
                    (value.tun_id, mask.tun_id) = (t, u64::MAX);
                }
                if let Some((v, m)) = vlan {
                    (value.vlan_tci, mask.vlan_tci) = (v & m, m);
                }
                if let Some(t) = dl_type {
                    (value.dl_type, mask.dl_type) = (t, u16::MAX);
                }
                if let Some((v, m)) = dl_dst {
                    (value.dl_dst, mask.dl_dst) = (v, m);
                }
                if let Some(m) = dl_src {
                    (value.dl_src, mask.dl_src) = (m, MacAddr::BROADCAST);
                }
                if let Some(a) = nw_dst {
                    (value.nw_dst, mask.nw_dst) = (a, u32::MAX);
                }
                Rule {
                    value: value.masked(&mask),
                    mask,
                    actions,
                }
            },
        )
}

/// The slow path's answer for a key: the actions of the first rule that matches and the
/// fields looked at to find it (every rule's mask up to it); no match is a drop.
fn translate(rules: &[Rule], key: &FlowKey) -> (FlowKey, Vec<DpAction>) {
    let mut consulted = FlowKey::default();
    for r in rules {
        consulted.union_with(&r.mask);
        if key.masked(&r.mask) == r.value {
            return (consulted, r.actions.clone());
        }
    }
    (consulted, Vec::new())
}

// ---- frames -----------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Payload {
    Ipv4 { nw_dst: u32, len: usize },
    Arp,
    Ipv6,
    Gre,
    Vxlan,
    Bytes(Vec<u8>),
}

fn ipv4(dst: u32, proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut h = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        proto,
        0,
        0,
        10,
        0,
        0,
        9,
    ];
    h.extend_from_slice(&dst.to_be_bytes());
    let sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    let sum = (sum & 0xffff) + (sum >> 16);
    let csum = !((sum & 0xffff) + (sum >> 16)) as u16;
    h[10..12].copy_from_slice(&csum.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn payload_bytes(p: &Payload) -> (u16, Vec<u8>) {
    match p {
        Payload::Ipv4 { nw_dst, len } => (0x0800, ipv4(*nw_dst, 17, &vec![0x5a; *len])),
        Payload::Arp => {
            let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
            a.extend_from_slice(&mac(1).0);
            a.extend_from_slice(&[10, 0, 0, 1]);
            a.extend_from_slice(&[0; 6]);
            a.extend_from_slice(&[10, 0, 0, 2]);
            (0x0806, a)
        }
        Payload::Ipv6 => {
            let mut v = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
            v.extend_from_slice(&[0xfe; 32]);
            v.extend_from_slice(&[0, 1, 0, 2, 0, 8, 0, 0]);
            (0x86dd, v)
        }
        Payload::Gre | Payload::Vxlan => {
            // A whole tunnel packet, as on an underlay.
            let kind = if matches!(p, Payload::Gre) {
                TunnelKind::Gre {
                    key: Some(0x3e7),
                    csum: false,
                }
            } else {
                TunnelKind::Vxlan {
                    vni: 5,
                    src_port: 50000,
                }
            };
            let inner = [0x11u8; 60];
            let h = tunnel_header(kind, 1500);
            let hl = xvs_dataplane::tunnel::tunnel_header_len(&h);
            let mut out = vec![0u8; hl + inner.len()];
            out[hl..].copy_from_slice(&inner);
            let n = write_tunnel_header(&h, inner.len(), &mut out).unwrap();
            out.truncate(n);
            (0x0800, out[14..].to_vec())
        }
        Payload::Bytes(b) => (0x1234, b.clone()),
    }
}

#[derive(Debug, Clone)]
struct Frame {
    dst: MacAddr,
    src: MacAddr,
    /// Tags on the wire, outermost first: (TPID, TCI with any DEI).
    tags: Vec<(u16, u16)>,
    payload: Payload,
    /// Cut the frame to this many bytes (at least 14), if shorter.
    cut: Option<usize>,
}

impl Frame {
    fn bytes(&self) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&self.dst.0);
        f.extend_from_slice(&self.src.0);
        for &(tpid, tci) in &self.tags {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        let (ethertype, p) = payload_bytes(&self.payload);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(&p);
        if let Some(n) = self.cut {
            f.truncate(n.max(14));
        }
        f
    }
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    let tag = (
        prop_oneof![Just(0x8100u16), Just(0x88a8)],
        prop_oneof![arb_tci(), arb_tci().prop_map(|t| t | 0x1000)],
    );
    let payload = prop_oneof![
        (
            prop_oneof![Just(0x0a00_0001u32), Just(0x0a00_0002)],
            0usize..120
        )
            .prop_map(|(nw_dst, len)| Payload::Ipv4 { nw_dst, len }),
        Just(Payload::Arp),
        Just(Payload::Ipv6),
        Just(Payload::Gre),
        Just(Payload::Vxlan),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Payload::Bytes),
    ];
    (
        arb_mac(),
        arb_mac(),
        proptest::collection::vec(tag, 0..3),
        payload,
        // Cut at the edges of the tags (14, 18, 22) and around them.
        proptest::option::weighted(
            0.2,
            prop_oneof![
                Just(14usize),
                Just(17),
                Just(18),
                Just(21),
                Just(22),
                14usize..40
            ],
        ),
    )
        .prop_map(|(dst, src, tags, payload, cut)| Frame {
            dst,
            src,
            tags,
            payload,
            cut,
        })
}

/// A tunnel packet received on the underlay, maybe damaged.
#[derive(Debug, Clone)]
struct Outer {
    kind: TunnelKind,
    remote: Ipv4Addr,
    local: Ipv4Addr,
    inner: Frame,
    /// XOR this byte (index modulo the length) with this nonzero value.
    flip: Option<(usize, u8)>,
    /// Bytes after the outer IPv4 packet.
    padding: usize,
    /// The outer packet is a first fragment (MF set, checksum right).
    more_fragments: bool,
}

impl Outer {
    fn bytes(&self) -> Vec<u8> {
        let inner = self.inner.bytes();
        let h = TunnelHeader {
            ip_src: self.remote,
            ip_dst: self.local,
            ..tunnel_header(self.kind, 1500)
        };
        let hl = tunnel_header_len(&h);
        let mut out = vec![0u8; hl + inner.len()];
        out[hl..].copy_from_slice(&inner);
        let n = write_tunnel_header(&h, inner.len(), &mut out).unwrap();
        out.truncate(n);
        if self.more_fragments {
            out[20] |= 0x20;
            out[24..26].copy_from_slice(&[0, 0]);
            let sum: u32 = out[14..34]
                .chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .sum();
            let sum = (sum & 0xffff) + (sum >> 16);
            let csum = !((sum & 0xffff) + (sum >> 16)) as u16;
            out[24..26].copy_from_slice(&csum.to_be_bytes());
        }
        if let Some((at, x)) = self.flip {
            let at = at % out.len();
            out[at] ^= x;
        }
        out.resize(out.len() + self.padding, 0);
        out
    }
}

fn arb_outer() -> impl Strategy<Value = Outer> {
    let kind = prop_oneof![
        3 => prop_oneof![Just(Some(0x3e7u32)), Just(Some(0x1234_5678)), Just(None)]
            .prop_map(|key| TunnelKind::Gre { key, csum: false }),
        1 => prop_oneof![Just(Some(0x3e7u32)), Just(None)]
            .prop_map(|key| TunnelKind::Gre { key, csum: true }),
        3 => prop_oneof![Just(0x3e7u32), Just(0xab_cdef)].prop_map(|vni| TunnelKind::Vxlan {
            vni,
            src_port: 50000
        }),
    ];
    (
        kind,
        proptest::sample::select(REMOTES.to_vec()),
        prop_oneof![4 => Just(LOCAL), 1 => Just(NOT_LOCAL)],
        arb_frame(),
        proptest::option::weighted(0.1, (0usize..64, 1u8..)),
        prop_oneof![6 => Just(0usize), 1 => 1usize..8],
        proptest::bool::weighted(0.05),
    )
        .prop_map(
            |(kind, remote, local, inner, flip, padding, more_fragments)| Outer {
                kind,
                remote,
                local,
                inner,
                flip,
                padding,
                more_fragments,
            },
        )
}

fn arb_tunnels() -> impl Strategy<Value = TunnelMap> {
    let tunnel = (
        prop_oneof![Just(TunnelType::Gre), Just(TunnelType::Vxlan)],
        proptest::sample::select(REMOTES.to_vec()),
        prop_oneof![3 => Just(Some(LOCAL)), 2 => Just(None), 1 => Just(Some(NOT_LOCAL))],
        prop_oneof![
            2 => Just(TunnelKeyMatch::Any),
            2 => Just(TunnelKeyMatch::Exactly(0x3e7)),
            1 => Just(TunnelKeyMatch::Exactly(0x1234_5678)),
            1 => Just(TunnelKeyMatch::Exactly(0xab_cdef)),
            1 => Just(TunnelKeyMatch::NoKey),
        ],
    );
    proptest::collection::vec(tunnel, 0..6).prop_map(|ts| TunnelMap {
        underlays: vec![UNDERLAY],
        tunnels: ts
            .into_iter()
            .enumerate()
            .map(|(i, (kind, remote, local, key))| TunnelPort {
                kind,
                remote,
                local,
                key,
                port: 10 + i as PortNo,
            })
            .collect(),
    })
}

/// A frame as one port receives it.
#[derive(Debug, Clone)]
enum Probe {
    Port(PortNo, Frame),
    Underlay(Outer),
}

impl Probe {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Probe::Port(_, f) => f.bytes(),
            Probe::Underlay(o) => o.bytes(),
        }
    }

    /// The datapath port it arrives on, and the tier's flags for that port.
    fn port(&self) -> (PortNo, u32) {
        match self {
            Probe::Port(p, _) => (*p, PORT_ON),
            Probe::Underlay(_) => (UNDERLAY, PORT_ON | PORT_UNDERLAY),
        }
    }

    /// Userspace's classification: the key and where the frame it describes is, or
    /// nothing when the worker drops the frame before lookup.
    fn classify(&self, bytes: &[u8], tunnels: &TunnelMap) -> Option<(FlowKey, Range<usize>)> {
        // The steering program gives userspace only tunnel packets to our addresses
        // (classify itself takes a port that accepts any local address at its word).
        if matches!(self, Probe::Underlay(_)) && bytes.get(30..34) != Some(&LOCAL.octets()[..]) {
            return None;
        }
        let c = classify(self.port().0, bytes, tunnels).ok()?;
        Some((c.key, c.inner))
    }
}

fn arb_probe() -> impl Strategy<Value = Probe> {
    let port = prop_oneof![Just(1u32), Just(2), Just(3)];
    prop_oneof![
        1 => (port, arb_frame()).prop_map(|(p, f)| Probe::Port(p, f)),
        1 => arb_outer().prop_map(Probe::Underlay),
    ]
}

// ---- the comparison -----------------------------------------------------------------

/// What the test saw, over every case (printed at the end of the property test).
static TAKEN: AtomicU64 = AtomicU64::new(0);
static PUNTED: AtomicU64 = AtomicU64::new(0);
/// Punts of frames userspace forwards by an entry the tier holds (MTU, headroom, a
/// tunnel shape the tier leaves to userspace, a port with the tier off).
static PUNTED_IN_TIER: AtomicU64 = AtomicU64::new(0);
/// Punts of frames userspace forwards by an entry the tier does not hold.
static PUNTED_NOT_IN_TIER: AtomicU64 = AtomicU64::new(0);
static TAKEN_DECAPSULATED: AtomicU64 = AtomicU64::new(0);
static TAKEN_ENCAPSULATED: AtomicU64 = AtomicU64::new(0);
static ENTRIES_IN_TIER: AtomicU64 = AtomicU64::new(0);
static ENTRIES: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone)]
struct Case {
    rules: Vec<Rule>,
    tunnels: TunnelMap,
    /// Packets whose translations become entries.
    seeds: Vec<Probe>,
    /// The packets compared.
    probes: Vec<Probe>,
    /// The port's tier is off (an underlay, a mirrored port).
    port_off: bool,
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(arb_rule(), 1..7),
        arb_tunnels(),
        proptest::collection::vec(arb_probe(), 1..10),
        proptest::collection::vec(arb_probe(), 1..10),
        proptest::bool::weighted(0.05),
        (0usize..64, 1u8..),
    )
        .prop_map(|(rules, tunnels, seeds, mut probes, port_off, (at, x))| {
            // Probe the seeds too: those hit for sure; and the tunnel packets among
            // them with one byte changed, which the tier must judge as userspace does.
            probes.extend(seeds.iter().cloned());
            for seed in &seeds {
                // A neighbour of each seed: another source and payload, which hit the
                // seed's entry when its mask does not look at them.
                if let Probe::Port(p, f) = seed {
                    probes.push(Probe::Port(
                        *p,
                        Frame {
                            src: mac(3),
                            payload: Payload::Bytes(vec![x; at]),
                            ..f.clone()
                        },
                    ));
                }
                if let Probe::Underlay(o) = seed {
                    probes.push(Probe::Underlay(Outer {
                        flip: Some((at, x)),
                        ..o.clone()
                    }));
                    probes.push(Probe::Underlay(Outer {
                        more_fragments: true,
                        ..o.clone()
                    }));
                }
            }
            Case {
                rules,
                tunnels,
                seeds,
                probes,
                port_off,
            }
        })
}

fn run_case(case: &Case) -> Result<(), TestCaseError> {
    let mut h = harness()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Whatever a failed case left behind (a failed assertion returns at once).
    h.maps.clear().unwrap();
    let mut cache = FlowCache::new(1024);
    let mut masks = TierMasks::default();
    let mut installed = Vec::new();
    let mut ids: HashMap<(FlowKey, FlowKey), u64> = HashMap::new();
    let mut by_id: HashMap<u64, (FlowKey, FlowKey)> = HashMap::new();
    let tunnels = tunnel_entries(&case.tunnels);
    for (k, port) in &tunnels {
        h.maps.insert_tunnel(k, *port).unwrap();
    }
    for seed in &case.seeds {
        let Some((key, _)) = seed.classify(&seed.bytes(), &case.tunnels) else {
            continue;
        };
        let (mask, actions) = translate(&case.rules, &key);
        let masked = key.masked(&mask);
        if ids.contains_key(&(masked, mask)) {
            continue;
        }
        let id = ids.len() as u64 + 1;
        ids.insert((masked, mask), id);
        by_id.insert(id, (masked, mask));
        cache
            .insert(Arc::new(CachedFlow::new(id, &key, mask, &actions, 0)))
            .unwrap();
        ENTRIES.fetch_add(1, Ordering::Relaxed);
        let Ok(e) = XdpEntry::from_cache_entry(&key, &mask, &actions, id, id as u32, |p| {
            (TIER_PORTS.contains(&p) || p == UNDERLAY).then_some(p)
        }) else {
            continue;
        };
        let Some(slot) = masks.slot(&e.mask) else {
            continue;
        };
        h.maps.set_mask(slot, &e.mask.to_bytes()).unwrap();
        let fk = flow_key_bytes(slot, &e.key);
        h.maps.insert_flow(&fk, &e.actions.to_bytes()).unwrap();
        h.maps.clear_counter(id as u32).unwrap();
        installed.push((fk, id));
        ENTRIES_IN_TIER.fetch_add(1, Ordering::Relaxed);
    }
    h.maps
        .set_config(TierConfig {
            enabled: true,
            trace: true,
            n_masks: masks.len() as u32,
        })
        .unwrap();

    // Expected per-entry (packets, bytes): what userspace recorded for the frames the
    // program took.
    let mut expected: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut taken = Vec::new();
    let mut result = Ok(());
    for probe in &case.probes {
        let bytes = probe.bytes();
        let (in_port, flags) = probe.port();
        h.maps
            .set_port(LO, in_port, if case.port_off { 0 } else { flags })
            .unwrap();
        h.maps.clear_trace().unwrap();
        let run = h.run(&bytes, LO, 0).expect("BPF_PROG_TEST_RUN");
        let trace = h.maps.last_trace().unwrap();

        // Userspace: classify (decapsulate), look up, execute on the inner frame.
        let classified = probe.classify(&bytes, &case.tunnels);
        let key = classified.as_ref().map(|(k, _)| *k);
        let inner = classified.map_or(0..0, |(_, r)| r);
        let hit = key.as_ref().and_then(|k| cache.lookup(k));
        let mut outputs = Vec::new();
        let mut too_big = 0;
        if let Some(entry) = hit {
            let mut buf = FrameBuf::with_headroom(&bytes[inner.clone()], DEFAULT_HEADROOM);
            let done = execute(&entry.actions, &mut buf, |p, b| {
                outputs.push((p, b.to_vec()))
            })
            .expect("userspace execution");
            too_big = done.too_big;
        }
        let what = format!(
            "frame {bytes:02x?} key {key:?} userspace hit {:?} outputs {outputs:02x?} \
             xdp verdict {} trace {trace:?} frame {:02x?}",
            hit.map(|e| (e.id, &e.actions)),
            run.verdict,
            run.frame
        );
        match run.verdict {
            XDP_PASS => {
                PUNTED.fetch_add(1, Ordering::Relaxed);
                if let Some(e) = hit {
                    if installed.iter().any(|&(_, id)| id == e.id) {
                        PUNTED_IN_TIER.fetch_add(1, Ordering::Relaxed);
                    } else {
                        PUNTED_NOT_IN_TIER.fetch_add(1, Ordering::Relaxed);
                    }
                }
                prop_assert_eq!(&run.frame, &bytes, "a punt changed the frame: {}", what);
                prop_assert_eq!(trace.kind, TraceKind::Punt, "{}", what);
            }
            XDP_DROP | XDP_REDIRECT => {
                TAKEN.fetch_add(1, Ordering::Relaxed);
                taken.push((bytes.clone(), probe.port()));
                if matches!(probe, Probe::Underlay(_)) {
                    TAKEN_DECAPSULATED.fetch_add(1, Ordering::Relaxed);
                }
                prop_assert!(
                    !case.port_off,
                    "the tier ran on a port without it: {}",
                    what
                );
                let (Some(key), Some(_)) = (key, hit) else {
                    result = Err(TestCaseError::fail(format!("XDP took a miss: {what}")));
                    break;
                };
                // The entry the program chose is one userspace's key matches (so the
                // program took the same in_port, tun_id and fields).
                let (e_key, e_mask) = by_id[&trace.entry_id];
                prop_assert_eq!(
                    key.masked(&e_mask),
                    e_key,
                    "XDP chose an entry the packet's key does not match: {}",
                    what
                );
                prop_assert_eq!(too_big, 0, "{}", what);
                if run.verdict == XDP_DROP {
                    prop_assert_eq!(trace.kind, TraceKind::Drop, "{}", what);
                    prop_assert!(outputs.is_empty(), "XDP dropped: {}", what);
                } else {
                    prop_assert_eq!(trace.kind, TraceKind::Redirect, "{}", what);
                    prop_assert_eq!(outputs.len(), 1, "{}", what);
                    prop_assert_eq!(outputs[0].0, trace.out_port, "{}", what);
                    prop_assert_eq!(&outputs[0].1, &run.frame, "{}", what);
                    if run.frame.len() > bytes[inner.clone()].len() + 8 {
                        TAKEN_ENCAPSULATED.fetch_add(1, Ordering::Relaxed);
                    }
                }
                // The entries agree where they overlap (they come from one table), but
                // the counters are the entry's that the program chose.
                let e = expected.entry(trace.entry_id).or_default();
                e.0 += 1;
                e.1 += inner.len() as u64;
            }
            v => {
                result = Err(TestCaseError::fail(format!("verdict {v}: {what}")));
                break;
            }
        }
    }
    if result.is_ok() {
        // Off, with the same maps, the program is the steering program again: what
        // the tier took now goes to the (absent) sockets, i.e. the kernel, untouched.
        let on = h.maps.config();
        h.maps
            .set_config(TierConfig {
                enabled: false,
                ..on
            })
            .unwrap();
        for (bytes, (in_port, flags)) in &taken {
            h.maps.set_port(LO, *in_port, *flags).unwrap();
            let run = h.run(bytes, LO, 0).expect("BPF_PROG_TEST_RUN");
            prop_assert_eq!(run.verdict, XDP_PASS, "tier off");
            prop_assert_eq!(&run.frame, bytes, "tier off");
        }
        // The batched read of every slot says what the single reads say.
        let upto = installed
            .iter()
            .map(|&(_, id)| id as u32 + 1)
            .max()
            .unwrap_or(0);
        let batch = h.maps.counters_upto(upto).unwrap();
        prop_assert_eq!(batch.len(), upto as usize);
        for &(_, id) in &installed {
            prop_assert_eq!(batch[id as usize], h.maps.counter(id as u32).unwrap());
        }
        for &(_, id) in &installed {
            let got = h.maps.counter(id as u32).unwrap();
            let want = expected.get(&id).copied().unwrap_or_default();
            if got != want {
                result = Err(TestCaseError::fail(format!(
                    "entry {id}: XDP counted {got:?}, userspace {want:?}"
                )));
                break;
            }
        }
    }
    // Empty the tier for the next case.
    for (k, _) in &tunnels {
        h.maps.remove_tunnel(k).unwrap();
    }
    for (fk, _) in &installed {
        h.maps.remove_flow(fk).unwrap();
    }
    h.maps.remove_port(LO).unwrap();
    h.maps
        .set_config(TierConfig {
            enabled: false,
            trace: false,
            n_masks: 0,
        })
        .unwrap();
    result
}

#[test]
fn xdp_tier_forwards_as_the_userspace_cache() {
    require_root();
    let cases = std::env::var("XVS_TIER_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&arb_case(), |case| run_case(&case))
        .unwrap_or_else(|e| panic!("{e}"));
    let (taken, punted) = (
        TAKEN.load(Ordering::Relaxed),
        PUNTED.load(Ordering::Relaxed),
    );
    let (in_tier, entries) = (
        ENTRIES_IN_TIER.load(Ordering::Relaxed),
        ENTRIES.load(Ordering::Relaxed),
    );
    let decap = TAKEN_DECAPSULATED.load(Ordering::Relaxed);
    let encap = TAKEN_ENCAPSULATED.load(Ordering::Relaxed);
    let punted_in = PUNTED_IN_TIER.load(Ordering::Relaxed);
    let punted_not_in = PUNTED_NOT_IN_TIER.load(Ordering::Relaxed);
    eprintln!(
        "{cases} cases: {entries} cache entries, {in_tier} in the tier; frames: {taken} \
         taken by XDP ({decap} decapsulated, {encap} encapsulated), {punted} punted \
         ({punted_not_in} hits of entries not in the tier, {punted_in} of entries in it, \
         the rest misses and frames userspace drops before lookup)"
    );
    // The property is empty if the program never takes a frame of each kind.
    assert!(
        taken > punted / 10,
        "the tier took too few frames to prove much"
    );
    assert!(
        decap > 0 && encap > 0,
        "no frame decapsulated or encapsulated"
    );
}

/// Every tunnel port of a random tunnel map has an entry (mask: in_port): a clean
/// tunnel packet to our address must then be taken by the entry of the port
/// userspace's `TunnelMap::lookup_type` finds, and punted when it finds none.
fn run_tunnel_case(tunnels: &TunnelMap, packets: &[Outer]) -> Result<(), TestCaseError> {
    let mut h = harness()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Whatever a failed case left behind (a failed assertion returns at once).
    h.maps.clear().unwrap();
    let entries = tunnel_entries(tunnels);
    for (k, port) in &entries {
        h.maps.insert_tunnel(k, *port).unwrap();
    }
    let mask = FlowKey {
        in_port: u32::MAX,
        ..FlowKey::default()
    };
    let mut flows = Vec::new();
    for t in &tunnels.tunnels {
        let key = FlowKey {
            in_port: t.port,
            ..FlowKey::default()
        };
        let e = XdpEntry::from_cache_entry(
            &key,
            &mask,
            &[DpAction::Output(1)],
            u64::from(t.port),
            t.port,
            Some,
        )
        .unwrap();
        h.maps.set_mask(0, &e.mask.to_bytes()).unwrap();
        let fk = flow_key_bytes(0, &e.key);
        h.maps.insert_flow(&fk, &e.actions.to_bytes()).unwrap();
        flows.push(fk);
    }
    h.maps
        .set_config(TierConfig {
            enabled: true,
            trace: true,
            n_masks: 1,
        })
        .unwrap();
    h.maps
        .set_port(LO, UNDERLAY, PORT_ON | PORT_UNDERLAY)
        .unwrap();
    let mut result = Ok(());
    for o in packets {
        let probe = Probe::Underlay(o.clone());
        let bytes = probe.bytes();
        let want = probe.classify(&bytes, tunnels).map(|(k, _)| k.in_port);
        h.maps.clear_trace().unwrap();
        let run = h.run(&bytes, LO, 0).expect("BPF_PROG_TEST_RUN");
        let trace = h.maps.last_trace().unwrap();
        let got = (run.verdict == XDP_REDIRECT).then_some(trace.entry_id as PortNo);
        if got != want {
            result = Err(TestCaseError::fail(format!(
                "{o:?}: userspace's tunnel port {want:?}, XDP's {got:?} (verdict {})",
                run.verdict
            )));
            break;
        }
    }
    for fk in &flows {
        h.maps.remove_flow(fk).unwrap();
    }
    for (k, _) in &entries {
        h.maps.remove_tunnel(k).unwrap();
    }
    h.maps.remove_port(LO).unwrap();
    h.maps.set_config(TierConfig::default()).unwrap();
    result
}

#[test]
fn xdp_tier_finds_the_tunnel_port_userspace_finds() {
    require_root();
    let clean = arb_outer().prop_map(|o| Outer {
        kind: match o.kind {
            TunnelKind::Gre { key, .. } => TunnelKind::Gre { key, csum: false },
            k => k,
        },
        local: LOCAL,
        flip: None,
        padding: 0,
        more_fragments: false,
        ..o
    });
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(arb_tunnels(), proptest::collection::vec(clean, 1..12)),
            |(tunnels, packets)| run_tunnel_case(&tunnels, &packets),
        )
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Installs one entry (its mask in slot 0), runs `frame` received as `probe_port`
/// (with `flags`), and returns the verdict, the output port and the frame.
fn run_one(
    tunnels: &TunnelMap,
    key: &FlowKey,
    mask: &FlowKey,
    actions: &[DpAction],
    frame: &[u8],
    port: (PortNo, u32),
) -> (u32, u32, Vec<u8>) {
    let mut h = harness()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    h.maps.clear().unwrap();
    for (k, p) in tunnel_entries(tunnels) {
        h.maps.insert_tunnel(&k, p).unwrap();
    }
    let e = XdpEntry::from_cache_entry(key, mask, actions, 77, 77, Some).unwrap();
    h.maps.set_mask(0, &e.mask.to_bytes()).unwrap();
    h.maps
        .insert_flow(&flow_key_bytes(0, &e.key), &e.actions.to_bytes())
        .unwrap();
    h.maps.clear_counter(77).unwrap();
    h.maps.set_port(LO, port.0, port.1).unwrap();
    h.maps
        .set_config(TierConfig {
            enabled: true,
            trace: true,
            n_masks: 1,
        })
        .unwrap();
    h.maps.clear_trace().unwrap();
    let run = h.run(frame, LO, 0).expect("BPF_PROG_TEST_RUN");
    let trace = h.maps.last_trace().unwrap();
    let counted = h.maps.counter(77).unwrap();
    h.maps.clear().unwrap();
    assert_eq!(counted.0, 1, "one packet counted");
    (run.verdict, trace.out_port, run.frame)
}

/// The Folsom paths by hand: a VM's frame out through GRE, a GRE packet in to a VM,
/// a trunk's tag taken off; each compared with userspace's execution.
#[test]
fn folsom_paths_in_the_tier() {
    require_root();
    let vm_frame = Frame {
        dst: mac(2),
        src: mac(1),
        tags: vec![],
        payload: Payload::Ipv4 {
            nw_dst: 0x0a00_0002,
            len: 32,
        },
        cut: None,
    }
    .bytes();
    let mask = FlowKey {
        in_port: u32::MAX,
        tun_id: u64::MAX,
        dl_dst: MacAddr::BROADCAST,
        ..FlowKey::default()
    };
    let userspace = |actions: &[DpAction], frame: &[u8]| {
        let mut out = Vec::new();
        let mut buf = FrameBuf::with_headroom(frame, DEFAULT_HEADROOM);
        execute(actions, &mut buf, |p, b| out.push((p, b.to_vec()))).unwrap();
        assert_eq!(out.len(), 1);
        out.pop().unwrap()
    };
    let no_tunnels = TunnelMap::default();

    // VM (port 1) -> GRE key 0x3e7 out of the underlay.
    let gre = [DpAction::TunnelOutput {
        port: UNDERLAY,
        header: tunnel_header(
            TunnelKind::Gre {
                key: Some(0x3e7),
                csum: false,
            },
            1500,
        ),
    }];
    let key = FlowKey::extract(1, &vm_frame).unwrap();
    let (verdict, port, out) = run_one(&no_tunnels, &key, &mask, &gre, &vm_frame, (1, PORT_ON));
    assert_eq!(verdict, XDP_REDIRECT);
    assert_eq!((port, out.clone()), userspace(&gre, &vm_frame));
    let d = xvs_dataplane::decap_gre(&out).unwrap();
    assert_eq!(d.key, Some(0x3e7));
    assert_eq!(&out[d.inner_offset..], &vm_frame[..]);

    // That packet, received from the remote, to the VM (port 1) through GRE port 10.
    let tunnels = TunnelMap {
        underlays: vec![UNDERLAY],
        tunnels: vec![TunnelPort {
            kind: TunnelType::Gre,
            remote: REMOTES[0],
            local: None,
            key: TunnelKeyMatch::Any,
            port: 10,
        }],
    };
    let incoming = Outer {
        kind: TunnelKind::Gre {
            key: Some(0x3e7),
            csum: false,
        },
        remote: REMOTES[0],
        local: LOCAL,
        inner: Frame {
            dst: mac(1),
            src: mac(2),
            tags: vec![],
            payload: Payload::Arp,
            cut: None,
        },
        flip: None,
        padding: 0,
        more_fragments: false,
    };
    let bytes = incoming.bytes();
    let (key, inner) = Probe::Underlay(incoming.clone())
        .classify(&bytes, &tunnels)
        .unwrap();
    assert_eq!((key.in_port, key.tun_id), (10, 0x3e7));
    let to_vm = [DpAction::Output(1)];
    let (verdict, port, out) = run_one(
        &tunnels,
        &key,
        &mask,
        &to_vm,
        &bytes,
        (UNDERLAY, PORT_ON | PORT_UNDERLAY),
    );
    assert_eq!(verdict, XDP_REDIRECT);
    assert_eq!((port, out), userspace(&to_vm, &bytes[inner]));

    // A trunk's frame (VLAN 7, PCP 5, DEI set) to an access port: the tag goes.
    let tagged = Frame {
        dst: mac(2),
        src: mac(1),
        tags: vec![(0x8100, 0xb007)],
        payload: Payload::Ipv6,
        cut: None,
    }
    .bytes();
    let strip = [DpAction::PopVlan, DpAction::Output(2)];
    let key = FlowKey::extract(3, &tagged).unwrap();
    assert_eq!(key.vlan_tci, VLAN_PRESENT | 0xa007);
    let vlan_mask = FlowKey {
        vlan_tci: 0x1fff,
        ..mask
    };
    let (verdict, port, out) =
        run_one(&no_tunnels, &key, &vlan_mask, &strip, &tagged, (3, PORT_ON));
    assert_eq!(verdict, XDP_REDIRECT);
    assert_eq!((port, out.clone()), userspace(&strip, &tagged));
    assert_eq!(out.len(), tagged.len() - 4);
}
