//! Benchmarks for xvs. The criterion micro-benchmarks (`benches/fastpath.rs`) come with
//! the fast-path issue, the packet-rate harness for veth and NIC pairs with the
//! benchmarking issue.
//!
//! This library holds what the benchmarks and the profiling drivers share: the Folsom
//! seed topology (network node) and builders of the frames they send. The builders write
//! bytes by hand, independently of the dataplane's own builders, except for the outer
//! headers of tunnel packets, which use [`xvs_dataplane::write_tunnel_header`].

pub mod harness;
pub mod traffic;

use std::net::Ipv4Addr;

use xvs_dataplane::{
    tunnel_header_len, write_tunnel_header, MacAddr, PortNo, TunnelHeader, TunnelKind,
};
use xvs_pipeline::{PortConfig, PortKind, Switch, TunnelConfig, UnderlayRoute};

pub const NET_UNDERLAY_MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x00, 0x01, 0xfe]);
pub const CMP_UNDERLAY_MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x00, 0x01, 0xfd]);
pub const NET_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 254);
pub const CMP_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 253);
/// Network A's DHCP port on the network node (br-int, tag 1).
pub const DHCP_A_MAC: MacAddr = MacAddr([0xfa, 0x16, 0x3e, 0xdc, 0xc5, 0x23]);
pub const DHCP_B_MAC: MacAddr = MacAddr([0xfa, 0x16, 0x3e, 0x0b, 0x0b, 0x02]);
/// Network A's VM on the compute node (behind the tunnel, VLAN 7 there).
pub const VM_A_MAC: MacAddr = MacAddr([0xfa, 0x16, 0x3e, 0x7a, 0x7a, 0x07]);
/// Network A's tunnel id.
pub const TUN_ID_A: u32 = 0x3e7;
/// Every frame the benchmarks send is this long (no FCS), the minimum Ethernet frame.
pub const FRAME_LEN: usize = 64;

/// The network node of the Folsom OVS-agent guide's seed scenario, as in
/// `control/tests/folsom_seed.rs`.
pub struct NetworkNode {
    pub sw: Switch,
    /// The underlay netdev (`eth1`) carrying GRE to the compute node.
    pub underlay: PortNo,
    /// `tap-dhcp-a`: br-int access port, tag 1.
    pub tap_a: PortNo,
    /// `tap-dhcp-b`: br-int access port, tag 2.
    pub tap_b: PortNo,
}

/// br-int (NORMAL) with `tap-dhcp-a` (tag 1), `tap-dhcp-b` (tag 2) and `patch-tun`;
/// br-tun with `patch-int` (ofport 1), `gre-1` (ofport 2, key=flow, to the compute node)
/// and the Folsom agent's flows; an underlay route to the compute node.
pub fn network_node() -> NetworkNode {
    let mut sw = Switch::new();
    sw.add_bridge("br-int").unwrap();
    sw.add_bridge("br-tun").unwrap();
    for (name, tag) in [("tap-dhcp-a", 1), ("tap-dhcp-b", 2)] {
        sw.add_port("br-int", PortConfig::new(name, PortKind::Netdev).tag(tag))
            .unwrap();
    }
    sw.add_patch_pair(
        ("br-int", "patch-tun", None),
        ("br-tun", "patch-int", Some(1)),
    )
    .unwrap();
    let gre = TunnelConfig::gre_key_flow(NET_IP, CMP_IP);
    sw.add_port(
        "br-tun",
        PortConfig::new("gre-1", PortKind::Gre(gre)).ofport(2),
    )
    .unwrap();
    let underlay = sw.add_underlay("eth1").unwrap();
    sw.set_underlay_route(
        CMP_IP,
        UnderlayRoute {
            port: underlay,
            src_mac: NET_UNDERLAY_MAC,
            dst_mac: CMP_UNDERLAY_MAC,
            src_ip: NET_IP,
            mtu: 1500,
        },
    );
    let flows = format!(
        "priority=4,in_port=patch-int,dl_vlan=1 actions=set_tunnel:0x3e7,output:gre-1
         priority=4,in_port=patch-int,dl_vlan=2 actions=set_tunnel:0x1,output:gre-1
         priority=3,tun_id=0x3e7,dl_dst={DHCP_A_MAC} actions=mod_vlan_vid:1,output:patch-int
         priority=3,tun_id=0x3e7,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:1,output:patch-int
         priority=3,tun_id=0x1,dl_dst={DHCP_B_MAC} actions=mod_vlan_vid:2,output:patch-int
         priority=3,tun_id=0x1,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:2,output:patch-int
         priority=1 actions=drop"
    );
    let lines: Vec<&str> = flows.lines().collect();
    sw.replace_flows("br-tun", &lines, 0).unwrap();
    let tap_a = sw.dp_port_named("tap-dhcp-a").unwrap();
    let tap_b = sw.dp_port_named("tap-dhcp-b").unwrap();
    NetworkNode {
        sw,
        underlay,
        tap_a,
        tap_b,
    }
}

