//! Frame builders for the pipeline and daemon tests, written independently of the
//! dataplane's builders so that a mistake in one does not hide in both.

use std::net::Ipv4Addr;

pub fn mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

pub fn csum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet header, with an 802.1Q tag when `vlan` is Some((vid, pcp)).
pub fn eth(dst: &str, src: &str, vlan: Option<(u16, u8)>, ethertype: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&mac(dst));
    f.extend_from_slice(&mac(src));
    if let Some((vid, pcp)) = vlan {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&(((pcp as u16) << 13) | vid).to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

pub fn ipv4_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    payload_len: usize,
    df: bool,
    ttl: u8,
) -> Vec<u8> {
    let total = (20 + payload_len) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&(if df { 0x4000u16 } else { 0 }).to_be_bytes());
    h.extend_from_slice(&[ttl, proto, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// An ICMP echo request from `src` to `dst` (IPv4 addresses), 8 bytes of payload.
pub fn ping(
    dst_mac: &str,
    src_mac: &str,
    vlan: Option<(u16, u8)>,
    src: &str,
    dst: &str,
) -> Vec<u8> {
    let mut icmp = vec![
        8, 0, 0, 0, 0x12, 0x34, 0, 1, b'x', b'v', b's', b'!', 0, 1, 2, 3,
    ];
    let c = csum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = eth(dst_mac, src_mac, vlan, 0x0800);
    f.extend(ipv4_header(
        src.parse().unwrap(),
        dst.parse().unwrap(),
        1,
        icmp.len(),
        false,
        64,
    ));
    f.extend(icmp);
    f
}

#[allow(clippy::too_many_arguments)] // one argument per ARP field reads best at the call sites
pub fn arp(
    dst_mac: &str,
    src_mac: &str,
    vlan: Option<(u16, u8)>,
    op: u16,
    sha: &str,
    spa: &str,
    tha: &str,
    tpa: &str,
) -> Vec<u8> {
    let mut f = eth(dst_mac, src_mac, vlan, 0x0806);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&mac(sha));
    f.extend_from_slice(&spa.parse::<Ipv4Addr>().unwrap().octets());
    f.extend_from_slice(&mac(tha));
    f.extend_from_slice(&tpa.parse::<Ipv4Addr>().unwrap().octets());
    f
}

/// Outer Ethernet / IPv4 (DF, TTL 64, proto 47) / GRE (K bit, protocol 0x6558) around `inner`.
pub fn gre(
    outer_dst: &str,
    outer_src: &str,
    ip_src: &str,
    ip_dst: &str,
    key: u32,
    inner: &[u8],
) -> Vec<u8> {
    let mut g = vec![0x20, 0x00, 0x65, 0x58];
    g.extend_from_slice(&key.to_be_bytes());
    g.extend_from_slice(inner);
    let mut f = eth(outer_dst, outer_src, None, 0x0800);
    f.extend(ipv4_header(
        ip_src.parse().unwrap(),
        ip_dst.parse().unwrap(),
        47,
        g.len(),
        true,
        64,
    ));
    f.extend(g);
    f
}

/// A VXLAN packet (UDP 4789 from `src_port`, checksum 0, I flag, `vni`) carrying `inner`.
pub fn vxlan(
    outer_dst: &str,
    outer_src: &str,
    ip_src: &str,
    ip_dst: &str,
    src_port: u16,
    vni: u32,
    inner: &[u8],
) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&src_port.to_be_bytes());
    u.extend_from_slice(&4789u16.to_be_bytes());
    u.extend_from_slice(&((16 + inner.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0, 0x08, 0, 0, 0]);
    u.extend_from_slice(&(vni << 8).to_be_bytes());
    u.extend_from_slice(inner);
    let mut f = eth(outer_dst, outer_src, None, 0x0800);
    f.extend(ipv4_header(
        ip_src.parse().unwrap(),
        ip_dst.parse().unwrap(),
        17,
        u.len(),
        true,
        64,
    ));
    f.extend(u);
    f
}

/// Inserts an 802.1Q tag (vid, pcp 0) after the MACs of an untagged frame.
pub fn tagged(untagged: &[u8], vid: u16) -> Vec<u8> {
    tag_with(untagged, 0x8100, vid)
}

/// Inserts an 802.1ad service tag (TPID 0x88a8; vid, pcp 0) after the MACs of a frame
/// (in front of any tag it has: QinQ).
pub fn s_tagged(frame: &[u8], vid: u16) -> Vec<u8> {
    tag_with(frame, 0x88a8, vid)
}

/// Inserts a tag with this TPID and TCI after the MACs of a frame.
pub fn tag_with(frame: &[u8], tpid: u16, tci: u16) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&tpid.to_be_bytes());
    f.extend_from_slice(&tci.to_be_bytes());
    f.extend_from_slice(&frame[12..]);
    f
}

/// Removes the outer tag, 802.1Q (0x8100) or 802.1ad (0x88a8).
pub fn untag(tagged: &[u8]) -> Vec<u8> {
    assert!(
        tagged[12..14] == [0x81, 0x00] || tagged[12..14] == [0x88, 0xa8],
        "not tagged: {:02x?}",
        &tagged[12..14]
    );
    let mut f = tagged[..12].to_vec();
    f.extend_from_slice(&tagged[16..]);
    f
}

/// Sends `frame` in at the port named `port` and returns (port name, frame) per output.
pub fn send(
    sw: &mut xvs_pipeline::Switch,
    port: &str,
    frame: &[u8],
    now: u64,
) -> Vec<(String, Vec<u8>)> {
    let p = sw
        .dp_port_named(port)
        .unwrap_or_else(|| panic!("no port {port}"));
    sw.process(p, frame, now)
        .into_iter()
        .map(|(p, f)| (sw.dp_port_name(p).unwrap().to_string(), f))
        .collect()
}
