//! The AF_XDP datapath: ports are netdevs whose frames an XDP program (crate
//! `xvs-ebpf`) steers into AF_XDP sockets, polled by pinned worker threads that run each
//! frame through their [`Worker`](crate::worker::Worker) and transmit the outputs.
//!
//! - [`ring`]: producer/consumer rings as the kernel shares them (xsk.h logic).
//! - [`umem`]: a worker's UMEM (frame memory) and its frame allocator.
//! - [`socket`]: AF_XDP sockets by hand (ring sizes, ring mappings, bind, shared UMEM).
//! - [`sys`]: every AF_XDP system call (socket, bind, options, mmap, the tx kick, the rx
//!   wake-up, the idle poll), for the datapath and the bench's traffic engines alike.
//! - [`netdev`]: index, MAC, MTU and rx queue count of a netdev.
//! - [`xdp_features`]: whether a netdev takes frames redirected from XDP (the XDP
//!   tier's outputs).
//! - [`datapath`]: [`AfXdpDatapath`] and its ports, the worker threads and their poll
//!   loop, the rx and the tx paths.

pub mod datapath;
pub mod netdev;
pub mod ring;
pub mod socket;
pub mod sys;
pub mod umem;
pub mod xdp_features;

pub use datapath::{
    AfXdpDatapath, AfXdpError, DatapathConfig, PortInfo, PortMode, PortStats, WorkerIoStats,
};
pub use socket::{BindMode, RingSizes};
pub use xvs_ebpf::XdpMode;
