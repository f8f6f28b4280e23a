//! xvs datapath core: what a worker thread needs to move a frame, and nothing of OpenFlow.
//!
//! - [`wire`]: zero-copy views over header bytes, with builders (smoltcp style).
//! - [`flow_key`]: the fields a frame is looked up by, extracted in one parse.
//! - [`actions`]: the datapath action program a translation compiles to.
//! - [`execute`](mod@execute): the executor of action lists over a frame buffer with headroom.
//! - [`tunnel`]: GRE and VXLAN decapsulation and encapsulation, and the map of tunnel ports.
//! - [`classify`](mod@classify): what a received frame is looked up as (decapsulation,
//!   tunnel port, flow key), for the worker and the slow path alike.
//! - [`cache`]: the per-worker flow cache of compiled action programs.
//! - [`worker`]: a worker's handling of frames and of control-thread commands.

pub mod actions;
pub mod cache;
pub mod classify;
pub mod execute;
mod extract;
pub mod flow_key;
pub mod mac;
pub mod tunnel;
pub mod wire;
pub mod worker;
pub mod xdp_tier;

pub mod afxdp;
#[cfg(feature = "testnet")]
pub mod testnet;

pub use actions::{DpAction, Tpid, TunnelHeader, TunnelKind, TunnelType};
pub use classify::{classify, Classified, ClassifyDrop};
pub use execute::{execute, ExecError, Executed, FrameBuf, DEFAULT_HEADROOM};
pub use flow_key::{FlowKey, PackedKey, PortNo};
pub use mac::MacAddr;
pub use tunnel::{
    decap_gre, decap_tunnel, decap_vxlan, tunnel_header_len, write_tunnel_header, GreDecap,
    TunnelDecap,
};
pub use wire::WireError;
pub use worker::{BATCH, MAX_BATCH};
