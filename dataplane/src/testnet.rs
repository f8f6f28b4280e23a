//! Helpers for tests against the real kernel: network namespaces, veth pairs and a raw
//! AF_PACKET socket to send and receive exact frames. Behind the `testnet` feature.
//!
//! Everything is created under a per-run name prefix ([`prefix`]) inside namespaces the
//! test owns, and removed on drop, also when the test panics. The helpers panic with the
//! command and its stderr when something fails: a test that cannot set up its network
//! must fail loudly, never pass silently. They shell out to `ip` (iproute2) and
//! `ethtool`, and need root ([`require_root`]).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Panics unless the process runs as root (the tests create namespaces, veths, XDP
/// programs and AF_XDP sockets).
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!(
            "this test needs root (network namespaces, veth pairs, XDP, AF_XDP): \
             run it as root, e.g. `sudo -E cargo test`; it does not skip silently"
        );
    }
}

/// A prefix unique to this run: "xt" and 4 hex digits from the pid and the clock.
pub fn prefix() -> &'static str {
    static P: OnceLock<String> = OnceLock::new();
    P.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let v = (std::process::id() ^ (nanos >> 10) ^ (nanos << 6)) & 0xffff;
        format!("xt{v:04x}")
    })
}

/// A fresh name: the run prefix, a counter and `tag`. Panics past 15 characters (the
/// kernel's limit for interface names).
pub fn unique_name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = format!("{}{n:x}{tag}", prefix());
    assert!(
        name.len() <= 15,
        "name {name:?} is longer than 15 characters: use a shorter tag"
    );
    name
}

