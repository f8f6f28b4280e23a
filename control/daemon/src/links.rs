//! Netdevs appearing, changing and going, as the kernel announces them: an rtnetlink
//! socket subscribed to `RTNLGRP_LINK` in xvsd's network namespace, read by a thread of
//! its own. Nothing is polled: a tap that libvirt creates after os-vif added its port,
//! or one deleted and created again, is seen the moment the kernel registers it.
//!
//! Sans I/O where it can be: [`decode`] turns one datagram into [`Message`]s and
//! [`LinkTable`] turns those into [`LinkEvent`]s (renames, and a full re-read after the
//! kernel dropped notifications, become the gone/present pairs they amount to); both
//! are pure and tested with bytes and values. [`LinkWatcher`] is the thin loop around
//! them: subscribe, dump the links once (so nothing is missed between the dump and the
//! first notification), then read notifications, dumping again after an overrun.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkFlags, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};
use xvs_dataplane::MacAddr;

/// A netdev as a link notification describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Its Ethernet address (None for devices without one: tun, GRE, loopback's zeros
    /// count as one).
    pub mac: Option<MacAddr>,
    pub mtu: Option<u32>,
    /// IFF_UP: administratively up (OVS's `admin_state`).
    pub admin_up: bool,
    /// IFF_RUNNING: the carrier OVS reports as `link_state` (netdev-linux's
    /// `get_carrier`).
    pub carrier: bool,
    /// IFF_LOWER_UP: the driver's carrier now (IFF_RUNNING follows it through the
    /// kernel's link watch, up to a second later): whether a frame sent would leave.
    pub lower_up: bool,
}

/// One netlink message of a datagram, as far as the watcher cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// RTM_NEWLINK: a netdev registered, or changed (flags, MTU, address, name); also
    /// each entry of a dump.
    New(Link),
    /// RTM_DELLINK: a netdev unregistered (or left the namespace).
    Del(Link),
    /// The end of the dump with this sequence number.
    Done { seq: u32 },
    /// The kernel refused the request with this sequence number.
    Error { seq: u32, errno: i32 },
    /// Anything else: other families' link messages (a bridge's per-port RTM_NEWLINK and
    /// RTM_DELLINK of family AF_BRIDGE announce no netdev coming or going), acks, noops.
    Other,
    /// A message that could not be decoded; the rest of the datagram still is.
    Malformed(String),
}

fn link_of(l: LinkMessage) -> Result<Link, String> {
    let mut link = Link {
        index: l.header.index,
        name: String::new(),
        mac: None,
        mtu: None,
        admin_up: l.header.flags.contains(LinkFlags::Up),
        carrier: l.header.flags.contains(LinkFlags::Running),
        lower_up: l.header.flags.contains(LinkFlags::LowerUp),
    };
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::Mtu(m) => link.mtu = Some(m),
            LinkAttribute::Address(a) => link.mac = <[u8; 6]>::try_from(&a[..]).ok().map(MacAddr),
            _ => {}
        }
    }
    if link.name.is_empty() {
        return Err(format!("link {} without a name", link.index));
    }
    if link.index == 0 {
        return Err(format!("link {} without an index", link.name));
    }
    Ok(link)
}

/// Decodes one datagram read from the socket (it may hold several messages).
pub fn decode(datagram: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < datagram.len() {
        let rest = &datagram[off..];
        let nl = match NetlinkBuffer::new_checked(rest) {
            Ok(nl) => nl,
            Err(e) => {
                // Where the next message starts is unknown: the rest is lost.
                out.push(Message::Malformed(e.to_string()));
                break;
            }
        };
        let len = nl.length() as usize;
        let seq = nl.sequence_number();
        off += ((len + 3) & !3).min(rest.len());
        let m = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..len]) {
            Ok(m) => m,
            Err(e) => {
                out.push(Message::Malformed(e.to_string()));
                continue;
            }
        };
        out.push(match m.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l))
                if l.header.interface_family == AddressFamily::Unspec =>
            {
                link_of(l).map_or_else(Message::Malformed, Message::New)
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l))
                if l.header.interface_family == AddressFamily::Unspec =>
            {
                link_of(l).map_or_else(Message::Malformed, Message::Del)
            }
            NetlinkPayload::Done(d) if d.code != 0 => Message::Error {
                seq,
                errno: d.code.abs(),
            },
            NetlinkPayload::Done(_) => Message::Done { seq },
            NetlinkPayload::Error(e) => match e.code {
                Some(c) => Message::Error {
                    seq,
                    errno: c.get().abs(),
                },
                None => Message::Other,
            },
            _ => Message::Other,
        });
    }
    out
}

