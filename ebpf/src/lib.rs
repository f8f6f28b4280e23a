//! The XDP program that steers a port's frames into its AF_XDP sockets, and its loader.
//!
//! Empty until the AF_XDP datapath issue: the program is C, compiled by clang from
//! `build.rs`, and attached through a bpf_link so that a crash leaves nothing attached.