/// Runs a command, panicking with its stderr when it fails. Returns stdout.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e} (is it installed?)"));
    if !out.status.success() {
        panic!(
            "`{cmd} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace, deleted on drop (with the interfaces in it).
pub struct Netns {
    name: String,
    fd: Option<OwnedFd>,
}

impl Netns {
    /// `ip netns add` of a fresh name ending in `tag`.
    pub fn new(tag: &str) -> Netns {
        let name = unique_name(tag);
        run("ip", &["netns", "add", &name]);
        // From here on, a panic deletes the namespace again.
        let ns = Netns { name, fd: None };
        let path = CString::new(format!("/run/netns/{}", ns.name)).unwrap();
        // SAFETY: path is NUL-terminated; the result is checked.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            panic!(
                "open /run/netns/{}: {}",
                ns.name,
                io::Error::last_os_error()
            );
        }
        // SAFETY: fd was just opened and is owned by nothing else.
        let mut ns = ns;
        ns.fd = Some(unsafe { OwnedFd::from_raw_fd(fd) });
        // Loopback up, so that nothing in the namespace is surprised.
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME args...`
    pub fn ip(&self, args: &[&str]) -> String {
        let mut a = vec!["-n", self.name.as_str()];
        a.extend_from_slice(args);
        run("ip", &a)
    }

    /// `ip netns exec NAME cmd args...`
    pub fn exec(&self, cmd: &str, args: &[&str]) -> String {
        let mut a = vec!["netns", "exec", self.name.as_str(), cmd];
        a.extend_from_slice(args);
        run("ip", &a)
    }

    /// Disables IPv6 on an interface, so it sends no router solicitations, DAD or MLD
    /// frames of its own that a test would then see.
    pub fn disable_ipv6(&self, ifname: &str) {
        in_netns(self, || disable_ipv6_here(ifname));
    }

    /// Turns GRO on for an interface: a veth needs NAPI on the peer of the device that
    /// an XDP program redirects frames into (`XDP_REDIRECT` to a devmap); GRO enables it.
    pub fn gro_on(&self, ifname: &str) {
        self.exec("ethtool", &["-K", ifname, "gro", "on"]);
    }

    fn fd(&self) -> &OwnedFd {
        self.fd.as_ref().expect("namespace is open")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.fd.take();
        let ok = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("warning: could not delete network namespace {}", self.name);
        }
    }
}

/// Disables IPv6 on `ifname` in the calling thread's namespace (/proc/sys/net shows
/// the namespace of the thread that opens it).
pub fn disable_ipv6_here(ifname: &str) {
    let path = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
    if let Err(e) = std::fs::write(&path, "1") {
        // No IPv6 in this kernel: nothing to disable.
        if e.kind() != io::ErrorKind::NotFound {
            panic!("write {path}: {e}");
        }
    }
}

/// Moves the calling thread into the named namespace (`/run/netns/NAME`), for a child
/// process that was handed a namespace name.
pub fn enter_netns(name: &str) {
    let path = CString::new(format!("/run/netns/{name}")).unwrap();
    // SAFETY: path is NUL-terminated; the fd is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    assert!(
        fd >= 0,
        "open /run/netns/{name}: {}",
        io::Error::last_os_error()
    );
    // SAFETY: fd is a namespace fd.
    let r = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
    let e = io::Error::last_os_error();
    // SAFETY: ours to close.
    unsafe { libc::close(fd) };
    assert!(r == 0, "setns({name}): {e}");
}

/// Runs `f` in a thread that has entered `ns` (setns), and returns what it returns.
/// Threads `f` spawns are in `ns` too; sockets it opens stay in `ns` wherever they are
/// used later. A panic in `f` is passed on.
pub fn in_netns<R: Send, F: FnOnce() -> R + Send>(ns: &Netns, f: F) -> R {
    let fd = ns.fd().as_raw_fd();
    std::thread::scope(|s| {
        let h = s.spawn(move || {
            // SAFETY: fd is a namespace fd kept open by `ns` for the scope.
            if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                panic!("setns({}): {}", ns.name, io::Error::last_os_error());
            }
            f()
        });
        match h.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}

/// A veth pair, deleted on drop (deleting one end deletes both).
pub struct VethPair {
    pub a: String,
    pub b: String,
    ns_a: Option<String>,
}

/// Creates the veth pair `a` <-> `b`, with each end in the given namespace (`None`: the
/// calling thread's), both up, IPv6 off (no stray frames), GRO on for both (so that an
/// XDP redirect into either end works).
pub fn veth_pair(a: &str, b: &str, ns_a: Option<&Netns>, ns_b: Option<&Netns>) -> VethPair {
    let mut args = vec!["link", "add", a];
    if let Some(ns) = ns_a {
        args.extend_from_slice(&["netns", ns.name()]);
    }
    args.extend_from_slice(&["type", "veth", "peer", "name", b]);
    if let Some(ns) = ns_b {
        args.extend_from_slice(&["netns", ns.name()]);
    }
    run("ip", &args);
    let pair = VethPair {
        a: a.into(),
        b: b.into(),
        ns_a: ns_a.map(|n| n.name().to_string()),
    };
    for (ns, ifname) in [(ns_a, a), (ns_b, b)] {
        match ns {
            Some(ns) => {
                ns.disable_ipv6(ifname);
                ns.ip(&["link", "set", ifname, "up"]);
                ns.gro_on(ifname);
            }
            None => {
                disable_ipv6_here(ifname);
                run("ip", &["link", "set", ifname, "up"]);
                run("ethtool", &["-K", ifname, "gro", "on"]);
            }
        }
    }
    pair
}

impl Drop for VethPair {
    fn drop(&mut self) {
        let mut args = vec![];
        if let Some(ns) = &self.ns_a {
            args.extend_from_slice(&["-n", ns.as_str()]);
        }
        args.extend_from_slice(&["link", "del", self.a.as_str()]);
        // Fails harmlessly when the namespace (and the pair with it) is already gone.
        let _ = Command::new("ip")
            .args(&args)
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The MAC address of an interface in `ns` (`None`: the calling thread's namespace),
/// as `ip link show` prints it.
pub fn mac_of(ns: Option<&Netns>, ifname: &str) -> [u8; 6] {
    let out = match ns {
        Some(ns) => ns.ip(&["-o", "link", "show", ifname]),
        None => run("ip", &["-o", "link", "show", ifname]),
    };
    let at = out
        .find("link/ether ")
        .unwrap_or_else(|| panic!("no MAC in {out:?}"))
        + "link/ether ".len();
    let mut mac = [0u8; 6];
    for (i, part) in out[at..at + 17].split(':').enumerate() {
        mac[i] = u8::from_str_radix(part, 16).expect("hex MAC");
    }
    mac
}

/// A raw AF_PACKET socket bound to one interface: sends exact frames and receives every
/// frame that arrives on it (not the ones it sends).
pub struct RawSocket {
    fd: OwnedFd,
    ifindex: i32,
}

const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

impl RawSocket {
    /// Opens the socket on `ifname` in the calling thread's namespace.
    pub fn open(ifname: &str) -> io::Result<RawSocket> {
        let c = CString::new(ifname).unwrap();
        // SAFETY: c is NUL-terminated.
        let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) } as i32;
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain syscall; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                ETH_P_ALL_BE as i32,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is fresh and ours.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Room for a few thousand full-size frames: a burst must not overflow here.
        let size: libc::c_int = 32 << 20;
        // SAFETY: option value is a c_int of the given size.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &size as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
        let on: libc::c_int = 1;
        // SAFETY: option value is a c_int of the given size.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_AUXDATA,
                &on as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: zeroed sockaddr_ll is valid; fields set below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL_BE;
        sll.sll_ifindex = ifindex;
        // SAFETY: sll is a valid sockaddr_ll of the given length.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawSocket { fd, ifindex })
    }

    /// Opens the socket on `ifname` inside `ns`.
    pub fn open_in(ns: &Netns, ifname: &str) -> RawSocket {
        in_netns(ns, || RawSocket::open(ifname))
            .unwrap_or_else(|e| panic!("raw socket on {ifname} in {}: {e}", ns.name()))
    }

    /// Sends without the qdisc layer (PACKET_QDISC_BYPASS): the kernel then picks the tx
    /// queue from the sending CPU, and veth delivers to the peer's rx queue of the
    /// same number. Without it, all frames of one flow take one queue.
    pub fn bypass_qdisc(&self) -> io::Result<()> {
        let on: libc::c_int = 1;
        // SAFETY: option value is a c_int of the given size.
        let r = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_QDISC_BYPASS,
                &on as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sends one frame as it is (the kernel adds nothing but the FCS).
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: zeroed sockaddr_ll is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = self.ifindex;
        sll.sll_halen = 6;
        let n = frame.len().min(6);
        sll.sll_addr[..n].copy_from_slice(&frame[..n]);
        loop {
            // SAFETY: frame and sll are valid for the lengths given.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    frame.as_ptr() as *const libc::c_void,
                    frame.len(),
                    0,
                    &sll as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            // The device queue is momentarily full: wait a little and retry.
            if e.raw_os_error() == Some(libc::ENOBUFS) || e.raw_os_error() == Some(libc::EAGAIN) {
                std::thread::sleep(Duration::from_micros(50));
                continue;
            }
            return Err(e);
        }
    }

    /// The next frame that arrived on the interface, or `None` after `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65536 + 4];
        self.recv_into(&mut buf, timeout).map(|n| buf[..n].to_vec())
    }

    /// [`recv`](Self::recv) into `buf` (at least 4 bytes longer than the largest frame,
    /// for a VLAN tag put back): the frame's length, or `None` after `timeout`. For
    /// receivers of a steady stream, which should not allocate per frame.
    pub fn recv_into(&self, buf: &mut [u8], timeout: Duration) -> Option<usize> {
        assert!(buf.len() > 18, "buffer too small for a frame");
        let deadline = Instant::now() + timeout;
        // Room left for a tag reinserted after the destination and source MACs.
        let room = buf.len() - 4;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r <= 0 {
                if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return None;
            }
            // SAFETY: zeroed sockaddr_ll / msghdr are valid out-parameters.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut cbuf = [0u64; 16];
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr() as *mut libc::c_void,
                iov_len: room,
            };
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_name = &mut sll as *mut _ as *mut libc::c_void;
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = std::mem::size_of_val(&cbuf);
            // SAFETY: msg points at valid buffers of the lengths given.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
            if n < 0 {
                if left.is_zero() {
                    return None;
                }
                continue;
            }
            if sll.sll_pkttype == libc::PACKET_OUTGOING {
                continue; // our own transmission, looped back to packet sockets
            }
            let mut len = n as usize;
            // The kernel takes an 802.1Q tag out of received frames (rx VLAN offload)
            // and reports it in the auxiliary data: put it back where it was.
            // SAFETY: walking the control messages the kernel wrote into cbuf.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == libc::PACKET_AUXDATA
                    {
                        let aux =
                            (libc::CMSG_DATA(c) as *const libc::tpacket_auxdata).read_unaligned();
                        if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 && len >= 12 {
                            let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                                aux.tp_vlan_tpid
                            } else {
                                crate::wire::ethertype::VLAN
                            };
                            buf.copy_within(12..len, 16);
                            buf[12..14].copy_from_slice(&tpid.to_be_bytes());
                            buf[14..16].copy_from_slice(&aux.tp_vlan_tci.to_be_bytes());
                            len += 4;
                        }
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
            }
            return Some(len);
        }
    }

    /// Receives frames until none arrives for `quiet`; returns them.
    pub fn recv_all(&self, quiet: Duration) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        while let Some(f) = self.recv(quiet) {
            v.push(f);
        }
        v
    }
}

