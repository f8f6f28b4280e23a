//! The slow path: arbitrary frames through a Neutron node (br-int with access ports and
//! a trunk, joined by patch ports to a br-tun with a GRE and a VXLAN tunnel, the agent's
//! br-tun tables with `learn` and the ARP responder, an underlay), frame after frame,
//! as `Switch::process` runs a miss: classify, translate across the bridges, learn,
//! execute (whose `debug_assert` says the pipeline never emits an action the frame does
//! not support).
//!
//! Beyond "no panic", the property the flow caches rest on: a translation depends only
//! on the fields it says it consulted. A key made of this packet's consulted bits and
//! another packet's other bits translates to the same actions, the same rules credited,
//! the same MACs learned and the same learned flows (what a cache hit would replay);
//! and whatever goes out of a port is a whole Ethernet frame.

#![no_main]

use libfuzzer_sys::fuzz_target;
use xvs_dataplane::tunnel::TunnelMap;
use xvs_dataplane::{classify, FlowKey, MacAddr, PortNo};
use xvs_pipeline::{PortConfig, PortKind, Switch, TunnelConfig, UnderlayRoute, VlanMode};

const LOCAL_IP: &str = "192.168.1.254";
const REMOTE_GRE: &str = "192.168.1.253";
const REMOTE_VXLAN: &str = "192.168.1.252";

/// br-tun (patch-int 1, gre-1 2, vxlan-1 3) for network 0x3e7 on local VLAN 1, as the
/// native agent installs it.
const BR_TUN: &str = "
table=0,priority=1,in_port=1 actions=goto_table:2
table=0,priority=0 actions=drop
table=0,priority=1,in_port=2 actions=goto_table:3
table=0,priority=1,in_port=3 actions=goto_table:4
table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff actions=goto_table:21
table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:20
table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:22
table=3,priority=1,tun_id=0x3e7 actions=push_vlan:0x8100,set_field:0x1001->vlan_vid,goto_table:10
table=3,priority=0 actions=drop
table=4,priority=1,tun_id=0x3e7 actions=mod_vlan_vid:1,resubmit(,10)
table=4,priority=0 actions=drop
table=6,priority=0 actions=drop
cookie=0x9d5b,table=10,priority=1 actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x9d5b,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1
table=20,priority=0 actions=goto_table:22
table=21,priority=0 actions=goto_table:22
table=21,priority=1,arp,vlan_vid=0x1001,arp_tpa=10.0.0.1 actions=set_field:2->arp_op,move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:fa:16:3e:f1:5e:7d->arp_sha,set_field:10.0.0.1->arp_spa,move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:fa:16:3e:f1:5e:7d->eth_src,IN_PORT
table=22,priority=1,vlan_vid=0x1001 actions=pop_vlan,set_field:0x3e7->tun_id,output:2,output:3
table=22,priority=0 actions=drop
";

/// br-int as the agent leaves it: NORMAL, with ARP and IPv6 spoofing protection on
/// tap-vm, a dec_ttl route-ish flow and a drop of what comes back on the patch port
/// with an unknown VLAN.
const BR_INT: &str = "
table=0,priority=0 actions=NORMAL
table=0,priority=10,arp,in_port=1 actions=resubmit(,24)
table=0,priority=10,icmp6,in_port=1,icmp_type=136 actions=resubmit(,24)
table=0,priority=3,in_port=4,dl_vlan=99 actions=drop
table=0,priority=5,ip,nw_dst=10.9.0.0/16 actions=dec_ttl,mod_dl_dst:fa:16:3e:00:00:99,NORMAL
table=24,priority=2,arp,in_port=1,arp_spa=10.0.0.5 actions=NORMAL
table=24,priority=2,icmp6,in_port=1,icmp_type=136,nd_target=fe80::f816:3eff:fe00:5 actions=NORMAL
table=24,priority=0 actions=drop
";

struct Node {
    sw: Switch,
    ports: Vec<PortNo>,
}

