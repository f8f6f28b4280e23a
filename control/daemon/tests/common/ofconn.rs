//! A raw OpenFlow peer for tests: a management-socket client or a controller's end
//! of a connection xvsd made. Messages are built by hand (independently of the
//! codec), replies read whole.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const OFPT_HELLO: u8 = 0;
pub const OFPT_ERROR: u8 = 1;
pub const OFPT_ECHO_REQUEST: u8 = 2;
pub const OFPT_ECHO_REPLY: u8 = 3;
pub const OFPT_FEATURES_REQUEST: u8 = 5;
pub const OFPT_FEATURES_REPLY: u8 = 6;
pub const OFPT_FLOW_MOD: u8 = 14;
pub const OF10_BARRIER_REQUEST: u8 = 18;
pub const OF10_BARRIER_REPLY: u8 = 19;
pub const OF13_MULTIPART_REQUEST: u8 = 18;
pub const OF13_MULTIPART_REPLY: u8 = 19;
pub const OF13_BARRIER_REQUEST: u8 = 20;
pub const OF13_BARRIER_REPLY: u8 = 21;

/// A whole message: header (length filled in) and body.
pub fn msg(version: u8, msg_type: u8, xid: u32, body: &[u8]) -> Vec<u8> {
    let mut m = vec![version, msg_type, 0, 0];
    m.extend_from_slice(&xid.to_be_bytes());
    m.extend_from_slice(body);
    let len = m.len() as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

/// A HELLO offering exactly `version` (with a version bitmap).
pub fn hello(version: u8) -> Vec<u8> {
    let mut body = vec![0, 1, 0, 8];
    body.extend_from_slice(&(1u32 << version).to_be_bytes());
    msg(version, OFPT_HELLO, 1, &body)
}

pub fn msg_type(m: &[u8]) -> u8 {
    m[1]
}

pub fn xid(m: &[u8]) -> u32 {
    u32::from_be_bytes([m[4], m[5], m[6], m[7]])
}

/// An OFPT_ERROR's (type, code).
pub fn error_code(m: &[u8]) -> (u16, u16) {
    assert_eq!(m[1], OFPT_ERROR, "not an error: {m:?}");
    (
        u16::from_be_bytes([m[8], m[9]]),
        u16::from_be_bytes([m[10], m[11]]),
    )
}

/// An OF1.0 OFPT_FLOW_MOD ADD: `in_port` exact, output to `out`, at `priority`.
pub fn of10_add_flow(xid: u32, priority: u16, in_port: u16, out: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(0x3fffffu32 & !1).to_be_bytes());
    b.extend_from_slice(&in_port.to_be_bytes());
    b.extend_from_slice(&[0; 34]);
    b.extend_from_slice(&0u64.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // ADD, idle, hard
    b.extend_from_slice(&priority.to_be_bytes());
    b.extend_from_slice(&u32::MAX.to_be_bytes());
    b.extend_from_slice(&0xffffu16.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&[0, 0, 0, 8]);
    b.extend_from_slice(&out.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    msg(1, OFPT_FLOW_MOD, xid, &b)
}

enum Sock {
    Unix(UnixStream),
    Tcp(TcpStream),
}

pub struct OfConn {
    sock: Sock,
    buf: Vec<u8>,
    pub version: u8,
}

impl OfConn {
    /// Connects to a management socket and exchanges HELLOs offering `version`.
    pub fn mgmt(path: &Path, version: u8) -> OfConn {
        let s =
            UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
        let mut c = OfConn {
            sock: Sock::Unix(s),
            buf: Vec::new(),
            version,
        };
        c.handshake();
        c
    }

    /// The controller's end of a connection xvsd made; exchanges HELLOs.
    pub fn controller(s: TcpStream, version: u8) -> OfConn {
        let mut c = OfConn {
            sock: Sock::Tcp(s),
            buf: Vec::new(),
            version,
        };
        c.handshake();
        c
    }

    fn handshake(&mut self) {
        self.send(&hello(self.version));
        let h = self
            .recv(Duration::from_secs(5))
            .expect("the switch's HELLO");
        assert_eq!(h[1], OFPT_HELLO, "{h:?}");
    }

    pub fn send(&mut self, m: &[u8]) {
        match &mut self.sock {
            Sock::Unix(s) => s.write_all(m).unwrap(),
            Sock::Tcp(s) => s.write_all(m).unwrap(),
        }
    }

    /// Sets the socket non-blocking and writes what it can of `m`; returns how much.
    pub fn try_send(&mut self, m: &[u8]) -> usize {
        let r = match &mut self.sock {
            Sock::Unix(s) => {
                s.set_nonblocking(true).unwrap();
                let r = s.write(m);
                s.set_nonblocking(false).unwrap();
                r
            }
            Sock::Tcp(s) => {
                s.set_nonblocking(true).unwrap();
                let r = s.write(m);
                s.set_nonblocking(false).unwrap();
                r
            }
        };
        r.unwrap_or(0)
    }

    fn read_some(&mut self, timeout: Duration) -> std::io::Result<usize> {
        let mut b = [0u8; 65536];
        let n = match &mut self.sock {
            Sock::Unix(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.read(&mut b)?
            }
            Sock::Tcp(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.read(&mut b)?
            }
        };
        self.buf.extend_from_slice(&b[..n]);
        Ok(n)
    }

    /// One message, or None after `timeout` or at the end of the connection.
    pub fn recv(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.buf.len() >= 8 {
                let len = usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
                if self.buf.len() >= len {
                    return Some(self.buf.drain(..len).collect());
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.read_some(left) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Whether the switch closed the connection within `timeout` (messages that come
    /// first are read and dropped).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_some(left.min(Duration::from_millis(200))) {
                Ok(0) => return true,
                Ok(_) => self.buf.clear(),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return true,
            }
        }
        false
    }

    fn barrier(&self, xid: u32) -> Vec<u8> {
        let t = if self.version == 1 {
            OF10_BARRIER_REQUEST
        } else {
            OF13_BARRIER_REQUEST
        };
        msg(self.version, t, xid, &[])
    }

    /// Sends `m` and a barrier; returns every message before the barrier reply.
    pub fn request(&mut self, m: &[u8]) -> Vec<Vec<u8>> {
        self.send(m);
        let b = self.barrier(0xbbbb_0000 | (xid(m) & 0xffff));
        self.send(&b);
        let mut out = Vec::new();
        loop {
            let r = self
                .recv(Duration::from_secs(10))
                .expect("a reply before the barrier's");
            if xid(&r) == xid(&b) && matches!(r[1], OF10_BARRIER_REPLY | OF13_BARRIER_REPLY) {
                return out;
            }
            out.push(r);
        }
    }

    /// A barrier's round trip.
    pub fn barrier_rtt(&mut self, xid: u32) -> Duration {
        let t = Instant::now();
        let b = self.barrier(xid);
        self.send(&b);
        loop {
            let r = self
                .recv(Duration::from_secs(30))
                .expect("the barrier reply");
            if self::xid(&r) == xid {
                return t.elapsed();
            }
        }
    }
}

/// The unmodified `ovs-ofctl ARGS` with OVS_RUNDIR=`dir` (so `br-int` means
/// `dir/br-int.mgmt`).
pub fn ofctl(dir: &Path, args: &[&str]) -> Output {
    Command::new("ovs-ofctl")
        .env("OVS_RUNDIR", dir)
        .arg("--timeout=10")
        .args(args)
        .output()
        .unwrap()
}

/// [`ofctl`], which must succeed: its standard output.
pub fn ofctl_ok(dir: &Path, args: &[&str]) -> String {
    let o = ofctl(dir, args);
    assert!(
        o.status.success(),
        "ovs-ofctl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
