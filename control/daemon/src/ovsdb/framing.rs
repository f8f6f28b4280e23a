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
#[derive(Debug)]
pub struct JsonStream {
    buf: Vec<u8>,
    limit: usize,
}

impl JsonStream {
    pub fn new(limit: usize) -> Self {
        JsonStream {
            buf: Vec::new(),
            limit,
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
        let mut values = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
        match values.next() {
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
            None => {
                // Only white space so far.
                self.buf.clear();
                Ok(None)
            }
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
    fn garbage_is_an_error() {
        let mut s = JsonStream::new(1024);
        s.feed(b"{]");
        assert!(matches!(s.next_value(), Err(FramingError::Syntax(_))));
    }
}
