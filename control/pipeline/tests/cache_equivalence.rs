//! The cache is transparent: random flow tables (Folsom and Neutron-style br-tun, NORMAL
//! with learning, `learn`, extra rules) and random packet sequences (MAC moves, VLANs,
//! tunnels, ARP, malformed frames, BPDUs and other reserved destinations, flow changes,
//! bridge option changes and time jumps between packets) give the
//! same output frames and the same counters whether every packet goes through the slow
//! path or through a worker's cache with misses upcalled to the fast-path manager.

mod common;

use common::cached::Cached;
use common::neutron::{int_and_tun_bridges, ArpEntry, BrTun, Network, Underlay};
use common::*;
use proptest::prelude::*;
use xvs_pipeline::{BridgeOptions, PortConfig, PortKind, Switch};

const MACS: [&str; 7] = [
    "fa:16:3e:00:00:01",
    "fa:16:3e:00:00:02",
    "fa:16:3e:00:00:03",
    "fa:16:3e:00:00:04",
    "ff:ff:ff:ff:ff:ff",
    // Reserved (NORMAL forwards it only with forward-bpdu), and the next, which is not.
    "01:80:c2:00:00:00",
    "01:80:c2:00:00:10",
];
const IPS: [&str; 3] = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
const LOCAL: &str = "192.168.1.254";
const REMOTES: [&str; 2] = ["192.168.1.253", "192.168.1.252"];
const UL_MAC: &str = "52:54:00:00:01:fe";
const HOP_MAC: &str = "52:54:00:00:01:01";

const FOLSOM: &str = "
priority=4,in_port=1,dl_vlan=1 actions=set_tunnel:0x3e7,output:2
priority=4,in_port=1,dl_vlan=2 actions=set_tunnel:0x1,output:3
priority=3,tun_id=0x3e7,dl_dst=fa:16:3e:00:00:01 actions=mod_vlan_vid:1,output:1
priority=3,tun_id=0x3e7,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:1,output:1
priority=3,tun_id=0x1,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:2,output:1
priority=1 actions=drop";

/// Two networks: 0x3e7 (VLAN 1) floods to both tunnels, 0x1 (VLAN 2) to the first.
fn neutron() -> BrTun {
    BrTun {
        tunnel_ports: vec![2, 3],
        tunnel_table: 3,
        networks: vec![
            Network {
                tun_id: 0x3e7,
                lvid: 1,
                flood: vec![2, 3],
            },
            Network {
                tun_id: 0x1,
                lvid: 2,
                flood: vec![2],
            },
        ],
        learn_hard_timeout: 30,
        learn_cookie: None,
        learn_in_port: "OXM_OF_IN_PORT",
        arp_responder: Some(ArpEntry {
            lvid: 1,
            ip: "10.0.0.1",
            mac: "fa:16:3e:f1:5e:7d",
        }),
    }
}

