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

mod classify;

use crate::bundle::{split_bundle_add, BundleCtrl, BundleError};
use crate::bytes::be16;
use crate::config::{ConfigError, RoleError, RoleRequest, SwitchConfig};
use crate::errors::{encode_error_reply, OfError};
use crate::flow_mod::{FlowMod, FlowModError};
use crate::framing::{ofpt, Header, HEADER_LEN};
use crate::nicira::{self, FlowFormat, NiciraError, PacketInFormat};
use crate::stats::{self, FlowStatsRequest, StatsError, OFPSF_REPLY_MORE};
use crate::version::Version;
use classify::{check_len, classify, Raw};

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
