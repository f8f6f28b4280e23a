//! AF_XDP sockets by hand: socket(AF_XDP), the ring sizes, the mmap of the four rings at
//! the offsets `XDP_MMAP_OFFSETS` gives, and bind (Documentation/networking/af_xdp.rst).
//!
//! A worker's first socket registers the worker's UMEM and binds with
//! `XDP_USE_NEED_WAKEUP` and `XDP_COPY` or `XDP_ZEROCOPY`. Its later sockets bind with
//! `XDP_SHARED_UMEM` and the first socket's fd: they use the same memory, and, as they
//! are on another (netdev, queue), each has its own fill and completion rings (required
//! since Linux 5.10). The kernel refuses mode flags on a shared bind: those sockets
//! inherit copy/zero-copy and need-wakeup from the UMEM, i.e. from the first socket.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::ring::{ConsRing, ProdRing, RingLayout};
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

struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: a mapping made by mmap in this module.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
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

// SAFETY: the mappings are owned memory; the socket is used by one thread at a time.
unsafe impl Send for XskSocket {}

/// A new, unbound AF_XDP socket. It belongs to the calling thread's network namespace,
/// where its ifindex will be looked up at bind time.
pub fn new_socket() -> Result<OwnedFd, SocketError> {
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(SocketError::Socket(io::Error::last_os_error()));
    }
    // SAFETY: fresh fd, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The kernel's `SOL_XDP` option structs: plain integers, so all-zero bytes are a valid
/// value for the kernel to fill in.
trait XdpOptStruct {}
impl XdpOptStruct for libc::xdp_mmap_offsets {}
impl XdpOptStruct for libc::xdp_statistics {}
impl XdpOptStruct for libc::xdp_options {}

/// `getsockopt(SOL_XDP, opt)`: the value and the number of bytes the kernel wrote.
fn getopt<T: XdpOptStruct>(
    fd: RawFd,
    opt: libc::c_int,
    name: &'static str,
) -> Result<(T, usize), SocketError> {
    // SAFETY: T is one of the kernel's plain option structs (XdpOptStruct): zero is valid.
    let mut v: T = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: v is valid for len bytes; the kernel writes at most len.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            &mut v as *mut T as *mut libc::c_void,
            &mut len,
        )
    };
    if r != 0 {
        return Err(SocketError::GetSockOpt {
            opt: name,
            err: io::Error::last_os_error(),
        });
    }
    Ok((v, len as usize))
}

fn setopt(fd: RawFd, opt: libc::c_int, name: &'static str, value: u32) -> Result<(), SocketError> {
    // SAFETY: value is a u32 of the given size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            &value as *const u32 as *const libc::c_void,
            4,
        )
    };
    if r != 0 {
        return Err(SocketError::SetSockOpt {
            opt: name,
            value,
            err: io::Error::last_os_error(),
        });
    }
    Ok(())
}

fn map_ring(fd: RawFd, ring: &'static str, pgoff: u64, len: usize) -> Result<Mapping, SocketError> {
    // SAFETY: shared mapping of the socket's ring; the result is checked.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd,
            pgoff as libc::off_t,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(SocketError::Mmap {
            ring,
            len,
            err: io::Error::last_os_error(),
        });
    }
    Ok(Mapping { ptr, len })
}

fn layout<T>(m: &Mapping, off: &libc::xdp_ring_offset, size: u32) -> RingLayout<T> {
    let at = |o: u64| (m.ptr as *mut u8).wrapping_add(o as usize);
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

        let sxdp = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: flags,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: share.unwrap_or(0) as u32,
        };
        // SAFETY: sxdp is a valid sockaddr_xdp of the given size.
        let r = unsafe {
            libc::bind(
                raw,
                &sxdp as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(SocketError::Bind {
                ifindex,
                queue,
                flags: flags_text(flags),
                err: io::Error::last_os_error(),
            });
        }

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
        getopt(self.fd(), libc::XDP_STATISTICS, "XDP_STATISTICS").map(|(st, _)| st)
    }

    /// Lets the kernel transmit what the tx ring holds (`sendto`, non-blocking). In copy
    /// mode the kernel sends at most 32 frames per call and answers EAGAIN when more
    /// remain. Returns the errno of a failure.
    #[inline]
    pub fn kick_tx(&self) -> Result<(), i32> {
        // SAFETY: a zero-length send with no address, as the AF_XDP doc prescribes.
        let r = unsafe {
            libc::sendto(
                self.fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(())
        }
    }

    /// Wakes the kernel's rx side up when the fill ring says it sleeps (zero-copy
    /// drivers set the flag when they ran out of fill entries).
    #[inline]
    pub fn wake_rx(&self) {
        // SAFETY: a zero-length non-blocking receive, as the AF_XDP doc prescribes.
        unsafe {
            libc::recvfrom(
                self.fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
    }
}

fn zero_copy_of(fd: RawFd) -> Result<bool, SocketError> {
    let (opts, _) = getopt::<libc::xdp_options>(fd, libc::XDP_OPTIONS, "XDP_OPTIONS")?;
    Ok(opts.flags & libc::XDP_OPTIONS_ZEROCOPY != 0)
}
