//! ovs-ofctl flow text → [`FlowMod`].
//!
//! The syntax is the one of `ovs-ofctl add-flow` / `mod-flows` / `del-flows` /
//! `dump-flows` (see ovs-ofctl(8), ovs-fields(7), ovs-actions(7)), restricted to the fields
//! and actions xvs implements:
//!
//! ```text
//! table=21,priority=1,arp,dl_vlan=1,arp_tpa=10.0.0.1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],IN_PORT
//! ```
//!
//! Fields before `actions=` are separated by commas and/or white space; everything after
//! `actions=` is the action list. What ovs-ofctl prints in `dump-flows` but cannot be set
//! (`duration=`, `n_packets=`, `n_bytes=`, `idle_age=`, `hard_age=`) is accepted and
//! ignored, so a dumped flow can be fed back. Parsing never panics: every problem is a
//! [`FlowParseError`] that quotes the offending text.

mod actions;
mod learn;
mod matches;
pub(crate) mod values;

use std::fmt;

use actions::parse_action;
use matches::MatchBuilder;
pub(crate) use values::{fits, parse_u128, parse_u64, parse_uint};

use super::check::{check_actions, verify_order, OfpErr};
use super::field::{Field, FieldSlice};
use super::{
    Action, FlowFlags, FlowMod, OfPort, PortNames, N_TABLES, OFPP_ALL, OFPP_CONTROLLER, OFPP_FLOOD,
    OFPP_IN_PORT, OFPP_LOCAL, OFPP_MAX, OFPP_NONE, OFPP_NORMAL, OFPP_TABLE,
};

/// Which ovs-ofctl command the text is for: it decides what is required and allowed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ParseMode {
    /// `add-flow`: actions required; `table` defaults to 0 (left `None` here).
    Add,
    /// `mod-flows`: actions required; `cookie=V/M` selects flows by cookie.
    Modify,
    /// `del-flows`: no actions; `cookie=V/M` and `out_port=P` select flows.
    Delete,
    /// `dump-flows`: as `Delete`.
    Dump,
}

impl fmt::Display for ParseMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseMode::Add => "add-flow",
            ParseMode::Modify => "mod-flows",
            ParseMode::Delete => "del-flows",
            ParseMode::Dump => "dump-flows",
        })
    }
}

/// Why a line of flow text was rejected. Every variant names the offending text.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum FlowParseError {
    /// A match key (or a field name in an action) that xvs does not know.
    #[error("unknown field \"{0}\"")]
    UnknownField(String),
    #[error("bad value \"{value}\" for {field}: {reason}")]
    BadValue {
        field: String,
        value: String,
        reason: String,
    },
    /// A mask that does not parse, is too wide, or is given for a field that cannot be
    /// masked (`in_port`, `dl_type`, `nw_proto`, `arp_op`, `dl_vlan`, ...).
    #[error("bad mask \"{mask}\" for {field}")]
    BadMask { field: String, mask: String },
    /// `field` may only be matched when the rule also matches `needs` (e.g. `arp_tpa`
    /// needs `arp`): OVS's OFPBMC_BAD_PREREQ.
    #[error("{field} requires {needs}")]
    MissingPrerequisite { field: String, needs: String },
    /// A port name the bridge does not have.
    #[error("unknown port \"{0}\"")]
    UnknownPort(String),
    #[error("unknown action \"{0}\"")]
    UnknownAction(String),
    #[error("bad argument \"{argument}\" for {action}: {reason}")]
    BadActionArgument {
        action: String,
        argument: String,
        reason: String,
    },
    /// `NAME[...]` that does not parse or lies outside the field.
    #[error("bad field slice \"{slice}\": {reason}")]
    BadSlice { slice: String, reason: String },
    /// Actions OVS's `ofpacts_check()` refuses for this match, with its explanation.
    #[error("actions are invalid with specified match ({code}): {detail}")]
    InvalidActions { code: OfpErr, detail: String },
    /// Instructions out of order or repeated, in OVS's words.
    #[error("{0}")]
    BadInstructions(String),
    #[error(
        "missing actions: add-flow and mod-flows need \"actions=...\" (\"actions=drop\" for none)"
    )]
    MissingActions,
    #[error("empty action list: write \"actions=drop\" for a flow without actions")]
    EmptyActions,
    #[error("unexpected \"actions={0}\": del-flows and dump-flows take no actions")]
    UnexpectedActions(String),
    #[error("\"{key}\" is not allowed in {mode}")]
    NotAllowedInMode { key: String, mode: ParseMode },
    /// The same field given twice with different values (`dl_type=0x800,arp`).
    #[error("conflicting values for {field}: \"{text}\"")]
    Conflict { field: String, text: String },
    #[error("syntax error: {0}")]
    Syntax(String),
}

