//! The rtnetlink queries behind tunnel underlays: which netdev holds the local tunnel
//! address, the kernel's route toward a remote, and the next hop's MAC from the kernel's
//! neighbour table. The kernel stays the one source of truth for routing and ARP, so the
//! daemon needs no configuration of its own for them and follows the host's changes.
//! One change too: a netdev's Ethernet address (a bridge's `other_config:hwaddr`).
//!
//! Messages are encoded and decoded by `netlink-packet-route`; this module only runs the
//! request/reply exchange on one synchronous `NETLINK_ROUTE` socket. It is control-path
//! code (about one query per second per remote), so it favours simplicity over avoiding
//! allocations.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE,
    NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTIPART, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkFlags, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
    NeighbourState as NudState,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};
use xvs_dataplane::MacAddr;

/// How long to wait for the kernel's answer. It answers at once; the bound only keeps a
/// lost reply from stalling the daemon's control thread forever.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A dump whose table changed under it is restarted this many times before giving up
/// (the kernel flags such a dump as possibly inconsistent).
const DUMP_ATTEMPTS: usize = 3;

/// Room for one typical dump datagram (the kernel fills up to about 32 KiB); larger
/// datagrams are measured first and the buffer grows.
const RECV_BUF: usize = 32 * 1024;

/// The discard port: a datagram sent there asks for nothing, but still needs the next
/// hop's MAC, so the kernel resolves it.
const DISCARD_PORT: u16 = 9;

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
    #[error("kernel refused {request}: {} (errno {errno})", io::Error::from_raw_os_error(*.errno))]
    Kernel { request: &'static str, errno: i32 },
    #[error("malformed netlink reply to {request}: {detail}")]
    Malformed {
        request: &'static str,
        detail: String,
    },
    #[error("no netlink reply to {request} within {REPLY_TIMEOUT:?}")]
    Timeout { request: &'static str },
    #[error("{request}: the table kept changing during the dump ({DUMP_ATTEMPTS} attempts)")]
    DumpInterrupted { request: &'static str },
}

impl NetlinkError {
    /// The errno of a kernel refusal or a socket error, for callers that tell apart
    /// "try again later" from "configuration is wrong".
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { errno, .. } => Some(*errno),
            NetlinkError::Io(e) => e.raw_os_error(),
            _ => None,
        }
    }

    fn malformed(request: &'static str, detail: impl ToString) -> Self {
        NetlinkError::Malformed {
            request,
            detail: detail.to_string(),
        }
    }
}

/// A network device, as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// [`MacAddr::ZERO`] when the device has no Ethernet address (e.g. a GRE or tun
    /// device): such a device cannot carry our Ethernet frames.
    pub mac: MacAddr,
    pub mtu: u32,
    /// Administratively up and operationally running (IFF_UP and IFF_RUNNING): frames
    /// sent on it can leave.
    pub up: bool,
}

/// The kernel's choice for sending to one destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The output device.
    pub oif: u32,
    /// The next hop when the destination is not on-link: its MAC is the one to resolve.
    pub gateway: Option<Ipv4Addr>,
    /// The source address the kernel would use.
    pub prefsrc: Option<Ipv4Addr>,
}

impl Route {
    /// The address whose MAC the outer Ethernet header needs: the gateway, or `dst`
    /// itself when it is on-link.
    pub fn next_hop(&self, dst: Ipv4Addr) -> Ipv4Addr {
        self.gateway.unwrap_or(dst)
    }
}

/// A neighbour entry's NUD state (see `ip neigh`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighbourState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Failed,
    NoArp,
    Permanent,
    None,
}

impl From<NudState> for NeighbourState {
    fn from(s: NudState) -> Self {
        match s {
            NudState::Incomplete => NeighbourState::Incomplete,
            NudState::Reachable => NeighbourState::Reachable,
            NudState::Stale => NeighbourState::Stale,
            NudState::Delay => NeighbourState::Delay,
            NudState::Probe => NeighbourState::Probe,
            NudState::Failed => NeighbourState::Failed,
            NudState::Noarp => NeighbourState::NoArp,
            NudState::Permanent => NeighbourState::Permanent,
            // The kernel reports exactly one state bit; anything else is treated as
            // "nothing known", which is never used for forwarding.
            _ => NeighbourState::None,
        }
    }
}

