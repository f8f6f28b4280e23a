//! Every system call AF_XDP takes, each in one small function with the reason it is made
//! the way it is (Documentation/networking/af_xdp.rst): the socket and its bind, the
//! `SOL_XDP` options, the mappings of the rings and of the UMEM, and the three calls of
//! the data path: the tx kick (`sendto`), the rx wake-up (`recvfrom`) and the idle sleep
//! (`ppoll`). The datapath, the sockets and the bench's traffic engines all go through
//! these, so each call is written once.
//!
//! Errors are `io::Error`s (the kick's are sorted into [`KickError`]); the callers wrap
//! them in their own typed errors, which say what was being done.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::time::Duration;

/// A new AF_XDP socket, close-on-exec. It belongs to the calling thread's network
/// namespace: that is where [`bind`] looks its ifindex up.
pub fn socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Binds socket `fd` to rx/tx queue `queue` of `ifindex` with `flags` (`XDP_COPY` or
/// `XDP_ZEROCOPY`, `XDP_USE_NEED_WAKEUP`, or `XDP_SHARED_UMEM` alone). A shared bind
/// names the socket whose UMEM it uses (`shared_umem`); the kernel refuses mode flags
/// with it, as the UMEM's first socket already chose them.
pub fn bind(
    fd: RawFd,
    ifindex: u32,
    queue: u32,
    flags: u16,
    shared_umem: Option<RawFd>,
) -> io::Result<()> {
    let sxdp = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: shared_umem.unwrap_or(0) as u32,
    };
    // SAFETY: sxdp is a valid sockaddr_xdp of the given size.
    let r = unsafe {
        libc::bind(
            fd,
            &sxdp as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets a `SOL_XDP` option whose value is a `u32`: the ring sizes (`XDP_RX_RING`,
/// `XDP_TX_RING`, `XDP_UMEM_FILL_RING`, `XDP_UMEM_COMPLETION_RING`), which must all be
/// set before the rings are mapped.
pub fn set_option_u32(fd: RawFd, opt: libc::c_int, value: u32) -> io::Result<()> {
    // SAFETY: value is a u32, of the size given.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            &value as *const u32 as *const libc::c_void,
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Registers `len` bytes at `addr`, cut into frames of `frame_size` bytes with no
/// headroom of our own, as the UMEM of socket `fd` (`XDP_UMEM_REG`). The kernel pins the
/// pages: they count against RLIMIT_MEMLOCK (see [`raise_memlock`]).
///
/// # Safety
/// From now on the kernel writes received frames into that memory: `addr..addr + len`
/// must be a mapping of ours that stays mapped until every socket using the UMEM (this
/// one and those that share it) is closed.
pub unsafe fn register_umem(
    fd: RawFd,
    addr: *mut u8,
    len: usize,
    frame_size: u32,
) -> io::Result<()> {
    let reg = libc::xdp_umem_reg {
        addr: addr as u64,
        len: len as u64,
        chunk_size: frame_size,
        headroom: 0,
        flags: 0,
        tx_metadata_len: 0,
    };
    // SAFETY: reg is a valid xdp_umem_reg of the given size; the memory it names is the
    // caller's business (contract above).
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            libc::XDP_UMEM_REG,
            &reg as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::xdp_umem_reg>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for libc::xdp_mmap_offsets {}
    impl Sealed for libc::xdp_statistics {}
    impl Sealed for libc::xdp_options {}
}

/// The kernel's `SOL_XDP` option structs that [`get_option`] reads: plain integers, so
/// all-zero bytes are a valid value for the kernel to fill in. Sealed.
pub trait XdpOption: sealed::Sealed {}
impl XdpOption for libc::xdp_mmap_offsets {}
impl XdpOption for libc::xdp_statistics {}
impl XdpOption for libc::xdp_options {}

/// Reads `SOL_XDP` option `opt` of socket `fd`: the value, and how many bytes of it the
/// kernel wrote (fewer than the struct's size from a kernel with an older layout).
pub fn get_option<T: XdpOption>(fd: RawFd, opt: libc::c_int) -> io::Result<(T, usize)> {
    // SAFETY: T is one of the kernel's plain option structs (XdpOption): zero is valid.
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
        return Err(io::Error::last_os_error());
    }
    Ok((v, len as usize))
}

/// The kernel's counters of socket `fd` (`XDP_STATISTICS`): frames it dropped before
/// they reached us (rx ring full, fill ring empty, ...) and descriptors it rejected.
pub fn statistics(fd: RawFd) -> io::Result<libc::xdp_statistics> {
    get_option(fd, libc::XDP_STATISTICS).map(|(st, _)| st)
}

/// Raises RLIMIT_MEMLOCK to infinity: the kernel charges a UMEM's pinned pages to it
/// unless the process has CAP_IPC_LOCK. Failure is only logged: registration then tells.
pub fn raise_memlock() {
    let r = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscall with a valid struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &r) } != 0 {
        tracing::warn!(
            "setrlimit(RLIMIT_MEMLOCK, infinity): {}; UMEM registration may fail",
            io::Error::last_os_error()
        );
    }
}

/// A memory mapping, unmapped on drop: one ring of an AF_XDP socket, or a UMEM.
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is memory this value owns; who may touch which part of it is the
// business of the rings and the frame protocol built over it, not of the thread.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps `len` bytes of the ring at page offset `pgoff` of socket `fd`
    /// (`XDP_PGOFF_RX_RING`, `XDP_PGOFF_TX_RING`, `XDP_UMEM_PGOFF_FILL_RING` or
    /// `XDP_UMEM_PGOFF_COMPLETION_RING`), shared with the kernel and populated, so that
    /// the data path never takes a page fault on it.
    pub fn ring(fd: RawFd, pgoff: u64, len: usize) -> io::Result<Mapping> {
        Self::map(
            len,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd,
            pgoff as libc::off_t,
        )
    }

    /// Maps `len` bytes of private anonymous memory for a UMEM, populated: the kernel
    /// pins the pages at registration anyway, and the data path never faults on them.
    pub fn anonymous(len: usize) -> io::Result<Mapping> {
        Self::map(
            len,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    }

    fn map(len: usize, flags: libc::c_int, fd: RawFd, off: libc::off_t) -> io::Result<Mapping> {
        // SAFETY: a new mapping chosen by the kernel (no MAP_FIXED): it overlaps nothing
        // of ours; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: NonNull::new(p as *mut u8).expect("mmap without MAP_FIXED returned NULL"),
            len,
        })
    }

    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in map(), unmapped once.
        unsafe {
            libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.len);
        }
    }
}

