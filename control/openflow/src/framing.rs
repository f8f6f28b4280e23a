//! The 8-byte `ofp_header` and the framing of a byte stream into whole messages.
//!
//! Every OpenFlow message of every version starts with `ofp_header` {version, type,
//! length, xid}; `length` counts the header and is at most 65535 by construction.
//! [`MessageStream`] takes bytes as they are read from the connection and yields
//! whole messages; a `length` below 8 can never be followed and ends the connection
//! (OVS's `vconn_stream` closes it too, "received too-short ofp_header").

use crate::bytes::{view, Put};

/// Length of `ofp_header`.
pub const HEADER_LEN: usize = 8;
/// Largest OpenFlow message (`ofp_header.length` is 16 bits).
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

/// `ofp_header.type` values (OF1.0 and OF1.1+ number them differently from
/// OFPT_PORT_MOD on).
pub mod ofpt {
    pub const HELLO: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const ECHO_REQUEST: u8 = 2;
    pub const ECHO_REPLY: u8 = 3;
    /// OFPT_VENDOR (1.0) / OFPT_EXPERIMENTER (1.1+).
    pub const VENDOR: u8 = 4;
    pub const FEATURES_REQUEST: u8 = 5;
    pub const FEATURES_REPLY: u8 = 6;
    pub const GET_CONFIG_REQUEST: u8 = 7;
    pub const GET_CONFIG_REPLY: u8 = 8;
    pub const SET_CONFIG: u8 = 9;
    pub const PACKET_IN: u8 = 10;
    pub const FLOW_REMOVED: u8 = 11;
    pub const PORT_STATUS: u8 = 12;
    pub const PACKET_OUT: u8 = 13;
    pub const FLOW_MOD: u8 = 14;
    /// OF1.0: PORT_MOD; OF1.1+: GROUP_MOD.
    pub const OF10_PORT_MOD: u8 = 15;
    pub const OF11_GROUP_MOD: u8 = 15;
    pub const OF11_PORT_MOD: u8 = 16;
    pub const OF11_TABLE_MOD: u8 = 17;
    pub const OF10_STATS_REQUEST: u8 = 16;
    pub const OF10_STATS_REPLY: u8 = 17;
    pub const OF10_BARRIER_REQUEST: u8 = 18;
    pub const OF10_BARRIER_REPLY: u8 = 19;
    pub const OF10_QUEUE_GET_CONFIG_REQUEST: u8 = 20;
    pub const OF10_QUEUE_GET_CONFIG_REPLY: u8 = 21;
    pub const OF11_STATS_REQUEST: u8 = 18;
    pub const OF11_STATS_REPLY: u8 = 19;
    pub const OF11_BARRIER_REQUEST: u8 = 20;
    pub const OF11_BARRIER_REPLY: u8 = 21;
    pub const OF11_QUEUE_GET_CONFIG_REQUEST: u8 = 22;
    pub const OF11_QUEUE_GET_CONFIG_REPLY: u8 = 23;
    pub const OF12_ROLE_REQUEST: u8 = 24;
    pub const OF12_ROLE_REPLY: u8 = 25;
    pub const OF13_GET_ASYNC_REQUEST: u8 = 26;
    pub const OF13_GET_ASYNC_REPLY: u8 = 27;
    pub const OF13_SET_ASYNC: u8 = 28;
    pub const OF13_METER_MOD: u8 = 29;
    pub const OF14_ROLE_STATUS: u8 = 30;
    pub const OF14_TABLE_STATUS: u8 = 31;
    pub const OF14_REQUESTFORWARD: u8 = 32;
    pub const OF14_BUNDLE_CONTROL: u8 = 33;
    pub const OF14_BUNDLE_ADD_MESSAGE: u8 = 34;
}

/// Why the stream cannot go on: the connection must be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// `ofp_header.length` below 8: the message boundaries are lost.
    #[error("received too-short ofp_header (length {length})")]
    TooShort { length: u16 },
}

view! {
    /// A checked view of `struct ofp_header`.
    pub struct HeaderView(HEADER_LEN) {
        /// `ofp_header.version`.
        version: u8 @ 0,
        /// `ofp_header.type`.
        msg_type: u8 @ 1,
        /// `ofp_header.length` (whole message, header included).
        length: u16 @ 2,
        /// `ofp_header.xid`.
        xid: u32 @ 4,
    }
}

/// A parsed `ofp_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub version: u8,
    pub msg_type: u8,
    pub length: u16,
    pub xid: u32,
}

impl Header {
    /// The header at the start of `msg`, if `msg` holds at least 8 bytes.
    pub fn parse(msg: &[u8]) -> Option<Header> {
        HeaderView::new_checked(msg).map(|v| Header {
            version: v.version(),
            msg_type: v.msg_type(),
            length: v.length(),
            xid: v.xid(),
        })
    }

