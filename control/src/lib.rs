//! xvs control plane: flow syntax, flow tables, NORMAL with MAC learning, `learn`, and the
//! translation of a packet through the bridges it crosses into datapath actions.

pub mod ofp;
