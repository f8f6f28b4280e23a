//! AF_XDP sockets by hand: socket(AF_XDP), the ring sizes, the mmap of the four rings at
//! the offsets `XDP_MMAP_OFFSETS` gives, and bind (Documentation/networking/af_xdp.rst),
//! each call made through [`sys`].
//!
//! A worker's first socket registers the worker's UMEM and binds with
//! `XDP_USE_NEED_WAKEUP` and `XDP_COPY` or `XDP_ZEROCOPY`. Its later sockets bind with
//! `XDP_SHARED_UMEM` and the first socket's fd: they use the same memory, and, as they
//! are on another (netdev, queue), each has its own fill and completion rings (required
//! since Linux 5.10). The kernel refuses mode flags on a shared bind: those sockets
//! inherit copy/zero-copy and need-wakeup from the UMEM, i.e. from the first socket.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::ring::{ConsRing, ProdRing, RingLayout};
use super::sys::{self, KickError, Mapping};
use super::umem::{UmemArea, UmemError};

pub type XdpDesc = libc::xdp_desc;

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("socket(AF_XDP): {0}")]
    Socket(io::Error),
    #[error("ring size {0} is not a power of two")]
    RingSize(u32),
    #[error("setsockopt(SOL_XDP, {opt}, {value}): {err}")]
    SetSockOpt {
        opt: &'static str,
        value: u32,
        err: io::Error,
    },
    #[error("getsockopt(SOL_XDP, {opt}): {err}")]
    GetSockOpt { opt: &'static str, err: io::Error },
    #[error("mmap of the {ring} ring ({len} bytes): {err}")]
    Mmap {
        ring: &'static str,
        len: usize,
        err: io::Error,
    },
    #[error("bind(AF_XDP, ifindex {ifindex}, queue {queue}, {flags}): {err}")]
    Bind {
        ifindex: u32,
        queue: u32,
        flags: String,
        err: io::Error,
    },
    #[error(transparent)]
    Umem(#[from] UmemError),
}

/// Copy or zero-copy, for a worker's first socket (the others inherit it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BindMode {
    /// `XDP_COPY`: works on every driver (and in generic XDP mode).
    #[default]
    Copy,
    /// `XDP_ZEROCOPY`, failing when the driver cannot.
    ZeroCopy,
    /// Zero-copy first; copy when the driver refuses.
    ZeroCopyThenCopy,
}

/// Slots in each of a socket's rings (powers of two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSizes {
    pub rx: u32,
    pub tx: u32,
    pub fill: u32,
    pub comp: u32,
}

impl Default for RingSizes {
    fn default() -> Self {
        RingSizes {
            rx: 2048,
            tx: 2048,
            fill: 2048,
            comp: 2048,
        }
    }
}

/// The four rings of a bound socket. They point into the socket's mappings: use them
/// only while the [`XskSocket`] they came from is alive.
pub struct XskRings {
    pub rx: ConsRing<XdpDesc>,
    pub tx: ProdRing<XdpDesc>,
    pub fill: ProdRing<u64>,
    pub comp: ConsRing<u64>,
}

/// A bound AF_XDP socket: its fd and ring mappings, released on drop (munmap, close).
pub struct XskSocket {
    // Field order: the mappings go before the fd is closed.
    _maps: Vec<Mapping>,
    fd: OwnedFd,
    ifindex: u32,
    queue: u32,
    zero_copy: bool,
}

/// A new, unbound AF_XDP socket. It belongs to the calling thread's network namespace,
/// where its ifindex will be looked up at bind time.
pub fn new_socket() -> Result<OwnedFd, SocketError> {
    sys::socket().map_err(SocketError::Socket)
}

/// `getsockopt(SOL_XDP, opt)`, its failure named `name`.
fn getopt<T: sys::XdpOption>(
    fd: RawFd,
    opt: libc::c_int,
    name: &'static str,
) -> Result<(T, usize), SocketError> {
    sys::get_option(fd, opt).map_err(|err| SocketError::GetSockOpt { opt: name, err })
}

/// `setsockopt(SOL_XDP, opt, value)`, its failure named `name`.
fn setopt(fd: RawFd, opt: libc::c_int, name: &'static str, value: u32) -> Result<(), SocketError> {
    sys::set_option_u32(fd, opt, value).map_err(|err| SocketError::SetSockOpt {
        opt: name,
        value,
        err,
    })
}