/// An Ethernet frame of `len` bytes (at least 14) from `src` to `dst` with the local
/// experimental ethertype 0x88b5 and a payload that starts with `tag` (big endian) and
/// continues with a pattern, so that every byte is checked.
pub fn test_frame(dst: [u8; 6], src: [u8; 6], tag: u32, len: usize) -> Vec<u8> {
    assert!(len >= 18);
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(&tag.to_be_bytes());
    let mut x = tag.wrapping_mul(2654435761);
    while f.len() < len {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        f.push((x >> 16) as u8);
    }
    f
}

/// The tag [`test_frame`] put in a frame, if it is one of ours.
pub fn test_frame_tag(frame: &[u8]) -> Option<u32> {
    (frame.len() >= 18 && frame[12..14] == [0x88, 0xb5])
        .then(|| u32::from_be_bytes(frame[14..18].try_into().unwrap()))
}

/// One host side of a [`SwitchNet`]: a namespace with one end of a veth pair, the
/// other end (the switch port) in the switch's namespace.
pub struct HostPort {
    /// The interface in `ns` (where test traffic is sent and received).
    pub host_if: String,
    /// Its peer in the switch's namespace (the port given to the datapath).
    pub switch_if: String,
    pub host_mac: [u8; 6],
    pub pair: VethPair,
    pub ns: Netns,
}