/// What the daemon is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// A netdev of this name exists now: it appeared, or changed (flags, MTU, MAC).
    Present(Link),
    /// The netdev of this name and index is gone (deleted, renamed, moved away).
    Gone(Link),
}

/// The netdevs known from the dump and the notifications since, by index; turns
/// messages into events.
#[derive(Debug, Default)]
pub struct LinkTable {
    links: BTreeMap<u32, Link>,
    /// During a re-read: the indexes the dump (or a notification meanwhile) showed.
    seen: Option<BTreeSet<u32>>,
}

impl LinkTable {
    pub fn get(&self, name: &str) -> Option<&Link> {
        self.links.values().find(|l| l.name == name)
    }

    /// A dump starts: at its end, what it did not show is gone.
    pub fn begin_resync(&mut self) {
        self.seen = Some(BTreeSet::new());
    }

    /// The dump ended: the links it did not show (and no notification announced
    /// meanwhile) went while notifications were lost.
    pub fn end_resync(&mut self) -> Vec<LinkEvent> {
        let Some(seen) = self.seen.take() else {
            return Vec::new();
        };
        let gone: Vec<u32> = self
            .links
            .keys()
            .filter(|i| !seen.contains(i))
            .copied()
            .collect();
        gone.into_iter()
            .filter_map(|i| self.links.remove(&i))
            .map(LinkEvent::Gone)
            .collect()
    }

    /// The events one message amounts to. A link shown again unchanged (a dump, a
    /// notification about something not tracked here, such as counters) gives none.
    pub fn apply(&mut self, m: Message) -> Vec<LinkEvent> {
        let mut out = Vec::new();
        match m {
            Message::New(l) => {
                if let Some(seen) = &mut self.seen {
                    seen.insert(l.index);
                }
                if self.links.get(&l.index) == Some(&l) {
                    return out;
                }
                // Renamed: the old name is gone. Another index under this name: its
                // deletion was missed (the kernel has one netdev per name).
                let stale: Vec<u32> = self
                    .links
                    .iter()
                    .filter(|(i, old)| {
                        (**i == l.index && old.name != l.name)
                            || (**i != l.index && old.name == l.name)
                    })
                    .map(|(i, _)| *i)
                    .collect();
                for i in stale {
                    if let Some(old) = self.links.remove(&i) {
                        out.push(LinkEvent::Gone(old));
                    }
                }
                self.links.insert(l.index, l.clone());
                out.push(LinkEvent::Present(l));
            }
            Message::Del(l) => {
                if let Some(seen) = &mut self.seen {
                    seen.remove(&l.index);
                }
                // The name it had here (a rename may not have been seen).
                let old = self.links.remove(&l.index).unwrap_or(l);
                out.push(LinkEvent::Gone(old));
            }
            _ => {}
        }
        out
    }
}

/// How long a read waits, so that `stop` is noticed.
const POLL: Duration = Duration::from_millis(200);
/// Room for the largest datagram the kernel sends (dump parts are at most 32 KiB).
const RECV_BUF: usize = 64 * 1024;
/// Asked-for socket receive buffer, so that a burst of notifications (hundreds of taps
/// created at once) is not dropped; the kernel caps it (rmem_max), and a drop is
/// repaired by a re-read anyway.
const SOCKET_BUF: usize = 4 << 20;

