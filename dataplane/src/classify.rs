//! What a received frame is looked up as, written once for the worker's fast path and the
//! slow path alike: on an underlay port the frame is decapsulated (GRE or VXLAN) and
//! belongs to the tunnel port the [`TunnelMap`] finds for it, with its tunnel key as
//! `tun_id`; then the flow key of the (inner) frame is extracted.
//!
//! [`classify`] only reads the frame: it says where the frame the key describes lies in
//! it ([`Classified::inner`]), and the caller narrows its buffer to that (the worker pulls
//! the outer headers into its headroom, without a copy). Nothing here allocates.

use std::mem::MaybeUninit;
use std::net::Ipv4Addr;
use std::ops::Range;

use crate::flow_key::{FlowKey, PortNo};
use crate::tunnel::{decap_tunnel, TunnelMap, TunnelType};
use crate::wire::WireError;

/// A frame the datapath can look up.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Classified {
    /// The flow key: for a decapsulated packet, `in_port` is the tunnel port and `tun_id`
    /// the GRE key or VXLAN VNI (0 when the GRE packet has none); otherwise `tun_id` is 0.
    pub key: FlowKey,
    /// Where the frame the key describes is in the frame classified: the inner frame of a
    /// tunnel packet (padding after the outer packet excluded), else the whole frame.
    pub inner: Range<usize>,
}

