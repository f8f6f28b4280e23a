//! xvs datapath core: what a worker thread needs to move a frame, and nothing of OpenFlow.
//!
//! - [`wire`]: zero-copy views over header bytes, with builders (smoltcp style).
//! - [`flow_key`]: the fields a frame is looked up by, extracted in one parse.
//! - [`actions`]: the datapath action program a translation compiles to, and its executor.

pub mod actions;
pub mod flow_key;
pub mod mac;
pub mod wire;

pub use actions::{DpAction, TunnelHeader};
pub use flow_key::{FlowKey, PortNo};
pub use mac::MacAddr;