fn node() -> Node {
    let mut sw = Switch::new();
    sw.add_bridge("br-int").unwrap();
    sw.add_bridge("br-tun").unwrap();
    sw.add_port(
        "br-int",
        PortConfig::new("tap-vm", PortKind::Netdev).tag(1).ofport(1),
    )
    .unwrap();
    sw.add_port(
        "br-int",
        PortConfig::new("tap-other", PortKind::Netdev)
            .tag(2)
            .ofport(2),
    )
    .unwrap();
    let mut trunk = PortConfig::new("eth-trunk", PortKind::Netdev).ofport(3);
    trunk.vlan.mode = VlanMode::NativeUntagged;
    trunk.vlan.tag = Some(1);
    sw.add_port("br-int", trunk).unwrap();
    sw.add_patch_pair(
        ("br-int", "patch-tun", Some(4)),
        ("br-tun", "patch-int", Some(1)),
    )
    .unwrap();
    let underlay = sw.add_underlay("eth1").unwrap();
    let local = LOCAL_IP.parse().unwrap();
    for (name, remote, ofport, vxlan) in [
        ("gre-1", REMOTE_GRE, 2, false),
        ("vxlan-1", REMOTE_VXLAN, 3, true),
    ] {
        let remote = remote.parse().unwrap();
        let kind = if vxlan {
            PortKind::Vxlan(TunnelConfig::vxlan_key_flow(local, remote))
        } else {
            PortKind::Gre(TunnelConfig::gre_key_flow(local, remote))
        };
        sw.add_port("br-tun", PortConfig::new(name, kind).ofport(ofport))
            .unwrap();
        sw.set_underlay_route(
            remote,
            UnderlayRoute {
                port: underlay,
                src_mac: MacAddr([0x52, 0x54, 0, 0, 1, 0xfe]),
                dst_mac: MacAddr([0x52, 0x54, 0, 0, 1, 1]),
                src_ip: local,
                mtu: 1500,
            },
        );
    }
    let lines = |s: &'static str| s.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>();
    sw.replace_flows("br-tun", &lines(BR_TUN), 0).unwrap();
    sw.replace_flows("br-int", &lines(BR_INT), 0).unwrap();
    let ports = ["tap-vm", "tap-other", "eth-trunk", "eth1"]
        .iter()
        .map(|n| sw.dp_port_named(n).unwrap())
        .collect();
    Node { sw, ports }
}

/// The packets: each is a port byte, a length byte, then that many bytes (fewer at the
/// end of the input).
fn packets(mut data: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    while let [port, len, rest @ ..] = data {
        let n = usize::from(*len).min(rest.len());
        out.push((usize::from(*port), &rest[..n]));
        data = &rest[n..];
    }
    out
}

fn mix(key: &FlowKey, mask: &FlowKey, other: &FlowKey) -> FlowKey {
    let mut k = key.masked(mask);
    k.union_with(&other.masked(&mask.complement()));
    k
}

fuzz_target!(|data: &[u8]| {
    let mut node = node();
    let packets = packets(data);
    let tunnels: TunnelMap = (*node.sw.tunnel_map()).clone();
    let keys: Vec<Option<FlowKey>> = packets
        .iter()
        .map(|&(p, f)| {
            let port = node.ports[p % node.ports.len()];
            classify(port, f, &tunnels).ok().map(|c| c.key)
        })
        .collect();
    for (i, &(p, frame)) in packets.iter().enumerate().take(16) {
        let now = 1000 * (i as u64 + 1);
        let port = node.ports[p % node.ports.len()];
        if let Some(key) = &keys[i] {
            let tr = node.sw.translate(key, now);
            let mask = tr.cache_mask();
            for other in keys.iter().flatten() {
                let mixed = mix(key, &mask, other);
                let tr2 = node.sw.translate(&mixed, now);
                assert_eq!(
                    (
                        &tr2.actions,
                        &tr2.rules,
                        &tr2.macs,
                        &tr2.learned,
                        &tr2.to_controller
                    ),
                    (
                        &tr.actions,
                        &tr.rules,
                        &tr.macs,
                        &tr.learned,
                        &tr.to_controller
                    ),
                    "key {key:?}\nmask {mask:?}\nmixed {mixed:?}"
                );
            }
        }
        for (out_port, bytes) in node.sw.process(port, frame, now) {
            assert!(
                FlowKey::extract(out_port, &bytes).is_ok(),
                "{} bytes out of {out_port}",
                bytes.len()
            );
        }
    }
});