/// Extra br-int rules that flow changes add and remove.
fn extra_rule(i: usize, mac: usize, port: usize) -> String {
    let m = MACS[mac];
    let p = ["vm1", "vm2", "vm3", "trunk"][port];
    match i % 8 {
        0 => format!("priority=10,in_port={p},dl_dst={m} actions=output:vm2"),
        1 => format!("priority=5,dl_src={m} actions=drop"),
        2 => "priority=7,arp,arp_tpa=10.0.0.2 actions=NORMAL".to_string(),
        3 => format!("priority=6,in_port={p} actions=mod_dl_src:{m},NORMAL"),
        4 => format!(
            "priority=9,dl_dst={m} actions=learn(table=5,priority=1,hard_timeout=20,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),resubmit(,5)"
        ),
        5 => "table=5,priority=0 actions=NORMAL".to_string(),
        6 => format!("priority=8,idle_timeout=5,in_port={p},ip actions=mod_vlan_vid:2,output:trunk,strip_vlan,output:vm3"),
        _ => format!("priority=11,dl_vlan=1,dl_dst={m} actions=strip_vlan,output:vm1,push_vlan:0x88a8,mod_vlan_vid:3,output:trunk"),
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// (port index, frame kind, src mac, dst mac, tag, ip index)
    Packet {
        port: usize,
        kind: u8,
        src: usize,
        dst: usize,
        vlan: u8,
        ip: usize,
    },
    Tunnel {
        remote: usize,
        key: u8,
        src: usize,
        dst: usize,
        vlan: u8,
        kind: u8,
    },
    AddFlow {
        rule: usize,
        mac: usize,
        port: usize,
    },
    DelFlows {
        which: u8,
        mac: usize,
    },
    ModFlow {
        mac: usize,
    },
    Wait {
        ms: u32,
    },
    /// A bridge's `other_config`: forward-bpdu, mac-table-size 10, mac-aging-time 15 s.
    SetOptions {
        bridge: usize,
        forward_bpdu: bool,
        small_table: bool,
        short_aging: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..5usize, 0..4u8, 0..4usize, 0..7usize, 0..5u8, 0..3usize)
            .prop_map(|(port, kind, src, dst, vlan, ip)| Op::Packet { port, kind, src, dst, vlan, ip }),
        3 => (0..2usize, 0..3u8, 0..4usize, 0..7usize, 0..5u8, 0..3u8)
            .prop_map(|(remote, key, src, dst, vlan, kind)| Op::Tunnel { remote, key, src, dst, vlan, kind }),
        1 => (0..8usize, 0..5usize, 0..4usize).prop_map(|(rule, mac, port)| Op::AddFlow { rule, mac, port }),
        1 => (0..4u8, 0..5usize).prop_map(|(which, mac)| Op::DelFlows { which, mac }),
        1 => (0..5usize).prop_map(|mac| Op::ModFlow { mac }),
        2 => prop_oneof![0..3000u32, Just(21_000u32), Just(301_000u32)].prop_map(|ms| Op::Wait { ms }),
        1 => (0..2usize, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(bridge, forward_bpdu, small_table, short_aging)| Op::SetOptions {
                bridge,
                forward_bpdu,
                small_table,
                short_aging,
            }
        ),
    ]
}

fn build(br_tun: u8) -> Switch {
    let mut sw = Switch::new();
    int_and_tun_bridges(
        &mut sw,
        vec![
            PortConfig::new("vm1", PortKind::Netdev).tag(1),
            PortConfig::new("vm2", PortKind::Netdev).tag(1),
            PortConfig::new("vm3", PortKind::Netdev).tag(2),
            PortConfig::new("trunk", PortKind::Netdev),
        ],
    );
    let ul = Underlay::add(&mut sw, "eth1", LOCAL, UL_MAC, HOP_MAC);
    // The first remote over GRE, the second over VXLAN (whose UDP source port the slow
    // path derives from the packet: a hit must send the same one).
    ul.add_tunnel(&mut sw, "gre-1", false, 2, REMOTES[0]);
    ul.add_tunnel(&mut sw, "vx-2", true, 3, REMOTES[1]);
    let neutron = neutron().flows();
    let flows = match br_tun {
        0 => FOLSOM,
        1 => &neutron,
        _ => "priority=0 actions=NORMAL",
    };
    let lines: Vec<&str> = flows.lines().collect();
    sw.replace_flows("br-tun", &lines, 0).unwrap();
    sw
}

