//! Helpers of the daemon's tests: the pipeline tests' frame builders (one copy, written
//! independently of the dataplane's), xvsd and xvsctl run for real, and nodes in network
//! namespaces.
#![allow(dead_code)]

pub mod agent;
pub mod daemon;
pub mod db_node;
#[path = "../../../pipeline/tests/common/frames.rs"]
mod frames;
#[path = "../../../pipeline/tests/common/neutron.rs"]
pub mod neutron;
pub mod nodes;
pub mod ofconn;
pub mod ovsdb;
pub mod python;
pub mod real_ovs;

#[allow(unused_imports)]
pub use frames::*;
