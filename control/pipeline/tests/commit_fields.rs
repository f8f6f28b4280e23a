//! The translation's commit of L3/L4 field writes, through the pipeline: `load:` on
//! `nw_src`/`nw_dst` (the fields the flow syntax has today) gives `set(ipv4(...))`
//! actions whose frames have their IPv4 and UDP/TCP checksums right, the same bytes by
//! the slow path and through a worker's cache; a frame whose IPv4 header did not parse
//! (`nw_proto` 0 in its key) is forwarded as it is, as OVS commits no L3 field for it.

mod common;

use std::net::Ipv4Addr;

use common::cached::Cached;
use common::*;
use xvs_dataplane::FlowKey;
use xvs_pipeline::present::datapath::format_dp_actions;
use xvs_pipeline::{PortConfig, PortKind, Switch};

const A: &str = "fa:16:3e:00:00:0a";
const B: &str = "fa:16:3e:00:00:0b";
const NEW_DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);
const NEW_SRC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn bridge() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge("br0").unwrap();
    for p in ["p1", "p2", "p3"] {
        sw.add_port("br0", PortConfig::new(p, PortKind::Netdev))
            .unwrap();
    }
    for f in [
        "priority=10,ip,in_port=1,actions=load:0xc0000263->NXM_OF_IP_DST[],output:2",
        "priority=10,ip,in_port=3,actions=load:0xc6336407->NXM_OF_IP_SRC[],output:2,\
         load:0xc0000263->NXM_OF_IP_DST[],output:1",
        "priority=0,actions=NORMAL",
    ] {
        sw.add_flow("br0", f, 0).unwrap();
    }
    sw
}

/// A UDP (17) or TCP (6) packet from 10.0.0.1 to 10.0.0.2 with its checksums right; a
/// UDP checksum of 0 if `no_udp_csum`.
fn l4_frame(proto: u8, src: Ipv4Addr, dst: Ipv4Addr, no_udp_csum: bool) -> Vec<u8> {
    let payload = b"xvs fields";
    let mut l4 = match proto {
        17 => {
            let mut u = vec![0x30, 0x39, 0x00, 0x35];
            u.extend(((8 + payload.len()) as u16).to_be_bytes());
            u.extend([0, 0]);
            u
        }
        _ => {
            let mut t = vec![0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18];
            t.extend([0x10, 0, 0, 0, 0, 0]);
            t
        }
    };
    l4.extend_from_slice(payload);
    let mut pseudo = src.octets().to_vec();
    pseudo.extend(dst.octets());
    pseudo.extend([0, proto]);
    pseudo.extend((l4.len() as u16).to_be_bytes());
    pseudo.extend(&l4);
    let c = csum(&pseudo);
    let at = if proto == 17 { 6 } else { 16 };
    if !(proto == 17 && no_udp_csum) {
        l4[at..at + 2].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    }
    let mut f = eth(B, A, None, 0x0800);
    f.extend(ipv4_header(src, dst, proto, l4.len(), true, 64));
    f.extend(l4);
    f
}

/// Sends through the slow path and twice through a cache (the second a hit); all agree.
fn both(frame: &[u8], port: &str) -> Vec<(String, Vec<u8>)> {
    let mut slow = bridge();
    let want = send(&mut slow, port, frame, 0);
    let mut c = Cached::new(bridge(), 100);
    let p = c.sw.dp_port_named(port).unwrap();
    for i in 0..2 {
        let got: Vec<_> = c
            .send(p, frame, 0)
            .into_iter()
            .map(|(p, f)| (c.sw.dp_port_name(p).unwrap().to_string(), f))
            .collect();
        assert_eq!(got, want, "through the cache, send {i}");
    }
    assert_eq!(c.worker.stats().snapshot().hits, 1);
    want
}

#[test]
fn load_nw_dst_rewrites_the_address_and_every_checksum() {
    let (s, d) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    for (proto, no_csum) in [(17, false), (17, true), (6, false)] {
        let f = l4_frame(proto, s, d, no_csum);
        // The expected frame is built whole with the new address: the incremental
        // updates must equal a recomputation.
        let want = l4_frame(proto, s, NEW_DST, no_csum);
        assert_eq!(
            both(&f, "p1"),
            vec![("p2".to_string(), want)],
            "proto {proto}"
        );
    }
    // Two outputs, each with the fields as they were then.
    let f = l4_frame(6, s, d, false);
    assert_eq!(
        both(&f, "p3"),
        vec![
            ("p2".to_string(), l4_frame(6, NEW_SRC, d, false)),
            ("p1".to_string(), l4_frame(6, NEW_SRC, NEW_DST, false)),
        ]
    );
}

#[test]
fn translation_shows_ovs_actions_and_consults_the_l3_type() {
    let sw = bridge();
    let f = l4_frame(
        17,
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        false,
    );
    let key = FlowKey::extract(sw.dp_port_named("p1").unwrap(), &f).unwrap();
    let t = sw.translate(&key, 0);
    assert_eq!(
        format_dp_actions(sw.topology(), &t.actions),
        "set(ipv4(dst=192.0.2.99)),2(p2)"
    );
    // Which header nw_dst lives in: dl_type and nw_proto (OVS commits nothing for 0).
    assert_eq!(
        (t.consulted.dl_type, t.consulted.nw_proto),
        (u16::MAX, u8::MAX)
    );
    assert_eq!(t.consulted.tp_dst, 0, "the ports are not consulted");
    assert!(t.consulted.fits_packed());
}

/// A frame that says IPv4 but whose header is cut short: its key has the L2 fields
/// only (OVS's flow too), the `ip` rule matches, and OVS commits no IPv4 field of a
/// packet whose nw_proto is 0: it leaves as it came, not dropped.
#[test]
fn broken_ipv4_header_is_forwarded_unchanged() {
    let f = l4_frame(
        17,
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        false,
    );
    let cut = f[..14 + 19].to_vec();
    assert_eq!(both(&cut, "p1"), vec![("p2".to_string(), cut.clone())]);
    let key = FlowKey::extract(1, &cut).unwrap();
    assert_eq!((key.dl_type, key.nw_proto, key.nw_dst), (0x0800, 0, 0));
    let mut slow = bridge();
    send(&mut slow, "p1", &cut, 0);
    assert_eq!(slow.drops.malformed, 0);
}
