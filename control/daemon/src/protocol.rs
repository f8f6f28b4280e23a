//! The control socket's protocol: one JSON object per line each way, versioned.
//!
//! A request names its `command` and carries that command's arguments; `version` is
//! required and `id`, if given, is echoed back. A response has `ok`; on success a
//! `result` (structured, what `--json` prints) and a `text` (what `xvsctl` prints), on
//! failure an `error` with a stable `code` and a human `message`.
//!
//! ```text
//! -> {"version":1,"id":7,"command":"add-flow","bridge":"br-tun","flow":"priority=1 actions=drop"}
//! <- {"version":1,"id":7,"ok":true,"result":null,"text":""}
//! -> {"version":1,"command":"del-br","bridge":"br9"}
//! <- {"version":1,"ok":false,"error":{"code":"no-such-bridge","message":"no bridge named \"br9\""}}
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const PROTOCOL_VERSION: u32 = 1;
/// Longest request line accepted: 16 MiB. The largest requests are `add-flows` and
/// `replace-flows` from a file, each flow a JSON string of its ovs-ofctl text (a
/// Neutron agent's flow is 100-200 bytes), so about 100,000 flows fit; more go in
/// several requests, or through OpenFlow (`ovs-ofctl`).
pub const MAX_LINE: usize = 16 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Command {
    AddBr {
        bridge: String,
    },
    DelBr {
        bridge: String,
    },
    /// `options`: `tag`, `trunks`, `type` (system, internal, patch, gre, vxlan), `peer`,
    /// `remote_ip`, `local_ip`, `key`, `csum`, `underlay`, `ofport`, as strings.
    AddPort {
        bridge: String,
        port: String,
        #[serde(default)]
        options: BTreeMap<String, String>,
    },
    DelPort {
        bridge: String,
        port: String,
    },
    Show,
    AddFlow {
        bridge: String,
        flow: String,
    },
    AddFlows {
        bridge: String,
        flows: Vec<String>,
    },
    ModFlows {
        bridge: String,
        flow: String,
        #[serde(default)]
        strict: bool,
    },
    DelFlows {
        bridge: String,
        #[serde(default, rename = "match")]
        matcher: Option<String>,
        #[serde(default)]
        strict: bool,
    },
    ReplaceFlows {
        bridge: String,
        flows: Vec<String>,
    },
    DumpFlows {
        bridge: String,
        #[serde(default, rename = "match")]
        matcher: Option<String>,
        #[serde(default)]
        names: bool,
    },
    DumpPorts {
        bridge: String,
    },
    FdbShow {
        bridge: String,
    },
    /// The workers' figures since the last clear; `clear`: and count from zero again.
    DpShow {
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        clear: bool,
    },
    Trace {
        bridge: String,
        packet: String,
    },
}

impl Command {
    /// Bridges and ports: database transactions, answered once the switch applied
    /// them (up to 30 s).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Command::AddBr { .. }
                | Command::DelBr { .. }
                | Command::AddPort { .. }
                | Command::DelPort { .. }
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Response {
    pub fn ok(id: Option<Value>, result: Value, text: String) -> Self {
        Response {
            version: PROTOCOL_VERSION,
            id,
            ok: true,
            result: Some(result),
            text: Some(text),
            error: None,
        }
    }

    pub fn err(id: Option<Value>, code: &str, message: impl Into<String>) -> Self {
        Response {
            version: PROTOCOL_VERSION,
            id,
            ok: false,
            result: None,
            text: None,
            error: Some(ErrorBody {
                code: code.to_string(),
                message: message.into(),
            }),
        }
    }

    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("responses serialize");
        s.push('\n');
        s
    }
}

/// Builds the line a client sends.
pub fn request_line(id: Option<Value>, cmd: &Command) -> String {
    let mut v = serde_json::to_value(cmd).expect("commands serialize");
    let obj = v.as_object_mut().expect("commands are objects");
    obj.insert("version".into(), PROTOCOL_VERSION.into());
    if let Some(id) = id {
        obj.insert("id".into(), id);
    }
    let mut s = v.to_string();
    s.push('\n');
    s
}

