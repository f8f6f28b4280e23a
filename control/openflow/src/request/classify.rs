//! Classification of a message the way OVS's `ofphdrs_decode` /
//! `ofpraw_from_ofphdrs` do it (by version, type, stats type, vendor and subtype),
//! and the body length each kind must have (`ofpraw_check_length`).

use super::DecodeError;
use crate::bytes::{be16, be32};
use crate::errors::{OfError, NX_VENDOR_ID, ONF_VENDOR_ID};
use crate::framing::{ofpt, Header, HEADER_LEN};
use crate::nicira::nxt;
use crate::stats::{nxst, ofpst};
use crate::version::Version;

/// How a message type's body must be sized (OVS's `raw_info` min_body and
/// extra_multiple): exactly `min`, or `min` plus any multiple of `multiple`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Body {
    min: usize,
    multiple: usize,
}

const VOID: Body = Body {
    min: 0,
    multiple: 0,
};
const fn exact(min: usize) -> Body {
    Body { min, multiple: 0 }
}
const fn at_least(min: usize) -> Body {
    Body { min, multiple: 1 }
}
const fn array8(min: usize) -> Body {
    Body { min, multiple: 8 }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Raw {
    Hello,
    Error,
    EchoRequest,
    EchoReply,
    FeaturesRequest,
    GetConfigRequest,
    SetConfig,
    Of10FlowMod,
    Of11FlowMod,
    NxFlowMod,
    BarrierRequest,
    Of12RoleRequest,
    NxRoleRequest,
    BundleControl {
        onf: bool,
    },
    BundleAdd {
        onf: bool,
    },
    SetFlowFormat,
    FlowModTableId,
    SetPacketInFormat,
    FlowAge,
    SetControllerId,
    DescRequest,
    Of10FlowRequest {
        aggregate: bool,
    },
    Of11FlowRequest {
        aggregate: bool,
    },
    NxFlowRequest {
        aggregate: bool,
    },
    TableRequest,
    PortRequest,
    PortDescRequest,
    TableFeaturesRequest,
    /// A message OVS knows that a switch does not answer (replies, async), and
    /// the body OVS checks it has.
    SwitchToController(&'static str, Body),
    /// A request OVS handles and xvs does not, the error xvs answers, the body.
    Unhandled(&'static str, OfError, Body),
}

/// The body a message kind must have (per-version differences are in the kinds).
fn body_rule(raw: Raw) -> Body {
    use Raw::*;
    match raw {
        Hello | EchoRequest | EchoReply => at_least(0),
        Error => at_least(4),
        FeaturesRequest | GetConfigRequest | BarrierRequest | FlowAge | DescRequest
        | TableRequest | PortDescRequest => VOID,
        SetConfig => exact(4),
        Of10FlowMod => array8(64),
        Of11FlowMod => array8(40),
        NxFlowMod => array8(32),
        Of12RoleRequest => exact(16),
        NxRoleRequest => exact(4),
        BundleControl { .. } => array8(8),
        BundleAdd { .. } => at_least(8),
        SetFlowFormat | SetPacketInFormat => exact(4),
        FlowModTableId | SetControllerId => exact(8),
        Of10FlowRequest { .. } => exact(44),
        Of11FlowRequest { .. } => array8(32),
        NxFlowRequest { .. } => array8(8),
        PortRequest => exact(8),
        TableFeaturesRequest => array8(0),
        SwitchToController(_, b) | Unhandled(_, _, b) => b,
    }
}

const fn unhandled(name: &'static str, b: Body) -> Raw {
    Raw::Unhandled(name, OfError::OFPBRC_BAD_TYPE, b)
}
const fn unhandled_stat(name: &'static str, b: Body) -> Raw {
    Raw::Unhandled(name, OfError::OFPBRC_BAD_STAT, b)
}
const fn unhandled_vendor(name: &'static str, b: Body) -> Raw {
    Raw::Unhandled(name, OfError::OFPBRC_BAD_SUBTYPE, b)
}
const fn s2c(name: &'static str, b: Body) -> Raw {
    Raw::SwitchToController(name, b)
}

/// The message types a version has (besides the immutable 0..3 and vendor 4),
/// with the bodies OVS's `ofp-msgs.h` gives them.
fn plain_raw(v: Version, t: u8) -> Option<Raw> {
    use Raw::*;
    let of10 = v == Version::Of10;
    let of14 = v >= Version::Of14;
    Some(match t {
        ofpt::FEATURES_REQUEST => FeaturesRequest,
        ofpt::FEATURES_REPLY if of10 => s2c(
            "OFPT_FEATURES_REPLY",
            Body {
                min: 24,
                multiple: 48,
            },
        ),
        ofpt::FEATURES_REPLY => s2c("OFPT_FEATURES_REPLY", exact(24)),
        ofpt::GET_CONFIG_REQUEST => GetConfigRequest,
        ofpt::GET_CONFIG_REPLY => s2c("OFPT_GET_CONFIG_REPLY", exact(4)),
        ofpt::SET_CONFIG => SetConfig,
        ofpt::PACKET_IN if of10 => s2c("OFPT_PACKET_IN", at_least(10)),
        ofpt::PACKET_IN => s2c("OFPT_PACKET_IN", at_least(16)),
        ofpt::FLOW_REMOVED if of10 => s2c("OFPT_FLOW_REMOVED", exact(80)),
        ofpt::FLOW_REMOVED => s2c("OFPT_FLOW_REMOVED", array8(40)),
        ofpt::PORT_STATUS if of10 => s2c("OFPT_PORT_STATUS", exact(56)),
        ofpt::PORT_STATUS if of14 => s2c("OFPT_PORT_STATUS", array8(48)),
        ofpt::PORT_STATUS => s2c("OFPT_PORT_STATUS", exact(72)),
        ofpt::PACKET_OUT if of10 => unhandled("OFPT_PACKET_OUT", at_least(8)),
        ofpt::PACKET_OUT => unhandled("OFPT_PACKET_OUT", at_least(16)),
        ofpt::FLOW_MOD if of10 => Of10FlowMod,
        ofpt::FLOW_MOD => Of11FlowMod,
        15 if of10 => unhandled("OFPT_PORT_MOD", exact(24)),
        15 => unhandled("OFPT_GROUP_MOD", array8(8)),
        ofpt::OF10_BARRIER_REQUEST if of10 => BarrierRequest,
        ofpt::OF10_BARRIER_REPLY if of10 => s2c("OFPT_BARRIER_REPLY", VOID),
        ofpt::OF10_QUEUE_GET_CONFIG_REQUEST if of10 => {
            unhandled("OFPT_QUEUE_GET_CONFIG_REQUEST", exact(4))
        }
        ofpt::OF10_QUEUE_GET_CONFIG_REPLY if of10 => s2c("OFPT_QUEUE_GET_CONFIG_REPLY", array8(8)),
        _ if of10 => return None,
        ofpt::OF11_PORT_MOD if of14 => unhandled("OFPT_PORT_MOD", array8(24)),
        ofpt::OF11_PORT_MOD => unhandled("OFPT_PORT_MOD", exact(32)),
        ofpt::OF11_TABLE_MOD if of14 => unhandled("OFPT_TABLE_MOD", array8(8)),
        ofpt::OF11_TABLE_MOD => unhandled("OFPT_TABLE_MOD", exact(8)),
        ofpt::OF11_BARRIER_REQUEST => BarrierRequest,
        ofpt::OF11_BARRIER_REPLY => s2c("OFPT_BARRIER_REPLY", VOID),
        ofpt::OF11_QUEUE_GET_CONFIG_REQUEST if !of14 => {
            unhandled("OFPT_QUEUE_GET_CONFIG_REQUEST", exact(8))
        }
        ofpt::OF11_QUEUE_GET_CONFIG_REPLY if !of14 => s2c("OFPT_QUEUE_GET_CONFIG_REPLY", array8(8)),
        ofpt::OF12_ROLE_REQUEST => Of12RoleRequest,
        ofpt::OF12_ROLE_REPLY => s2c("OFPT_ROLE_REPLY", exact(16)),
        ofpt::OF13_GET_ASYNC_REQUEST => unhandled("OFPT_GET_ASYNC_REQUEST", VOID),
        ofpt::OF13_GET_ASYNC_REPLY if of14 => s2c("OFPT_GET_ASYNC_REPLY", array8(0)),
        ofpt::OF13_GET_ASYNC_REPLY => s2c("OFPT_GET_ASYNC_REPLY", exact(24)),
        ofpt::OF13_SET_ASYNC if of14 => unhandled("OFPT_SET_ASYNC", array8(0)),
        ofpt::OF13_SET_ASYNC => unhandled("OFPT_SET_ASYNC", exact(24)),
        ofpt::OF13_METER_MOD => unhandled("OFPT_METER_MOD", array8(8)),
        ofpt::OF14_ROLE_STATUS if of14 => s2c("OFPT_ROLE_STATUS", array8(16)),
        ofpt::OF14_TABLE_STATUS if of14 => s2c("OFPT_TABLE_STATUS", array8(8)),
        ofpt::OF14_REQUESTFORWARD if of14 => s2c("OFPT_REQUESTFORWARD", array8(8)),
        ofpt::OF14_BUNDLE_CONTROL if of14 => BundleControl { onf: false },
        ofpt::OF14_BUNDLE_ADD_MESSAGE if of14 => BundleAdd { onf: false },
        _ => return None,
    })
}

/// Vendor (experimenter) messages a version has.
fn vendor_raw(v: Version, vendor: u32, subtype: u32) -> Option<Raw> {
    use Raw::*;
    let (of10, of13) = (v == Version::Of10, v == Version::Of13);
    if vendor == NX_VENDOR_ID {
        return Some(match subtype {
            nxt::ROLE_REQUEST => NxRoleRequest,
            nxt::ROLE_REPLY => s2c("NXT_ROLE_REPLY", exact(4)),
            nxt::SET_FLOW_FORMAT if of10 => SetFlowFormat,
            nxt::FLOW_MOD => NxFlowMod,
            nxt::FLOW_REMOVED => s2c("NXT_FLOW_REMOVED", array8(40)),
            nxt::FLOW_MOD_TABLE_ID => FlowModTableId,
            nxt::SET_PACKET_IN_FORMAT => SetPacketInFormat,
            nxt::PACKET_IN => s2c("NXT_PACKET_IN", at_least(24)),
            nxt::FLOW_AGE => FlowAge,
            nxt::SET_ASYNC_CONFIG => unhandled_vendor("NXT_SET_ASYNC_CONFIG", exact(24)),
            nxt::SET_CONTROLLER_ID => SetControllerId,
            nxt::FLOW_MONITOR_CANCEL if of10 => {
                unhandled_vendor("NXT_FLOW_MONITOR_CANCEL", exact(4))
            }
            nxt::FLOW_MONITOR_PAUSED if of10 => s2c("NXT_FLOW_MONITOR_PAUSED", VOID),
            nxt::FLOW_MONITOR_RESUMED if of10 => s2c("NXT_FLOW_MONITOR_RESUMED", VOID),
            nxt::TLV_TABLE_MOD => unhandled_vendor("NXT_TLV_TABLE_MOD", array8(8)),
            nxt::TLV_TABLE_REQUEST => unhandled_vendor("NXT_TLV_TABLE_REQUEST", VOID),
            nxt::TLV_TABLE_REPLY => s2c("NXT_TLV_TABLE_REPLY", array8(16)),
            nxt::SET_ASYNC_CONFIG2 if v <= Version::Of13 => {
                unhandled_vendor("NXT_SET_ASYNC_CONFIG2", array8(0))
            }
            nxt::RESUME => unhandled_vendor("NXT_RESUME", array8(0)),
            nxt::CT_FLUSH_ZONE => unhandled_vendor("NXT_CT_FLUSH_ZONE", exact(8)),
            nxt::PACKET_IN2 => s2c("NXT_PACKET_IN2", array8(0)),
            nxt::GROUP_MOD if of10 => unhandled_vendor("NXT_GROUP_MOD", array8(16)),
            nxt::CT_FLUSH => unhandled_vendor("NXT_CT_FLUSH", array8(8)),
            nxt::REQUESTFORWARD if of10 => s2c("NXT_REQUESTFORWARD", array8(8)),
            _ => return None,
        });
    }
    if vendor == ONF_VENDOR_ID && of13 {
        return Some(match subtype {
            crate::bundle::onft::BUNDLE_CONTROL => BundleControl { onf: true },
            crate::bundle::onft::BUNDLE_ADD_MESSAGE => BundleAdd { onf: true },
            1870 => unhandled_vendor("ONFT_FLOW_MONITOR_CANCEL", exact(4)),
            1871 => s2c("ONFT_FLOW_MONITOR_PAUSED", VOID),
            1872 => s2c("ONFT_FLOW_MONITOR_RESUMED", VOID),
            1911 => s2c("ONFT_ROLE_STATUS", array8(16)),
            2350 => s2c("ONFT_REQUESTFORWARD", array8(8)),
            _ => return None,
        });
    }
    None
}

/// Statistics requests a version has.
fn stats_request_raw(v: Version, st: u16) -> Option<Raw> {
    use Raw::*;
    let of10 = v == Version::Of10;
    Some(match st {
        ofpst::DESC => DescRequest,
        ofpst::FLOW if of10 => Of10FlowRequest { aggregate: false },
        ofpst::FLOW => Of11FlowRequest { aggregate: false },
        ofpst::AGGREGATE if of10 => Of10FlowRequest { aggregate: true },
        ofpst::AGGREGATE => Of11FlowRequest { aggregate: true },
        ofpst::TABLE => TableRequest,
        ofpst::PORT => PortRequest,
        ofpst::QUEUE => unhandled_stat("OFPST_QUEUE request", exact(8)),
        ofpst::PORT_DESC => PortDescRequest,
        _ if of10 => return None,
        ofpst::GROUP => unhandled_stat("OFPST_GROUP request", exact(8)),
        ofpst::GROUP_DESC => unhandled_stat("OFPST_GROUP_DESC request", VOID),
        ofpst::GROUP_FEATURES => unhandled_stat("OFPST_GROUP_FEATURES request", VOID),
        ofpst::METER => unhandled_stat("OFPST_METER request", exact(8)),
        ofpst::METER_CONFIG => unhandled_stat("OFPST_METER_CONFIG request", exact(8)),
        ofpst::METER_FEATURES => unhandled_stat("OFPST_METER_FEATURES request", VOID),
        ofpst::TABLE_FEATURES => TableFeaturesRequest,
        _ if v < Version::Of14 => return None,
        ofpst::TABLE_DESC => unhandled_stat("OFPST_TABLE_DESC request", VOID),
        ofpst::QUEUE_DESC => unhandled_stat("OFPST_QUEUE_DESC request", exact(8)),
        ofpst::FLOW_MONITOR => unhandled_stat("OFPST_FLOW_MONITOR request", array8(0)),
        _ => return None,
    })
}

/// Statistics replies a version has (a switch only receives them by mistake).
fn stats_reply_raw(v: Version, st: u16) -> Option<Raw> {
    let (of10, of13) = (v == Version::Of10, v == Version::Of13);
    let body = match st {
        ofpst::DESC => exact(1056),
        ofpst::FLOW => at_least(0),
        ofpst::AGGREGATE => exact(24),
        ofpst::TABLE if of10 => Body {
            min: 0,
            multiple: 64,
        },
        ofpst::TABLE => Body {
            min: 0,
            multiple: 24,
        },
        ofpst::PORT if of10 => Body {
            min: 0,
            multiple: 104,
        },
        ofpst::PORT if of13 => Body {
            min: 0,
            multiple: 112,
        },
        ofpst::PORT => array8(0),
        ofpst::QUEUE if of10 => Body {
            min: 0,
            multiple: 32,
        },
        ofpst::QUEUE if of13 => Body {
            min: 0,
            multiple: 40,
        },
        ofpst::QUEUE => array8(0),
        ofpst::PORT_DESC if of10 => Body {
            min: 0,
            multiple: 48,
        },
        ofpst::PORT_DESC if of13 => Body {
            min: 0,
            multiple: 64,
        },
        ofpst::PORT_DESC => array8(0),
        _ if of10 => return None,
        ofpst::GROUP | ofpst::GROUP_DESC | ofpst::METER | ofpst::METER_CONFIG => array8(0),
        ofpst::GROUP_FEATURES => exact(40),
        ofpst::METER_FEATURES => exact(16),
        ofpst::TABLE_FEATURES => array8(64),
        _ if of13 => return None,
        ofpst::TABLE_DESC => array8(8),
        ofpst::QUEUE_DESC | ofpst::FLOW_MONITOR => array8(0),
        _ => return None,
    };
    Some(s2c("OFPST reply", body))
}

/// Vendor statistics (NXST, ONFST) a version has.
fn vendor_stats_raw(v: Version, request: bool, vendor: u32, subtype: u32) -> Option<Raw> {
    use Raw::*;
    let of10 = v == Version::Of10;
    if vendor == NX_VENDOR_ID {
        let (req, rep) = match subtype {
            nxst::FLOW if of10 => (NxFlowRequest { aggregate: false }, at_least(0)),
            nxst::AGGREGATE if of10 => (NxFlowRequest { aggregate: true }, exact(24)),
            nxst::FLOW_MONITOR if of10 => (
                unhandled_stat("NXST_FLOW_MONITOR request", array8(0)),
                array8(0),
            ),
            nxst::IPFIX_BRIDGE => (unhandled_stat("NXST_IPFIX_BRIDGE request", VOID), exact(88)),
            nxst::IPFIX_FLOW => (
                unhandled_stat("NXST_IPFIX_FLOW request", VOID),
                Body {
                    min: 0,
                    multiple: 88,
                },
            ),
            nxst::GROUP if of10 => (unhandled_stat("NXST_GROUP request", exact(8)), array8(0)),
            nxst::GROUP_DESC if of10 => (
                unhandled_stat("NXST_GROUP_DESC request", exact(8)),
                array8(0),
            ),
            nxst::GROUP_FEATURES if of10 => (
                unhandled_stat("NXST_GROUP_FEATURES request", VOID),
                exact(40),
            ),
            _ => return None,
        };
        return Some(if request { req } else { s2c("NXST reply", rep) });
    }
    if vendor == ONF_VENDOR_ID && v == Version::Of13 && subtype == 1870 {
        return Some(if request {
            unhandled_stat("ONFST_FLOW_MONITOR request", array8(0))
        } else {
            s2c("ONFST_FLOW_MONITOR reply", array8(0))
        });
    }
    None
}

/// OVS's header classification: the message kind and the length of its headers.
pub(super) fn classify(
    ctx_version: Version,
    h: &Header,
    msg: &[u8],
) -> Result<(Raw, usize), DecodeError> {
    let len = msg.len();
    match h.msg_type {
        ofpt::HELLO => return Ok((Raw::Hello, HEADER_LEN)),
        ofpt::ERROR => return Ok((Raw::Error, HEADER_LEN)),
        ofpt::ECHO_REQUEST => return Ok((Raw::EchoRequest, HEADER_LEN)),
        ofpt::ECHO_REPLY => return Ok((Raw::EchoReply, HEADER_LEN)),
        _ => {}
    }
    // Other types only exist in the connection's version (checked by the caller).
    let v = ctx_version;
    if h.msg_type == ofpt::VENDOR {
        if len < 16 {
            return Err(DecodeError::BadLen);
        }
        let (vendor, subtype) = (be32(msg, 8), be32(msg, 12));
        if vendor != NX_VENDOR_ID && vendor != ONF_VENDOR_ID {
            return Err(DecodeError::BadVendor { vendor });
        }
        let raw =
            vendor_raw(v, vendor, subtype).ok_or(DecodeError::BadSubtype { vendor, subtype })?;
        return Ok((raw, 16));
    }
    let (req_type, rep_type, base) = if v == Version::Of10 {
        (ofpt::OF10_STATS_REQUEST, ofpt::OF10_STATS_REPLY, 12)
    } else {
        (ofpt::OF11_STATS_REQUEST, ofpt::OF11_STATS_REPLY, 16)
    };
    if h.msg_type == req_type || h.msg_type == rep_type {
        let request = h.msg_type == req_type;
        if len < base {
            return Err(DecodeError::BadLen);
        }
        let st = be16(msg, 8);
        if st != ofpst::VENDOR {
            let raw = if request {
                stats_request_raw(v, st)
            } else {
                stats_reply_raw(v, st)
            };
            let raw = raw.ok_or(DecodeError::BadStat { stats_type: st })?;
            return Ok((raw, base));
        }
        // OF1.0's vendor stats header holds the vendor only (16 bytes), OF1.1+'s
        // the subtype too (24 bytes).
        if len < if v == Version::Of10 { base + 4 } else { 24 } {
            return Err(DecodeError::BadLen);
        }
        let vendor = be32(msg, base);
        if vendor != NX_VENDOR_ID && (v == Version::Of10 || vendor != ONF_VENDOR_ID) {
            return Err(DecodeError::BadVendor { vendor });
        }
        if len < 24 {
            return Err(DecodeError::BadLen);
        }
        let subtype = be32(msg, base + 4);
        let raw = vendor_stats_raw(v, request, vendor, subtype)
            .ok_or(DecodeError::BadSubtype { vendor, subtype })?;
        return Ok((raw, 24));
    }
    plain_raw(v, h.msg_type)
        .map(|r| (r, HEADER_LEN))
        .ok_or(DecodeError::BadType {
            msg_type: h.msg_type,
        })
}

pub(super) fn check_len(raw: Raw, hdrs_len: usize, len: usize) -> Result<(), DecodeError> {
    let b = body_rule(raw);
    let min = hdrs_len + b.min;
    let ok = match b.multiple {
        0 => len == min,
        m => len >= min && (len - min).is_multiple_of(m),
    };
    if ok {
        Ok(())
    } else {
        Err(DecodeError::BadLen)
    }
}
