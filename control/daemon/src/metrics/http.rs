//! The little HTTP/1.x the metrics endpoint speaks, sans I/O: a request head read from
//! the bytes received so far, and the response to it. One request per connection
//! (`Connection: close`); the body of a request, if any, is not read.

use thiserror::Error;

/// The longest request head taken (a scraper's is a few hundred bytes).
pub const MAX_HEAD: usize = 8 * 1024;

/// The path served.
pub const METRICS_PATH: &str = "/metrics";

/// The OpenMetrics text format, which Prometheus scrapes (and asks for first).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HttpError {
    #[error("request head longer than {MAX_HEAD} bytes")]
    TooLong,
    #[error("malformed request line")]
    BadRequestLine,
    #[error("not HTTP/1.x")]
    BadVersion,
}

/// A request's line.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path, without any query.
    pub path: String,
}

/// The request whose head `buf` holds, `None` while the head is not complete yet.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, HttpError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= MAX_HEAD {
            Err(HttpError::TooLong)
        } else {
            Ok(None)
        };
    };
    if end + 4 > MAX_HEAD {
        return Err(HttpError::TooLong);
    }
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| HttpError::BadRequestLine)?;
    let line = head.split("\r\n").next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequestLine);
    };
    if method.is_empty() || !target.starts_with('/') {
        return Err(HttpError::BadRequestLine);
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HttpError::BadVersion);
    }
    let path = target.split('?').next().unwrap_or(target);
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
    }))
}

/// What a request gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /metrics` (`head`: `HEAD /metrics`, the same without the body).
    Metrics {
        head: bool,
    },
    NotFound,
    MethodNotAllowed,
}

pub fn route(req: &Request) -> Route {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", METRICS_PATH) => Route::Metrics { head: false },
        ("HEAD", METRICS_PATH) => Route::Metrics { head: true },
        (_, METRICS_PATH) => Route::MethodNotAllowed,
        _ => Route::NotFound,
    }
}

/// A whole response: status line, headers, body; the connection closes after it.
pub fn response(status: u16, content_type: &str, body: &str, head_only: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status == 405 {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(body.as_bytes());
    }
    bytes
}

/// The response to a request head that could not be taken.
pub fn error_response(e: &HttpError) -> Vec<u8> {
    let status = match e {
        HttpError::TooLong => 431,
        _ => 400,
    };
    response(
        status,
        "text/plain; charset=utf-8",
        &format!("{e}\n"),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_request_is_read_once_its_head_is_complete() {
        let req = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9475\r\nAccept: application/openmetrics-text\r\n\r\n";
        for cut in 0..req.len() - 1 {
            assert_eq!(parse_request(&req[..cut]), Ok(None), "cut at {cut}");
        }
        let r = parse_request(req).unwrap().unwrap();
        assert_eq!(route(&r), Route::Metrics { head: false });
    }

    #[test]
    fn only_get_and_head_of_metrics_are_served() {
        let route_of = |line: &str| route(&parse_request(line.as_bytes()).unwrap().unwrap());
        assert_eq!(
            route_of("GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Route::Metrics { head: false }
        );
        assert_eq!(
            route_of("HEAD /metrics HTTP/1.1\r\n\r\n"),
            Route::Metrics { head: true }
        );
        assert_eq!(route_of("GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route_of("GET /metricsx HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(
            route_of("POST /metrics HTTP/1.1\r\n\r\n"),
            Route::MethodNotAllowed
        );
    }

    #[test]
    fn bad_heads_are_refused() {
        assert_eq!(
            parse_request(b"GET /metrics\r\n\r\n"),
            Err(HttpError::BadRequestLine)
        );
        assert_eq!(
            parse_request(b"GET metrics HTTP/1.1\r\n\r\n"),
            Err(HttpError::BadRequestLine)
        );
        assert_eq!(
            parse_request(b"GET /metrics SPDY/3\r\n\r\n"),
            Err(HttpError::BadVersion)
        );
        assert_eq!(
            parse_request(&[b'a'; MAX_HEAD]),
            Err(HttpError::TooLong),
            "no end of head within the limit"
        );
        assert_eq!(
            parse_request(b"\xff\xfe /metrics HTTP/1.1\r\n\r\n"),
            Err(HttpError::BadRequestLine)
        );
    }

    #[test]
    fn responses_say_their_length_and_close() {
        let r = String::from_utf8(response(200, CONTENT_TYPE, "a 1\n", false)).unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Length: 4\r\n"), "{r}");
        assert!(r.contains("Connection: close\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\na 1\n"), "{r}");
        let head = String::from_utf8(response(200, CONTENT_TYPE, "a 1\n", true)).unwrap();
        assert!(head.ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n"));
        let e = String::from_utf8(error_response(&HttpError::TooLong)).unwrap();
        assert!(e.starts_with("HTTP/1.1 431 "), "{e}");
    }
}