/// Asks for `bytes` of receive buffer: beyond rmem_max as root (SO_RCVBUFFORCE), else
/// up to it.
fn set_receive_buffer(socket: &Socket, bytes: usize) {
    use std::os::fd::AsRawFd;
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: the option value is an int of the size given.
        let r = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                &v as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return;
        }
    }
    tracing::debug!("link notifications: the default socket buffer is kept");
}

/// The rtnetlink socket subscribed to link notifications, and the table behind it.
pub struct LinkWatcher {
    socket: Socket,
    table: LinkTable,
    seq: u32,
    /// The sequence number of the dump running, if one is.
    dump: Option<u32>,
    /// Another dump is needed once the running one ends (notifications were lost
    /// during it).
    again: bool,
    buf: Vec<u8>,
}

impl LinkWatcher {
    /// Subscribes, in the calling thread's network namespace, and asks for the first
    /// dump (its links arrive as [`LinkEvent::Present`] events once [`Self::run`] reads).
    pub fn open() -> io::Result<LinkWatcher> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.add_membership(libc::RTNLGRP_LINK)?;
        set_receive_buffer(&socket, SOCKET_BUF);
        crate::netlink::set_recv_timeout(&socket, POLL)?;
        let mut w = LinkWatcher {
            socket,
            table: LinkTable::default(),
            seq: 0,
            dump: None,
            again: false,
            buf: vec![0; RECV_BUF],
        };
        w.start_dump()?;
        Ok(w)
    }

    fn start_dump(&mut self) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut msg = LinkMessage::default();
        msg.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = self.seq;
        let mut req = NetlinkMessage::new(
            header,
            NetlinkPayload::from(RouteNetlinkMessage::GetLink(msg)),
        );
        req.finalize();
        let mut out = vec![0u8; req.buffer_len()];
        req.serialize(&mut out);
        self.socket.send_to(&out, &SocketAddr::new(0, 0), 0)?;
        self.table.begin_resync();
        self.dump = Some(self.seq);
        self.again = false;
        Ok(())
    }

    /// Notifications were lost: read everything again (after the running dump, if any).
    fn resync(&mut self) {
        if self.dump.is_some() {
            self.again = true;
        } else if let Err(e) = self.start_dump() {
            tracing::warn!(error = %e, "link notifications: re-reading the links");
            self.again = true;
        }
    }

    /// Reads until `stop` is set, handing every event to `on_event` in the kernel's
    /// order.
    pub fn run(mut self, stop: &AtomicBool, mut on_event: impl FnMut(LinkEvent)) {
        while !stop.load(Ordering::Relaxed) {
            if self.again && self.dump.is_none() {
                self.resync();
            }
            let n = match self.socket.recv(&mut &mut self.buf[..], libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    tracing::warn!(
                        "link notifications overran the socket buffer; re-reading the links"
                    );
                    self.resync();
                    continue;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading link notifications");
                    std::thread::sleep(POLL);
                    continue;
                }
            };
            if n > self.buf.len() {
                tracing::warn!(
                    len = n,
                    "a link notification larger than the buffer; re-reading the links"
                );
                self.resync();
                continue;
            }
            for m in decode(&self.buf[..n]) {
                match m {
                    Message::Done { seq } if Some(seq) == self.dump => {
                        self.dump = None;
                        for ev in self.table.end_resync() {
                            on_event(ev);
                        }
                    }
                    Message::Error { seq, errno } if Some(seq) == self.dump => {
                        tracing::warn!(
                            error = %io::Error::from_raw_os_error(errno),
                            "the kernel refused to list the links; retrying"
                        );
                        self.dump = None;
                        self.table.seen = None;
                        self.again = true;
                        std::thread::sleep(POLL);
                    }
                    Message::Malformed(e) => {
                        tracing::warn!(error = %e, "an undecodable link notification")
                    }
                    m => {
                        for ev in self.table.apply(m) {
                            on_event(ev);
                        }
                    }
                }
            }
        }
    }
}