fn map_ring(fd: RawFd, ring: &'static str, pgoff: u64, len: usize) -> Result<Mapping, SocketError> {
    Mapping::ring(fd, pgoff, len).map_err(|err| SocketError::Mmap { ring, len, err })
}

fn layout<T>(m: &Mapping, off: &libc::xdp_ring_offset, size: u32) -> RingLayout<T> {
    let at = |o: u64| m.as_ptr().wrapping_add(o as usize);
    RingLayout {
        producer: at(off.producer) as *mut u32,
        consumer: at(off.consumer) as *mut u32,
        flags: at(off.flags) as *mut u32,
        descs: at(off.desc) as *mut T,
        size,
    }
}

fn flags_text(flags: u16) -> String {
    let mut v = vec![];
    for (bit, name) in [
        (libc::XDP_SHARED_UMEM, "XDP_SHARED_UMEM"),
        (libc::XDP_COPY, "XDP_COPY"),
        (libc::XDP_ZEROCOPY, "XDP_ZEROCOPY"),
        (libc::XDP_USE_NEED_WAKEUP, "XDP_USE_NEED_WAKEUP"),
    ] {
        if flags & bit != 0 {
            v.push(name);
        }
    }
    if v.is_empty() {
        "no flags".into()
    } else {
        v.join("|")
    }
}

