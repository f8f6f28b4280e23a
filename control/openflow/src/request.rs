//! Decoding of every message a switch receives into a [`Request`], or the error
//! OVS would reply with.
//!
//! The message is first classified the way OVS's `ofphdrs_decode` /
//! `ofpraw_from_ofphdrs` do (by version, type, stats type, vendor and subtype),
//! its length checked against the body it must have (`ofpraw_check_length`:
//! OFPBRC_BAD_LEN), then its body decoded. A message in another version than the
//! connection's is refused with OFPBRC_BAD_VERSION unless it is a HELLO, ERROR or
//! ECHO (OVS's `vconn_recv`), which every version shares. Unknown messages get
//! OVS's OFPBRC_BAD_TYPE / OFPBRC_BAD_STAT (OFPBMRC_BAD_MULTIPART in OF1.3+,
//! the same number) / OFPBRC_BAD_VENDOR / OFPBRC_BAD_SUBTYPE; messages OVS knows
//! but xvs does not handle (packet-out, group/meter/port/table mods, queue, group
//! and meter statistics, flow monitors, ...) are [`DecodeError::Unsupported`] with
//! the error an unknown message of their kind would get; messages that only a
//! switch sends (replies, packet-in, ...) get OFPBRC_BAD_TYPE as in OVS.

use crate::bundle::{split_bundle_add, BundleCtrl, BundleError};
use crate::bytes::{be16, be32};
use crate::config::{ConfigError, RoleError, RoleRequest, SwitchConfig};
use crate::errors::{encode_error_reply, OfError, NX_VENDOR_ID, ONF_VENDOR_ID};
use crate::flow_mod::{FlowMod, FlowModError};
use crate::framing::{ofpt, Header, HEADER_LEN};
use crate::nicira::{self, nxt, FlowFormat, NiciraError, PacketInFormat};
use crate::stats::{self, nxst, ofpst, FlowStatsRequest, StatsError, OFPSF_REPLY_MORE};
use crate::version::Version;

/// What the decoder needs to know about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeContext {
    /// The negotiated version.
    pub version: Version,
    /// Whether NXT_FLOW_MOD_TABLE_ID enabled the table id in OF1.0 flow mods.
    pub flow_mod_table_id: bool,
}

impl DecodeContext {
    pub fn new(version: Version) -> DecodeContext {
        DecodeContext {
            version,
            flow_mod_table_id: false,
        }
    }
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// OFPT_ECHO_REQUEST (any version): answer with [`encode_echo_reply`].
    EchoRequest {
        data: Vec<u8>,
    },
    /// OFPT_ECHO_REPLY: nothing to answer.
    EchoReply {
        data: Vec<u8>,
    },
    FeaturesRequest,
    GetConfigRequest,
    SetConfig(SwitchConfig),
    /// OFPT_BARRIER_REQUEST (OF1.0 type 18, OF1.1+ type 20).
    BarrierRequest,
    FlowMod(FlowMod),
    /// OF1.2+ OFPT_ROLE_REQUEST or NXT_ROLE_REQUEST.
    RoleRequest(RoleRequest),
    DescStats,
    /// FLOW stats (OFPST_FLOW, NXST_FLOW, OFPMP_FLOW).
    FlowStats(FlowStatsRequest),
    /// AGGREGATE stats (OFPST_AGGREGATE, NXST_AGGREGATE, OFPMP_AGGREGATE).
    AggregateStats(FlowStatsRequest),
    TableStats,
    /// PORT stats of one port, or all (OFPP_NONE), OF1.0 numbering.
    PortStats {
        port_no: u16,
    },
    PortDesc,
    /// OFPMP_TABLE_FEATURES without a body (a read).
    TableFeatures,
    SetFlowFormat(FlowFormat),
    /// NXT_FLOW_MOD_TABLE_ID: enable (true) or disable the table id in OF1.0 flow
    /// mods. The caller keeps it in its [`DecodeContext`].
    FlowModTableId(bool),
    SetPacketInFormat(PacketInFormat),
    SetControllerId(u16),
    /// NXT_FLOW_AGE: OVS does nothing.
    FlowAge,
    BundleControl(BundleCtrl),
    /// A message added to a bundle. `message` is the decoded bundled request (a
    /// flow mod); `raw` the bundled message as received.
    BundleAdd {
        onf: bool,
        bundle_id: u32,
        flags: u16,
        message: Box<Request>,
        raw: Vec<u8>,
    },
}