impl FlowParseError {
    /// The OpenFlow error a switch answers with for this problem, where there is one.
    pub fn ofperr(&self) -> Option<OfpErr> {
        match self {
            FlowParseError::MissingPrerequisite { .. } => Some(OfpErr::OfpbmcBadPrereq),
            FlowParseError::BadMask { .. } => Some(OfpErr::OfpbmcBadMask),
            FlowParseError::InvalidActions { code, .. } => Some(*code),
            FlowParseError::BadInstructions(_) => Some(OfpErr::OfpbacUnsupportedOrder),
            _ => None,
        }
    }
}

type Result<T> = std::result::Result<T, FlowParseError>;

/// Parses one line of ovs-ofctl flow text for `mode`. Port names (`in_port=patch-int`,
/// `output:gre-1`) are looked up in `ports`. The actions are checked against the match
/// as OVS checks them ([`check_actions`]); in add-flow a flow without `table=` is checked
/// as table 0's.
pub fn parse_flow(text: &str, mode: ParseMode, ports: &dyn PortNames) -> Result<FlowMod> {
    let (tokens, actions) = split_flow(text)?;
    let mut fm = FlowMod::default();
    let mut mb = MatchBuilder::default();

    for tok in tokens {
        let (key, value) = split_key_value(tok);
        if let Some(&(flag, _)) = FlowFlags::NAMES.iter().find(|(_, n)| *n == key) {
            if !matches!(mode, ParseMode::Add | ParseMode::Modify) || value.is_some() {
                return Err(FlowParseError::NotAllowedInMode {
                    key: tok.to_string(),
                    mode,
                });
            }
            fm.flags.0 |= flag;
            continue;
        }
        match key {
            "table" => {
                let v = need_value(key, value)?;
                fm.table = Some(parse_table(key, v)?);
            }
            "priority" => fm.priority = parse_uint(key, need_value(key, value)?, 0xffff)? as u16,
            "idle_timeout" => {
                fm.idle_timeout = parse_uint(key, need_value(key, value)?, 0xffff)? as u16
            }
            "hard_timeout" => {
                fm.hard_timeout = parse_uint(key, need_value(key, value)?, 0xffff)? as u16
            }
            "cookie" => {
                let v = need_value(key, value)?;
                match v.split_once('/') {
                    Some((val, mask)) => {
                        if mode == ParseMode::Add {
                            return Err(FlowParseError::NotAllowedInMode {
                                key: tok.to_string(),
                                mode,
                            });
                        }
                        fm.cookie = parse_uint(key, val, u64::MAX)?;
                        // `-1` is all ones, as ovs-ofctl(8) documents (`cookie=V/-1`).
                        let m = if mask == "-1" {
                            Some(u64::MAX)
                        } else {
                            parse_u64(mask)
                        };
                        fm.cookie_mask = m.ok_or_else(|| FlowParseError::BadMask {
                            field: key.to_string(),
                            mask: mask.to_string(),
                        })?;
                    }
                    None => {
                        fm.cookie = parse_uint(key, v, u64::MAX)?;
                        // In del-flows and dump-flows a cookie without a mask can only
                        // select flows: it selects that exact cookie.
                        if matches!(mode, ParseMode::Delete | ParseMode::Dump) {
                            fm.cookie_mask = u64::MAX;
                        }
                    }
                }
            }
            "out_port" => {
                if !matches!(mode, ParseMode::Delete | ParseMode::Dump) {
                    return Err(FlowParseError::NotAllowedInMode {
                        key: tok.to_string(),
                        mode,
                    });
                }
                let v = need_value(key, value)?;
                let p = parse_port(v, ports)?;
                fm.out_port = Some(p);
            }
            // What dump-flows prints about a flow's life: accepted and ignored.
            "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => {}
            "actions" | "action" => {
                return Err(FlowParseError::Syntax(format!(
                    "\"{tok}\": write the action list as \"actions=...\" with no space around '='"
                )))
            }
            _ => mb.apply(key, value, tok, ports)?,
        }
    }
    fm.matcher = mb.finish()?;

    match (mode, actions) {
        (ParseMode::Add | ParseMode::Modify, None) => return Err(FlowParseError::MissingActions),
        (ParseMode::Add | ParseMode::Modify, Some(a)) => {
            let actions = parse_actions(a, ports)?;
            let table = match mode {
                ParseMode::Add => Some(fm.table.unwrap_or(0)),
                _ => fm.table,
            };
            check_actions(&actions, &fm.matcher, table).map_err(|e| {
                FlowParseError::InvalidActions {
                    code: e.code,
                    detail: e.detail,
                }
            })?;
            fm.actions = Some(actions);
        }
        (ParseMode::Delete | ParseMode::Dump, Some(a)) => {
            return Err(FlowParseError::UnexpectedActions(a.trim().to_string()))
        }
        (ParseMode::Delete | ParseMode::Dump, None) => {}
    }
    Ok(fm)
}