/// A neighbour table entry for one IPv4 address on one device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neighbour {
    pub mac: Option<MacAddr>,
    pub state: NeighbourState,
}

impl Neighbour {
    /// The MAC the kernel itself would put on a frame to this neighbour now. Stale,
    /// Delay and Probe entries still count: the kernel keeps sending to them while it
    /// re-checks, and so may we.
    pub fn usable_mac(&self) -> Option<MacAddr> {
        use NeighbourState::*;
        match self.state {
            Reachable | Stale | Delay | Probe | Permanent | NoArp => {
                self.mac.filter(|m| !m.is_zero())
            }
            Incomplete | Failed | None => Option::None,
        }
    }
}

/// One `NETLINK_ROUTE` socket, bound in the network namespace of the thread that opened
/// it (it stays there wherever it is used later).
pub struct Rtnl {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    pub fn open() -> Result<Rtnl, NetlinkError> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        // Strict checking makes the kernel reject a request it would otherwise
        // half-ignore; kernels before 4.20 lack it, and work without.
        let _ = socket.set_netlink_get_strict_chk(true);
        set_recv_timeout(&socket, REPLY_TIMEOUT)?;
        Ok(Rtnl {
            socket,
            seq: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    pub fn link_by_index(&mut self, index: u32) -> Result<Option<Link>, NetlinkError> {
        // The kernel's indexes are positive ints; 0 or a negative one reads as "no
        // device given" (EINVAL), where the answer is simply "no such device".
        if index == 0 || i32::try_from(index).is_err() {
            return Ok(None);
        }
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.get_link(msg)
    }

    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>, NetlinkError> {
        // Names the kernel could never have (empty, too long, with a NUL) would come
        // back as EINVAL, not as "no such device".
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
            return Ok(None);
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.get_link(msg)
    }

    /// The netdev that holds `ip` as one of its IPv4 addresses (RTM_GETADDR dump).
    pub fn link_with_address(&mut self, ip: Ipv4Addr) -> Result<Option<Link>, NetlinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let mut index = None;
        self.dump("RTM_GETADDR", RouteNetlinkMessage::GetAddress(msg), |m| {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                if index.is_none() && address_is(&a, ip) {
                    index = Some(a.header.index);
                }
            }
            Ok(())
        })?;
        match index {
            // The device may have gone in between: then nobody holds `ip` any more.
            Some(i) => self.link_by_index(i),
            None => Ok(None),
        }
    }

