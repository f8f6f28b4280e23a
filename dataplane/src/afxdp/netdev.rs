//! What the datapath needs to know of a netdev: index, MAC, MTU and number of rx
//! queues, asked of the kernel with ioctls on a socket of the calling thread's network
//! namespace (sysfs would show the namespace it was mounted in, not ours).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

#[derive(Debug, thiserror::Error)]
pub enum NetdevError {
    #[error("no network interface named {0:?} in this network namespace")]
    NoSuchInterface(String),
    #[error("socket(AF_INET, SOCK_DGRAM) for ioctls: {0}")]
    Socket(io::Error),
    #[error("ioctl({call}) on {ifname}: {err}")]
    Ioctl {
        call: &'static str,
        ifname: String,
        err: io::Error,
    },
}

/// The kernel's `struct ifreq`: a name and a 24-byte union.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

/// `struct ethtool_channels`.
#[repr(C)]
#[derive(Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

const ETHTOOL_GCHANNELS: u32 = 0x3c;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetdevInfo {
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub mtu: u32,
    pub rx_queues: u32,
    /// IFF_LOWER_UP: the netdev has a carrier, a frame sent would leave (a veth whose
    /// peer is down has none). Read through rtnetlink: the ioctl's flags stop at 16
    /// bits, and IFF_RUNNING follows the carrier only through the kernel's link watch,
    /// up to a second later.
    pub carrier: bool,
}

fn ifreq(ifname: &str) -> Result<IfReq, NetdevError> {
    if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ || ifname.contains('\0') {
        return Err(NetdevError::NoSuchInterface(ifname.into()));
    }
    let mut r = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: [0; 24],
    };
    r.name[..ifname.len()].copy_from_slice(ifname.as_bytes());
    Ok(r)
}

fn ioctl(
    sock: &OwnedFd,
    req: libc::c_ulong,
    call: &'static str,
    ifname: &str,
    r: &mut IfReq,
) -> Result<(), NetdevError> {
    // SAFETY: r is a valid ifreq for these requests.
    if unsafe { libc::ioctl(sock.as_raw_fd(), req, r as *mut IfReq) } != 0 {
        return Err(NetdevError::Ioctl {
            call,
            ifname: ifname.into(),
            err: io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Index, MAC, MTU and rx queue count of `ifname`.
pub fn netdev_info(ifname: &str) -> Result<NetdevInfo, NetdevError> {
    let c = CString::new(ifname).map_err(|_| NetdevError::NoSuchInterface(ifname.into()))?;
    // SAFETY: c is NUL-terminated.
    let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if ifindex == 0 {
        return Err(NetdevError::NoSuchInterface(ifname.into()));
    }
    // SAFETY: plain syscall; checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(NetdevError::Socket(io::Error::last_os_error()));
    }
    // SAFETY: fresh fd.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };

    let mut r = ifreq(ifname)?;
    ioctl(&sock, libc::SIOCGIFMTU, "SIOCGIFMTU", ifname, &mut r)?;
    let mtu = i32::from_ne_bytes(r.data[..4].try_into().unwrap()) as u32;

    let mut r = ifreq(ifname)?;
    ioctl(&sock, libc::SIOCGIFHWADDR, "SIOCGIFHWADDR", ifname, &mut r)?;
    // struct sockaddr: family (2 bytes), then the address bytes.
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&r.data[2..8]);

    // Unknown: assume it can send (the kernel drops what it cannot, as before).
    let carrier = link_flags(ifindex).map_or(true, |f| f & libc::IFF_LOWER_UP as u32 != 0);

    let rx_queues = rx_queue_count(&sock, ifname);
    Ok(NetdevInfo {
        ifindex,
        mac,
        mtu,
        rx_queues,
        carrier,
    })
}

/// The `ifi_flags` of interface `ifindex` (RTM_GETLINK, the calling thread's namespace).
fn link_flags(ifindex: u32) -> io::Result<u32> {
    let sock = crate::afxdp::xdp_features::netlink_socket(libc::NETLINK_ROUTE)?;
    // nlmsghdr (16) + ifinfomsg (16): family, pad, type, index, flags, change.
    let mut m = [0u8; 32];
    m[0..4].copy_from_slice(&32u32.to_ne_bytes());
    m[4..6].copy_from_slice(&libc::RTM_GETLINK.to_ne_bytes());
    m[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    m[8..12].copy_from_slice(&1u32.to_ne_bytes());
    m[20..24].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    // SAFETY: send(2) of an initialised buffer.
    if unsafe { libc::send(sock.as_raw_fd(), m.as_ptr().cast(), m.len(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 16384];
    // SAFETY: recv(2) into a buffer of the length given.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let b = &buf[..n as usize];
    if b.len() < 32 || u16::from_ne_bytes([b[4], b[5]]) != libc::RTM_NEWLINK {
        return Err(io::Error::other("no RTM_NEWLINK in the answer"));
    }
    Ok(u32::from_ne_bytes(b[24..28].try_into().expect("4 bytes")))
}

/// Rx queues from ETHTOOL_GCHANNELS (combined + rx-only channels), or from
/// /sys/class/net/IF/queues/rx-* when the driver has no get_channels, or 1.
fn rx_queue_count(sock: &OwnedFd, ifname: &str) -> u32 {
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    let mut r = match ifreq(ifname) {
        Ok(r) => r,
        Err(_) => return 1,
    };
    let p = &mut ch as *mut EthtoolChannels as usize;
    r.data[..8].copy_from_slice(&p.to_ne_bytes());
    if ioctl(sock, libc::SIOCETHTOOL, "SIOCETHTOOL", ifname, &mut r).is_ok() {
        let n = ch.rx_count + ch.combined_count;
        if n > 0 {
            return n;
        }
    }
    // Fallback; sysfs may show another namespace's devices, so only trust a match.
    let n = std::fs::read_dir(format!("/sys/class/net/{ifname}/queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count() as u32
        })
        .unwrap_or(0);
    n.max(1)
}