/// Why a frame is dropped before lookup; each is one of the worker's counters.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ClassifyDrop {
    /// The frame is shorter than an Ethernet header, the one thing [`FlowKey::extract`]
    /// refuses (OVS's userspace datapath drops such frames too): `malformed`. Headers
    /// past Ethernet that do not parse are no drop: the key then holds the fields before
    /// them, as OVS's, and the frame goes on by those.
    #[error("malformed frame: {0}")]
    Malformed(#[source] WireError),
    /// A frame on an underlay port that is not a tunnel packet a tunnel endpoint accepts
    /// ([`decap_tunnel`]'s checks): `bad_tunnel`.
    #[error("bad tunnel packet: {0}")]
    BadTunnel(#[source] WireError),
    /// A good tunnel packet that no tunnel port of ours takes: `unknown_tunnel`.
    #[error("{kind:?} packet from {remote} to {local} with key {key:?}: no tunnel port takes it")]
    UnknownTunnel {
        kind: TunnelType,
        remote: Ipv4Addr,
        local: Ipv4Addr,
        key: Option<u32>,
    },
}

/// Classifies `frame`, received on datapath port `in_port`: decapsulated and assigned to
/// its tunnel port when `in_port` is one of `tunnels`' underlays, then its flow key
/// extracted. See the [module documentation](self).
pub fn classify(
    in_port: PortNo,
    frame: &[u8],
    tunnels: &TunnelMap,
) -> Result<Classified, ClassifyDrop> {
    classify_on(in_port, tunnels.is_underlay(in_port), frame, tunnels)
}

/// [`classify`] with `tunnels.is_underlay(in_port)` already answered: the worker asks
/// once per batch, whose frames all come from one port.
pub(crate) fn classify_on(
    in_port: PortNo,
    underlay: bool,
    frame: &[u8],
    tunnels: &TunnelMap,
) -> Result<Classified, ClassifyDrop> {
    let mut key = MaybeUninit::uninit();
    let inner = classify_into(in_port, underlay, frame, tunnels, &mut key)?;
    // SAFETY: classify_into returned Ok, so it wrote the key.
    let key = unsafe { key.assume_init() };
    Ok(Classified { key, inner })
}

/// [`classify_on`] writing the key into the caller's storage (written whole when this
/// returns `Ok`), and returning where the frame it describes is. Always inlined into
/// the worker's `process` and `process_batch`: the key is then written once, where it
/// is packed and looked up (see [`FlowKey::extract_into`]; out of line, a `Classified`
/// went through memory and was repacked, which cost the hit path 5-6%).
#[inline(always)]
pub(crate) fn classify_into(
    in_port: PortNo,
    underlay: bool,
    frame: &[u8],
    tunnels: &TunnelMap,
    out: &mut MaybeUninit<FlowKey>,
) -> Result<Range<usize>, ClassifyDrop> {
    let mut port = in_port;
    let mut tun_id = 0;
    let mut inner = 0..frame.len();
    if underlay {
        let d = decap_tunnel(frame).map_err(ClassifyDrop::BadTunnel)?;
        port = tunnels
            .lookup_type(d.kind, d.outer_src, d.outer_dst, d.key)
            .ok_or(ClassifyDrop::UnknownTunnel {
                kind: d.kind,
                remote: d.outer_src,
                local: d.outer_dst,
                key: d.key,
            })?;
        tun_id = u64::from(d.key.unwrap_or(0));
        inner = d.inner_range();
    }
    // decap_tunnel checked the inner range's bounds.
    let key =
        FlowKey::extract_into(out, port, &frame[inner.clone()]).map_err(ClassifyDrop::Malformed)?;
    key.tun_id = tun_id;
    Ok(inner)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::actions::{TunnelHeader, TunnelKind};
    use crate::mac::MacAddr;
    use crate::tunnel::{tunnel_header_len, write_tunnel_header, TunnelKeyMatch, TunnelPort};
    use crate::wire::Layer;

    pub(crate) const UNDERLAY: PortNo = 1;
    const VM_PORT: PortNo = 2;
    const GRE_PORT: PortNo = 5;
    const VXLAN_PORT: PortNo = 6;
    pub(crate) const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    pub(crate) const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    /// fa:16:3e:00:00:01 -> fa:16:3e:00:00:02, IPv4 10.0.0.1 -> 10.0.0.2 ICMP echo.
    pub(crate) fn inner() -> Vec<u8> {
        let mut f = vec![
            0xfa, 0x16, 0x3e, 0, 0, 2, 0xfa, 0x16, 0x3e, 0, 0, 1, 0x08, 0x00,
        ];
        f.extend([
            0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0x66, 0xde, 10, 0, 0, 1,
            10, 0, 0, 2, 0x08, 0x00, 0xf7, 0xfd, 0x00, 0x01, 0x00, 0x01,
        ]);
        f
    }

    /// A tunnel packet from REMOTE to LOCAL around `inner`, followed by `padding` bytes
    /// (as Ethernet padding of a short outer frame would be).
    pub(crate) fn encap(kind: TunnelKind, inner: &[u8], padding: usize) -> Vec<u8> {
        let h = TunnelHeader {
            kind,
            eth_src: MacAddr([2, 0, 0, 0, 0, 2]),
            eth_dst: MacAddr([2, 0, 0, 0, 0, 1]),
            ip_src: REMOTE,
            ip_dst: LOCAL,
            ttl: 64,
            tos: 0,
            dont_fragment: true,
            mtu: u16::MAX,
        };
        let hl = tunnel_header_len(&h);
        let mut buf = vec![0u8; hl + inner.len() + padding];
        buf[hl..hl + inner.len()].copy_from_slice(inner);
        write_tunnel_header(&h, inner.len(), &mut buf).unwrap();
        buf
    }

    fn gre(key: Option<u32>) -> TunnelKind {
        TunnelKind::Gre { key, csum: false }
    }

    fn vxlan(vni: u32) -> TunnelKind {
        TunnelKind::Vxlan {
            vni,
            src_port: 50000,
        }
    }

    fn map() -> TunnelMap {
        let port = |kind, key, port| TunnelPort {
            kind,
            remote: REMOTE,
            local: Some(LOCAL),
            key,
            port,
        };
        TunnelMap {
            underlays: vec![UNDERLAY],
            tunnels: vec![
                port(TunnelType::Gre, TunnelKeyMatch::Any, GRE_PORT),
                port(
                    TunnelType::Vxlan,
                    TunnelKeyMatch::Exactly(0x3e7),
                    VXLAN_PORT,
                ),
            ],
        }
    }

    fn key_of(port: PortNo, frame: &[u8], tun_id: u64) -> FlowKey {
        let mut k = FlowKey::extract(port, frame).unwrap();
        k.tun_id = tun_id;
        k
    }

    #[test]
    fn gre_packet_is_its_inner_frame_on_the_gre_port() {
        let pkt = encap(gre(Some(9)), &inner(), 0);
        let c = classify(UNDERLAY, &pkt, &map()).unwrap();
        assert_eq!(c.key, key_of(GRE_PORT, &inner(), 9));
        assert_eq!(&pkt[c.inner.clone()], &inner()[..]);
        assert_eq!(c.inner.end, pkt.len());

        // No key: tun_id 0.
        let pkt = encap(gre(None), &inner(), 0);
        assert_eq!(
            classify(UNDERLAY, &pkt, &map()).unwrap().key,
            key_of(GRE_PORT, &inner(), 0)
        );
    }

    #[test]
    fn vxlan_packet_is_its_inner_frame_on_the_vxlan_port() {
        // Padding after the outer packet is not part of the inner frame.
        let pkt = encap(vxlan(0x3e7), &inner(), 6);
        let c = classify(UNDERLAY, &pkt, &map()).unwrap();
        assert_eq!(c.key, key_of(VXLAN_PORT, &inner(), 0x3e7));
        assert_eq!(&pkt[c.inner.clone()], &inner()[..]);
        assert_eq!(c.inner.end, pkt.len() - 6);
    }

    #[test]
    fn bad_tunnel_packet() {
        let mut pkt = encap(vxlan(0x3e7), &inner(), 0);
        pkt[14 + 20 + 8] = 0; // VXLAN I flag clear
        assert_eq!(
            classify(UNDERLAY, &pkt, &map()),
            Err(ClassifyDrop::BadTunnel(WireError::BadVxlanFlags(0)))
        );
        // Not a tunnel packet at all (the inner frame itself, ICMP).
        assert_eq!(
            classify(UNDERLAY, &inner(), &map()),
            Err(ClassifyDrop::BadTunnel(WireError::NotTunnelProtocol(1)))
        );
    }

    #[test]
    fn unknown_tunnel() {
        // A VNI the VXLAN port does not take, and a GRE packet from another remote.
        let pkt = encap(vxlan(0x3e8), &inner(), 0);
        assert_eq!(
            classify(UNDERLAY, &pkt, &map()),
            Err(ClassifyDrop::UnknownTunnel {
                kind: TunnelType::Vxlan,
                remote: REMOTE,
                local: LOCAL,
                key: Some(0x3e8),
            })
        );
        let mut m = map();
        m.tunnels[0].remote = Ipv4Addr::new(192, 0, 2, 3);
        let pkt = encap(gre(Some(1)), &inner(), 0);
        assert!(matches!(
            classify(UNDERLAY, &pkt, &m),
            Err(ClassifyDrop::UnknownTunnel {
                kind: TunnelType::Gre,
                ..
            })
        ));
    }

    #[test]
    fn malformed_inner_frame_is_classified_by_its_l2_fields() {
        // A whole inner Ethernet header (decap's minimum) saying IPv4, and a truncated
        // IPv4 header behind it: the key has the L2 fields, as OVS's would.
        let short = &inner()[..14 + 10];
        let pkt = encap(gre(Some(9)), short, 0);
        let c = classify(UNDERLAY, &pkt, &map()).unwrap();
        assert_eq!(
            c.key,
            FlowKey {
                in_port: GRE_PORT,
                tun_id: 9,
                dl_dst: MacAddr([0xfa, 0x16, 0x3e, 0, 0, 2]),
                dl_src: MacAddr([0xfa, 0x16, 0x3e, 0, 0, 1]),
                dl_type: 0x0800,
                ..FlowKey::default()
            }
        );
        assert_eq!(&pkt[c.inner.clone()], short);
    }

    #[test]
    fn frame_on_a_port_that_is_no_underlay_is_taken_as_it_is() {
        // Even a tunnel packet: only underlays decapsulate.
        let pkt = encap(gre(Some(9)), &inner(), 0);
        let c = classify(VM_PORT, &pkt, &map()).unwrap();
        assert_eq!(c.key, key_of(VM_PORT, &pkt, 0));
        assert_eq!(c.inner, 0..pkt.len());
        let c = classify(VM_PORT, &inner(), &map()).unwrap();
        assert_eq!(c.key, key_of(VM_PORT, &inner(), 0));
        assert_eq!(
            classify(VM_PORT, &inner()[..10], &map()),
            Err(ClassifyDrop::Malformed(WireError::Truncated {
                layer: Layer::Ethernet,
                need: 14,
                have: 10
            }))
        );
    }
}
