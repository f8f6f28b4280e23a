//! xvs-openflow (doc written at the end)

mod bytes;
pub mod errors;
pub mod framing;
mod generated;
pub mod version;
pub mod hello;
pub mod oxm;
pub mod actions;
pub mod of10_match;
pub mod port;
pub mod flow_mod;
pub mod stats;
pub mod config;
pub mod features;
pub mod nicira;
pub mod table_features;
pub mod bundle;
pub mod request;