/// Parses an action list and instructions (what follows `actions=`): `drop` (alone) is
/// the empty list; instructions must come last, `write_metadata` before `goto_table`
/// (OVS's `ofpacts_verify()`, with its texts). Not checked against a match: see
/// [`check_actions`].
pub fn parse_actions(text: &str, ports: &dyn PortNames) -> Result<Vec<Action>> {
    let tokens = split_top(text, |c| c == ',' || c.is_whitespace())?;
    if tokens.is_empty() {
        return Err(FlowParseError::EmptyActions);
    }
    if tokens.iter().any(|t| t.eq_ignore_ascii_case("drop")) {
        if tokens.len() == 1 {
            return Ok(Vec::new());
        }
        return Err(FlowParseError::Syntax(format!(
            "\"drop\" must be the only action, in \"{}\"",
            text.trim()
        )));
    }
    let mut actions = Vec::with_capacity(tokens.len());
    for t in tokens {
        match t.get(..5) {
            Some(l) if l.eq_ignore_ascii_case("load:") => {
                actions.extend(actions::parse_load(&t[5..])?)
            }
            _ => actions.push(parse_action(t, ports)?),
        }
    }
    verify_order(&actions).map_err(|e| FlowParseError::BadInstructions(e.detail))?;
    Ok(actions)
}

/// Parses `NAME`, `NAME[]`, `NAME[n]` or `NAME[a..b]` (bits a to b inclusive). `NAME` is
/// any spelling [`Field::from_name`] knows.
pub fn parse_field_slice(text: &str) -> Result<FieldSlice> {
    let bad = |reason: String| FlowParseError::BadSlice {
        slice: text.to_string(),
        reason,
    };
    let (name, bits) = match text.find('[') {
        Some(i) => (&text[..i], Some(&text[i..])),
        None => (text, None),
    };
    let field =
        Field::from_name(name).ok_or_else(|| FlowParseError::UnknownField(name.to_string()))?;
    let width = field.width();
    let Some(bits) = bits else {
        return Ok(FieldSlice::whole(field));
    };
    let inner = bits
        .strip_prefix('[')
        .and_then(|b| b.strip_suffix(']'))
        .ok_or_else(|| bad("expected [], [bit] or [start..end]".to_string()))?;
    if inner.is_empty() {
        return Ok(FieldSlice::whole(field));
    }
    let num = |s: &str| -> Result<u32> {
        if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("\"{s}\" is not a bit number")));
        }
        s.parse::<u32>()
            .map_err(|_| bad(format!("\"{s}\" is not a bit number")))
    };
    let (start, end) = match inner.split_once("..") {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let n = num(inner)?;
            (n, n)
        }
    };
    if start > end {
        return Err(bad(format!(
            "starting bit {start} is after ending bit {end}"
        )));
    }
    if start >= width {
        return Err(bad(format!(
            "starting bit {start} is not valid because field is only {width} bits wide"
        )));
    }
    if end >= width {
        return Err(bad(format!(
            "ending bit {end} is not valid because field is only {width} bits wide"
        )));
    }
    Ok(FieldSlice {
        field,
        ofs: start,
        n_bits: end - start + 1,
    })
}

fn parse_table(key: &str, s: &str) -> Result<u8> {
    parse_uint(key, s, u64::from(N_TABLES) - 1).map(|v| v as u8)
}

