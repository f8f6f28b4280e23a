//! xvs control plane: flow syntax, flow tables, NORMAL with MAC learning, `learn`, and the
//! translation of a packet through the bridges it crosses into datapath actions.

pub mod bridge;
pub mod changes;
pub mod control_thread;
pub mod fastpath;
pub mod mac_learning;
pub mod ofp;
pub mod switch;
pub mod table;
pub mod xlate;

pub use bridge::{PortConfig, PortKind, TunnelConfig, TunnelKey};
pub use switch::{Switch, SwitchError, UnderlayRoute};
pub mod daemon;