fn frame_for(op: &Op) -> Option<(String, Vec<u8>)> {
    let inner = |kind: u8, src: usize, dst: usize, vlan: u8, ip: usize| -> Vec<u8> {
        // 0 untagged, 1 and 2 802.1Q; 3 an 802.1ad S-tag (VLAN 1), 4 QinQ (S-tag 1 over
        // C-tag 2): the TPID is not in the key, so 802.1Q and 802.1ad frames share entries.
        let tag = match vlan {
            1 => Some((1, 0)),
            2 => Some((2, 3)),
            _ => None,
        };
        let (s, d) = (MACS[src], MACS[dst]);
        let f = match kind {
            0 => ping(d, s, tag, IPS[ip], IPS[(ip + 1) % 3]),
            1 => arp(
                "ff:ff:ff:ff:ff:ff",
                s,
                tag,
                1,
                s,
                IPS[ip],
                "00:00:00:00:00:00",
                "10.0.0.1",
            ),
            2 => {
                let mut f = eth(d, s, tag, 0x88b5);
                f.extend_from_slice(&[0u8; 46]);
                f
            }
            // Truncated IPv4: forwarded by its L2 fields, as OVS does.
            _ => ping(d, s, tag, IPS[ip], IPS[0])[..20].to_vec(),
        };
        match vlan {
            3 => s_tagged(&f, 1),
            4 => s_tagged(&tagged(&f, 2), 1),
            _ => f,
        }
    };
    match *op {
        Op::Packet {
            port,
            kind,
            src,
            dst,
            vlan,
            ip,
        } => {
            let name = ["vm1", "vm2", "vm3", "trunk", "trunk"][port];
            Some((name.to_string(), inner(kind, src, dst, vlan, ip)))
        }
        Op::Tunnel {
            remote,
            key,
            src,
            dst,
            vlan,
            kind,
        } => {
            let key = [0x3e7, 0x1, 0x99][key as usize];
            let f = inner(kind.min(2), src, dst, vlan, 0);
            let outer = match remote {
                0 => gre(UL_MAC, HOP_MAC, REMOTES[remote], LOCAL, key, &f),
                _ => vxlan(
                    UL_MAC,
                    HOP_MAC,
                    REMOTES[remote],
                    LOCAL,
                    50_000 + key as u16,
                    key,
                    &f,
                ),
            };
            Some(("eth1".to_string(), outer))
        }
        _ => None,
    }
}

/// Applies a flow change; returns the result as text so both models can be compared.
fn apply_change(sw: &mut Switch, op: &Op, now: u64) -> Option<String> {
    let r = match *op {
        Op::AddFlow { rule, mac, port } => sw
            .add_flow("br-int", &extra_rule(rule, mac, port), now)
            .map(|_| String::new()),
        Op::DelFlows { which, mac } => {
            let text = match which {
                0 => format!("dl_dst={}", MACS[mac]),
                1 => "table=5".to_string(),
                2 => format!("dl_src={}", MACS[mac]),
                _ => "priority=9".to_string(),
            };
            let strict = which == 3;
            let text = if strict {
                format!("priority=9,dl_dst={}", MACS[mac])
            } else {
                text
            };
            sw.del_flows("br-int", Some(&text), strict)
                .map(|n| n.to_string())
        }
        Op::ModFlow { mac } => sw
            .mod_flows(
                "br-int",
                &format!("dl_src={} actions=output:vm1", MACS[mac]),
                false,
                now,
            )
            .map(|n| n.to_string()),
        Op::SetOptions {
            bridge,
            forward_bpdu,
            small_table,
            short_aging,
        } => {
            let mut opts = BridgeOptions {
                forward_bpdu,
                ..BridgeOptions::default()
            };
            if small_table {
                opts.mac_table_size = 10;
            }
            if short_aging {
                opts.mac_aging_ms = 15_000;
            }
            sw.set_bridge_options(["br-int", "br-tun"][bridge], opts)
                .map(|_| String::new())
        }
        _ => return None,
    };
    Some(format!("{r:?}"))
}

fn snapshot(sw: &Switch, now: u64) -> String {
    let mut s = String::new();
    for br in ["br-int", "br-tun"] {
        s += &sw.dump_flows(br, None, false, now).unwrap();
        s += &format!("{:?}\n", sw.tables(br).unwrap().mac_table.dump(now));
    }
    s
}

