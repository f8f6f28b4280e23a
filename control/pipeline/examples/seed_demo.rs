//! What the Folsom network node's flows do to a few packets: the pure pipeline, no NIC.
//!
//! Network node 192.168.1.254: br-int with a DHCP port on VLAN 1 (network A, MAC
//! fa:16:3e:dc:c5:23) and one on VLAN 2 (network B); br-tun with patch-int and gre-1 to
//! the compute node 192.168.1.253, programmed with the guide's table-0 flows.

use std::net::Ipv4Addr;

use xvs_dataplane::{FlowKey, MacAddr};
use xvs_pipeline::{PortConfig, PortKind, Switch, TunnelConfig, UnderlayRoute};

const FLOWS: &str = "\
priority=4,in_port=patch-int,dl_vlan=1 actions=set_tunnel:0x3e7,output:gre-1
priority=4,in_port=patch-int,dl_vlan=2 actions=set_tunnel:0x1,output:gre-1
priority=3,tun_id=0x3e7,dl_dst=fa:16:3e:dc:c5:23 actions=mod_vlan_vid:1,output:patch-int
priority=3,tun_id=0x3e7,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:1,output:patch-int
priority=3,tun_id=0x1,dl_dst=fa:16:3e:0b:0b:02 actions=mod_vlan_vid:2,output:patch-int
priority=3,tun_id=0x1,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:2,output:patch-int
priority=1 actions=drop";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut sw = Switch::new();
    sw.add_bridge("br-int")?;
    sw.add_bridge("br-tun")?;
    sw.add_port(
        "br-int",
        PortConfig::new("tap-dhcp-a", PortKind::Netdev).tag(1),
    )?;
    sw.add_port(
        "br-int",
        PortConfig::new("tap-dhcp-b", PortKind::Netdev).tag(2),
    )?;
    sw.add_patch_pair(
        ("br-int", "patch-tun", None),
        ("br-tun", "patch-int", Some(1)),
    )?;
    let gre = TunnelConfig::gre_key_flow(
        Ipv4Addr::new(192, 168, 1, 254),
        Ipv4Addr::new(192, 168, 1, 253),
    );
    sw.add_port(
        "br-tun",
        PortConfig::new("gre-1", PortKind::Gre(gre)).ofport(2),
    )?;
    let eth1 = sw.add_underlay("eth1")?;
    sw.set_underlay_route(
        gre.remote_ip,
        UnderlayRoute {
            port: eth1,
            src_mac: "52:54:00:00:01:fe".parse()?,
            dst_mac: "52:54:00:00:01:fd".parse()?,
            src_ip: Ipv4Addr::new(192, 168, 1, 254),
            mtu: 1500,
        },
    );
    let lines: Vec<&str> = FLOWS.lines().collect();
    sw.replace_flows("br-tun", &lines, 0)?;

    println!("== br-tun flows (Folsom guide, network node) ==");
    print!("{}", sw.dump_flows("br-tun", None, true, 0)?);

    let cases = [
        (
            "DHCP port A sends a broadcast (a DHCP offer, say): VLAN 1 -> tunnel id 0x3e7 to the compute node",
            "br-int",
            "in_port=tap-dhcp-a,dl_src=fa:16:3e:dc:c5:23,dl_dst=ff:ff:ff:ff:ff:ff,ip,nw_src=10.0.0.2,nw_dst=10.0.0.255",
        ),
        (
            "DHCP port B sends a broadcast: VLAN 2 -> tunnel id 0x1",
            "br-int",
            "in_port=tap-dhcp-b,dl_src=fa:16:3e:0b:0b:02,dl_dst=ff:ff:ff:ff:ff:ff",
        ),
    ];
    for (what, br, pkt) in cases {
        println!("\n== {what} ==\n$ xvsctl trace {br} '{pkt}'");
        print!("{}", sw.trace(br, pkt, 1000)?);
    }

    // Packets that arrive from the tunnel: real GRE frames through the decap path.
    let vm = "fa:16:3e:7a:7a:07".parse::<MacAddr>()?;
    let tunnel_cases = [
        ("A VM on the compute node (VLAN 7 there) pings DHCP port A: tunnel id 0x3e7 -> VLAN 1 -> tap-dhcp-a, untagged", 0x3e7u32, "fa:16:3e:dc:c5:23"),
        ("A broadcast on network B from the compute node: tunnel id 0x1 -> tap-dhcp-b only", 0x1, "ff:ff:ff:ff:ff:ff"),
        ("A packet with a tunnel id no flow knows (0x99): dropped by priority=1", 0x99, "fa:16:3e:dc:c5:23"),
    ];
    for (what, key, dst) in tunnel_cases {
        println!("\n== {what} ==");
        let inner = inner_frame(dst.parse()?, vm);
        let wire = gre_frame(key, &inner);
        println!(
            "in  eth1       {} bytes: GRE key={key:#x} proto 0x6558, inner {} -> {} VLAN 7",
            wire.len(),
            vm,
            dst
        );
        let out = sw.process(eth1, &wire, 2000);
        if out.is_empty() {
            println!("out (dropped)");
        }
        for (p, f) in out {
            let k = FlowKey::extract(p, &f)?;
            let tag = k
                .vlan_vid()
                .map(|v| format!("VLAN {v}"))
                .unwrap_or_else(|| "untagged".into());
            println!(
                "out {:<10} {} bytes: {} -> {} {tag}",
                sw.dp_port_name(p).unwrap_or("?"),
                f.len(),
                k.dl_src,
                k.dl_dst
            );
        }
    }

    println!("\n== br-tun flows afterwards: the counters show what matched ==");
    print!("{}", sw.dump_flows("br-tun", None, true, 3000)?);
    Ok(())
}

/// A VLAN-7-tagged IPv4 frame, as the compute node's br-int hands it to its br-tun.
fn inner_frame(dst: MacAddr, src: MacAddr) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&[0x81, 0x00, 0x00, 0x07, 0x08, 0x00]);
    let mut ip = vec![
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 3, 10, 0, 0, 2,
    ];
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    f.extend_from_slice(&[8, 0, 0xf7, 0xff, 0, 0, 0, 0]);
    f
}

fn gre_frame(key: u32, inner: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[
        0x52, 0x54, 0, 0, 1, 0xfe, 0x52, 0x54, 0, 0, 1, 0xfd, 0x08, 0x00,
    ]);
    let total = (20 + 8 + inner.len()) as u16;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 47, 0, 0, 192, 168, 1, 253, 192, 168, 1, 254,
    ];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    f.extend_from_slice(&[0x20, 0x00, 0x65, 0x58]);
    f.extend_from_slice(&key.to_be_bytes());
    f.extend_from_slice(inner);
    f
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}