    /// Appends the header to `buf`.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.put_u8(self.version);
        buf.put_u8(self.msg_type);
        buf.put_u16(self.length);
        buf.put_u32(self.xid);
    }
}

/// Starts a message: appends a header with a zero length to `buf`, to be fixed by
/// [`finish_message`].
pub(crate) fn start_message(version: u8, msg_type: u8, xid: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    Header {
        version,
        msg_type,
        length: 0,
        xid,
    }
    .emit(&mut buf);
    buf
}

/// Sets `ofp_header.length` of the message in `buf` to its length. The caller keeps
/// messages within [`MAX_MESSAGE_LEN`]; a longer one is a bug (clamped here).
pub(crate) fn finish_message(mut buf: Vec<u8>) -> Vec<u8> {
    debug_assert!(
        buf.len() <= MAX_MESSAGE_LEN,
        "OpenFlow message over 65535 bytes"
    );
    let len = buf.len().min(MAX_MESSAGE_LEN) as u16;
    buf.set_u16(2, len);
    buf
}

/// Splits a byte stream into whole OpenFlow messages. Bounded: it never holds more
/// than one message plus what arrived after it in the same `feed`.
#[derive(Debug, Default)]
pub struct MessageStream {
    buf: Vec<u8>,
    failed: Option<FramingError>,
}

impl MessageStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the connection.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not a whole message yet.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message (header included), or `None` until more bytes arrive.
    /// After an error every call returns the same error.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let Some(h) = Header::parse(&self.buf) else {
            return Ok(None);
        };
        let len = usize::from(h.length);
        if len < HEADER_LEN {
            let e = FramingError::TooShort { length: h.length };
            self.failed = Some(e);
            return Err(e);
        }
        if self.buf.len() < len {
            return Ok(None);
        }
        let rest = self.buf.split_off(len);
        Ok(Some(std::mem::replace(&mut self.buf, rest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::hex;

    #[test]
    fn header_round_trip() {
        // ovs-ofctl's OF1.3 hello (ovs-ofctl -O OpenFlow13 show br0).
        let msg = hex("04000010000000010001000800000010");
        let h = Header::parse(&msg).unwrap();
        assert_eq!(
            h,
            Header {
                version: 4,
                msg_type: 0,
                length: 16,
                xid: 1
            }
        );
        let mut out = Vec::new();
        h.emit(&mut out);
        assert_eq!(out, msg[..8]);
        assert_eq!(Header::parse(&msg[..7]), None);
    }

    #[test]
    fn messages_back_to_back_and_split_anywhere() {
        // OVS's hello, a FEATURES_REQUEST and a BARRIER_REQUEST (OF1.0).
        let stream = hex("05000010000000010001000800000032 0105000800000002 0112000800000003");
        for cut in 0..=stream.len() {
            let mut s = MessageStream::new();
            let mut got = Vec::new();
            s.feed(&stream[..cut]);
            while let Some(m) = s.next_message().unwrap() {
                got.push(m);
            }
            s.feed(&stream[cut..]);
            while let Some(m) = s.next_message().unwrap() {
                got.push(m);
            }
            assert_eq!(got.len(), 3, "cut at {cut}");
            assert_eq!(got.concat(), stream);
            assert_eq!(s.pending(), 0);
        }
    }

    #[test]
    fn byte_by_byte() {
        let stream = hex("0102000d0000000268656c6c6f");
        let mut s = MessageStream::new();
        for (i, b) in stream.iter().enumerate() {
            s.feed(&[*b]);
            let m = s.next_message().unwrap();
            assert_eq!(m.is_some(), i == stream.len() - 1);
        }
    }

    #[test]
    fn a_length_below_eight_ends_the_stream() {
        let mut s = MessageStream::new();
        s.feed(&hex("0100000700000001"));
        assert_eq!(s.next_message(), Err(FramingError::TooShort { length: 7 }));
        s.feed(&hex("0100000800000001"));
        assert_eq!(s.next_message(), Err(FramingError::TooShort { length: 7 }));
    }

    #[test]
    fn the_largest_message() {
        let mut msg = start_message(4, 19, 9);
        msg.resize(MAX_MESSAGE_LEN, 0xab);
        let msg = finish_message(msg);
        assert_eq!(Header::parse(&msg).unwrap().length, 65535);
        let mut s = MessageStream::new();
        s.feed(&msg);
        s.feed(&msg[..100]);
        assert_eq!(s.next_message().unwrap().unwrap(), msg);
        assert_eq!(s.next_message().unwrap(), None);
        assert_eq!(s.pending(), 100);
    }
}