fn run(br_tun: u8, capacity: usize, ops: &[Op]) -> (u64, u64) {
    let mut reference = build(br_tun);
    let mut cached = Cached::new(build(br_tun), capacity);
    let mut now = 1000u64;
    for op in ops {
        if let Op::Wait { ms } = op {
            now += *ms as u64;
        }
        reference.expire(now);
        cached.housekeeping(now);
        if let Some((port, frame)) = frame_for(op) {
            let rp = reference.dp_port_named(&port).unwrap();
            let want = reference.process(rp, &frame, now);
            let got = cached.send(cached.sw.dp_port_named(&port).unwrap(), &frame, now);
            assert_eq!(got, want, "outputs differ for {op:?} at {now}");
        }
        if let Some(want) = apply_change(&mut reference, op, now) {
            let got = apply_change(&mut cached.sw, op, now).unwrap();
            assert_eq!(got, want, "{op:?}");
            cached.fp.commit(&mut cached.sw);
            cached.worker.poll_commands(&mut |_, _| {});
        }
    }
    reference.expire(now);
    cached.housekeeping(now);
    assert_eq!(
        snapshot(&cached.sw, now),
        snapshot(&reference, now),
        "counters or MAC tables differ"
    );
    let st = cached.worker.stats().snapshot();
    assert_eq!(st.lost, 0);
    (st.hits, st.misses)
}

proptest! {
    // PROPTEST_CASES overrides, for longer runs by hand.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(160),
        ..ProptestConfig::default()
    })]

    #[test]
    fn cache_is_transparent(br_tun in 0..3u8, small_cache in any::<bool>(), ops in prop::collection::vec(op(), 1..120)) {
        run(br_tun, if small_cache { 4 } else { 10_000 }, &ops);
    }
}

/// The property test would pass vacuously if nothing ever hit the cache: check that a
/// plain repeated workload does hit it.
#[test]
fn repeated_traffic_hits_the_cache() {
    let mut ops = Vec::new();
    for _ in 0..20 {
        ops.push(Op::Packet {
            port: 0,
            kind: 0,
            src: 0,
            dst: 1,
            vlan: 0,
            ip: 0,
        });
        ops.push(Op::Packet {
            port: 1,
            kind: 0,
            src: 1,
            dst: 0,
            vlan: 0,
            ip: 1,
        });
        ops.push(Op::Tunnel {
            remote: 0,
            key: 0,
            src: 2,
            dst: 0,
            vlan: 0,
            kind: 0,
        });
    }
    for br_tun in 0..3 {
        let (hits, misses) = run(br_tun, 10_000, &ops);
        assert!(
            hits >= 50,
            "br-tun variant {br_tun}: {hits} hits, {misses} misses"
        );
    }
}

/// Option changes between repeats of the same packets, so that cached entries exist for
/// them to make wrong: forward-bpdu toggled under cached BPDU drops and floods, the MAC
/// table shrunk under learned entries and the aging time shortened under them.
#[test]
fn option_changes_reach_cached_entries() {
    let packet = |port, src, dst, vlan| Op::Packet {
        port,
        kind: 0,
        src,
        dst,
        vlan,
        ip: 0,
    };
    let set = |bridge, forward_bpdu, small_table, short_aging| Op::SetOptions {
        bridge,
        forward_bpdu,
        small_table,
        short_aging,
    };
    let round = |ops: &mut Vec<Op>| {
        for _ in 0..2 {
            ops.push(packet(0, 0, 5, 0));
            ops.push(packet(3, 1, 5, 1));
            ops.push(packet(3, 2, 6, 2));
            ops.push(packet(1, 1, 0, 0));
            ops.push(packet(0, 0, 1, 0));
            ops.push(Op::Tunnel {
                remote: 0,
                key: 0,
                src: 3,
                dst: 5,
                vlan: 0,
                kind: 0,
            });
        }
    };
    let mut ops = Vec::new();
    for (i, bridge) in [0, 1, 0, 1, 0].into_iter().enumerate() {
        round(&mut ops);
        ops.push(set(bridge, i % 2 == 0, i >= 2, i >= 3));
        round(&mut ops);
        ops.push(Op::Wait { ms: 9_000 });
        round(&mut ops);
        ops.push(set(bridge, false, false, false));
    }
    for br_tun in 0..3 {
        let (hits, _) = run(br_tun, 10_000, &ops);
        assert!(hits >= 50, "br-tun variant {br_tun}: {hits} hits");
    }
}
