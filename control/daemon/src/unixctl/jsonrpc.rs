//! The unixctl protocol, sans I/O: OVS's lib/jsonrpc.c and lib/unixctl.c as
//! `ovs-appctl` meets them. JSON-RPC 1.0 over a stream: JSON objects one after another,
//! no delimiter. A request is `{"id":N,"method":"NAME","params":["ARG",...]}`; the answer
//! is `{"id":N,"result":"TEXT","error":null}`, or `{"id":N,"error":"TEXT"}` (then
//! `ovs-appctl` prints TEXT to stderr and exits 2). As OVS 3.1, a non-empty TEXT not
//! ending in a newline gets one.
//!
//! A message that is not a request (not an object, a notification, a reply, a bad
//! member) is a protocol error: OVS logs it and closes the connection, and so does
//! xvs. A request whose method or arguments are wrong gets an error reply, and the
//! connection stays.

use serde_json::{Map, Value};

use crate::ovsdb::framing::{FramingError, JsonStream};

/// A request as `ovs-appctl` sends it.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub id: Value,
    pub method: String,
    /// The `params` array as sent (strings, for `ovs-appctl`).
    pub params: Vec<Value>,
}

/// A message that ends the connection (OVS: "received unexpected ... message", or
/// jsonrpc's own complaint).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

/// The type OVS gives a message, from which members it has.
fn kind(o: &Map<String, Value>) -> &'static str {
    let has = |k: &str| o.get(k).is_some_and(|v| !v.is_null());
    if has("result") {
        "reply"
    } else if has("error") {
        "error"
    } else if has("id") {
        "request"
    } else {
        "notification"
    }
}

/// One message decoded: a request, or why the connection must end (OVS's
/// `jsonrpc_msg_from_json` and `jsonrpc_msg_is_valid`, then unixctl's "only requests").
pub fn parse_message(v: Value) -> Result<Request, ProtocolError> {
    let Value::Object(mut o) = v else {
        return Err(ProtocolError("message is not a JSON object".into()));
    };
    let kind = kind(&o);
    let method = match o.remove("method") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m),
        Some(_) => return Err(ProtocolError("method is not a JSON string".into())),
    };
    let take = |o: &mut Map<String, Value>, k: &str| o.remove(k).filter(|v| !v.is_null());
    let params = take(&mut o, "params");
    let _result = take(&mut o, "result");
    let _error = take(&mut o, "error");
    let id = take(&mut o, "id");
    if let Some(k) = o.keys().next() {
        return Err(ProtocolError(format!(
            "message has unexpected member \"{k}\""
        )));
    }
    if params.as_ref().is_some_and(|p| !p.is_array()) {
        return Err(ProtocolError("\"params\" must be JSON array".into()));
    }
    if kind != "request" {
        return Err(ProtocolError(format!("received unexpected {kind} message")));
    }
    let Some(method) = method else {
        return Err(ProtocolError("request must have \"method\"".into()));
    };
    let Some(Value::Array(params)) = params else {
        return Err(ProtocolError("request must have \"params\"".into()));
    };
    Ok(Request {
        id: id.expect("a request has an id"),
        method,
        params,
    })
}

/// OVS's reply text: a non-empty text gets a final newline.
fn body(text: &str) -> String {
    if !text.is_empty() && !text.ends_with('\n') {
        format!("{text}\n")
    } else {
        text.to_string()
    }
}

/// The bytes of the answer to request `id`, as ovs-vswitchd writes them.
pub fn encode_reply(id: &Value, outcome: Result<&str, &str>) -> Vec<u8> {
    let id = serde_json::to_string(id).expect("JSON values serialize");
    let s = match outcome {
        Ok(text) => format!(
            "{{\"id\":{id},\"result\":{},\"error\":null}}",
            serde_json::to_string(&body(text)).expect("strings serialize")
        ),
        Err(text) => format!(
            "{{\"id\":{id},\"error\":{}}}",
            serde_json::to_string(&body(text)).expect("strings serialize")
        ),
    };
    s.into_bytes()
}

/// The bytes `ovs-appctl` sends for `method` with `args` (its id is always 0).
pub fn encode_request(id: u64, method: &str, args: &[&str]) -> Vec<u8> {
    format!(
        "{{\"id\":{id},\"method\":{},\"params\":{}}}",
        serde_json::to_string(method).expect("strings serialize"),
        serde_json::to_string(args).expect("strings serialize")
    )
    .into_bytes()
}

/// A reply as a client reads it: the result text, or the error text.
pub fn decode_reply(v: &Value) -> Option<Result<String, String>> {
    let o = v.as_object()?;
    match (o.get("result"), o.get("error")) {
        (Some(Value::String(r)), None | Some(Value::Null)) => Some(Ok(r.clone())),
        (None | Some(Value::Null), Some(Value::String(e))) => Some(Err(e.clone())),
        _ => None,
    }
}

/// A connection's input: bytes in, requests (or the protocol error that ends it) out.
/// At most `limit` bytes of one message are held.
#[derive(Debug)]
pub struct Decoder {
    stream: JsonStream,
}

