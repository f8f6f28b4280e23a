//! The one error type of the pipeline's commands: each names the problem, and a command
//! that fails changes nothing.

use crate::ofp::{FlowParseError, OfPort};
use crate::ofproto::flow_mods::FlowModFailure;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    #[error("no bridge named \"{0}\"")]
    NoSuchBridge(String),
    #[error("a bridge named \"{0}\" already exists")]
    BridgeExists(String),
    #[error("bridge name \"{0}\" is not valid: use 1-15 characters, no '/', no whitespace")]
    BadBridgeName(String),
    #[error("no port named \"{port}\" on bridge \"{bridge}\"")]
    NoSuchPort { bridge: String, port: String },
    #[error("a port named \"{0}\" already exists")]
    PortExists(String),
    #[error("\"{0}\" is not an underlay")]
    NoSuchUnderlay(String),
    #[error("OpenFlow port {ofport} is already used by \"{by}\" on bridge \"{bridge}\"")]
    OfportInUse {
        bridge: String,
        ofport: OfPort,
        by: String,
    },
    #[error("bad port option: {0}")]
    BadPortOption(String),
    #[error("line {line}: {error}")]
    FlowLine { line: usize, error: FlowParseError },
    #[error(transparent)]
    Flow(#[from] FlowParseError),
    /// A packet to trace that is not one (shorter than an Ethernet header).
    #[error("{0}")]
    BadPacket(String),
    #[error("flow text \"{0}\" has no actions")]
    MissingActions(String),
    /// The flows do not fit (a table's `flow_limit`), or name a table there is not.
    #[error("bridge \"{bridge}\": {error}")]
    FlowMod {
        bridge: String,
        error: FlowModFailure,
    },
}
