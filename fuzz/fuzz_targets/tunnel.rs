//! Tunnel decapsulation (GRE and VXLAN over IPv4) and the classification of a frame
//! received on an underlay, on any bytes.
//!
//! Beyond "no panic": `decap_tunnel` agrees with whichever of `decap_gre` and
//! `decap_vxlan` accepts the frame, and never both do; the inner range lies inside the
//! frame and holds at least an Ethernet header; `classify` on an underlay is exactly
//! decap + tunnel-map lookup + extraction of the inner frame (with the tunnel port as
//! `in_port` and the key as `tun_id`), or the matching drop reason; and what was
//! decapsulated, encapsulated again with the same addresses and key, decapsulates to
//! the same thing (the same inner bytes).

#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use xvs_dataplane::tunnel::{TunnelKeyMatch, TunnelMap, TunnelPort};
use xvs_dataplane::{
    classify, decap_gre, decap_tunnel, decap_vxlan, tunnel_header_len, write_tunnel_header,
    ClassifyDrop, FlowKey, MacAddr, TunnelHeader, TunnelKind, TunnelType, WireError,
};

const UNDERLAY: u32 = 1;
const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// Tunnel ports of every key kind, for the seeds' addresses (192.0.2.2 -> 192.0.2.1)
/// and a wildcard local address.
fn map() -> TunnelMap {
    let port = |kind, remote, local, key, port| TunnelPort {
        kind,
        remote,
        local,
        key,
        port,
    };
    TunnelMap {
        underlays: vec![UNDERLAY],
        tunnels: vec![
            port(TunnelType::Gre, REMOTE, Some(LOCAL), TunnelKeyMatch::Any, 5),
            port(TunnelType::Gre, LOCAL, None, TunnelKeyMatch::NoKey, 6),
            port(
                TunnelType::Vxlan,
                REMOTE,
                Some(LOCAL),
                TunnelKeyMatch::Exactly(0x3e7),
                7,
            ),
            port(TunnelType::Vxlan, REMOTE, None, TunnelKeyMatch::Any, 8),
        ],
    }
}

fuzz_target!(|frame: &[u8]| {
    let gre = decap_gre(frame);
    let vxlan = decap_vxlan(frame);
    let any = decap_tunnel(frame);
    match any {
        Ok(d) => {
            assert!(gre.is_ok() != vxlan.is_ok(), "exactly one decap accepts it");
            match d.kind {
                TunnelType::Gre => assert_eq!(gre.map(Into::into), Ok(d)),
                TunnelType::Vxlan => {
                    assert_eq!(vxlan, Ok(d));
                    assert!(d.key.is_some_and(|vni| vni <= 0xff_ffff));
                }
            }
        }
        Err(_) => assert!(gre.is_err() && vxlan.is_err()),
    }

    let map = map();
    let c = classify(UNDERLAY, frame, &map);
    let d = match (any, c) {
        (Err(e), c) => {
            assert_eq!(c, Err(ClassifyDrop::BadTunnel(e)));
            return;
        }
        (Ok(d), c) => {
            let inner = frame
                .get(d.inner_range())
                .expect("inner range inside the frame");
            assert!(inner.len() >= 14);
            match map.lookup_type(d.kind, d.outer_src, d.outer_dst, d.key) {
                None => assert!(matches!(c, Err(ClassifyDrop::UnknownTunnel { .. }))),
                Some(port) => {
                    let c = c.expect("a known tunnel's packet is classified");
                    let mut want = FlowKey::extract(port, inner).expect("14 bytes or more");
                    want.tun_id = u64::from(d.key.unwrap_or(0));
                    assert_eq!(c.key, want);
                    assert_eq!(c.inner, d.inner_range());
                }
            }
            d
        }
    };

    // Encapsulated again: the same tunnel, the same inner frame.
    let inner = &frame[d.inner_range()];
    let kind = match d.kind {
        TunnelType::Gre => TunnelKind::Gre {
            key: d.key,
            csum: inner.first().is_some_and(|b| b & 1 == 1),
        },
        TunnelType::Vxlan => TunnelKind::Vxlan {
            vni: d.key.unwrap_or(0),
            src_port: 49152,
        },
    };
    let header = TunnelHeader {
        kind,
        eth_src: MacAddr([2, 0, 0, 0, 0, 2]),
        eth_dst: MacAddr([2, 0, 0, 0, 0, 1]),
        ip_src: d.outer_src,
        ip_dst: d.outer_dst,
        ttl: 64,
        tos: 0,
        dont_fragment: true,
        mtu: u16::MAX,
    };
    let hl = tunnel_header_len(&header);
    let mut out = vec![0u8; hl + inner.len()];
    out[hl..].copy_from_slice(inner);
    let n = match write_tunnel_header(&header, inner.len(), &mut out) {
        Ok(n) => n,
        // A GRE key or checksum the packet did not have may take it past 64 KiB.
        Err(WireError::PacketTooLarge { .. }) => return,
        Err(e) => panic!("encapsulating {} bytes: {e}", inner.len()),
    };
    assert_eq!(n, out.len());
    let again = decap_tunnel(&out).expect("our own encapsulation decapsulates");
    assert_eq!(
        (again.kind, again.outer_src, again.outer_dst, again.key),
        (d.kind, d.outer_src, d.outer_dst, d.key)
    );
    assert_eq!(&out[again.inner_range()], inner);
});
