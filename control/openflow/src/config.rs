//! Switch configuration (OFPT_GET_CONFIG_REPLY, OFPT_SET_CONFIG) and controller
//! roles (OF1.2+ OFPT_ROLE_REQUEST/REPLY, Nicira NXT_ROLE_REQUEST/REPLY).

use crate::bytes::{be16, be32, be64, Put};
use crate::errors::{OfError, NX_VENDOR_ID};
use crate::framing::{finish_message, ofpt, start_message};
use crate::version::Version;

/// `OFPC_FRAG_*` and `OFPC_INVALID_TTL_TO_CONTROLLER` bits of `ofp_switch_config`.
pub mod ofpc_config {
    pub const FRAG_NORMAL: u16 = 0;
    pub const FRAG_DROP: u16 = 1;
    pub const FRAG_REASM: u16 = 2;
    pub const FRAG_NX_MATCH: u16 = 3;
    pub const FRAG_MASK: u16 = 3;
    /// OF1.0-1.2 only.
    pub const INVALID_TTL_TO_CONTROLLER: u16 = 1 << 2;
}

/// `ofp_switch_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SwitchConfig {
    /// `OFPC_FRAG_*` (and OFPC_INVALID_TTL_TO_CONTROLLER before OF1.3).
    pub flags: u16,
    pub miss_send_len: u16,
}

/// SET_CONFIG flags the version does not define (OFPSCFC_BAD_FLAGS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("set_config: flags {0:#x} not valid")]
pub struct ConfigError(pub u16);

impl ConfigError {
    pub fn of_error(self) -> OfError {
        OfError::OFPSCFC_BAD_FLAGS
    }
}

impl SwitchConfig {
    /// Decodes the 4-byte body of SET_CONFIG (OVS's `ofputil_decode_set_config`).
    pub fn decode(version: Version, body: &[u8]) -> Result<SwitchConfig, ConfigError> {
        let (flags, miss_send_len) = (be16(body, 0), be16(body, 2));
        let mut valid = ofpc_config::FRAG_MASK;
        if version < Version::Of13 {
            valid |= ofpc_config::INVALID_TTL_TO_CONTROLLER;
        }
        if flags & !valid != 0 {
            return Err(ConfigError(flags));
        }
        Ok(SwitchConfig {
            flags,
            miss_send_len,
        })
    }

    /// The GET_CONFIG_REPLY to the request (`version`, `xid`).
    pub fn encode_get_config_reply(&self, version: Version, xid: u32) -> Vec<u8> {
        let mut b = start_message(version.wire(), ofpt::GET_CONFIG_REPLY, xid);
        let mut flags = self.flags & ofpc_config::FRAG_MASK;
        if version < Version::Of13 {
            flags |= self.flags & ofpc_config::INVALID_TTL_TO_CONTROLLER;
        }
        b.put_u16(flags);
        b.put_u16(self.miss_send_len);
        finish_message(b)
    }
}

/// `OFPCR12_ROLE_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    NoChange = 0,
    Equal = 1,
    Primary = 2,
    Secondary = 3,
}

impl Role {
    fn from_wire(r: u32) -> Option<Role> {
        Some(match r {
            0 => Role::NoChange,
            1 => Role::Equal,
            2 => Role::Primary,
            3 => Role::Secondary,
            _ => return None,
        })
    }
}

/// A role request, OF1.2+ or Nicira (OVS's `ofputil_role_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleRequest {
    /// True for NXT_ROLE_REQUEST (roles "other", "master", "slave" = Equal,
    /// Primary, Secondary).
    pub nicira: bool,
    pub role: Role,
    /// OF1.2+: the generation id, unless the role is NoChange.
    pub generation_id: Option<u64>,
}

/// A role OVS does not know (OFPRRFC_BAD_ROLE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("role request: bad role {0}")]
pub struct RoleError(pub u32);

impl RoleError {
    pub fn of_error(self) -> OfError {
        OfError::OFPRRFC_BAD_ROLE
    }
}

impl RoleRequest {
    /// The 16-byte body of an OF1.2+ ROLE_REQUEST.
    pub fn decode_of12(body: &[u8]) -> Result<RoleRequest, RoleError> {
        let r = be32(body, 0);
        let role = Role::from_wire(r).ok_or(RoleError(r))?;
        let generation_id = (role != Role::NoChange).then(|| be64(body, 8));
        Ok(RoleRequest {
            nicira: false,
            role,
            generation_id,
        })
    }

