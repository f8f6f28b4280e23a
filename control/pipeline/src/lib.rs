//! xvs control plane, the pure pipeline: flow syntax, the switch's topology and flow
//! tables, NORMAL with MAC learning, `learn`, the translation of a packet through the
//! bridges it crosses into datapath actions, the revalidator that keeps the workers'
//! caches true to the tables, the control thread, and what the switch prints. No I/O
//! here but the control thread's channels to the workers.

pub mod control_thread;
pub mod error;
pub mod ofp;
pub mod ofproto;
pub mod port_traffic;
pub mod present;
pub mod revalidator;
pub mod switch;
pub mod topology;
pub mod xlate;

pub use error::SwitchError;
pub use ofproto::table::Time;
pub use ofproto::BridgeOptions;
pub use switch::Switch;
pub use topology::{
    MirrorConfig, MirrorOutput, PortConfig, PortKind, PortVlan, PriorityTags, TunnelConfig,
    TunnelKey, UnderlayRoute, VlanMode,
};
