//! A netdev's XDP features as the kernel reports them (the `netdev` generic netlink
//! family, Linux 6.3): whether a frame redirected to it from XDP can be sent
//! (`NETDEV_XDP_ACT_NDO_XMIT`). A veth says so only while its peer can take such frames
//! (an XDP program or GRO on the peer: its NAPI is on); redirected to a veth whose peer
//! cannot, a frame is dropped. The XDP tier outputs only to ports that say so.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
/// include/uapi/linux/netdev.h.
const NETDEV_CMD_DEV_GET: u8 = 1;
const NETDEV_A_DEV_IFINDEX: u16 = 1;
const NETDEV_A_DEV_XDP_FEATURES: u16 = 3;
/// `NETDEV_XDP_ACT_NDO_XMIT`: the device takes frames redirected to it.
pub const XDP_ACT_NDO_XMIT: u64 = 4;

const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;

/// A generic netlink socket of the calling thread's network namespace (a socket keeps
/// the namespace it was made in), with the `netdev` family resolved.
#[derive(Debug)]
pub struct XdpFeatures {
    sock: OwnedFd,
    family: u16,
    seq: u32,
}

/// A netlink socket of `protocol` in the calling thread's network namespace.
pub(crate) fn netlink_socket(protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2).
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just made, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn put_attr(buf: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(align4(buf.len()), 0);
}

/// The attributes of a generic netlink reply, as (type, payload).
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            return None;
        }
        let payload = &b[4..len];
        b = &b[align4(len).min(b.len())..];
        Some((ty, payload))
    })
}

impl XdpFeatures {
    /// Opens the socket and resolves the family; an error on kernels without it.
    pub fn open() -> io::Result<XdpFeatures> {
        let sock = netlink_socket(libc::NETLINK_GENERIC)?;
        let tv = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY: setsockopt with a timeval of the right size.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            );
        }
        let mut me = XdpFeatures {
            sock,
            family: 0,
            seq: 0,
        };
        let mut a = Vec::new();
        put_attr(&mut a, CTRL_ATTR_FAMILY_NAME, b"netdev\0");
        let reply = me.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, &a)?;
        me.family = attrs(&reply)
            .find(|(t, p)| *t == CTRL_ATTR_FAMILY_ID && p.len() >= 2)
            .map(|(_, p)| u16::from_ne_bytes([p[0], p[1]]))
            .ok_or_else(|| io::Error::other("no netdev family id in the reply"))?;
        Ok(me)
    }

    /// The `NETDEV_XDP_ACT_*` bits of interface `ifindex`.
    pub fn of(&mut self, ifindex: u32) -> io::Result<u64> {
        let mut a = Vec::new();
        put_attr(&mut a, NETDEV_A_DEV_IFINDEX, &ifindex.to_ne_bytes());
        let reply = self.request(self.family, NETDEV_CMD_DEV_GET, &a)?;
        let features = attrs(&reply)
            .find(|(t, p)| *t == NETDEV_A_DEV_XDP_FEATURES && p.len() >= 8)
            .map(|(_, p)| u64::from_ne_bytes(p[..8].try_into().expect("8 bytes")));
        features.ok_or_else(|| io::Error::other("no xdp-features in the reply"))
    }

    /// Whether a frame redirected from XDP to `ifindex` can be sent now.
    pub fn takes_redirects(&mut self, ifindex: u32) -> bool {
        self.of(ifindex).is_ok_and(|f| f & XDP_ACT_NDO_XMIT != 0)
    }

    /// Sends one request and returns the attributes of its reply.
    fn request(&mut self, ty: u16, cmd: u8, attrs: &[u8]) -> io::Result<Vec<u8>> {
        self.seq = self.seq.wrapping_add(1);
        let len = NLMSG_HDRLEN + GENL_HDRLEN + attrs.len();
        let mut m = Vec::with_capacity(len);
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        m.extend_from_slice(&self.seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&[cmd, 1, 0, 0]);
        m.extend_from_slice(attrs);
        // SAFETY: send(2) of an initialised buffer to the kernel (the socket's default
        // destination).
        let r = unsafe { libc::send(self.sock.as_raw_fd(), m.as_ptr().cast(), m.len(), 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 8192];
        loop {
            // SAFETY: recv(2) into a buffer of the length given.
            let n =
                unsafe { libc::recv(self.sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let b = &buf[..n as usize];
            if b.len() < NLMSG_HDRLEN {
                return Err(io::Error::other("short netlink reply"));
            }
            let mlen = (u32::from_ne_bytes(b[0..4].try_into().expect("4")) as usize).min(b.len());
            let mty = u16::from_ne_bytes([b[4], b[5]]);
            let mseq = u32::from_ne_bytes(b[8..12].try_into().expect("4"));
            if mseq != self.seq {
                continue; // a late answer to an earlier request that timed out
            }
            if mty == NLMSG_ERROR {
                let errno = b
                    .get(16..20)
                    .map_or(0, |e| i32::from_ne_bytes(e.try_into().expect("4")));
                return Err(io::Error::from_raw_os_error(-errno));
            }
            if mlen < NLMSG_HDRLEN + GENL_HDRLEN {
                return Err(io::Error::other("short generic netlink reply"));
            }
            return Ok(b[NLMSG_HDRLEN + GENL_HDRLEN..mlen].to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_with_padding() {
        let mut b = Vec::new();
        put_attr(&mut b, 2, b"netdev\0");
        put_attr(&mut b, 3, &7u64.to_ne_bytes());
        assert_eq!(b.len(), 12 + 12);
        let v: Vec<(u16, Vec<u8>)> = attrs(&b).map(|(t, p)| (t, p.to_vec())).collect();
        assert_eq!(
            v,
            vec![(2, b"netdev\0".to_vec()), (3, 7u64.to_ne_bytes().to_vec())]
        );
        // Cut or lying lengths end the walk, never panic.
        assert_eq!(attrs(&b[..5]).count(), 0);
        let mut bad = b.clone();
        bad[0] = 200;
        assert_eq!(attrs(&bad).count(), 0);
    }
}
