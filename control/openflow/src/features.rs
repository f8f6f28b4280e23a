//! OFPT_FEATURES_REPLY.
//!
//! OpenFlow 1.0 lists the ports (`ofp10_phy_port`) and the supported actions;
//! 1.3+ neither (ports come from OFPMP_PORT_DESC) but has `auxiliary_id`.
//! Capabilities are given in OVS's `ofputil_capabilities` bits ([`ofpc`]) and
//! masked/mapped per version as `ofputil_encode_switch_features` does, so the same
//! set gives OVS's 0xc7 in OF1.0, 0x4f in OF1.3 and 0x24f in OF1.4.

use crate::bytes::Put;
use crate::framing::{finish_message, ofpt, start_message, MAX_MESSAGE_LEN};
use crate::port::{PortDesc, OFP10_PHY_PORT_LEN};
use crate::version::Version;

/// OVS's `ofputil_capabilities` bits.
pub mod ofpc {
    pub const FLOW_STATS: u32 = 1 << 0;
    pub const TABLE_STATS: u32 = 1 << 1;
    pub const PORT_STATS: u32 = 1 << 2;
    /// OF1.0 only (wire bit 3 there).
    pub const STP: u32 = 1 << 3;
    /// OF1.1+ only (wire bit 3 there).
    pub const GROUP_STATS: u32 = 1 << 4;
    pub const IP_REASM: u32 = 1 << 5;
    pub const QUEUE_STATS: u32 = 1 << 6;
    /// OF1.0/1.1 only.
    pub const ARP_MATCH_IP: u32 = 1 << 7;
    /// OF1.2+.
    pub const PORT_BLOCKED: u32 = 1 << 8;
    /// OF1.4+.
    pub const BUNDLES: u32 = 1 << 9;
    /// OF1.4+.
    pub const FLOW_MONITORING: u32 = 1 << 10;

    /// What ovs-vswitchd 3.1 announces (`handle_features_request`, with ARP
    /// matching supported).
    pub const OVS: u32 =
        FLOW_STATS | TABLE_STATS | PORT_STATS | QUEUE_STATS | GROUP_STATS | BUNDLES | ARP_MATCH_IP;
}

/// OF1.0 `actions` bitmap of ovs-vswitchd 3.1: OFPAT10_OUTPUT ... OFPAT10_ENQUEUE.
pub const OVS_OF10_ACTIONS: u32 = 0x0000_0fff;

/// OFPT_FEATURES_REPLY content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeaturesReply {
    pub datapath_id: u64,
    /// OVS: 0 (no packet buffering).
    pub n_buffers: u32,
    /// OVS: 254 (tables 0..253 visible).
    pub n_tables: u8,
    /// OF1.3+.
    pub auxiliary_id: u8,
    /// [`ofpc`] bits.
    pub capabilities: u32,
    /// OF1.0 only: `OFPAT10_*` bitmap.
    pub actions: u32,
    /// OF1.0 only: the ports (OVS lists every port, LOCAL included).
    pub ports: Vec<PortDesc>,
}

impl FeaturesReply {
    /// What ovs-vswitchd 3.1 sends for a bridge with `datapath_id` and `ports`.
    pub fn ovs(datapath_id: u64, ports: Vec<PortDesc>) -> FeaturesReply {
        FeaturesReply {
            datapath_id,
            n_buffers: 0,
            n_tables: 254,
            auxiliary_id: 0,
            capabilities: ofpc::OVS,
            actions: OVS_OF10_ACTIONS,
            ports,
        }
    }

    /// The capabilities word for `version` (`ofputil_capabilities_mask` and the
    /// version-specific bits).
    pub fn wire_capabilities(&self, version: Version) -> u32 {
        const COMMON: u32 = ofpc::FLOW_STATS
            | ofpc::TABLE_STATS
            | ofpc::PORT_STATS
            | ofpc::IP_REASM
            | ofpc::QUEUE_STATS;
        let c = self.capabilities;
        match version {
            Version::Of10 => {
                (c & (COMMON | ofpc::ARP_MATCH_IP)) | if c & ofpc::STP != 0 { 1 << 3 } else { 0 }
            }
            Version::Of13 | Version::Of14 => {
                let mask = if version == Version::Of13 {
                    COMMON | ofpc::PORT_BLOCKED
                } else {
                    COMMON | ofpc::PORT_BLOCKED | ofpc::BUNDLES | ofpc::FLOW_MONITORING
                };
                (c & mask)
                    | if c & ofpc::GROUP_STATS != 0 {
                        1 << 3
                    } else {
                        0
                    }
            }
        }
    }

    /// Encodes the reply to the FEATURES_REQUEST with `xid`. OF1.0 ports that do
    /// not fit in 65535 bytes are left out, as OVS does.
    pub fn encode(&self, version: Version, xid: u32) -> Vec<u8> {
        let mut b = start_message(version.wire(), ofpt::FEATURES_REPLY, xid);
        b.put_u64(self.datapath_id);
        b.put_u32(self.n_buffers);
        b.put_u8(self.n_tables);
        b.put_u8(if version >= Version::Of13 {
            self.auxiliary_id
        } else {
            0
        });
        b.put_zeros(2);
        b.put_u32(self.wire_capabilities(version));
        b.put_u32(if version == Version::Of10 {
            self.actions
        } else {
            0
        });
        if version == Version::Of10 {
            for p in &self.ports {
                if b.len() + OFP10_PHY_PORT_LEN > MAX_MESSAGE_LEN {
                    break;
                }
                p.emit_of10(&mut b);
            }
        }
        finish_message(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::to_hex;

    #[test]
    fn capabilities_per_version_as_ovs() {
        let f = FeaturesReply::ovs(1, vec![]);
        // -O OpenFlow13 show br0 / -O OpenFlow14 show br0 (ovs-vswitchd's replies).
        assert_eq!(
            to_hex(&f.encode(Version::Of13, 2)),
            "0406002000000002000000000000000100000000fe0000000000004f00000000"
        );
        assert_eq!(
            to_hex(&f.encode(Version::Of14, 2)),
            "0506002000000002000000000000000100000000fe0000000000024f00000000"
        );
        assert_eq!(
            to_hex(&f.encode(Version::Of10, 2)),
            "0106002000000002000000000000000100000000fe000000000000c700000fff"
        );
    }
}