/// A decoded message: its header and the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub request: Request,
}

/// Why a message is refused; [`DecodeError::of_error`] is the error OVS sends and
/// [`DecodeError::encode_reply`] the OFPT_ERROR message to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message shorter than its ofp_header length or than its type requires")]
    BadLen,
    #[error("message version {version:#04x} is not the connection's")]
    BadVersion { version: u8 },
    #[error("unknown message type {msg_type}")]
    BadType { msg_type: u8 },
    #[error("unknown statistics type {stats_type}")]
    BadStat { stats_type: u16 },
    #[error("unknown vendor {vendor:#x}")]
    BadVendor { vendor: u32 },
    #[error("unknown subtype {subtype} of vendor {vendor:#x}")]
    BadSubtype { vendor: u32, subtype: u32 },
    #[error("{name} is not handled by a switch")]
    NotARequest { name: &'static str },
    #[error("{name} is not supported")]
    Unsupported { name: &'static str, error: OfError },
    #[error(transparent)]
    FlowMod(#[from] FlowModError),
    #[error(transparent)]
    Stats(#[from] StatsError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Role(#[from] RoleError),
    #[error(transparent)]
    Nicira(#[from] NiciraError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

impl DecodeError {
    /// The error OVS 3.1 sends for this message.
    pub fn of_error(&self) -> OfError {
        match self {
            DecodeError::BadLen => OfError::OFPBRC_BAD_LEN,
            DecodeError::BadVersion { .. } => OfError::OFPBRC_BAD_VERSION,
            DecodeError::BadType { .. } | DecodeError::NotARequest { .. } => {
                OfError::OFPBRC_BAD_TYPE
            }
            DecodeError::BadStat { .. } => OfError::OFPBRC_BAD_STAT,
            DecodeError::BadVendor { .. } => OfError::OFPBRC_BAD_VENDOR,
            DecodeError::BadSubtype { .. } => OfError::OFPBRC_BAD_SUBTYPE,
            DecodeError::Unsupported { error, .. } => *error,
            DecodeError::FlowMod(e) => e.of_error(),
            DecodeError::Stats(e) => e.of_error(),
            DecodeError::Config(e) => e.of_error(),
            DecodeError::Role(e) => e.of_error(),
            DecodeError::Nicira(e) => e.of_error(),
            DecodeError::Bundle(e) => e.of_error(),
        }
    }

    /// The OFPT_ERROR to send back for `msg` (its version and xid, and `msg` as
    /// data, as OVS does).
    pub fn encode_reply(&self, msg: &[u8]) -> Vec<u8> {
        encode_error_reply(self.of_error(), msg)
    }
}

/// The OFPT_ECHO_REPLY to an echo request: same version, xid and data.
pub fn encode_echo_reply(request: &Header, data: &[u8]) -> Vec<u8> {
    let mut b = crate::framing::start_message(request.version, ofpt::ECHO_REPLY, request.xid);
    b.extend_from_slice(&data[..data.len().min(crate::framing::MAX_MESSAGE_LEN - HEADER_LEN)]);
    crate::framing::finish_message(b)
}

/// The OFPT_BARRIER_REPLY to a barrier request (OF1.0 type 19, OF1.1+ type 21).
pub fn encode_barrier_reply(version: Version, xid: u32) -> Vec<u8> {
    let t = if version == Version::Of10 {
        ofpt::OF10_BARRIER_REPLY
    } else {
        ofpt::OF11_BARRIER_REPLY
    };
    crate::framing::finish_message(crate::framing::start_message(version.wire(), t, xid))
}

/// How a message type's body must be sized (OVS's `raw_info` min_body and
/// extra_multiple): exactly `min`, or `min` plus any multiple of `multiple`.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Body {
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
enum Raw {
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
fn classify(ctx_version: Version, h: &Header, msg: &[u8]) -> Result<(Raw, usize), DecodeError> {
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

fn check_len(raw: Raw, hdrs_len: usize, len: usize) -> Result<(), DecodeError> {
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

/// Decodes one whole message (as [`crate::framing::MessageStream`] yields it)
/// received on a connection described by `ctx`.
pub fn decode_request(msg: &[u8], ctx: &DecodeContext) -> Result<Message, DecodeError> {
    let h = Header::parse(msg).ok_or(DecodeError::BadLen)?;
    if usize::from(h.length) != msg.len() {
        return Err(DecodeError::BadLen);
    }
    let immutable = h.msg_type <= ofpt::ECHO_REPLY;
    if h.version != ctx.version.wire() && !immutable {
        return Err(DecodeError::BadVersion { version: h.version });
    }
    let classified = classify(ctx.version, &h, msg).and_then(|(raw, hl)| {
        check_len(raw, hl, msg.len())?;
        Ok((raw, hl))
    });
    let (raw, hdrs_len) = match classified {
        Ok(c) => c,
        // OVS's vconn refuses a message of another version that it cannot decode.
        Err(_) if h.version != ctx.version.wire() => {
            return Err(DecodeError::BadVersion { version: h.version })
        }
        Err(e) => return Err(e),
    };
    let body = &msg[hdrs_len..];
    let request = decode_body(raw, &h, msg, body, ctx)?;
    Ok(Message { header: h, request })
}

fn decode_body(
    raw: Raw,
    h: &Header,
    msg: &[u8],
    body: &[u8],
    ctx: &DecodeContext,
) -> Result<Request, DecodeError> {
    let v = ctx.version;
    // OF1.3+ multipart requests in several parts (OFPMPF_REQ_MORE) are not
    // reassembled.
    if v >= Version::Of13
        && h.msg_type == ofpt::OF11_STATS_REQUEST
        && be16(msg, 10) & OFPSF_REPLY_MORE != 0
    {
        return Err(DecodeError::Unsupported {
            name: "multipart request in several messages",
            error: OfError::OFPBRC_MULTIPART_BUFFER_OVERFLOW,
        });
    }
    Ok(match raw {
        Raw::Hello => return Err(DecodeError::NotARequest { name: "OFPT_HELLO" }),
        Raw::Error => return Err(DecodeError::NotARequest { name: "OFPT_ERROR" }),
        Raw::SwitchToController(name, _) => return Err(DecodeError::NotARequest { name }),
        Raw::Unhandled(name, error, _) => return Err(DecodeError::Unsupported { name, error }),
        Raw::EchoRequest => Request::EchoRequest {
            data: body.to_vec(),
        },
        Raw::EchoReply => Request::EchoReply {
            data: body.to_vec(),
        },
        Raw::FeaturesRequest => Request::FeaturesRequest,
        Raw::GetConfigRequest => Request::GetConfigRequest,
        Raw::SetConfig => Request::SetConfig(SwitchConfig::decode(v, body)?),
        Raw::BarrierRequest => Request::BarrierRequest,
        Raw::Of10FlowMod => Request::FlowMod(FlowMod::decode_of10(body, ctx.flow_mod_table_id)?),
        Raw::NxFlowMod => Request::FlowMod(FlowMod::decode_nx(v, body, ctx.flow_mod_table_id)?),
        Raw::Of11FlowMod => Request::FlowMod(FlowMod::decode_of11(v, body)?),
        Raw::Of12RoleRequest => Request::RoleRequest(RoleRequest::decode_of12(body)?),
        Raw::NxRoleRequest => Request::RoleRequest(RoleRequest::decode_nx(body)?),
        Raw::SetFlowFormat => Request::SetFlowFormat(nicira::decode_set_flow_format(body)?),
        Raw::FlowModTableId => Request::FlowModTableId(nicira::decode_flow_mod_table_id(body)),
        Raw::SetPacketInFormat => {
            Request::SetPacketInFormat(nicira::decode_set_packet_in_format(body)?)
        }
        Raw::SetControllerId => Request::SetControllerId(nicira::decode_set_controller_id(body)?),
        Raw::FlowAge => Request::FlowAge,
        Raw::DescRequest => Request::DescStats,
        Raw::TableRequest => Request::TableStats,
        Raw::PortDescRequest => Request::PortDesc,
        Raw::PortRequest => Request::PortStats {
            port_no: stats::decode_port_stats_request(v, body)?,
        },
        Raw::TableFeaturesRequest if body.is_empty() => Request::TableFeatures,
        Raw::TableFeaturesRequest => {
            // OVS reads the tables to set first (`ofputil_decode_table_features`):
            // a malformed one is OFPBPC_BAD_LEN (OFPTFFC_BAD_LEN in OF1.3), table
            // 0xff OFPTFFC_BAD_TABLE. xvs then refuses to change its tables.
            let mut rest = body;
            while !rest.is_empty() {
                let len = if rest.len() >= 64 {
                    usize::from(be16(rest, 0))
                } else {
                    0
                };
                if len < 64 || len % 8 != 0 || len > rest.len() {
                    return Err(DecodeError::Unsupported {
                        name: "malformed OFPMP_TABLE_FEATURES request",
                        error: OfError::OFPBPC_BAD_LEN,
                    });
                }
                if rest[2] == 0xff {
                    return Err(DecodeError::Unsupported {
                        name: "OFPMP_TABLE_FEATURES request for table 0xff",
                        error: OfError::OFPTFFC_BAD_TABLE,
                    });
                }
                rest = &rest[len..];
            }
            return Err(DecodeError::Unsupported {
                name: "OFPMP_TABLE_FEATURES request that changes tables",
                error: OfError::OFPTFFC_EPERM,
            });
        }
        Raw::Of10FlowRequest { aggregate }
        | Raw::NxFlowRequest { aggregate }
        | Raw::Of11FlowRequest { aggregate } => {
            let r = match raw {
                Raw::Of10FlowRequest { .. } => FlowStatsRequest::decode_of10(body, aggregate)?,
                Raw::NxFlowRequest { .. } => FlowStatsRequest::decode_nx(body, aggregate)?,
                _ => FlowStatsRequest::decode_of11(body, aggregate)?,
            };
            if aggregate {
                Request::AggregateStats(r)
            } else {
                Request::FlowStats(r)
            }
        }
        Raw::BundleControl { onf } => Request::BundleControl(BundleCtrl::decode(body, onf)?),
        Raw::BundleAdd { onf } => decode_bundle_add(h, body, onf, ctx)?,
    })
}

/// OVS's `ofputil_decode_bundle_add` and `handle_bundle_add`: the bundled message
/// must decode (else OFPBFC_MSG_UNSUP) and be bundlable (flow, port and group
/// mods, packet-outs; xvs supports flow mods only).
fn decode_bundle_add(
    h: &Header,
    body: &[u8],
    onf: bool,
    ctx: &DecodeContext,
) -> Result<Request, DecodeError> {
    let parts = split_bundle_add(h, body)?;
    let inner_h = Header::parse(parts.inner).ok_or(BundleError::MsgBadLen)?;
    let (raw, hdrs_len) = classify(ctx.version, &inner_h, parts.inner)
        .and_then(|(raw, hl)| check_len(raw, hl, parts.inner.len()).map(|_| (raw, hl)))
        .map_err(|_| BundleError::MsgUnsup("the bundled message does not decode"))?;
    let inner_body = &parts.inner[hdrs_len..];
    let message = match raw {
        Raw::Of10FlowMod | Raw::NxFlowMod | Raw::Of11FlowMod => {
            decode_body(raw, &inner_h, parts.inner, inner_body, ctx)?
        }
        Raw::Unhandled(name, _, _)
            if matches!(
                name,
                "OFPT_PACKET_OUT" | "OFPT_PORT_MOD" | "OFPT_GROUP_MOD" | "NXT_GROUP_MOD"
            ) =>
        {
            return Err(DecodeError::Unsupported {
                name,
                error: OfError::OFPBFC_MSG_UNSUP,
            });
        }
        _ => return Err(BundleError::MsgUnsup("this message cannot be bundled").into()),
    };
    Ok(Request::BundleAdd {
        onf,
        bundle_id: parts.bundle_id,
        flags: parts.flags,
        message: Box::new(message),
        raw: parts.inner.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::{hex, to_hex};

    fn decode(v: Version, h: &str) -> Result<Request, OfError> {
        decode_request(&hex(h), &DecodeContext::new(v))
            .map(|m| m.request)
            .map_err(|e| e.of_error())
    }

    #[test]
    fn classification_errors_as_ovs() {
        // The list, from ofsend.py captures: a short FLOW_MOD, an unknown
        // type, an unknown vendor, a truncated OF1.3 match field.
        assert_eq!(
            decode(
                Version::Of10,
                "010e001c000000020000000000000000000000000000000000000000"
            ),
            Err(OfError::OFPBRC_BAD_LEN)
        );
        assert_eq!(
            decode(Version::Of13, "0430000800000002"),
            Err(OfError::OFPBRC_BAD_TYPE)
        );
        assert_eq!(
            decode(Version::Of10, "01040010000000020000123400000001"),
            Err(OfError::OFPBRC_BAD_VENDOR)
        );
        assert_eq!(
            decode(
                Version::Of13,
                "040e004000000002000000000000000000000000000000000000000000008000ffffffffffffffffffffffff000000000001000a800000040001000000000000"
            ),
            Err(OfError::OFPBMC_BAD_LEN)
        );
        // Stats: unknown type, unknown Nicira subtype, OF1.3 multipart.
        assert_eq!(
            decode(Version::Of10, "0110000c0000000200770000"),
            Err(OfError::OFPBRC_BAD_STAT)
        );
        assert_eq!(
            decode(
                Version::Of10,
                "0110001800000002ffff0000000023200000004d00000000"
            ),
            Err(OfError::OFPBRC_BAD_SUBTYPE)
        );
        assert_eq!(
            decode(Version::Of13, "04120010000000020077000000000000"),
            Err(OfError::OFPBRC_BAD_STAT)
        );
        // NXT_SET_FLOW_FORMAT exists in OF1.0 only.
        assert_eq!(
            decode(Version::Of13, "0404001400000002000023200000000c00000002"),
            Err(OfError::OFPBRC_BAD_SUBTYPE)
        );
        // Bodies of the wrong size.
        assert_eq!(
            decode(Version::Of13, "04140010000000020000000000000000"),
            Err(OfError::OFPBRC_BAD_LEN)
        );
        assert_eq!(
            decode(Version::Of10, "01100010000000020000000000000000"),
            Err(OfError::OFPBRC_BAD_LEN)
        );
    }

    #[test]
    fn versions() {
        // Another version than the connection's: OFPBRC_BAD_VERSION in that version,
        // except the messages every version shares.
        let msg = hex("0105000800000002");
        let e = decode_request(&msg, &DecodeContext::new(Version::Of13)).unwrap_err();
        assert_eq!(
            to_hex(&e.encode_reply(&msg)),
            "0101001400000002000100000105000800000002"
        );
        assert_eq!(
            decode(Version::Of13, "0102000800000002"),
            Ok(Request::EchoRequest { data: vec![] })
        );
        assert_eq!(
            decode(Version::Of13, "0702000800000002"),
            Ok(Request::EchoRequest { data: vec![] })
        );
        assert_eq!(
            decode(Version::Of13, "0401000c0000000200010001"),
            Err(OfError::OFPBRC_BAD_TYPE)
        );
        assert_eq!(
            decode(Version::Of13, "0400000800000003"),
            Err(OfError::OFPBRC_BAD_TYPE)
        );
        // A message of another version that would not decode: BAD_VERSION too.
        assert_eq!(
            decode(Version::Of13, "0101000a000000020000"),
            Err(OfError::OFPBRC_BAD_VERSION)
        );
    }

    #[test]
    fn requests() {
        assert_eq!(
            decode(Version::Of10, "0112000800000007"),
            Ok(Request::BarrierRequest)
        );
        assert_eq!(
            decode(Version::Of13, "0414000800000007"),
            Ok(Request::BarrierRequest)
        );
        assert_eq!(
            decode(Version::Of13, "0412001000000002000d000000000000"),
            Ok(Request::PortDesc)
        );
        assert_eq!(
            decode(Version::Of13, "0412001000000002000c000000000000"),
            Ok(Request::TableFeatures)
        );
        assert_eq!(
            decode(Version::Of10, "011000140000000200040000ffff000000000000"),
            Ok(Request::PortStats { port_no: 0xffff })
        );
        assert_eq!(
            decode(
                Version::Of13,
                "04120018000000020004000000000000fffffffe00000000"
            ),
            Ok(Request::PortStats { port_no: 0xfffe })
        );
        assert_eq!(
            decode(
                Version::Of10,
                "0104001800000008000023200000000f0100000000000000"
            ),
            Ok(Request::FlowModTableId(true))
        );
        // Several-part multipart requests are not reassembled.
        assert_eq!(
            decode(Version::Of13, "0412001000000002000c000100000000"),
            Err(OfError::OFPBRC_MULTIPART_BUFFER_OVERFLOW)
        );
        // Unhandled: packet-out (OF1.3).
        assert_eq!(
            decode(
                Version::Of13,
                "040d001800000002fffffffffffffffd0000000000000000"
            ),
            Err(OfError::OFPBRC_BAD_TYPE)
        );
    }

    #[test]
    fn bundled_messages() {
        // --bundle: an OF1.4 FLOW_MOD in a BUNDLE_ADD_MESSAGE.
        let r = decode(
            Version::Of14,
            "05220048000000060000000000000003050e003800000006000000000000000000000000000000000300000000000009ffffffffffffffffffffffff000000000001000400000000",
        )
        .unwrap();
        let Request::BundleAdd {
            bundle_id: 0,
            flags: 3,
            message,
            onf: false,
            ..
        } = r
        else {
            panic!("{r:?}")
        };
        assert!(matches!(*message, Request::FlowMod(_)));
        // ofsend.py: an echo request or a 10-byte flow mod cannot be bundled.
        assert_eq!(
            decode(
                Version::Of14,
                "052200180000000300000008000000030502000800000003"
            ),
            Err(OfError::OFPBFC_MSG_UNSUP)
        );
        assert_eq!(
            decode(
                Version::Of14,
                "05220022000000030000000700000003050e00120000000300000000000000000000"
            ),
            Err(OfError::OFPBFC_MSG_UNSUP)
        );
        // A table-features request that would change the tables.
        let mut tf = "0412005000000002000c000000000000".to_string();
        tf.push_str(&format!("0040{}", "00".repeat(62)));
        assert_eq!(decode(Version::Of13, &tf), Err(OfError::OFPTFFC_EPERM));
    }
}