/// Parses a port: a number, a reserved name (`LOCAL`, `IN_PORT`, ... any case), or a name
/// from `ports`, optionally in double quotes (a quoted name is only looked up in `ports`).
pub fn parse_port(text: &str, ports: &dyn PortNames) -> Result<OfPort> {
    if text.starts_with('"') {
        let name = unquote(text)
            .ok_or_else(|| FlowParseError::Syntax(format!("bad quoted port name {text}")))?;
        return ports
            .port_no(&name)
            .ok_or(FlowParseError::UnknownPort(name));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u64>() {
            Ok(n) if n <= 0xffff => Ok(n as OfPort),
            _ => Err(FlowParseError::BadValue {
                field: "port".to_string(),
                value: text.to_string(),
                reason: "port numbers are 0..65535".to_string(),
            }),
        };
    }
    if let Some(p) = reserved_port(text) {
        return Ok(p);
    }
    ports
        .port_no(text)
        .ok_or_else(|| FlowParseError::UnknownPort(text.to_string()))
}

fn reserved_port(name: &str) -> Option<OfPort> {
    const NAMES: [(&str, OfPort); 9] = [
        ("IN_PORT", OFPP_IN_PORT),
        ("TABLE", OFPP_TABLE),
        ("NORMAL", OFPP_NORMAL),
        ("FLOOD", OFPP_FLOOD),
        ("ALL", OFPP_ALL),
        ("CONTROLLER", OFPP_CONTROLLER),
        ("LOCAL", OFPP_LOCAL),
        ("ANY", OFPP_NONE),
        ("NONE", OFPP_NONE),
    ];
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, p)| p)
}

// ---------------------------------------------------------------------------------------
// Tokenizing.

/// Splits flow text into the tokens before `actions=` and the action text after it.
fn split_flow(text: &str) -> Result<(Vec<&str>, Option<&str>)> {
    let is_sep = |c: char| c == ',' || c.is_whitespace();
    let mut tokens = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(is_sep);
        if rest.is_empty() {
            return Ok((tokens, None));
        }
        for kw in ["actions=", "action="] {
            if let Some(a) = rest.strip_prefix(kw) {
                return Ok((tokens, Some(a)));
            }
        }
        let end = token_end(rest, is_sep)?;
        tokens.push(&rest[..end]);
        rest = &rest[end..];
    }
}

/// Byte index where the token at the start of `s` ends: the first separator outside
/// parentheses and double quotes, or the end of `s`.
fn token_end(s: &str, is_sep: impl Fn(char) -> bool) -> Result<usize> {
    let mut depth = 0usize;
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quote = false;
            }
            continue;
        }
        match c {
            '"' => in_quote = true,
            '(' => depth += 1,
            ')' => {
                if depth == 0 {
                    return Err(FlowParseError::Syntax(format!("unbalanced ')' in \"{s}\"")));
                }
                depth -= 1;
            }
            c if depth == 0 && is_sep(c) => return Ok(i),
            _ => {}
        }
    }
    if in_quote {
        return Err(FlowParseError::Syntax(format!(
            "unterminated quote in \"{s}\""
        )));
    }
    if depth > 0 {
        return Err(FlowParseError::Syntax(format!("unbalanced '(' in \"{s}\"")));
    }
    Ok(s.len())
}

/// Splits `s` at separators outside parentheses and quotes, dropping empty pieces.
pub(crate) fn split_top(s: &str, is_sep: impl Fn(char) -> bool + Copy) -> Result<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches(is_sep);
        if rest.is_empty() {
            return Ok(out);
        }
        let end = token_end(rest, is_sep)?;
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
}

/// `key=value` or `key:value` → (key, Some(value)); a bare word → (word, None).
fn split_key_value(tok: &str) -> (&str, Option<&str>) {
    match tok.find(['=', ':']) {
        Some(i) => (&tok[..i], Some(&tok[i + 1..])),
        None => (tok, None),
    }
}

pub(crate) fn need_value<'a>(key: &str, value: Option<&'a str>) -> Result<&'a str> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(FlowParseError::BadValue {
            field: key.to_string(),
            value: String::new(),
            reason: "a value is required".to_string(),
        }),
    }
}

/// Undoes the JSON-style quoting ovs-ofctl uses for port names: `"gre-1"` → `gre-1`.
fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '/' => out.push('/'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    if hex.len() != 4 {
                        return None;
                    }
                    let n = u32::from_str_radix(&hex, 16).ok()?;
                    out.push(char::from_u32(n)?);
                }
                _ => return None,
            },
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}