/// A switch namespace and `n` host namespaces, each joined to it by a veth pair:
/// `hosts[i].ns: hosts[i].host_if <-> ns_switch: hosts[i].switch_if`. Everything is
/// removed on drop.
pub struct SwitchNet {
    pub hosts: Vec<HostPort>,
    pub ns_switch: Netns,
}

impl SwitchNet {
    /// `n` host namespaces with single-queue veths.
    pub fn new(n: usize) -> SwitchNet {
        SwitchNet::with_queues(n, 1)
    }

    /// `n` host namespaces; the veths have `queues` rx and tx queues.
    pub fn with_queues(n: usize, queues: u32) -> SwitchNet {
        let ns_switch = Netns::new("sw");
        let mut hosts = Vec::new();
        for i in 0..n {
            let ns = Netns::new(&format!("h{i}"));
            let host_if = unique_name(&format!("a{i}"));
            let switch_if = unique_name(&format!("x{i}"));
            let pair = if queues > 1 {
                let q = queues.to_string();
                run(
                    "ip",
                    &[
                        "link",
                        "add",
                        &host_if,
                        "netns",
                        ns.name(),
                        "numrxqueues",
                        &q,
                        "numtxqueues",
                        &q,
                        "type",
                        "veth",
                        "peer",
                        "name",
                        &switch_if,
                        "netns",
                        ns_switch.name(),
                        "numrxqueues",
                        &q,
                        "numtxqueues",
                        &q,
                    ],
                );
                for (n, i) in [(&ns, &host_if), (&ns_switch, &switch_if)] {
                    n.disable_ipv6(i);
                    n.ip(&["link", "set", i, "up"]);
                    n.gro_on(i);
                }
                VethPair {
                    a: host_if.clone(),
                    b: switch_if.clone(),
                    ns_a: Some(ns.name().to_string()),
                }
            } else {
                veth_pair(&host_if, &switch_if, Some(&ns), Some(&ns_switch))
            };
            let host_mac = mac_of(Some(&ns), &host_if);
            hosts.push(HostPort {
                host_if,
                switch_if,
                host_mac,
                pair,
                ns,
            });
        }
        SwitchNet { hosts, ns_switch }
    }

    /// A raw socket on host `i`'s interface, in its namespace.
    pub fn host_socket(&self, i: usize) -> RawSocket {
        RawSocket::open_in(&self.hosts[i].ns, &self.hosts[i].host_if)
    }

    /// `ip -d link show` of switch port `i` (shows `xdp` while a program is attached).
    pub fn switch_link(&self, i: usize) -> String {
        self.ns_switch
            .ip(&["-d", "link", "show", &self.hosts[i].switch_if])
    }
}