impl XskSocket {
    /// Sets up `fd` (from [`new_socket`]) on `(ifindex, queue)` and binds it.
    ///
    /// `share`: `None` registers `umem` on this socket and binds it with `mode` (for
    /// [`BindMode::ZeroCopyThenCopy`] the zero-copy attempt consumes `fd`, and the copy
    /// attempt needs a second fresh socket, `spare`); `Some(owner)` binds with
    /// `XDP_SHARED_UMEM` to `owner`, a bound socket that has `umem`.
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        fd: OwnedFd,
        spare: Option<OwnedFd>,
        umem: &UmemArea,
        share: Option<RawFd>,
        ifindex: u32,
        queue: u32,
        sizes: RingSizes,
        mode: BindMode,
    ) -> Result<(XskSocket, XskRings), SocketError> {
        match (share, mode) {
            (Some(owner), _) => Self::bind_once(
                fd,
                umem,
                Some(owner),
                ifindex,
                queue,
                sizes,
                libc::XDP_SHARED_UMEM,
            ),
            (None, BindMode::Copy) => Self::bind_once(
                fd,
                umem,
                None,
                ifindex,
                queue,
                sizes,
                libc::XDP_USE_NEED_WAKEUP | libc::XDP_COPY,
            ),
            (None, BindMode::ZeroCopy) => Self::bind_once(
                fd,
                umem,
                None,
                ifindex,
                queue,
                sizes,
                libc::XDP_USE_NEED_WAKEUP | libc::XDP_ZEROCOPY,
            ),
            (None, BindMode::ZeroCopyThenCopy) => {
                match Self::bind_once(
                    fd,
                    umem,
                    None,
                    ifindex,
                    queue,
                    sizes,
                    libc::XDP_USE_NEED_WAKEUP | libc::XDP_ZEROCOPY,
                ) {
                    Ok(s) => Ok(s),
                    Err(e) => {
                        let Some(spare) = spare else { return Err(e) };
                        tracing::info!(
                            "ifindex {ifindex} queue {queue}: zero-copy refused ({e}); using copy mode"
                        );
                        Self::bind_once(
                            spare,
                            umem,
                            None,
                            ifindex,
                            queue,
                            sizes,
                            libc::XDP_USE_NEED_WAKEUP | libc::XDP_COPY,
                        )
                    }
                }
            }
        }
    }

    fn bind_once(
        fd: OwnedFd,
        umem: &UmemArea,
        share: Option<RawFd>,
        ifindex: u32,
        queue: u32,
        sizes: RingSizes,
        flags: u16,
    ) -> Result<(XskSocket, XskRings), SocketError> {
        for s in [sizes.rx, sizes.tx, sizes.fill, sizes.comp] {
            if !s.is_power_of_two() {
                return Err(SocketError::RingSize(s));
            }
        }
        let raw = fd.as_raw_fd();
        if share.is_none() {
            umem.register(raw)?;
        }
        // Every socket on its own (netdev, queue) has its own fill and completion rings,
        // the shared ones included.
        setopt(
            raw,
            libc::XDP_UMEM_FILL_RING,
            "XDP_UMEM_FILL_RING",
            sizes.fill,
        )?;
        setopt(
            raw,
            libc::XDP_UMEM_COMPLETION_RING,
            "XDP_UMEM_COMPLETION_RING",
            sizes.comp,
        )?;
        setopt(raw, libc::XDP_RX_RING, "XDP_RX_RING", sizes.rx)?;
        setopt(raw, libc::XDP_TX_RING, "XDP_TX_RING", sizes.tx)?;

        let (off, optlen) =
            getopt::<libc::xdp_mmap_offsets>(raw, libc::XDP_MMAP_OFFSETS, "XDP_MMAP_OFFSETS")?;
        if optlen != std::mem::size_of::<libc::xdp_mmap_offsets>() {
            // Kernels before 5.4 have no flags word (v1 layout): not supported.
            return Err(SocketError::GetSockOpt {
                opt: "XDP_MMAP_OFFSETS (kernel without ring flags, < 5.4)",
                err: io::Error::from_raw_os_error(libc::EOPNOTSUPP),
            });
        }

        let desc = std::mem::size_of::<XdpDesc>();
        let rx = map_ring(
            raw,
            "rx",
            libc::XDP_PGOFF_RX_RING as u64,
            off.rx.desc as usize + sizes.rx as usize * desc,
        )?;
        let tx = map_ring(
            raw,
            "tx",
            libc::XDP_PGOFF_TX_RING as u64,
            off.tx.desc as usize + sizes.tx as usize * desc,
        )?;
        let fill = map_ring(
            raw,
            "fill",
            libc::XDP_UMEM_PGOFF_FILL_RING,
            off.fr.desc as usize + sizes.fill as usize * 8,
        )?;
        let comp = map_ring(
            raw,
            "completion",
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
            off.cr.desc as usize + sizes.comp as usize * 8,
        )?;

        sys::bind(raw, ifindex, queue, flags, share).map_err(|err| SocketError::Bind {
            ifindex,
            queue,
            flags: flags_text(flags),
            err,
        })?;

        // SAFETY: the layouts point into the mappings just made, which the returned
        // XskSocket keeps until it is dropped; one thread owns each ring.
        let rings = unsafe {
            XskRings {
                rx: ConsRing::new(layout(&rx, &off.rx, sizes.rx)),
                tx: ProdRing::new(layout(&tx, &off.tx, sizes.tx)),
                fill: ProdRing::new(layout(&fill, &off.fr, sizes.fill)),
                comp: ConsRing::new(layout(&comp, &off.cr, sizes.comp)),
            }
        };
        let zero_copy = zero_copy_of(raw)?;
        Ok((
            XskSocket {
                _maps: vec![rx, tx, fill, comp],
                fd,
                ifindex,
                queue,
                zero_copy,
            },
            rings,
        ))
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Whether the kernel runs this socket in zero-copy mode (`XDP_OPTIONS`).
    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// The kernel's counters for this socket (`XDP_STATISTICS`).
    pub fn statistics(&self) -> Result<libc::xdp_statistics, SocketError> {
        sys::statistics(self.fd()).map_err(|err| SocketError::GetSockOpt {
            opt: "XDP_STATISTICS",
            err,
        })
    }

    /// Lets the kernel transmit what the tx ring holds ([`sys::kick_tx`]). In copy mode
    /// the kernel sends at most 32 frames per call and answers EAGAIN
    /// ([`KickError::Again`]) when more remain.
    #[inline]
    pub fn kick_tx(&self) -> Result<(), KickError> {
        sys::kick_tx(self.fd())
    }

    /// Wakes the kernel's rx side up when the fill ring says it sleeps
    /// ([`sys::wake_rx`]; zero-copy drivers set the flag when they ran out of fill
    /// entries).
    #[inline]
    pub fn wake_rx(&self) {
        sys::wake_rx(self.fd())
    }
}

fn zero_copy_of(fd: RawFd) -> Result<bool, SocketError> {
    let (opts, _) = getopt::<libc::xdp_options>(fd, libc::XDP_OPTIONS, "XDP_OPTIONS")?;
    Ok(opts.flags & libc::XDP_OPTIONS_ZEROCOPY != 0)
}