    /// The 4-byte body of an NXT_ROLE_REQUEST.
    pub fn decode_nx(body: &[u8]) -> Result<RoleRequest, RoleError> {
        let r = be32(body, 0);
        let role = match r {
            0..=2 => Role::from_wire(r + 1).ok_or(RoleError(r))?,
            _ => return Err(RoleError(r)),
        };
        Ok(RoleRequest {
            nicira: true,
            role,
            generation_id: None,
        })
    }
}

/// The ROLE_REPLY to `request` (`version`, `xid`): the connection's `role` and
/// generation id (`None`: never set, sent as all-ones), in the request's form.
pub fn encode_role_reply(
    request: &RoleRequest,
    version: Version,
    xid: u32,
    role: Role,
    generation_id: Option<u64>,
) -> Vec<u8> {
    if request.nicira {
        let mut b = start_message(version.wire(), ofpt::VENDOR, xid);
        b.put_u32(NX_VENDOR_ID);
        b.put_u32(crate::nicira::nxt::ROLE_REPLY);
        b.put_u32((role as u32).saturating_sub(1));
        finish_message(b)
    } else {
        let mut b = start_message(version.wire(), ofpt::OF12_ROLE_REPLY, xid);
        b.put_u32(role as u32);
        b.put_zeros(4);
        b.put_u64(generation_id.unwrap_or(u64::MAX));
        finish_message(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::{hex, to_hex};

    #[test]
    fn config_as_ovs() {
        // -O OpenFlow13: GET_CONFIG, SET_CONFIG miss_send_len=0xffe5, GET_CONFIG
        // (ofsend.py; ovs-vswitchd answered 0408000c00000002 00010000 (frag drop,
        // set earlier by set-frags) and then ...0000ffe5).
        let c = SwitchConfig::decode(Version::Of13, &hex("0000ffe5")).unwrap();
        assert_eq!(
            to_hex(&c.encode_get_config_reply(Version::Of13, 4)),
            "0408000c000000040000ffe5"
        );
        // set-frags br0 drop (OF1.0).
        let c = SwitchConfig::decode(Version::Of10, &hex("00010000")).unwrap();
        assert_eq!(
            to_hex(&c.encode_get_config_reply(Version::Of10, 5)),
            "0108000c0000000500010000"
        );
        assert_eq!(
            SwitchConfig::decode(Version::Of13, &hex("00040000"))
                .unwrap_err()
                .of_error(),
            OfError::OFPSCFC_BAD_FLAGS
        );
        assert!(SwitchConfig::decode(Version::Of10, &hex("00040000")).is_ok());
    }

    #[test]
    fn roles_as_ovs() {
        // ofsend.py: OF1.3 ROLE_REQUEST equal -> reply equal, generation all-ones
        // (never set); primary with generation 5 -> primary, 5.
        let r = RoleRequest::decode_of12(&hex("00000001000000000000000000000000")).unwrap();
        assert_eq!(
            to_hex(&encode_role_reply(&r, Version::Of13, 2, Role::Equal, None)),
            "04190018000000020000000100000000ffffffffffffffff"
        );
        let r = RoleRequest::decode_of12(&hex("00000002000000000000000000000005")).unwrap();
        assert_eq!(r.generation_id, Some(5));
        assert_eq!(
            to_hex(&encode_role_reply(
                &r,
                Version::Of13,
                2,
                Role::Primary,
                Some(5)
            )),
            "041900180000000200000002000000000000000000000005"
        );
        assert_eq!(
            RoleRequest::decode_of12(&hex("00000009000000000000000000000000"))
                .unwrap_err()
                .of_error(),
            OfError::OFPRRFC_BAD_ROLE
        );
        // NXT_ROLE_REQUEST primary (1) -> NXT_ROLE_REPLY 1.
        let r = RoleRequest::decode_nx(&hex("00000001")).unwrap();
        assert_eq!(r.role, Role::Primary);
        assert_eq!(
            to_hex(&encode_role_reply(
                &r,
                Version::Of10,
                2,
                Role::Primary,
                None
            )),
            "0104001400000002000023200000000b00000001"
        );
    }
}