    /// The kernel's route to `dst` (RTM_GETROUTE for one destination, like `ip route
    /// get`). None when the kernel would not send a unicast packet there (no route,
    /// an unreachable/prohibit/blackhole route, `dst` local or broadcast), or sends it
    /// through an IPv6 next hop.
    pub fn route_to(&mut self, dst: Ipv4Addr) -> Result<Option<Route>, NetlinkError> {
        const REQ: &str = "RTM_GETROUTE";
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.destination_prefix_length = 32;
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        let mut reply = None;
        let r = self.transact(REQ, RouteNetlinkMessage::GetRoute(msg), 0, |m| {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                reply = Some(r);
            }
            Ok(())
        });
        match r {
            Ok(()) => {}
            // ENETUNREACH: no route; EHOSTUNREACH: an unreachable route; EACCES: a
            // prohibit route; EINVAL: a blackhole route (fib_props in the kernel).
            Err(NetlinkError::Kernel {
                errno: libc::ENETUNREACH | libc::EHOSTUNREACH | libc::EACCES | libc::EINVAL,
                ..
            }) => return Ok(None),
            Err(e) => return Err(e),
        }
        let r = reply.ok_or_else(|| NetlinkError::malformed(REQ, "no route in the reply"))?;
        if r.header.kind != RouteType::Unicast {
            return Ok(None);
        }
        let mut route = Route {
            oif: 0,
            gateway: None,
            prefsrc: None,
        };
        for a in r.attributes {
            match a {
                RouteAttribute::Oif(i) => route.oif = i,
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => route.gateway = Some(g),
                RouteAttribute::PrefSource(RouteAddress::Inet(s)) => route.prefsrc = Some(s),
                // An IPv6 next hop for an IPv4 route (RFC 5549): its MAC is found by
                // NDP, which this module does not ask for.
                RouteAttribute::Via(_) => return Ok(None),
                _ => {}
            }
        }
        if route.oif == 0 {
            return Err(NetlinkError::malformed(
                REQ,
                "unicast route without an output device",
            ));
        }
        Ok(Some(route))
    }

    /// The neighbour entry for `ip` on `ifindex` (None when the kernel has none).
    pub fn neighbour(
        &mut self,
        ifindex: u32,
        ip: Ipv4Addr,
    ) -> Result<Option<Neighbour>, NetlinkError> {
        const REQ: &str = "RTM_GETNEIGH";
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.ifindex = ifindex;
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
        let mut reply = None;
        match self.transact(REQ, RouteNetlinkMessage::GetNeighbour(msg), 0, |m| {
            if let RouteNetlinkMessage::NewNeighbour(n) = m {
                reply = Some(n);
            }
            Ok(())
        }) {
            Ok(()) => {}
            // ENOENT: no entry; ENODEV: no such device, so no entry either.
            Err(NetlinkError::Kernel { errno, .. })
                if errno == libc::ENOENT || errno == libc::ENODEV =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
        let n = reply.ok_or_else(|| NetlinkError::malformed(REQ, "no neighbour in the reply"))?;
        let mut mac = None;
        for a in &n.attributes {
            if let NeighbourAttribute::LinkLayerAddress(l) = a {
                mac = mac_from(l);
            }
        }
        Ok(Some(Neighbour {
            mac,
            state: n.header.state.into(),
        }))
    }

    /// Asks the kernel to resolve `ip` on `ifindex`, as if a packet were waiting for it.
    ///
    /// RTM_NEWNEIGH with NTF_USE and NLM_F_CREATE: `neigh_add` creates the entry if
    /// needed and calls `neigh_event_send`, which sends an ARP request now for a new or
    /// failed entry and re-confirms a stale one, without touching a valid MAC. If the
    /// kernel refuses that, one empty UDP datagram to the discard port through the
    /// device ([`resolve_by_udp`]) triggers the same resolution.
    pub fn request_resolution(&mut self, ifindex: u32, ip: Ipv4Addr) -> Result<(), NetlinkError> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.ifindex = ifindex;
        msg.header.flags = NeighbourFlags::Use;
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
        let refused = match self.transact(
            "RTM_NEWNEIGH",
            RouteNetlinkMessage::NewNeighbour(msg),
            NLM_F_CREATE | NLM_F_ACK,
            |_| Ok(()),
        ) {
            Ok(()) => return Ok(()),
            Err(e @ NetlinkError::Kernel { .. }) => e,
            Err(e) => return Err(e),
        };
        tracing::debug!(ifindex, %ip, error = %refused, "NTF_USE refused, resolving through UDP");
        let Some(link) = self.link_by_index(ifindex)? else {
            return Err(refused);
        };
        resolve_by_udp(&link.name, ip)?;
        Ok(())
    }

    /// Sets the Ethernet address of netdev `index` (RTM_SETLINK with IFLA_ADDRESS, as
    /// `ip link set DEV address MAC`). Veths and taps take it while up.
    pub fn set_link_address(&mut self, index: u32, mac: MacAddr) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        self.transact(
            "RTM_SETLINK",
            RouteNetlinkMessage::SetLink(msg),
            NLM_F_ACK,
            |_| Ok(()),
        )
    }

    fn get_link(&mut self, mut msg: LinkMessage) -> Result<Option<Link>, NetlinkError> {
        const REQ: &str = "RTM_GETLINK";
        // Counters are not needed, and make up most of the reply.
        msg.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        let mut reply = None;
        match self.transact(REQ, RouteNetlinkMessage::GetLink(msg), 0, |m| {
            if let RouteNetlinkMessage::NewLink(l) = m {
                reply = Some(l);
            }
            Ok(())
        }) {
            Ok(()) => {}
            Err(NetlinkError::Kernel { errno, .. }) if errno == libc::ENODEV => return Ok(None),
            Err(e) => return Err(e),
        }
        let l = reply.ok_or_else(|| NetlinkError::malformed(REQ, "no link in the reply"))?;
        link_from(l).map(Some)
    }

    /// Runs a dump, restarting it when the kernel says the table changed meanwhile.
    /// `each` may see entries of an abandoned attempt again.
    fn dump(
        &mut self,
        request: &'static str,
        msg: RouteNetlinkMessage,
        mut each: impl FnMut(RouteNetlinkMessage) -> Result<(), NetlinkError>,
    ) -> Result<(), NetlinkError> {
        for _ in 0..DUMP_ATTEMPTS {
            match self.transact(request, msg.clone(), NLM_F_DUMP, &mut each) {
                Err(NetlinkError::DumpInterrupted { .. }) => continue,
                r => return r,
            }
        }
        Err(NetlinkError::DumpInterrupted { request })
    }

    /// Sends one request and hands each message of its reply to `each`, until the exchange ends: an NLMSG_DONE, an NLMSG_ERROR (an
    /// acknowledgement or a refusal), or a single reply not marked NLM_F_MULTI.
    fn transact(
        &mut self,
        request: &'static str,
        msg: RouteNetlinkMessage,
        flags: u16,
        each: impl FnMut(RouteNetlinkMessage) -> Result<(), NetlinkError>,
    ) -> Result<(), NetlinkError> {
        let seq = self.send(msg, flags)?;
        self.receive(request, seq, flags & NLM_F_ACK != 0, each)
    }

    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<u32, NetlinkError> {
        // 0 is what the kernel puts in notifications: never ours.
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        req.finalize();
        let mut out = vec![0u8; req.buffer_len()];
        req.serialize(&mut out);
        self.socket.send(&out, 0)?;
        Ok(self.seq)
    }

    /// Messages of other sequence numbers answer earlier requests that were given up
    /// on (a timeout, a malformed reply), and are skipped. An error in the middle of a
    /// multi-part reply is kept until the reply's end has been read, so that no dump is
    /// left running in the kernel (it would refuse the next one with EBUSY).
    fn receive(
        &mut self,
        request: &'static str,
        seq: u32,
        acked: bool,
        mut each: impl FnMut(RouteNetlinkMessage) -> Result<(), NetlinkError>,
    ) -> Result<(), NetlinkError> {
        let mut failure: Option<NetlinkError> = None;
        let mut interrupted = false;
        loop {
            let n = self.recv_datagram(request)?;
            let mut off = 0;
            while off < n {
                let rest = &self.buf[off..n];
                // A broken frame hides where the next message starts: nothing more of
                // this exchange can be trusted.
                let nl = NetlinkBuffer::new_checked(rest)
                    .map_err(|e| NetlinkError::malformed(request, e))?;
                // new_checked guarantees header size <= len <= rest.len().
                let len = nl.length() as usize;
                off += align4(len).min(rest.len());
                if nl.sequence_number() != seq {
                    continue;
                }
                let multi = nl.flags() & NLM_F_MULTIPART != 0;
                interrupted |= nl.flags() & NLM_F_DUMP_INTR != 0;
                let payload = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..len])
                {
                    Ok(m) => m.payload,
                    Err(e) => {
                        let e = NetlinkError::malformed(request, e);
                        if !multi && !acked {
                            return Err(e);
                        }
                        failure.get_or_insert(e);
                        continue;
                    }
                };
                let end = match payload {
                    NetlinkPayload::Done(d) if d.code != 0 => Err(NetlinkError::Kernel {
                        request,
                        errno: d.code.abs(),
                    }),
                    NetlinkPayload::Done(_) if interrupted => {
                        Err(NetlinkError::DumpInterrupted { request })
                    }
                    NetlinkPayload::Done(_) => Ok(()),
                    NetlinkPayload::Error(e) => match e.code {
                        None => Ok(()),
                        Some(c) => Err(NetlinkError::Kernel {
                            request,
                            errno: c.get().abs(),
                        }),
                    },
                    NetlinkPayload::Overrun(_) => {
                        Err(NetlinkError::malformed(request, "NLMSG_OVERRUN"))
                    }
                    NetlinkPayload::InnerMessage(inner) => {
                        if failure.is_none() {
                            if let Err(e) = each(inner) {
                                failure = Some(e);
                            }
                        }
                        if multi || acked {
                            continue;
                        }
                        Ok(())
                    }
                    // NLMSG_NOOP, and whatever later versions add.
                    _ => continue,
                };
                return match failure {
                    Some(e) => Err(e),
                    None => end,
                };
            }
        }
    }

    /// Receives one whole datagram into `self.buf`, growing it when the datagram is
    /// larger, and returns its length.
    fn recv_datagram(&mut self, request: &'static str) -> Result<usize, NetlinkError> {
        loop {
            // MSG_TRUNC makes the peek return the datagram's real length.
            let r = self
                .socket
                .recv(&mut &mut self.buf[..], libc::MSG_PEEK | libc::MSG_TRUNC)
                .and_then(|len| {
                    if len > self.buf.len() {
                        self.buf.resize(len, 0);
                    }
                    self.socket.recv(&mut &mut self.buf[..], libc::MSG_TRUNC)
                });
            match r {
                Ok(len) if len > self.buf.len() => {
                    return Err(NetlinkError::malformed(request, "datagram grew after peek"))
                }
                Ok(len) => return Ok(len),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(NetlinkError::Timeout { request })
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Sends one empty UDP datagram to `ip`:9 (discard) out of `ifname` (SO_BINDTODEVICE),
/// so the kernel resolves `ip`'s MAC on that device to send it. The fallback of
/// [`Rtnl::request_resolution`]; needs CAP_NET_RAW for the device binding.
pub fn resolve_by_udp(ifname: &str, ip: Ipv4Addr) -> io::Result<()> {
    let sock = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
    // SAFETY: the option value is the name's bytes, of the length given.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            ifname.as_ptr() as *const libc::c_void,
            ifname.len() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    sock.send_to(&[], SocketAddrV4::new(ip, DISCARD_PORT))?;
    Ok(())
}

pub(crate) fn set_recv_timeout(socket: &Socket, t: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: t.as_secs() as libc::time_t,
        tv_usec: t.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: the option value is a timeval of the size given.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn align4(len: usize) -> usize {
    (len + 3) & !3
}

fn mac_from(bytes: &[u8]) -> Option<MacAddr> {
    <[u8; 6]>::try_from(bytes).ok().map(MacAddr)
}

/// Whether `a` is an IPv4 address entry for `ip`. IFA_LOCAL is the interface's own
/// address; IFA_ADDRESS is the same except on point-to-point links, where it is the
/// peer's, so it only counts when there is no IFA_LOCAL.
fn address_is(a: &AddressMessage, ip: Ipv4Addr) -> bool {
    let mut local = None;
    let mut address = None;
    for attr in &a.attributes {
        match attr {
            AddressAttribute::Local(l) => local = Some(*l),
            AddressAttribute::Address(x) => address = Some(*x),
            _ => {}
        }
    }
    local.or(address) == Some(ip.into())
}

fn link_from(l: LinkMessage) -> Result<Link, NetlinkError> {
    const REQ: &str = "RTM_GETLINK";
    let mut name = None;
    let mut mtu = None;
    let mut mac = MacAddr::ZERO;
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n),
            LinkAttribute::Mtu(m) => mtu = Some(m),
            LinkAttribute::Address(a) => mac = mac_from(&a).unwrap_or(MacAddr::ZERO),
            _ => {}
        }
    }
    let flags = l.header.flags;
    Ok(Link {
        index: l.header.index,
        name: name.ok_or_else(|| NetlinkError::malformed(REQ, "link without a name"))?,
        mac,
        mtu: mtu.ok_or_else(|| NetlinkError::malformed(REQ, "link without an MTU"))?,
        up: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running),
    })
}

#[cfg(test)]
mod tests;