fn csum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A 64-byte IPv4/UDP frame, 10.0.0.2:67 -> 10.0.0.3:68, with an 802.1Q tag (PCP 0)
/// when `vid` is given; the UDP payload pads the frame to 64 bytes, UDP checksum 0.
pub fn udp_64(dst: MacAddr, src: MacAddr, vid: Option<u16>) -> [u8; FRAME_LEN] {
    let mut f = Vec::with_capacity(FRAME_LEN);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    if let Some(vid) = vid {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    let ip_len = FRAME_LEN - f.len();
    let udp_len = ip_len - 20;
    let mut ip = vec![0x45, 0x00];
    ip.extend_from_slice(&(ip_len as u16).to_be_bytes());
    ip.extend_from_slice(&[0x00, 0x01, 0x40, 0x00, 64, 17, 0, 0]);
    ip.extend_from_slice(&[10, 0, 0, 2, 10, 0, 0, 3]);
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&67u16.to_be_bytes());
    f.extend_from_slice(&68u16.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.resize(FRAME_LEN, 0xa5);
    f.try_into().unwrap()
}

/// What the compute node sends the network node for network A: `inner` in
/// Ethernet/IPv4/GRE (key 0x3e7, no checksum) from 192.168.1.253 to 192.168.1.254.
pub fn gre_from_compute(inner: &[u8]) -> Vec<u8> {
    let header = TunnelHeader {
        kind: TunnelKind::Gre {
            key: Some(TUN_ID_A),
            csum: false,
        },
        eth_src: CMP_UNDERLAY_MAC,
        eth_dst: NET_UNDERLAY_MAC,
        ip_src: CMP_IP,
        ip_dst: NET_IP,
        ttl: 64,
        tos: 0,
        dont_fragment: true,
        mtu: u16::MAX,
    };
    let hl = tunnel_header_len(&header);
    let mut buf = vec![0u8; hl + inner.len()];
    buf[hl..].copy_from_slice(inner);
    let n = write_tunnel_header(&header, inner.len(), &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// A locally administered unicast MAC for index `i` (distinct for `i < 2^40`).
pub fn mac_for(i: u64) -> MacAddr {
    let b = i.to_be_bytes();
    MacAddr([0x02, b[3], b[4], b[5], b[6], b[7]])
}

/// A permutation of `0..n` (Fisher-Yates over a xorshift generator, fixed seed): the
/// order in which the hit benchmarks visit their entries, so that neither the hash
/// tables nor the heap are walked in the order they were filled.
pub fn shuffled(n: usize, seed: u64) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n as u32).collect();
    let mut s = seed | 1;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use xvs_dataplane::{decap_gre, FlowKey};

    #[test]
    fn frames_parse() {
        let f = udp_64(VM_A_MAC, DHCP_A_MAC, Some(1));
        let k = FlowKey::extract(1, &f).unwrap();
        assert_eq!(k.vlan_vid(), Some(1));
        assert_eq!((k.dl_type, k.nw_proto, k.nw_dst), (0x0800, 17, 0x0a00_0003));
        let g = gre_from_compute(&f);
        let d = decap_gre(&g).unwrap();
        assert_eq!(d.key, Some(TUN_ID_A));
        assert_eq!(&g[d.inner_range()], &f[..]);
        let u = udp_64(VM_A_MAC, DHCP_A_MAC, None);
        assert_eq!(FlowKey::extract(1, &u).unwrap().nw_src, 0x0a00_0002);
    }

    #[test]
    fn permutation() {
        let mut p = shuffled(1000, 7);
        assert_ne!(p[..10], (0..10).collect::<Vec<u32>>()[..]);
        p.sort_unstable();
        assert_eq!(p, (0..1000).collect::<Vec<u32>>());
    }

    #[test]
    fn seed_path_goes_to_the_tunnel() {
        let mut n = network_node();
        let out =
            n.sw.process(n.tap_a, &udp_64(VM_A_MAC, DHCP_A_MAC, None), 1000);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, n.underlay);
    }
}
