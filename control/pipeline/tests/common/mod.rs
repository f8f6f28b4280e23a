//! Helpers of the pipeline tests: frame builders (shared with the daemon's tests), a
//! worker with its cache driven by hand, and the threaded harness.
#![allow(dead_code)]

pub mod cached;
mod frames;
pub mod neutron;
pub mod threads;

pub use frames::*;
