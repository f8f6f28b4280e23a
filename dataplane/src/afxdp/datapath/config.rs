//! What the datapath's owner configures and reads: [`DatapathConfig`], [`AfXdpError`],
//! and the counters of ports and worker loops. Shared by the port management
//! ([`super::ports`]) and the worker loop ([`super::worker_loop`]), which depend on this
//! and not on each other.

use std::time::Duration;

use xvs_ebpf::{EbpfError, XdpMode};

use crate::afxdp::netdev::NetdevError;
use crate::afxdp::socket::{BindMode, RingSizes, SocketError};
use crate::afxdp::umem::UmemError;
use crate::flow_key::PortNo;
use crate::worker::BATCH;

#[derive(Debug, thiserror::Error)]
pub enum AfXdpError {
    #[error("no workers given")]
    NoWorkers,
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("port {0} already exists")]
    PortExists(PortNo),
    #[error("no port {0}")]
    NoSuchPort(PortNo),
    #[error(transparent)]
    Netdev(#[from] NetdevError),
    #[error(transparent)]
    Ebpf(#[from] EbpfError),
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error(transparent)]
    Umem(#[from] UmemError),
    #[error(
        "{ifname}: MTU {mtu} does not fit xvs's {frame_size}-byte UMEM frames (frames of \
         {max_frame} bytes at most: MTU {max_mtu} with two VLAN tags); jumbo frames are not \
         carried yet: lower the MTU"
    )]
    MtuTooLarge {
        ifname: String,
        mtu: u32,
        frame_size: u32,
        max_frame: u32,
        max_mtu: u32,
    },
    #[error("worker {0} is gone (its thread ended) or did not answer in time")]
    WorkerGone(usize),
    #[error("spawning worker thread {0}: {1}")]
    Spawn(usize, std::io::Error),
    #[error(
        "worker {worker}: no free UMEM frames for the fill ring of port {port} queue {queue} \
         (every socket needs at least one batch of frames: start xvsd with more \
         --umem-frames or --workers)"
    )]
    OutOfFrames {
        worker: usize,
        port: PortNo,
        queue: u32,
    },
    #[error("{0} slots in use: too many sockets for one worker")]
    TooManySockets(usize),
    #[error("{what}: {error}")]
    Syscall {
        what: &'static str,
        error: std::io::Error,
    },
    #[error("port {0} is send-only: it has no XDP program")]
    SendOnly(PortNo),
}

/// How the datapath is run.
#[derive(Debug, Clone)]
pub struct DatapathConfig {
    /// Core to pin worker `i` (in the order given to `start`) to; `None` or missing:
    /// not pinned.
    pub cores: Vec<Option<usize>>,
    /// Bytes per UMEM frame: 2048 or 4096 (frames up to this minus 256 bytes of
    /// headroom are received).
    pub frame_size: u32,
    /// Frames in each worker's UMEM (16384 frames of 4096 bytes: 64 MiB per worker;
    /// OVS gives each port queue 16 MiB of its own).
    pub umem_frames: u32,
    pub rings: RingSizes,
    /// Frames kept in each socket's fill ring; at most half the fill ring (so that the
    /// frames of an rx batch always fit back).
    pub fill_frames: u32,
    /// Rx descriptors taken per socket per iteration: [`BATCH`] by default, at most
    /// [`MAX_BATCH`].
    pub batch: u32,
    /// Copy or zero-copy for a worker's first socket. The others share its UMEM and
    /// inherit the mode (the kernel takes no mode flags on a shared bind): once a
    /// worker's UMEM is zero-copy, a port whose driver cannot do zero-copy fails to bind
    /// on that worker. Keep `Copy` (the default) when ports mix drivers, e.g. a NIC and
    /// veths or taps.
    pub bind_mode: BindMode,
    pub xdp_mode: XdpMode,
    /// Run the XDP tier under the workers: hot cache entries the kernel can carry out
    /// are done in the XDP program ([`AfXdpDatapath::tier`] gives the revalidator its
    /// handle).
    pub xdp_tier: bool,
    /// Empty iterations before a worker sleeps in poll().
    pub idle_spins: u32,
    /// Longest sleep of an idle worker.
    pub idle_poll: Duration,
    /// How long a control call waits for a worker's answer.
    pub reply_timeout: Duration,
}

impl Default for DatapathConfig {
    fn default() -> Self {
        DatapathConfig {
            cores: Vec::new(),
            frame_size: 4096,
            umem_frames: 16384,
            rings: RingSizes::default(),
            fill_frames: 1024,
            batch: BATCH as u32,
            bind_mode: BindMode::Copy,
            xdp_mode: XdpMode::Auto,
            xdp_tier: false,
            idle_spins: 20_000,
            idle_poll: Duration::from_millis(1),
            reply_timeout: Duration::from_secs(5),
        }
    }
}

