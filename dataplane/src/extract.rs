//! Flow key extraction: one pass over a frame's headers into a [`FlowKey`].

use crate::flow_key::{FlowKey, PortNo, VLAN_PRESENT};
use crate::wire::{ethertype, vlan, ArpPacket, EthernetFrame, Ipv4Packet, VlanTag, WireError};

impl FlowKey {
    /// The key of `frame`, received on `in_port`.
    ///
    /// - An Ethernet header is required.
    /// - One VLAN tag is parsed, the outer one, whether its TPID is 0x8100 (802.1Q) or
    ///   0x88a8 (802.1ad), as OVS does with its default `vlan-limit=1`: `vlan_tci` becomes
    ///   `VLAN_PRESENT | PCP | VID` (the wire's DEI bit is dropped, its position being the
    ///   present bit) and `dl_type` the ethertype after it. The TPID itself is not kept
    ///   (see [`FlowKey::vlan_tci`]). A second tag is not parsed, so a QinQ frame (0x88a8
    ///   then 0x8100) gets `dl_type == 0x8100` and only L2 fields. A frame whose
    ///   ethertype is a TPID but too short for the tag is an error, whichever TPID.
    /// - IPv4 and Ethernet/IPv4 ARP fill the network fields; a truncated or malformed
    ///   header of either is an error, for the caller to drop and count the frame. The
    ///   IPv4 checksum is not verified: forwarding does not need it.
    /// - Any other ethertype gives the L2 fields only; fields that do not apply are 0, and
    ///   so is `tun_id` (the decap path sets it).
    pub fn extract(in_port: PortNo, frame: &[u8]) -> Result<FlowKey, WireError> {
        let eth = EthernetFrame::new_checked(frame)?;
        let mut key = FlowKey {
            in_port,
            dl_src: eth.src_addr(),
            dl_dst: eth.dst_addr(),
            ..FlowKey::default()
        };
        let mut dl_type = eth.ethertype();
        let mut l3 = eth.payload();
        if vlan::is_tpid(dl_type) {
            let tag = VlanTag::new_checked(l3)?;
            key.vlan_tci = VLAN_PRESENT | (tag.tci() & !vlan::DEI);
            dl_type = tag.ethertype();
            l3 = tag.payload();
        }
        key.dl_type = dl_type;
        match dl_type {
            ethertype::IPV4 => {
                let ip = Ipv4Packet::new_checked(l3)?;
                key.nw_src = u32::from(ip.src_addr());
                key.nw_dst = u32::from(ip.dst_addr());
                key.nw_proto = ip.protocol();
                key.nw_tos = ip.tos();
            }
            ethertype::ARP => {
                let arp = ArpPacket::new_checked(l3)?;
                key.nw_src = u32::from(arp.spa());
                key.nw_dst = u32::from(arp.tpa());
                key.nw_proto = arp.operation() as u8;
                key.arp_sha = arp.sha();
                key.arp_tha = arp.tha();
            }
            _ => {}
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::mac::MacAddr;
    use crate::wire::{arp, ipv4, ArpRepr, EthernetRepr, Ipv4Repr, Layer, VlanRepr};

    const SRC: MacAddr = MacAddr([0xfa, 0x16, 0x3e, 0, 0, 1]);
    const DST: MacAddr = MacAddr([0xfa, 0x16, 0x3e, 0, 0, 2]);

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 14];
        EthernetRepr {
            src_addr: SRC,
            dst_addr: DST,
            ethertype,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut v[..]));
        v.extend_from_slice(payload);
        v
    }

    fn tagged(tci: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        tagged_with(ethertype::VLAN, tci, ethertype, payload)
    }

    fn tagged_with(tpid: u16, tci: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut t = [0u8; 4];
        VlanRepr {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0xfff,
            ethertype,
        }
        .emit(&mut VlanTag::new_unchecked(&mut t[..]));
        let mut p = t.to_vec();
        p.extend_from_slice(payload);
        eth(tpid, &p)
    }

    fn ipv4_packet() -> Vec<u8> {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 1, 2, 3),
            dst_addr: Ipv4Addr::new(10, 4, 5, 6),
            protocol: ipv4::PROTO_UDP,
            tos: 0x2e,
            ttl: 64,
            ident: 1,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            payload_len: 8,
        };
        let mut v = vec![0u8; 28];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut v[..]));
        v
    }

    fn arp_packet(op: u16) -> Vec<u8> {
        let mut v = vec![0u8; 28];
        ArpRepr {
            operation: op,
            sha: SRC,
            spa: Ipv4Addr::new(192, 168, 1, 1),
            tha: MacAddr::ZERO,
            tpa: Ipv4Addr::new(192, 168, 1, 2),
        }
        .emit(&mut ArpPacket::new_unchecked(&mut v[..]));
        v
    }

    #[test]
    fn untagged_ipv4() {
        let k = FlowKey::extract(3, &eth(ethertype::IPV4, &ipv4_packet())).unwrap();
        assert_eq!(
            k,
            FlowKey {
                in_port: 3,
                dl_src: SRC,
                dl_dst: DST,
                dl_type: ethertype::IPV4,
                nw_src: 0x0a01_0203,
                nw_dst: 0x0a04_0506,
                nw_proto: 17,
                nw_tos: 0x2e,
                ..FlowKey::default()
            }
        );
    }

    #[test]
    fn tagged_arp_drops_dei() {
        let k = FlowKey::extract(
            1,
            &tagged(0xb00a, ethertype::ARP, &arp_packet(arp::OP_REPLY)),
        )
        .unwrap();
        assert_eq!(k.vlan_tci, VLAN_PRESENT | 5 << 13 | 10);
        assert_eq!(k.vlan_vid(), Some(10));
        assert_eq!(k.vlan_pcp(), 5);
        assert_eq!(k.dl_type, ethertype::ARP);
        assert_eq!(k.nw_src, 0xc0a8_0101);
        assert_eq!(k.nw_dst, 0xc0a8_0102);
        assert_eq!(k.nw_proto, 2);
        assert_eq!(k.arp_sha, SRC);
        assert_eq!(k.arp_tha, MacAddr::ZERO);
        assert_eq!(k.nw_tos, 0);
    }

    #[test]
    fn vid_zero_tag_is_present() {
        let k = FlowKey::extract(1, &tagged(0, 0x86dd, &[0; 40])).unwrap();
        assert_eq!(k.vlan_tci, VLAN_PRESENT);
        assert_eq!(k.dl_type, 0x86dd);
    }

    #[test]
    fn second_tag_not_parsed() {
        let inner = tagged(0x0064, ethertype::IPV4, &ipv4_packet());
        // Take the inner tag (and what follows) as the payload of an outer tag.
        let k = FlowKey::extract(1, &tagged(0x000a, ethertype::VLAN, &inner[14..])).unwrap();
        assert_eq!(k.vlan_tci, VLAN_PRESENT | 10);
        assert_eq!(k.dl_type, ethertype::VLAN);
        assert_eq!(k.nw_src, 0);
        assert_eq!(k.nw_proto, 0);
    }

    #[test]
    fn service_tag_is_a_vlan_tag() {
        let ip = FlowKey::extract(
            1,
            &tagged_with(ethertype::QINQ, 0xb00a, ethertype::IPV4, &ipv4_packet()),
        )
        .unwrap();
        // The same key as under an 802.1Q tag: the TPID is not part of it.
        let dot1q = FlowKey::extract(1, &tagged(0xb00a, ethertype::IPV4, &ipv4_packet())).unwrap();
        assert_eq!(ip, dot1q);
        assert_eq!(ip.vlan_tci, VLAN_PRESENT | 5 << 13 | 10);
        assert_eq!(ip.dl_type, ethertype::IPV4);
        assert_eq!((ip.nw_src, ip.nw_proto, ip.nw_tos), (0x0a01_0203, 17, 0x2e));

        let a = FlowKey::extract(
            1,
            &tagged_with(
                ethertype::QINQ,
                7,
                ethertype::ARP,
                &arp_packet(arp::OP_REQUEST),
            ),
        )
        .unwrap();
        assert_eq!(a.vlan_tci, VLAN_PRESENT | 7);
        assert_eq!(
            (a.dl_type, a.nw_proto, a.nw_dst),
            (ethertype::ARP, 1, 0xc0a8_0102)
        );
        assert_eq!(a.arp_sha, SRC);
    }

    #[test]
    fn qinq_outer_tag_is_the_vlan_and_inner_tag_the_ethertype() {
        // 802.1ad S-tag 10, then an 802.1Q C-tag 100, then IPv4: one tag is parsed (OVS's
        // default vlan-limit=1), so the C-tag's TPID is the dl_type and L3 is not read.
        let c_tagged = tagged(0x0064, ethertype::IPV4, &ipv4_packet());
        let frame = tagged_with(ethertype::QINQ, 0x000a, ethertype::VLAN, &c_tagged[14..]);
        assert_eq!(&frame[12..20], &[0x88, 0xa8, 0, 10, 0x81, 0, 0, 100]);
        let k = FlowKey::extract(1, &frame).unwrap();
        assert_eq!(
            k,
            FlowKey {
                in_port: 1,
                dl_src: SRC,
                dl_dst: DST,
                vlan_tci: VLAN_PRESENT | 10,
                dl_type: ethertype::VLAN,
                ..FlowKey::default()
            }
        );
        // Two S-tags: the same, dl_type 0x88a8.
        let k = FlowKey::extract(
            1,
            &tagged_with(ethertype::QINQ, 3, ethertype::QINQ, &[0, 4, 8, 0]),
        )
        .unwrap();
        assert_eq!((k.vlan_tci, k.dl_type), (VLAN_PRESENT | 3, ethertype::QINQ));
    }

    #[test]
    fn other_ethertypes_l2_only() {
        let k = FlowKey::extract(9, &eth(0x88cc, &[1, 2, 3])).unwrap();
        assert_eq!(
            k,
            FlowKey {
                in_port: 9,
                dl_src: SRC,
                dl_dst: DST,
                dl_type: 0x88cc,
                ..FlowKey::default()
            }
        );
    }

    #[test]
    fn checksum_not_verified() {
        let mut p = ipv4_packet();
        p[10] ^= 0xff;
        assert!(FlowKey::extract(1, &eth(ethertype::IPV4, &p)).is_ok());
    }

    #[test]
    fn errors() {
        assert_eq!(
            FlowKey::extract(1, &[0; 13]),
            Err(WireError::Truncated {
                layer: Layer::Ethernet,
                need: 14,
                have: 13
            })
        );
        assert_eq!(
            FlowKey::extract(1, &eth(ethertype::VLAN, &[0, 1, 8])),
            Err(WireError::Truncated {
                layer: Layer::Vlan,
                need: 4,
                have: 3
            })
        );
        // A truncated S-tag is the same error as a truncated 802.1Q tag.
        for cut in 0..4 {
            assert_eq!(
                FlowKey::extract(1, &eth(ethertype::QINQ, &[0, 1, 8, 0][..cut])),
                Err(WireError::Truncated {
                    layer: Layer::Vlan,
                    need: 4,
                    have: cut
                })
            );
        }
        // And what follows a whole S-tag is checked as after an 802.1Q tag.
        assert_eq!(
            FlowKey::extract(
                1,
                &tagged_with(ethertype::QINQ, 5, ethertype::IPV4, &ipv4_packet()[..19])
            ),
            Err(WireError::Truncated {
                layer: Layer::Ipv4,
                need: 20,
                have: 19
            })
        );
        assert_eq!(
            FlowKey::extract(1, &eth(ethertype::IPV4, &ipv4_packet()[..19])),
            Err(WireError::Truncated {
                layer: Layer::Ipv4,
                need: 20,
                have: 19
            })
        );
        assert_eq!(
            FlowKey::extract(1, &tagged(5, ethertype::ARP, &arp_packet(1)[..27])),
            Err(WireError::Truncated {
                layer: Layer::Arp,
                need: 28,
                have: 27
            })
        );
        let mut a = arp_packet(1);
        a[4] = 8;
        assert!(matches!(
            FlowKey::extract(1, &eth(ethertype::ARP, &a)),
            Err(WireError::BadArpFormat { hlen: 8, .. })
        ));
    }
}
