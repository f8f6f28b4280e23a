//! OVSDB's JSON-RPC framing (RFC 7047 §4): JSON values one after another on a stream,
//! with no delimiter between them and no promise that a read ends on a value's end.
//! Bytes go in as they arrive; whole values come out.

use serde_json::Value;

/// Why the stream cannot go on: the connection must be dropped (and made again).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FramingError {
    #[error("OVSDB message over {limit} bytes")]
    TooLong { limit: usize },
    #[error("not JSON: {0}")]
    Syntax(String),
}

/// Splits a byte stream into JSON values. A value larger than the limit is an error, so
/// that a peer cannot make us hold an unbounded buffer.
///
/// Where a value ends is found by scanning each byte once (brackets and strings), so a
/// value of many reads costs one parse, not one per read; only top-level scalars
/// (which JSON-RPC never sends) are left to the parser to delimit.
#[derive(Debug)]
pub struct JsonStream {
    buf: Vec<u8>,
    limit: usize,
    /// Bytes of `buf` already scanned, and the scanner's state after them.
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl JsonStream {
    pub fn new(limit: usize) -> Self {
        JsonStream {
            buf: Vec::new(),
            limit,
            scanned: 0,
            depth: 0,
            in_string: false,
            escaped: false,
        }
    }

    /// Adds bytes read from the connection.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not a whole value yet.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole value, or `None` until more bytes arrive.
    pub fn next_value(&mut self) -> Result<Option<Value>, FramingError> {
        // White space between values.
        if self.scanned == 0 {
            let ws = self
                .buf
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            self.buf.drain(..ws);
            let Some(&first) = self.buf.first() else {
                return Ok(None);
            };
            if !matches!(first, b'{' | b'[' | b'"') {
                return self.next_scalar();
            }
        }
        match self.scan() {
            Some(end) => {
                let v = serde_json::from_slice::<Value>(&self.buf[..end])
                    .map_err(|e| FramingError::Syntax(e.to_string()))?;
                self.buf.drain(..end);
                self.scanned = 0;
                Ok(Some(v))
            }
            None if self.buf.len() > self.limit => Err(FramingError::TooLong { limit: self.limit }),
            None => Ok(None),
        }
    }

    /// Scans on from where it stopped; the end of the first value, if it is whole.
    fn scan(&mut self) -> Option<usize> {
        while self.scanned < self.buf.len() {
            let b = self.buf[self.scanned];
            self.scanned += 1;
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 0 {
                        return Some(self.scanned);
                    }
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    // One too many closes at the top: the parser says what is wrong.
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(self.scanned);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// A value that does not start with a bracket or a quote: the parser finds its end
    /// (a number needs the byte after it).
    fn next_scalar(&mut self) -> Result<Option<Value>, FramingError> {
        let mut values = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
        match values.next() {
            // A number that reaches the end of what has arrived may go on in the next
            // read ("12" read as "1" then "2"): the parser takes it as whole at the
            // end of its input, so wait for the byte after it. (Found by the `ovsdb`
            // fuzz target, fuzz/: values differed with where the reads ended.)
            Some(Ok(Value::Number(_))) if values.byte_offset() == self.buf.len() => {
                if self.buf.len() > self.limit {
                    return Err(FramingError::TooLong { limit: self.limit });
                }
                Ok(None)
            }
            Some(Ok(v)) => {
                let used = values.byte_offset();
                self.buf.drain(..used);
                Ok(Some(v))
            }
            Some(Err(e)) if e.is_eof() => {
                if self.buf.len() > self.limit {
                    return Err(FramingError::TooLong { limit: self.limit });
                }
                Ok(None)
            }
            Some(Err(e)) => Err(FramingError::Syntax(e.to_string())),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all(s: &mut JsonStream) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = s.next_value().unwrap() {
            out.push(v);
        }
        out
    }

    /// A number at the top (which JSON-RPC never sends) is one value whatever reads it
    /// comes in: found by the `ovsdb` fuzz target, which got 888 and 88 for 88888 read
    /// three bytes at a time.
    #[test]
    fn a_number_split_across_reads_is_one_number() {
        let mut s = JsonStream::new(1 << 20);
        for piece in ["888", "88", " [1]"] {
            s.feed(piece.as_bytes());
        }
        assert_eq!(all(&mut s), vec![json!(88888), json!([1])]);
        let mut s = JsonStream::new(1 << 20);
        s.feed(b"888");
        assert_eq!(s.next_value(), Ok(None), "the number may go on");
        s.feed(b"88");
        assert_eq!(s.next_value(), Ok(None));
        s.feed(b"\n");
        assert_eq!(s.next_value(), Ok(Some(json!(88888))));
        // Nothing else waits: a string, true, or a number before a delimiter.
        s.feed(br#""x"true 7,"#);
        assert_eq!(s.next_value(), Ok(Some(json!("x"))));
        assert_eq!(s.next_value(), Ok(Some(json!(true))));
        assert_eq!(s.next_value(), Ok(Some(json!(7))));
    }

    #[test]
    fn values_back_to_back_and_split_anywhere() {
        let text = br#"{"id":1,"result":[],"error":null}{"method":"echo","params":[],"id":"e"}
 [1,2] "#;
        for cut in 0..text.len() {
            let mut s = JsonStream::new(1 << 20);
            s.feed(&text[..cut]);
            let mut got = all(&mut s);
            s.feed(&text[cut..]);
            got.extend(all(&mut s));
            assert_eq!(
                got,
                vec![
                    json!({"id":1,"result":[],"error":null}),
                    json!({"method":"echo","params":[],"id":"e"}),
                    json!([1, 2]),
                ],
                "cut at {cut}"
            );
            assert_eq!(s.pending(), 0);
        }
    }

    #[test]
    fn a_value_over_the_limit_is_refused() {
        let mut s = JsonStream::new(16);
        s.feed(br#"{"method":"update","params":["#);
        assert_eq!(s.next_value(), Err(FramingError::TooLong { limit: 16 }));
    }

    #[test]
    fn brackets_and_quotes_inside_strings_do_not_end_a_value() {
        let text = br#"{"a":"}]\"{[","b":["\\",{"c":"\\\""}]}"x]"{}"#;
        for cut in 0..text.len() {
            let mut s = JsonStream::new(1 << 20);
            s.feed(&text[..cut]);
            let mut got = all(&mut s);
            s.feed(&text[cut..]);
            got.extend(all(&mut s));
            assert_eq!(
                got,
                vec![
                    json!({"a": "}]\"{[", "b": ["\\", {"c": "\\\""}]}),
                    json!("x]"),
                    json!({}),
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_big_value_in_small_reads_is_parsed_once() {
        // 4 MiB in 4 KiB reads: linear, where parsing the whole buffer at every read
        // would parse 2 GiB.
        let rows: Vec<Value> = (0..60_000)
            .map(|i| json!({"name": format!("tap{i}"), "options": {"k": "v".repeat(64)}}))
            .collect();
        let text = serde_json::to_vec(&json!({"id": 1, "result": rows})).unwrap();
        assert!(text.len() > 4 << 20);
        let mut s = JsonStream::new(64 << 20);
        let t = std::time::Instant::now();
        let mut got = Vec::new();
        for chunk in text.chunks(4096) {
            s.feed(chunk);
            got.extend(all(&mut s));
        }
        assert_eq!(got.len(), 1);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn garbage_is_an_error() {
        let mut s = JsonStream::new(1024);
        s.feed(b"{]");
        assert!(matches!(s.next_value(), Err(FramingError::Syntax(_))));
    }
}
