//! NORMAL: a MAC-learning switch per VLAN with access and trunk ports (OVS's
//! `xlate_normal`), and the reserved addresses it never forwards.

use xvs_dataplane::flow_key::{VLAN_PRESENT, VLAN_VID_MASK};
use xvs_dataplane::wire::ethertype;
use xvs_dataplane::MacAddr;

use super::{Ctx, DropReason, TraceEvent};
use crate::ofp::OfPort;
use crate::topology::VlanMode;

/// Whether `mac` is one of the addresses a bridge must never forward unless told to
/// (`other_config:forward-bpdu`), as OVS's `eth_addr_is_reserved` (lib/packets.c):
/// IEEE 802.1 01:80:c2:00:00:00 to :0f (STP, pause, LACP, 802.1X, LLDP, ...), Extreme's
/// EDP and EAPS, and Cisco's ISL, CDP/VTP/DTP/PAgP/UDLD, PVST+, UplinkFast and CFM.
pub fn is_reserved_mac(mac: MacAddr) -> bool {
    matches!(
        mac.to_u64(),
        0x0180_c200_0000..=0x0180_c200_000f
            | 0x00e0_2b00_0000
            | 0x00e0_2b00_0004
            | 0x00e0_2b00_0006
            | 0x0100_0c00_0000
            | 0x0100_0ccc_cccc
            | 0x0100_0ccc_cccd
            | 0x0100_0ccd_cdcd
            | 0x0100_0ccc_ccc0..=0x0100_0ccc_ccc7
    )
}

impl Ctx<'_> {
    /// The NORMAL action: a MAC-learning switch per VLAN, with access and trunk ports.
    pub(super) fn normal(&mut self) {
        let bridge = self.bridge;
        let in_ofport = self.flow.in_port;
        let Some(in_port) = bridge.port(in_ofport) else {
            self.dropped(|| DropReason::NormalInPortNotOnBridge);
            return;
        };
        // A VLAN ethertype without a tag: the tag was too short to parse (OVS's
        // "partial VLAN tag"); OVS's NORMAL drops the frame.
        self.out.consulted.dl_type = u16::MAX;
        let vlan_type = matches!(self.flow.dl_type, ethertype::VLAN | ethertype::QINQ);
        if vlan_type && self.flow.vlan_tci & VLAN_PRESENT == 0 {
            self.dropped(|| DropReason::NormalPartialVlanTag);
            return;
        }
        if bridge.mirrors.is_output(in_ofport) {
            self.dropped(|| DropReason::NormalInputIsMirrorOutput);
            return;
        }
        // The frame's VLAN inside the bridge, as a TCI (OVS's xvlan): what NORMAL learns
        // and looks up by, and what each output port turns into its own tag.
        let flow_tci = self.flow.vlan_tci;
        let xvlan = match in_port.config.vlan.input(flow_tci) {
            Ok(x) => x,
            Err(vid) => {
                let why = if in_port.config.vlan.mode == VlanMode::Access {
                    DropReason::NormalTaggedOnAccessPort(vid)
                } else {
                    DropReason::NormalVlanNotTrunked(vid)
                };
                self.dropped(|| why);
                return;
            }
        };
        let vlan = xvlan & VLAN_VID_MASK;
        // As OVS's is_admissible: before learning, so such a frame teaches nothing. The
        // destination is part of every cache key.
        let dst = self.flow.dl_dst;
        if !self.tables.forward_bpdu && is_reserved_mac(dst) {
            self.dropped(|| DropReason::NormalReservedDestination(dst));
            return;
        }
        let src = self.flow.dl_src;
        // Whether NORMAL learns depends on the source's group bit: it is consulted
        // even when nothing is learned, else the cache entry of a frame with a
        // multicast source (learning nothing) would serve the same flow's unicast
        // frames, whose sources would then never be learned or refreshed. (OVS
        // consults the whole source in NORMAL; the group bit is all a multicast
        // source's translation depends on.) Found by the `xlate` fuzz target.
        self.out.consulted.dl_src.0[0] |= 0x01;
        if !src.is_multicast() {
            self.out.consulted.dl_src = MacAddr::BROADCAST;
            self.out.macs.push((bridge.id, vlan, src, in_ofport));
            self.note(|| TraceEvent::MacLearned {
                mac: src,
                port: in_ofport,
                vlan,
            });
        }
        // What this same translation learned counts already, as in OVS, where NORMAL
        // updates the MAC table while translating (an ARP responder's reply coming back
        // through a patch port finds the requester).
        let known = if dst.is_multicast() {
            None
        } else {
            self.out.mac_lookups.push((bridge.id, vlan, dst));
            let learned_now = self
                .out
                .macs
                .iter()
                .rev()
                .find(|e| e.0 == bridge.id && e.1 == vlan && e.2 == dst);
            learned_now
                .map(|e| e.3)
                .or_else(|| self.tables.mac_table.lookup(vlan, dst, self.now))
        };
        match known {
            Some(p) if bridge.mirrors.is_output(p) => {
                self.dropped(|| DropReason::NormalLearnedPortIsMirrorOutput);
            }
            Some(p) if p == in_ofport => {
                self.dropped(|| DropReason::NormalDestinationIsInPort);
            }
            Some(p) => {
                self.note(|| TraceEvent::MacForward { port: p });
                self.normal_output(p, xvlan, flow_tci);
            }
            None => {
                self.note(|| TraceEvent::Flood { vlan });
                for (&p, port) in &bridge.ports {
                    if p != in_ofport
                        && port.config.vlan.includes_vlan(vlan)
                        && !bridge.mirrors.is_output(p)
                    {
                        self.normal_output(p, xvlan, flow_tci);
                    }
                }
            }
        }
    }

    pub(super) fn normal_output(&mut self, ofport: OfPort, xvlan: u16, flow_tci: u16) {
        let Some(port) = self.bridge.port(ofport) else {
            return;
        };
        let saved = self.flow.vlan_tci;
        self.flow.vlan_tci = port.config.vlan.output(xvlan, flow_tci);
        self.output_to_port(ofport);
        self.flow.vlan_tci = saved;
    }
}