/// Opens the watcher in the calling thread's namespace and runs it in a thread of its
/// own until `stop` is set.
pub fn spawn(
    stop: Arc<AtomicBool>,
    on_event: impl FnMut(LinkEvent) + Send + 'static,
) -> io::Result<std::thread::JoinHandle<()>> {
    let w = LinkWatcher::open()?;
    std::thread::Builder::new()
        .name("xvs-links".into())
        .spawn(move || w.run(&stop, on_event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{DoneMessage, ErrorMessage};

    const M: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 7]);

    fn link_msg(index: u32, name: &str, flags: LinkFlags) -> LinkMessage {
        let mut l = LinkMessage::default();
        l.header.index = index;
        l.header.flags = flags;
        l.attributes.push(LinkAttribute::IfName(name.into()));
        l.attributes.push(LinkAttribute::Mtu(1500));
        l.attributes.push(LinkAttribute::Address(M.0.to_vec()));
        l
    }

    fn link(index: u32, name: &str) -> Link {
        Link {
            index,
            name: name.into(),
            mac: Some(M),
            mtu: Some(1500),
            admin_up: true,
            carrier: true,
            lower_up: true,
        }
    }

    fn bytes(seq: u32, payload: NetlinkPayload<RouteNetlinkMessage>) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.sequence_number = seq;
        let mut m = NetlinkMessage::new(header, payload);
        m.finalize();
        let mut out = vec![0u8; m.buffer_len()];
        m.serialize(&mut out);
        out
    }

    fn new_link(l: LinkMessage) -> Vec<u8> {
        bytes(0, NetlinkPayload::from(RouteNetlinkMessage::NewLink(l)))
    }

    #[test]
    fn new_and_del_link_decode_into_name_index_state_mac_mtu() {
        let up = LinkFlags::Up | LinkFlags::Running | LinkFlags::LowerUp;
        assert_eq!(
            decode(&new_link(link_msg(9, "tap1", up))),
            vec![Message::New(link(9, "tap1"))]
        );
        // Up but no carrier (the peer is down), and no MAC (a tun device).
        let mut l = link_msg(10, "tun0", LinkFlags::Up);
        l.attributes
            .retain(|a| !matches!(a, LinkAttribute::Address(_)));
        let Message::New(t) = decode(&new_link(l)).remove(0) else {
            panic!()
        };
        assert_eq!((t.admin_up, t.carrier, t.mac), (true, false, None));
        let del = bytes(
            0,
            NetlinkPayload::from(RouteNetlinkMessage::DelLink(link_msg(
                9,
                "tap1",
                LinkFlags::empty(),
            ))),
        );
        let Message::Del(d) = decode(&del).remove(0) else {
            panic!()
        };
        assert_eq!((d.index, d.name.as_str(), d.carrier), (9, "tap1", false));
    }

    #[test]
    fn a_datagram_holds_several_messages_and_the_dump_end() {
        let up = LinkFlags::Up | LinkFlags::Running;
        let mut d = new_link(link_msg(1, "lo", up));
        d.extend(new_link(link_msg(2, "eth0", up)));
        d.extend(bytes(7, NetlinkPayload::Done(DoneMessage::default())));
        let mut refused = ErrorMessage::default();
        refused.code = std::num::NonZeroI32::new(-libc::EBUSY);
        d.extend(bytes(8, NetlinkPayload::Error(refused)));
        let ms = decode(&d);
        assert_eq!(ms.len(), 4, "{ms:?}");
        assert!(matches!(&ms[1], Message::New(l) if l.name == "eth0"));
        assert_eq!(ms[2], Message::Done { seq: 7 });
        assert_eq!(
            ms[3],
            Message::Error {
                seq: 8,
                errno: libc::EBUSY
            }
        );
    }

    #[test]
    fn bridge_port_messages_and_garbage_are_not_links() {
        // A netdev leaving a Linux bridge: RTM_DELLINK of family AF_BRIDGE, while the
        // netdev itself stays.
        let mut l = link_msg(9, "tap1", LinkFlags::Up);
        l.header.interface_family = AddressFamily::Bridge;
        let del = bytes(0, NetlinkPayload::from(RouteNetlinkMessage::DelLink(l)));
        assert_eq!(decode(&del), vec![Message::Other]);
        // A nameless link is malformed; a cut message ends the datagram.
        let mut nameless = link_msg(9, "x", LinkFlags::Up);
        nameless
            .attributes
            .retain(|a| !matches!(a, LinkAttribute::IfName(_)));
        assert!(matches!(
            decode(&new_link(nameless))[..],
            [Message::Malformed(_)]
        ));
        let whole = new_link(link_msg(9, "tap1", LinkFlags::Up));
        assert!(matches!(
            decode(&whole[..whole.len() - 8])[..],
            [Message::Malformed(_)]
        ));
        assert!(decode(&[]).is_empty());
    }

    #[test]
    fn table_turns_messages_into_events() {
        let mut t = LinkTable::default();
        let a = link(5, "tap1");
        assert_eq!(
            t.apply(Message::New(a.clone())),
            vec![LinkEvent::Present(a.clone())]
        );
        // Counters-only notifications: nothing new.
        assert!(t.apply(Message::New(a.clone())).is_empty());
        let mut down = a.clone();
        down.carrier = false;
        assert_eq!(
            t.apply(Message::New(down.clone())),
            vec![LinkEvent::Present(down.clone())]
        );
        assert_eq!(t.get("tap1"), Some(&down));
        // Deleted and created again: a new index under the same name.
        assert_eq!(
            t.apply(Message::Del(a.clone())),
            vec![LinkEvent::Gone(down.clone())]
        );
        assert_eq!(t.get("tap1"), None);
        let b = link(6, "tap1");
        assert_eq!(
            t.apply(Message::New(b.clone())),
            vec![LinkEvent::Present(b.clone())]
        );
        // Renamed: the old name went.
        let renamed = link(6, "tap9");
        assert_eq!(
            t.apply(Message::New(renamed.clone())),
            vec![LinkEvent::Gone(b.clone()), LinkEvent::Present(renamed)]
        );
        // A deletion that was never seen: the new index shows it.
        let c = link(7, "tap9");
        assert_eq!(
            t.apply(Message::New(c.clone())),
            vec![
                LinkEvent::Gone(link(6, "tap9")),
                LinkEvent::Present(c.clone())
            ]
        );
        assert!(t.apply(Message::Done { seq: 1 }).is_empty());
    }

    #[test]
    fn a_re_read_finds_what_went_while_notifications_were_lost() {
        let mut t = LinkTable::default();
        for l in [link(1, "lo"), link(5, "tap1"), link(6, "tap2")] {
            t.apply(Message::New(l));
        }
        t.begin_resync();
        // The dump shows lo and tap2 unchanged; meanwhile tap3 is created and tap2
        // deleted by notifications that arrive before the dump ends.
        assert!(t.apply(Message::New(link(1, "lo"))).is_empty());
        assert!(t.apply(Message::New(link(6, "tap2"))).is_empty());
        t.apply(Message::New(link(8, "tap3")));
        t.apply(Message::Del(link(6, "tap2")));
        assert_eq!(t.end_resync(), vec![LinkEvent::Gone(link(5, "tap1"))]);
        assert!(t.get("tap3").is_some() && t.get("tap2").is_none());
        // Without a re-read running, its end does nothing.
        assert!(t.end_resync().is_empty());
    }

    /// The real kernel: the watcher's dump shows loopback (needs no privilege).
    #[test]
    fn the_first_dump_shows_loopback() {
        let w = LinkWatcher::open().unwrap();
        let stop = AtomicBool::new(false);
        let mut seen = Vec::new();
        w.run(&stop, |ev| {
            seen.push(ev.clone());
            if matches!(&ev, LinkEvent::Present(l) if l.name == "lo") {
                stop.store(true, Ordering::Relaxed);
            }
        });
        assert!(
            seen.iter()
                .any(|e| matches!(e, LinkEvent::Present(l) if l.index == 1 && l.mtu.is_some())),
            "{seen:?}"
        );
    }
}
