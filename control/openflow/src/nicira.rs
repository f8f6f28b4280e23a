//! Nicira vendor messages (OFPT_VENDOR/EXPERIMENTER with vendor 0x2320) that switch
//! connection state rather than flows: NXT_SET_FLOW_FORMAT, NXT_FLOW_MOD_TABLE_ID,
//! NXT_SET_PACKET_IN_FORMAT, NXT_SET_CONTROLLER_ID (and NXT_FLOW_AGE, which OVS
//! accepts and ignores). ovs-ofctl sends the first two before NXM flow mods and
//! dumps, the third for `monitor`. NXT_FLOW_MOD is in [`crate::flow_mod`],
//! NXT_ROLE_REQUEST in [`crate::config`].

use crate::bytes::be32;
use crate::errors::OfError;

/// `NXT_*` subtypes.
pub mod nxt {
    pub const ROLE_REQUEST: u32 = 10;
    pub const ROLE_REPLY: u32 = 11;
    pub const SET_FLOW_FORMAT: u32 = 12;
    pub const FLOW_MOD: u32 = 13;
    pub const FLOW_REMOVED: u32 = 14;
    pub const FLOW_MOD_TABLE_ID: u32 = 15;
    pub const SET_PACKET_IN_FORMAT: u32 = 16;
    pub const PACKET_IN: u32 = 17;
    pub const FLOW_AGE: u32 = 18;
    pub const SET_ASYNC_CONFIG: u32 = 19;
    pub const SET_CONTROLLER_ID: u32 = 20;
    pub const FLOW_MONITOR_CANCEL: u32 = 21;
    pub const FLOW_MONITOR_PAUSED: u32 = 22;
    pub const FLOW_MONITOR_RESUMED: u32 = 23;
    pub const TLV_TABLE_MOD: u32 = 24;
    pub const TLV_TABLE_REQUEST: u32 = 25;
    pub const TLV_TABLE_REPLY: u32 = 26;
    pub const SET_ASYNC_CONFIG2: u32 = 27;
    pub const RESUME: u32 = 28;
    pub const CT_FLUSH_ZONE: u32 = 29;
    pub const PACKET_IN2: u32 = 30;
    pub const GROUP_MOD: u32 = 31;
    pub const CT_FLUSH: u32 = 32;
    pub const REQUESTFORWARD: u32 = 132;
}

/// NXT_SET_FLOW_FORMAT's formats (`enum nx_flow_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowFormat {
    /// NXFF_OPENFLOW10 (0): `ofp10_match`.
    OpenFlow10,
    /// NXFF_NXM (2): `nx_match`.
    Nxm,
}

/// NXT_SET_PACKET_IN_FORMAT's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketInFormat {
    /// OFPT_PACKET_IN of the connection's version (0).
    Standard,
    /// NXT_PACKET_IN (1).
    NxtPacketIn,
    /// NXT_PACKET_IN2 (2): what `ovs-ofctl monitor` asks for.
    NxtPacketIn2,
}

/// Why a Nicira connection-state message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NiciraError {
    #[error("NXT_SET_FLOW_FORMAT: invalid flow format {0}")]
    BadFlowFormat(u32),
    #[error("NXT_SET_PACKET_IN_FORMAT: invalid packet-in format {0}")]
    BadPacketInFormat(u32),
    #[error("NXT_SET_CONTROLLER_ID: must-be-zero bytes are not zero")]
    NonZeroPadding,
}

impl NiciraError {
    pub fn of_error(self) -> OfError {
        match self {
            NiciraError::BadFlowFormat(_) | NiciraError::BadPacketInFormat(_) => {
                OfError::OFPBRC_EPERM
            }
            NiciraError::NonZeroPadding => OfError::NXBRC_MUST_BE_ZERO,
        }
    }
}

/// The 4-byte body of NXT_SET_FLOW_FORMAT.
pub fn decode_set_flow_format(body: &[u8]) -> Result<FlowFormat, NiciraError> {
    match be32(body, 0) {
        0 => Ok(FlowFormat::OpenFlow10),
        2 => Ok(FlowFormat::Nxm),
        f => Err(NiciraError::BadFlowFormat(f)),
    }
}

/// The 8-byte body of NXT_FLOW_MOD_TABLE_ID: whether the extension is enabled.
pub fn decode_flow_mod_table_id(body: &[u8]) -> bool {
    body[0] != 0
}

/// The 4-byte body of NXT_SET_PACKET_IN_FORMAT.
pub fn decode_set_packet_in_format(body: &[u8]) -> Result<PacketInFormat, NiciraError> {
    match be32(body, 0) {
        0 => Ok(PacketInFormat::Standard),
        1 => Ok(PacketInFormat::NxtPacketIn),
        2 => Ok(PacketInFormat::NxtPacketIn2),
        f => Err(NiciraError::BadPacketInFormat(f)),
    }
}

/// The 8-byte body of NXT_SET_CONTROLLER_ID (`nx_controller_id`).
pub fn decode_set_controller_id(body: &[u8]) -> Result<u16, NiciraError> {
    if body[..6].iter().any(|&b| b != 0) {
        return Err(NiciraError::NonZeroPadding);
    }
    Ok(u16::from_be_bytes([body[6], body[7]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::hex;

    #[test]
    fn as_ovs() {
        // ovs-ofctl dump-flows: NXT_SET_FLOW_FORMAT nxm; add-flow table=2:
        // NXT_FLOW_MOD_TABLE_ID enable; monitor: NXT_SET_PACKET_IN_FORMAT 2.
        assert_eq!(
            decode_set_flow_format(&hex("00000002")),
            Ok(FlowFormat::Nxm)
        );
        assert!(decode_flow_mod_table_id(&hex("0100000000000000")));
        assert_eq!(
            decode_set_packet_in_format(&hex("00000002")),
            Ok(PacketInFormat::NxtPacketIn2)
        );
        // ofsend.py: format 7 / 9 -> OFPBRC_EPERM; nonzero pad -> NXBRC_MUST_BE_ZERO.
        assert_eq!(
            decode_set_flow_format(&hex("00000007"))
                .unwrap_err()
                .of_error(),
            OfError::OFPBRC_EPERM
        );
        assert_eq!(
            decode_set_packet_in_format(&hex("00000009"))
                .unwrap_err()
                .of_error(),
            OfError::OFPBRC_EPERM
        );
        assert_eq!(
            decode_set_controller_id(&hex("0000000000010005"))
                .unwrap_err()
                .of_error(),
            OfError::NXBRC_MUST_BE_ZERO
        );
        assert_eq!(decode_set_controller_id(&hex("0000000000000005")), Ok(5));
    }
}