/// Why a tx kick did not go through.
#[derive(Debug, thiserror::Error)]
pub enum KickError {
    /// EAGAIN, EBUSY or ENOBUFS: frames remain for another kick (in copy mode the kernel
    /// sends at most 32 per call and answers EAGAIN when more are left) or the device is
    /// busy. Kick again, now or on the next round.
    #[error("sendto (AF_XDP tx kick): {0}; frames remain or the device is busy")]
    Again(io::Error),
    /// Any other failure.
    #[error("sendto (AF_XDP tx kick): {0}")]
    Failed(io::Error),
}

/// Lets the kernel transmit what the tx ring of `fd` holds: a zero-length non-blocking
/// `sendto`, as af_xdp.rst prescribes. Needed only while the tx ring asks for it
/// (need-wakeup flag), which in copy mode is always: the transmit work runs inside this
/// call, on the caller's core.
#[inline]
pub fn kick_tx(fd: RawFd) -> Result<(), KickError> {
    // SAFETY: a zero-length send with no buffer and no address touches no memory of
    // ours, whatever fd is.
    let r = unsafe {
        libc::sendto(
            fd,
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if r >= 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS) => Err(KickError::Again(err)),
        _ => Err(KickError::Failed(err)),
    }
}

/// Wakes the kernel's receive side of `fd` up: a zero-length non-blocking `recvfrom`.
/// Needed only while the fill ring asks for it (need-wakeup flag: a zero-copy driver
/// that ran out of fill entries sleeps until then). Nothing in its answer is worth
/// acting on, so none is returned.
#[inline]
pub fn wake_rx(fd: RawFd) {
    // SAFETY: a zero-length receive with no buffer and no address touches no memory of
    // ours, whatever fd is.
    unsafe {
        libc::recvfrom(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
    }
}

/// The entry of [`poll_rx`]'s set for socket `fd`: woken when its rx ring has frames.
pub fn rx_pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Sleeps until one of the sockets of `fds` (see [`rx_pollfd`]) has frames in its rx
/// ring or `max` passed, without a signal mask: how an idle poller gives its core back
/// while still waking at once for a frame. `ppoll` rather than `poll` for a timeout
/// finer than a millisecond. An interruption or error only ends the sleep early: the
/// caller looks at its rings anyway.
pub fn poll_rx(fds: &mut [libc::pollfd], max: Duration) {
    if fds.is_empty() {
        std::thread::sleep(max);
        return;
    }
    let ts = libc::timespec {
        tv_sec: max.as_secs() as libc::time_t,
        tv_nsec: max.subsec_nanos() as libc::c_long,
    };
    // SAFETY: fds is a valid array of pollfd; ts a valid timespec; no signal mask.
    unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        );
    }
}

/// A packet socket that sends on `ifindex` through the kernel's transmit path
/// (`dev_queue_xmit`, qdisc and packet taps included: what it sends, `tcpdump -i` on
/// the netdev sees, which AF_XDP's transmit bypasses) and receives nothing (protocol 0).
/// Non-blocking, close-on-exec; in the calling thread's network namespace.
pub fn packet_socket(ifindex: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid sockaddr_ll; the fields that matter are set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = 0;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: sll is a valid sockaddr_ll of the given size.
    let r = unsafe {
        libc::bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &sll as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Most frames [`send_frames`] sends in one call.
pub const SEND_FRAMES_MAX: usize = 64;

/// Sends up to [`SEND_FRAMES_MAX`] frames on packet socket `fd` in one non-blocking
/// `sendmmsg`; returns how many the kernel took (the rest are not sent: its queue is
/// full, or the netdev refused them). Nothing is allocated.
pub fn send_frames(fd: RawFd, frames: &[&[u8]]) -> usize {
    let n = frames.len().min(SEND_FRAMES_MAX);
    if n == 0 {
        return 0;
    }
    // SAFETY: all-zero iovecs and mmsghdrs are valid (null pointers, zero lengths).
    let mut iov: [libc::iovec; SEND_FRAMES_MAX] = unsafe { std::mem::zeroed() };
    let mut msgs: [libc::mmsghdr; SEND_FRAMES_MAX] = unsafe { std::mem::zeroed() };
    for i in 0..n {
        iov[i].iov_base = frames[i].as_ptr() as *mut libc::c_void;
        iov[i].iov_len = frames[i].len();
        msgs[i].msg_hdr.msg_iov = &mut iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: msgs[..n] point at iov[..n], which point at the frames, all alive for the
    // call; the kernel only reads them (a send), and writes msg_len.
    let r = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), n as u32, libc::MSG_DONTWAIT) };
    if r < 0 {
        0
    } else {
        r as usize
    }
}