/// What the XDP program sends to the sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortMode {
    /// Every frame.
    All,
    /// Only GRE and VXLAN (UDP port 4789, unfragmented) for the addresses given with
    /// [`AfXdpDatapath::add_underlay_ip`]; the kernel keeps the rest (ARP, SSH, other
    /// UDP, ...).
    Underlay,
    /// Nothing is received (no XDP program, no AF_XDP socket); frames sent to the port
    /// go through the kernel's transmit path (a packet socket), so that the kernel's
    /// packet taps see them: for a port that only receives copies for `tcpdump` (a
    /// mirror's output), which AF_XDP's transmit would hide from it.
    SendOnly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    pub port: PortNo,
    pub ifname: String,
    pub ifindex: u32,
    /// Rx queues, each with a socket.
    pub queues: u32,
    /// Native or Generic (a send-only port has no XDP program: `None`).
    pub xdp_mode: Option<XdpMode>,
    /// True when every socket of the port is in zero-copy mode.
    pub zero_copy: bool,
    pub mac: [u8; 6],
    pub mtu: u32,
    /// Workers that own no queue of this port and so cannot transmit on it.
    pub workers_without_tx: Vec<usize>,
}

/// Per-port counters, summed over workers. The `kernel_*` ones are the kernel's own
/// (`XDP_STATISTICS`) for the port's sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Rx descriptors outside the UMEM or a frame (dropped).
    pub rx_bad_desc: u64,
    /// Frames dropped by the kernel: no room in the rx ring.
    pub kernel_rx_ring_full: u64,
    /// Frames dropped by the kernel: the fill ring was empty.
    pub kernel_rx_fill_empty: u64,
    /// Frames dropped by the kernel for other reasons (too large for a frame, ...).
    pub kernel_rx_dropped: u64,
    pub kernel_rx_invalid_descs: u64,
    pub kernel_tx_invalid_descs: u64,
    /// Outputs dropped: the tx ring was full even after a kick.
    pub tx_ring_full: u64,
    /// Outputs dropped: this worker has no socket on the port (see [`AfXdpDatapath`]).
    pub tx_no_socket: u64,
    /// Outputs dropped: no free UMEM frame.
    pub tx_no_frame: u64,
    /// Outputs dropped: larger than a UMEM frame.
    pub tx_too_big: u64,
    /// Outputs dropped: the netdev had no carrier (a veth whose peer is down, a NIC
    /// without link), so the kernel would have dropped them.
    pub tx_link_down: u64,
    /// `sendto` kicks, and those that failed with an unexpected errno.
    pub tx_kicks: u64,
    pub tx_kick_errors: u64,
}

impl std::ops::AddAssign for PortStats {
    fn add_assign(&mut self, o: PortStats) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.rx_bad_desc += o.rx_bad_desc;
        self.kernel_rx_ring_full += o.kernel_rx_ring_full;
        self.kernel_rx_fill_empty += o.kernel_rx_fill_empty;
        self.kernel_rx_dropped += o.kernel_rx_dropped;
        self.kernel_rx_invalid_descs += o.kernel_rx_invalid_descs;
        self.kernel_tx_invalid_descs += o.kernel_tx_invalid_descs;
        self.tx_ring_full += o.tx_ring_full;
        self.tx_no_socket += o.tx_no_socket;
        self.tx_no_frame += o.tx_no_frame;
        self.tx_too_big += o.tx_too_big;
        self.tx_link_down += o.tx_link_down;
        self.tx_kicks += o.tx_kicks;
        self.tx_kick_errors += o.tx_kick_errors;
    }
}

/// A worker thread's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerIoStats {
    pub worker: usize,
    /// Loop iterations.
    pub iterations: u64,
    /// Times it slept in poll() for lack of work.
    pub idle_sleeps: u64,
    /// Times it yielded the core because the upcall queue was full.
    pub yields: u64,
    /// Outputs to a port the datapath does not have.
    pub tx_unknown_port: u64,
    pub free_frames: u64,
    pub sockets: u64,
}

/// Room the kernel leaves before a received frame in its UMEM frame
/// (`XDP_PACKET_HEADROOM`; xvs asks for no headroom of its own).
pub const XDP_HEADROOM: u32 = 256;
/// The L2 header around an MTU-sized payload that xvs parses: Ethernet and two VLAN
/// tags (802.1ad outside 802.1Q).
const L2_OVERHEAD: u32 = 14 + 4 + 4;

/// The largest frame one UMEM frame of `frame_size` bytes receives, and the largest MTU
/// whose frames fit it. A larger frame would be dropped by the kernel (counted in the
/// socket's `rx_dropped`), so ports with a larger MTU are refused when attached.
pub fn largest_mtu(frame_size: u32) -> (u32, u32) {
    let max_frame = frame_size.saturating_sub(XDP_HEADROOM);
    (max_frame, max_frame.saturating_sub(L2_OVERHEAD))
}

#[cfg(test)]
mod mtu_tests {
    use super::largest_mtu;

    #[test]
    fn standard_mtu_fits_both_frame_sizes_and_jumbo_fits_neither() {
        assert_eq!(largest_mtu(4096), (3840, 3818));
        assert_eq!(largest_mtu(2048), (1792, 1770));
        assert!(largest_mtu(2048).1 >= 1500);
        assert!(largest_mtu(4096).1 < 9000);
        assert_eq!(largest_mtu(0), (0, 0));
    }
}
