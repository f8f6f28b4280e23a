//! Port mirrors in translation, as OVS's `mirror_packet`: a packet received on a port a
//! mirror selects as a source, or sent to one it selects as a destination, gets one copy
//! out of the mirror's output port (or onto its output VLAN). The copies are datapath
//! actions like any output, so they are cached with the rest of the translation: a
//! packet no mirror selects costs nothing more, and a mirror change invalidates the
//! cache (`Change::Topology`).

use xvs_dataplane::flow_key::{VLAN_PCP_MASK, VLAN_PRESENT, VLAN_VID_MASK};

use super::{is_reserved_mac, Ctx};
use crate::ofp::OfPort;
use crate::topology::MirrorOut;

impl Ctx<'_> {
    /// The copies of a packet received on `ofport` (OVS's mirror_ingress_packet).
    pub(super) fn mirror_ingress(&mut self, ofport: OfPort) {
        if !self.bridge.mirrors.is_empty() {
            let mask = self.bridge.mirrors.src_mask(ofport);
            self.mirror_packet(ofport, mask);
        }
    }

    /// The copies of a packet just sent to `ofport`.
    pub(super) fn mirror_egress(&mut self, ofport: OfPort) {
        if !self.bridge.mirrors.is_empty() {
            let mask = self.bridge.mirrors.dst_mask(ofport);
            self.mirror_packet(ofport, mask);
        }
    }

    /// Sends the packet, as the pipeline sees it now, to each mirror of `mirrors` that has
    /// not had it yet, in the VLAN it has in the bridge as `ofport` sees it (a frame that
    /// port could not carry is not mirrored), leaving each output port as NORMAL would.
    /// Everything this looks at (the VLAN, the destination) is part of every cache key.
    fn mirror_packet(&mut self, ofport: OfPort, mirrors: u32) {
        let mut mirrors = mirrors & !self.mirrored;
        if mirrors == 0 {
            return;
        }
        let bridge = self.bridge;
        let Some(port) = bridge.port(ofport) else {
            return;
        };
        let flow_tci = self.flow.vlan_tci;
        let Ok(xvlan) = port.config.vlan.input(flow_tci) else {
            return;
        };
        let vid = if xvlan & VLAN_PRESENT != 0 {
            xvlan & VLAN_VID_MASK
        } else {
            0
        };
        let mut used = 0;
        while mirrors != 0 {
            let bit = mirrors & mirrors.wrapping_neg();
            let m = &bridge.mirrors.mirrors[bit.trailing_zeros() as usize];
            if !m.vlans.is_empty() && m.vlans.binary_search(&vid).is_err() {
                mirrors &= !bit;
                continue;
            }
            used |= bit;
            // Before the output: an output that reaches a port with mirrors of its own
            // must not come back to these.
            self.mirrored |= m.dup_mask;
            match m.out {
                MirrorOut::Port(out) => self.normal_output(out, xvlan, flow_tci),
                MirrorOut::Vlan(out_vlan) => {
                    if vid != out_vlan && !is_reserved_mac(self.flow.dl_dst) {
                        let out_xvlan = VLAN_PRESENT | (xvlan & VLAN_PCP_MASK) | out_vlan;
                        for (&q, qport) in &bridge.ports {
                            if qport.config.vlan.includes_vlan(out_vlan)
                                && !bridge.mirrors.is_output(q)
                            {
                                self.normal_output(q, out_xvlan, flow_tci);
                            }
                        }
                    }
                }
            }
            mirrors &= !self.mirrored;
        }
        if used != 0 {
            self.out.mirrors.push((bridge.id, used));
        }
    }
}
