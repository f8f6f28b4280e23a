//! The commit: the datapath actions that make the frame look like the pipeline's view of
//! it (`flow`) when it leaves through a port, in the order of OVS's
//! `commit_odp_actions` (ofproto/ofproto-dpif-xlate.c, lib/odp-util.c).

use std::net::{Ipv4Addr, Ipv6Addr};

use smallvec::SmallVec;
use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::wire::{ethertype, ipv4};
use xvs_dataplane::{DpAction, FlowKey, Tpid};

use super::Ctx;

impl Ctx<'_> {
    /// Emits the datapath actions that make the frame look like `flow`, in the order of
    /// OVS's `commit_odp_actions`: Ethernet, then the network layer (IPv4; IPv6 and, for
    /// ICMPv6, Neighbour Discovery; ARP), then the TCP/UDP ports, then ICMP type and code.
    /// (The tag comes first here, where OVS commits it after these: the frame is the
    /// same either way.) A field written by actions is set again even if the value did
    /// not change, so the key need not hold its old value; what decides which header a
    /// field lives in (`dl_type`, `nw_proto` unless an action wrote it) is consulted.
    ///
    /// `metadata` and `regs` are pipeline state, not packet fields: they have no
    /// datapath action, and they are kept out of what the frame is known to have had
    /// written (`committed`, which a patch crossing turns into consulted fields).
    pub(super) fn commit(&mut self) {
        self.commit_vlan();
        let d = self.dirty.packet_fields();
        if d.is_zero() {
            self.dirty = FlowKey::default();
            return;
        }
        let f = self.flow;
        let mut emit = SmallVec::<[DpAction; 4]>::new();
        if !d.dl_src.is_zero() {
            emit.push(DpAction::SetEthSrc(f.dl_src));
        }
        if !d.dl_dst.is_zero() {
            emit.push(DpAction::SetEthDst(f.dl_dst));
        }
        let l3_dirty = d.nw_src | d.nw_dst != 0
            || d.nw_proto | d.nw_tos | d.nw_ttl != 0
            || !d.arp_sha.is_zero()
            || !d.arp_tha.is_zero()
            || d.ipv6_src | d.ipv6_dst | d.nd_target != 0;
        let l4_dirty = d.tp_src | d.tp_dst != 0;
        if l3_dirty || l4_dirty {
            // Which header these fields live in depends on the packet's type and
            // protocol, and OVS commits none of them for a packet without an L3 header
            // (`nw_proto` 0: not IP or ARP, or one whose header did not parse).
            self.out.consulted.dl_type = u16::MAX;
            if d.nw_proto == 0 {
                self.out.consulted.nw_proto = u8::MAX;
            }
        }
        if (l3_dirty || l4_dirty) && f.nw_proto != 0 {
            Self::commit_nw(&d, &f, &mut emit);
            Self::commit_l4(&d, &f, &mut emit);
        }
        self.out.actions.extend(emit);
        self.committed.union_with(&d);
        let masked_old = self.packet.masked(&FlowKey::complement(&d));
        self.packet = masked_old;
        self.packet.union_with(&f.masked(&d));
        self.dirty = FlowKey::default();
    }

    /// OVS's `commit_set_nw_action`: the network layer's fields, by ethertype.
    fn commit_nw(d: &FlowKey, f: &FlowKey, emit: &mut SmallVec<[DpAction; 4]>) {
        match f.dl_type {
            ethertype::ARP => {
                if d.nw_proto != 0 {
                    emit.push(DpAction::SetArpOp(f.nw_proto as u16));
                }
                if d.nw_src != 0 {
                    emit.push(DpAction::SetArpSpa(Ipv4Addr::from(f.nw_src)));
                }
                if d.nw_dst != 0 {
                    emit.push(DpAction::SetArpTpa(Ipv4Addr::from(f.nw_dst)));
                }
                if !d.arp_sha.is_zero() {
                    emit.push(DpAction::SetArpSha(f.arp_sha));
                }
                if !d.arp_tha.is_zero() {
                    emit.push(DpAction::SetArpTha(f.arp_tha));
                }
            }
            ethertype::IPV4 => {
                if d.nw_src != 0 {
                    emit.push(DpAction::SetIpv4Src(Ipv4Addr::from(f.nw_src)));
                }
                if d.nw_dst != 0 {
                    emit.push(DpAction::SetIpv4Dst(Ipv4Addr::from(f.nw_dst)));
                }
                if d.nw_tos != 0 {
                    emit.push(DpAction::SetIpv4Tos(f.nw_tos));
                }
                if d.nw_ttl != 0 {
                    emit.push(DpAction::SetIpv4Ttl(f.nw_ttl));
                }
            }
            ethertype::IPV6 => {
                if d.ipv6_src != 0 {
                    emit.push(DpAction::SetIpv6Src(Ipv6Addr::from(f.ipv6_src)));
                }
                if d.ipv6_dst != 0 {
                    emit.push(DpAction::SetIpv6Dst(Ipv6Addr::from(f.ipv6_dst)));
                }
                if d.nw_tos != 0 {
                    emit.push(DpAction::SetIpv6Tclass(f.nw_tos));
                }
                if d.nw_ttl != 0 {
                    emit.push(DpAction::SetIpv6HopLimit(f.nw_ttl));
                }
                // Neighbour Discovery: arp_sha/arp_tha are the link-layer addresses.
                if f.nw_proto == ipv4::PROTO_ICMPV6 {
                    if d.nd_target != 0 {
                        emit.push(DpAction::SetNdTarget(Ipv6Addr::from(f.nd_target)));
                    }
                    if !d.arp_sha.is_zero() {
                        emit.push(DpAction::SetNdSll(f.arp_sha));
                    }
                    if !d.arp_tha.is_zero() {
                        emit.push(DpAction::SetNdTll(f.arp_tha));
                    }
                }
            }
            _ => {}
        }
    }

    /// OVS's `commit_set_port_action` and `commit_set_icmp_action`: `tp_src`/`tp_dst` as
    /// TCP or UDP ports, or as ICMP (ICMPv6) type and code.
    fn commit_l4(d: &FlowKey, f: &FlowKey, emit: &mut SmallVec<[DpAction; 4]>) {
        if d.tp_src | d.tp_dst == 0 || !matches!(f.dl_type, ethertype::IPV4 | ethertype::IPV6) {
            return;
        }
        let v6 = f.dl_type == ethertype::IPV6;
        type Set = fn(u16) -> DpAction;
        let (src, dst): (Set, Set) = match f.nw_proto {
            ipv4::PROTO_TCP => (DpAction::SetTcpSrc, DpAction::SetTcpDst),
            ipv4::PROTO_UDP => (DpAction::SetUdpSrc, DpAction::SetUdpDst),
            ipv4::PROTO_ICMP if !v6 => (
                |t| DpAction::SetIcmpType(t as u8),
                |c| DpAction::SetIcmpCode(c as u8),
            ),
            ipv4::PROTO_ICMPV6 if v6 => (
                |t| DpAction::SetIcmpv6Type(t as u8),
                |c| DpAction::SetIcmpv6Code(c as u8),
            ),
            // SCTP's ports (OVS's set(sctp(...)), which recomputes the CRC32c) have no
            // datapath action yet: nothing may write them (see the pipeline's fields).
            _ => return,
        };
        if d.tp_src != 0 {
            emit.push(src(f.tp_src));
        }
        if d.tp_dst != 0 {
            emit.push(dst(f.tp_dst));
        }
    }

    /// The tag part of [`Self::commit`]. A tag with the TPID the frame already has is
    /// rewritten in place, so a frame received with an 802.1ad tag keeps it (as OVS keeps
    /// `flow->vlans[0].tpid`) without the key telling which TPID it was; a tag whose TPID
    /// the actions chose (`push_vlan`, or 0x8100 for a tag pushed after `strip_vlan`) is
    /// popped and pushed, as OVS does.
    fn commit_vlan(&mut self) {
        let (want, have) = (self.flow.vlan_tci, self.packet.vlan_tci);
        let want_tpid = self.flow_tpid.unwrap_or(Tpid::Is(ethertype::VLAN));
        let tagged = |tci: u16| tci & VLAN_PRESENT != 0;
        let push = DpAction::PushVlan {
            tpid: want_tpid,
            tci: want,
        };
        match (tagged(have), tagged(want)) {
            (true, true) if want_tpid == self.packet_tpid => {
                if want != have {
                    self.out.actions.push(DpAction::SetVlan(want));
                }
            }
            (true, true) => self.out.actions.extend([DpAction::PopVlan, push]),
            (false, true) => self.out.actions.push(push),
            (true, false) => self.out.actions.push(DpAction::PopVlan),
            // Bits without the present bit are no tag: nothing to do to the frame.
            (false, false) => {}
        }
        self.packet.vlan_tci = want;
        if tagged(want) {
            self.packet_tpid = want_tpid;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{PortConfig, PortKind};
    use crate::xlate::base_consulted;
    use crate::Switch;
    use xvs_dataplane::MacAddr;

    /// br0 with netdev ports p1 (datapath port 1) and p2.
    fn switch() -> Switch {
        let mut sw = Switch::new();
        sw.add_bridge("br0").unwrap();
        for p in ["p1", "p2"] {
            sw.add_port("br0", PortConfig::new(p, PortKind::Netdev))
                .unwrap();
        }
        sw
    }

    /// A translation context for `key` arriving on p1, as `translate` makes it.
    fn ctx<'a>(sw: &'a Switch, key: &FlowKey) -> Ctx<'a> {
        let topo = sw.topology();
        let bridge = topo.bridge("br0").unwrap();
        let p1 = sw.dp_port_named("p1").unwrap();
        let (_, ofport) = topo.dp_port_owner(p1).unwrap();
        let mut c = Ctx::new(
            topo,
            sw.ofproto(),
            0,
            bridge,
            sw.ofproto().get(bridge.id).unwrap(),
            key,
            ofport,
        );
        // The tests' packets are untagged or tagged by the test itself.
        c.flow_tpid = None;
        c.vxlan_src_port = 0;
        c
    }

    /// Sets fields of the flow as actions would (value and dirty bits), then sends the
    /// packet out of p2: the datapath actions before the output, and the consulted mask.
    fn commit_of(key: &FlowKey, set: impl Fn(&mut FlowKey)) -> (Vec<DpAction>, FlowKey) {
        let sw = switch();
        let mut c = ctx(&sw, key);
        set(&mut c.flow);
        let mut all = FlowKey::EXACT;
        set(&mut all);
        // Dirty: the bits `set` changed when applied to all-ones and to all-zeroes.
        let mut none = FlowKey::default();
        set(&mut none);
        c.dirty = none;
        c.dirty.union_with(&all.complement());
        let p2 = sw.topology().bridge("br0").unwrap();
        let of2 = p2
            .ports
            .iter()
            .find(|(_, p)| p.config.name == "p2")
            .map(|(o, _)| *o)
            .unwrap();
        c.output_to_port(of2);
        let (mut t, _) = c.finish();
        let out = t.actions.pop();
        assert!(matches!(out, Some(DpAction::Output(_))), "{out:?}");
        (t.actions, t.consulted)
    }

    fn v6(next: u8) -> FlowKey {
        FlowKey {
            dl_type: ethertype::IPV6,
            nw_proto: next,
            ipv6_src: 1,
            ipv6_dst: 2,
            nw_ttl: 64,
            tp_src: 1000,
            tp_dst: 53,
            ..FlowKey::default()
        }
    }

    const A6: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0099;

    #[test]
    fn ipv4_fields_in_ovs_order() {
        let key = FlowKey {
            dl_type: ethertype::IPV4,
            nw_proto: 6,
            nw_src: 1,
            nw_dst: 2,
            ..FlowKey::default()
        };
        let (acts, consulted) = commit_of(&key, |f| {
            f.tp_dst = 8080;
            f.nw_ttl = 9;
            f.nw_tos = 0x20;
            f.nw_dst = 0x0a00_0001;
            f.tp_src = 80;
        });
        assert_eq!(
            acts,
            [
                DpAction::SetIpv4Dst(Ipv4Addr::new(10, 0, 0, 1)),
                DpAction::SetIpv4Tos(0x20),
                DpAction::SetIpv4Ttl(9),
                DpAction::SetTcpSrc(80),
                DpAction::SetTcpDst(8080),
            ]
        );
        assert_eq!((consulted.dl_type, consulted.nw_proto), (u16::MAX, u8::MAX));
        // UDP and ICMP by nw_proto.
        let udp = FlowKey {
            nw_proto: 17,
            ..key
        };
        let (acts, _) = commit_of(&udp, |f| f.tp_src = 7);
        assert_eq!(acts, [DpAction::SetUdpSrc(7)]);
        let icmp = FlowKey { nw_proto: 1, ..key };
        let (acts, _) = commit_of(&icmp, |f| {
            f.tp_src = 0;
            f.tp_dst = 3
        });
        assert_eq!(acts, [DpAction::SetIcmpType(0), DpAction::SetIcmpCode(3)]);
        // ICMPv6's number inside IPv4, or a protocol without ports: nothing.
        for proto in [58, 47, 132] {
            let k = FlowKey {
                nw_proto: proto,
                ..key
            };
            assert_eq!(commit_of(&k, |f| f.tp_dst = 3).0, [], "proto {proto}");
        }
    }

    #[test]
    fn ipv6_fields_in_ovs_order() {
        let (acts, consulted) = commit_of(&v6(17), |f| {
            f.tp_dst = 5353;
            f.nw_ttl = 1;
            f.ipv6_dst = A6;
            f.nw_tos = 0xb8;
            f.ipv6_src = 3;
        });
        assert_eq!(
            acts,
            [
                DpAction::SetIpv6Src(Ipv6Addr::from(3)),
                DpAction::SetIpv6Dst(Ipv6Addr::from(A6)),
                DpAction::SetIpv6Tclass(0xb8),
                DpAction::SetIpv6HopLimit(1),
                DpAction::SetUdpDst(5353),
            ]
        );
        assert_eq!((consulted.dl_type, consulted.nw_proto), (u16::MAX, u8::MAX));
        // Neighbour Discovery: target and link-layer addresses, then ICMPv6 type/code.
        let mac: MacAddr = "02:00:00:00:00:07".parse().unwrap();
        let (acts, _) = commit_of(&v6(58), |f| {
            f.tp_src = 136;
            f.arp_tha = mac;
            f.nd_target = A6;
            f.arp_sha = mac;
        });
        assert_eq!(
            acts,
            [
                DpAction::SetNdTarget(Ipv6Addr::from(A6)),
                DpAction::SetNdSll(mac),
                DpAction::SetNdTll(mac),
                DpAction::SetIcmpv6Type(136),
            ]
        );
        // ND fields of a packet that is not ICMPv6 have no header to go to.
        assert_eq!(commit_of(&v6(6), |f| f.nd_target = A6).0, []);
        let (acts, _) = commit_of(&v6(6), |f| f.tp_src = 22);
        assert_eq!(acts, [DpAction::SetTcpSrc(22)]);
    }

    /// OVS commits no L3/L4 field of a packet whose nw_proto is 0 (no L3 header, or one
    /// that did not parse): `nw_proto` is then consulted, and nothing is emitted.
    #[test]
    fn nothing_without_an_l3_header() {
        let broken = FlowKey {
            dl_type: ethertype::IPV4,
            ..FlowKey::default()
        };
        let (acts, consulted) = commit_of(&broken, |f| f.nw_dst = 5);
        assert_eq!(acts, []);
        assert_eq!(consulted.nw_proto, u8::MAX);
        // Ethernet fields still go.
        let (acts, _) = commit_of(&broken, |f| f.dl_dst = MacAddr::BROADCAST);
        assert_eq!(acts, [DpAction::SetEthDst(MacAddr::BROADCAST)]);
        // An action that wrote nw_proto decides itself: not consulted.
        let arp = FlowKey {
            dl_type: ethertype::ARP,
            nw_proto: 1,
            ..FlowKey::default()
        };
        let (acts, consulted) = commit_of(&arp, |f| f.nw_proto = 2);
        assert_eq!(acts, [DpAction::SetArpOp(2)]);
        assert_eq!(consulted.nw_proto, 0);
    }

    /// Registers and metadata written by actions are no packet field: no datapath
    /// action, and never in the consulted mask handed to the cache.
    #[test]
    fn regs_and_metadata_stay_out() {
        let key = v6(17);
        let (acts, consulted) = commit_of(&key, |f| {
            f.regs[0] = 7;
            f.metadata = 9;
        });
        assert_eq!(acts, []);
        assert_eq!(consulted, base_consulted());
        let sw = switch();
        let mut c = ctx(&sw, &key);
        c.out.consulted.regs = [u32::MAX; 16];
        c.out.consulted.metadata = u64::MAX;
        c.dirty.regs[3] = u32::MAX;
        c.commit();
        assert!(c.committed.is_zero());
        assert_eq!(c.finish().0.consulted, base_consulted());
    }

    /// A frame with a multicast source teaches NORMAL nothing; the cache entry its
    /// translation makes must not serve a unicast source from the same port, which
    /// NORMAL learns. Found by the `xlate` fuzz target (fuzz/): the mask had no bit of
    /// `dl_src`, so a key with the unicast source matched it.
    #[test]
    fn normal_consults_whether_the_source_is_multicast() {
        let sw = switch();
        let p1 = sw.dp_port_named("p1").unwrap();
        let key = |src: [u8; 6]| FlowKey {
            in_port: p1,
            dl_src: MacAddr(src),
            dl_dst: MacAddr([0xfa, 0x16, 0x3e, 0, 0, 2]),
            dl_type: 0x0800,
            ..FlowKey::default()
        };
        let multicast = key([0x05, 2, 1, 0xfa, 0x16, 0x3e]);
        let unicast = key([0xfa, 0x16, 0x3e, 0, 0, 1]);
        let tr = sw.translate(&multicast, 0);
        assert!(tr.macs.is_empty(), "a multicast source is not learned");
        let mask = tr.cache_mask();
        assert_ne!(
            unicast.masked(&mask),
            multicast.masked(&mask),
            "a unicast source does not hit the multicast source's entry"
        );
        assert_eq!(sw.translate(&unicast, 0).macs.len(), 1);
        // Another multicast source does: nothing else of the source counts.
        let other = key([0x01, 0, 0x5e, 0, 0, 1]);
        assert_eq!(other.masked(&mask), multicast.masked(&mask));
        assert_eq!(sw.translate(&other, 0).actions, tr.actions);
    }
}