impl Decoder {
    pub fn new(limit: usize) -> Self {
        Decoder {
            stream: JsonStream::new(limit),
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.stream.feed(bytes);
    }

    /// Bytes held that are not a whole message yet.
    pub fn pending(&self) -> usize {
        self.stream.pending()
    }

    /// The next whole request; `Ok(None)` until more bytes come.
    pub fn next_request(&mut self) -> Result<Option<Request>, ProtocolError> {
        match self.stream.next_value() {
            Ok(Some(v)) => parse_message(v).map(Some),
            Ok(None) => Ok(None),
            Err(FramingError::TooLong { limit }) => Err(ProtocolError(format!(
                "message over {limit} bytes: closing the connection"
            ))),
            Err(FramingError::Syntax(e)) => Err(ProtocolError(format!("syntax error: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the Debian `ovs-appctl` 3.1 sent, captured on a unix socket (`ovs-appctl -t
    /// /tmp/cap.ctl version`, and the trace below with a quote, a backslash and an é).
    #[test]
    fn requests_byte_for_byte_as_ovs_appctl_sends_them() {
        assert_eq!(
            encode_request(0, "version", &[]),
            br#"{"id":0,"method":"version","params":[]}"#
        );
        assert_eq!(
            encode_request(
                0,
                "ofproto/trace",
                &["br-int", "in_port=1,dl_src=00:00:00:00:00:01", "a\"b\\c é"]
            ),
            b"{\"id\":0,\"method\":\"ofproto/trace\",\"params\":[\"br-int\",\"in_port=1,dl_src=00:00:00:00:00:01\",\"a\\\"b\\\\c \xc3\xa9\"]}"
        );
        let mut d = Decoder::new(1 << 20);
        // Split anywhere, two in one read.
        let mut bytes = encode_request(0, "vlog/set", &["unixctl:dbg"]);
        bytes.extend(encode_request(0, "version", &[]));
        let (a, b) = bytes.split_at(13);
        d.feed(a);
        assert_eq!(d.next_request().unwrap(), None);
        d.feed(b);
        let r = d.next_request().unwrap().unwrap();
        assert_eq!(
            (r.id, r.method.as_str(), r.params),
            (json!(0), "vlog/set", vec![json!("unixctl:dbg")])
        );
        assert_eq!(d.next_request().unwrap().unwrap().method, "version");
        assert_eq!(d.next_request().unwrap(), None);
    }

    /// What ovs-vswitchd 3.1 answered to the same requests on its unixctl socket.
    #[test]
    fn replies_byte_for_byte_as_ovs_vswitchd_writes_them() {
        assert_eq!(
            encode_reply(&json!(0), Ok("ovs-vswitchd (Open vSwitch) 3.1.0")),
            br#"{"id":0,"result":"ovs-vswitchd (Open vSwitch) 3.1.0\n","error":null}"#
        );
        assert_eq!(
            encode_reply(
                &json!(7),
                Err("\"nosuch\" is not a valid command (use \"list-commands\" to see a list of valid commands)")
            ),
            br#"{"id":7,"error":"\"nosuch\" is not a valid command (use \"list-commands\" to see a list of valid commands)\n"}"#
        );
        assert_eq!(
            encode_reply(&json!("x"), Ok(" port  VLAN  MAC                Age\n")),
            br#"{"id":"x","result":" port  VLAN  MAC                Age\n","error":null}"#
        );
        assert_eq!(
            encode_reply(&json!(0), Err("no destination, level, or module \"\u{e9}\u{1}/\"")),
            b"{\"id\":0,\"error\":\"no destination, level, or module \\\"\xc3\xa9\\u0001/\\\"\\n\"}"
        );
        // An empty result stays empty (vlog/set, fdb/flush's "" ...).
        assert_eq!(
            encode_reply(&json!(0), Ok("")),
            br#"{"id":0,"result":"","error":null}"#
        );
        let v: Value = serde_json::from_slice(&encode_reply(&json!(1), Err("bad"))).unwrap();
        assert_eq!(decode_reply(&v), Some(Err("bad\n".into())));
    }

    /// What OVS closes the connection for (no reply at all).
    #[test]
    fn anything_but_a_request_ends_the_connection() {
        for (msg, why) in [
            (json!([1]), "message is not a JSON object"),
            (
                json!({"method": "version", "params": []}),
                "received unexpected notification message",
            ),
            (
                json!({"id": null, "method": "version", "params": []}),
                "received unexpected notification message",
            ),
            (
                json!({"id": 0, "result": "version"}),
                "received unexpected reply message",
            ),
            (
                json!({"id": 0, "method": "version"}),
                "request must have \"params\"",
            ),
            (
                json!({"id": 0, "method": "version", "params": "x"}),
                "\"params\" must be JSON array",
            ),
            (
                json!({"id": 0, "method": 5, "params": []}),
                "method is not a JSON string",
            ),
            (
                json!({"id": 0, "method": "version", "params": [], "x": 1}),
                "message has unexpected member \"x\"",
            ),
        ] {
            assert_eq!(parse_message(msg).unwrap_err().0, why);
        }
        let mut d = Decoder::new(64);
        d.feed(b"xx");
        assert!(d.next_request().is_err());
        let mut d = Decoder::new(64);
        d.feed(&[b'['; 100]);
        assert!(d.next_request().unwrap_err().0.contains("over 64 bytes"));
    }
}
