//! The AF_XDP runtime: one pinned thread per [`Worker`](crate::worker::Worker), each
//! owning a UMEM and the AF_XDP sockets of the rx queues it serves.
//!
//! - `ports`: [`AfXdpDatapath`], its configuration, adding and removing ports, and the
//!   counters of ports and worker threads.
//! - `worker_loop`: a worker thread: its sockets and UMEM, the commands it takes from
//!   the datapath, its poll loop and its sleep.
//! - `rx`: the receive path: rx descriptors through the pipeline, frames back to the fill
//!   rings.
//! - `tier`: the XDP tier's maps, kept as the revalidator asks (entries, output
//!   slots, tunnels, counters).
//! - `tx`: the transmit path: outputs copied into free frames, tx rings submitted and
//!   kicked, completions taken back.
//!
//! # Frames and aliasing
//! Each UMEM frame is at any time in exactly one place: the free list, a fill ring, an
//! rx ring, the worker's hands (being processed), a tx ring or a completion ring. The rx
//! frame being processed and the tx frames outputs are copied into are therefore
//! different frames, and the `&mut [u8]` built over each from the UMEM's base pointer
//! never overlap (see [`UmemArea::frame_mut`](crate::afxdp::umem::UmemArea::frame_mut)).
//! The kernel only touches frames that are in its rings. Copying outputs (64 to 1500
//! bytes) keeps the rx frame usable for several outputs (flooding, tunnel copies) and is
//! not an allocation.

mod config;
mod ports;
mod rx;
mod tier;
mod tx;
mod worker_loop;

pub use config::{
    largest_mtu, AfXdpError, DatapathConfig, PortInfo, PortMode, PortStats, WorkerIoStats,
};
pub use ports::AfXdpDatapath;
pub use tier::TierControl;