/// A request line, checked: (id, command), or the error response to send.
pub fn parse_request(line: &str) -> Result<(Option<Value>, Command), Box<Response>> {
    let v: Value = serde_json::from_str(line).map_err(|e| {
        Box::new(Response::err(
            None,
            "bad-request",
            format!("request is not valid JSON: {e}"),
        ))
    })?;
    let Value::Object(mut obj) = v else {
        return Err(Box::new(Response::err(
            None,
            "bad-request",
            "request must be a JSON object",
        )));
    };
    let id = obj.remove("id");
    match obj.remove("version") {
        Some(Value::Number(n)) if n.as_u64() == Some(PROTOCOL_VERSION as u64) => {}
        Some(other) => {
            return Err(Box::new(Response::err(
                id,
                "unsupported-version",
                format!("protocol version {other} is not supported: this daemon speaks version {PROTOCOL_VERSION}"),
            )))
        }
        None => {
            return Err(Box::new(Response::err(
                id,
                "bad-request",
                format!("request has no \"version\" (this daemon speaks version {PROTOCOL_VERSION})"),
            )))
        }
    }
    match obj.get("command") {
        Some(Value::String(_)) => {}
        _ => {
            return Err(Box::new(Response::err(
                id,
                "bad-request",
                "request has no \"command\" string",
            )))
        }
    }
    let name = obj["command"].as_str().unwrap_or_default().to_string();
    serde_json::from_value::<Command>(Value::Object(obj))
        .map(|c| (id.clone(), c))
        .map_err(|e| {
            let msg = e.to_string();
            let code = if msg.contains("unknown variant") {
                "unknown-command"
            } else {
                "bad-request"
            };
            Box::new(Response::err(
                id,
                code,
                format!("command \"{name}\": {msg}"),
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id comes back as the number it was, floats too: found by the
    /// `control_protocol` fuzz target (fuzz/), whose id 666...6615 came back one ULP
    /// off before serde_json parsed floats exactly (its `float_roundtrip`).
    #[test]
    fn a_float_id_is_echoed_exactly() {
        let big = format!("{}15", "6".repeat(105));
        for id in [
            big.as_str(),
            "0.1",
            "1.0000000000000002",
            "-2.5e-300",
            "1e308",
        ] {
            let line = format!(r#"{{"version":1,"id":{id},"command":"fdb-show"}}"#);
            let resp = parse_request(&line).unwrap_err();
            let sent: Value = serde_json::from_str(id).unwrap();
            assert_eq!(resp.id.as_ref(), Some(&sent));
            let back: Value = serde_json::from_str(&resp.to_line()).unwrap();
            assert_eq!(back["id"], sent, "{id}");
        }
    }

    #[test]
    fn requests_round_trip() {
        let cmds = [
            Command::AddBr {
                bridge: "br-int".into(),
            },
            Command::AddPort {
                bridge: "br-int".into(),
                port: "tap1".into(),
                options: [("tag".to_string(), "1".to_string())].into(),
            },
            Command::DelFlows {
                bridge: "br0".into(),
                matcher: Some("in_port=1".into()),
                strict: true,
            },
            Command::DpShow { clear: false },
            Command::DpShow { clear: true },
        ];
        for c in cmds {
            let line = request_line(Some(7.into()), &c);
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
            let (id, back) = parse_request(&line).unwrap();
            assert_eq!((id, back), (Some(7.into()), c));
        }
    }

    #[test]
    fn bad_requests_get_clear_errors() {
        let code = |l: &str| parse_request(l).unwrap_err().error.unwrap().code;
        assert_eq!(code("garbage"), "bad-request");
        assert_eq!(code("[1,2]"), "bad-request");
        assert_eq!(code(r#"{"command":"show"}"#), "bad-request");
        assert_eq!(
            code(r#"{"version":2,"command":"show"}"#),
            "unsupported-version"
        );
        assert_eq!(
            code(r#"{"version":1,"command":"frobnicate"}"#),
            "unknown-command"
        );
        let e = parse_request(r#"{"version":1,"id":"x","command":"add-br"}"#).unwrap_err();
        assert_eq!(e.id, Some("x".into()));
        assert!(
            e.error.unwrap().message.contains("bridge"),
            "names the missing argument"
        );
    }
}
