//! `xvsd --metrics ADDR:PORT`: a Prometheus endpoint, off unless asked for, on a
//! loopback address only (the figures name every port and bridge: a remote scraper
//! goes through a proxy or a tunnel the operator chose).
//!
//! - [`http`]: the request and response, sans I/O.
//! - [`exposition`]: one scrape's figures and their OpenMetrics text.
//! - [`server`]: one thread, `poll(2)`, a few connections with a deadline each.
//!
//! The figures are read as every other reader's: through the control thread (which
//! credits the caches' counters first) and the datapath's per-port counters; the
//! workers do nothing for a scrape.

pub mod exposition;
pub mod http;
pub mod server;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use thiserror::Error;

/// The port when `--metrics` gives none (unassigned in Prometheus's default port
/// allocations wiki, next to the OVS exporters' 9475-9477).
pub const DEFAULT_PORT: u16 = 9478;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MetricsAddrError {
    #[error("\"{0}\" is not ADDR:PORT, [ADDR]:PORT, ADDR or :PORT")]
    Syntax(String),
    #[error("\"{0}\" is not a port number (1-65535)")]
    BadPort(String),
    #[error("{0} is not a loopback address: the metrics endpoint serves loopback only (127.0.0.0/8 or ::1)")]
    NotLoopback(IpAddr),
}

/// Reads `--metrics`: `ADDR:PORT`, `[ADDR]:PORT` (IPv6), `ADDR` (port
/// [`DEFAULT_PORT`]) or `:PORT` (127.0.0.1). A host name is not taken (no resolver
/// here), nor an address that is not loopback.
pub fn parse_address(s: &str) -> Result<SocketAddr, MetricsAddrError> {
    let port = |p: &str| match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(MetricsAddrError::BadPort(p.to_string())),
    };
    let addr = if let Ok(a) = s.parse::<SocketAddr>() {
        if a.port() == 0 {
            return Err(MetricsAddrError::BadPort("0".into()));
        }
        a
    } else if let Ok(ip) = s.parse::<IpAddr>() {
        SocketAddr::new(ip, DEFAULT_PORT)
    } else if let Some(p) = s.strip_prefix(':') {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port(p)?)
    } else if let Some((_, p)) = s.rsplit_once(':').filter(|(h, _)| !h.contains(':')) {
        // A host part that is no address, or a bad port after a good one.
        let host = &s[..s.len() - p.len() - 1];
        if host.parse::<IpAddr>().is_ok() {
            port(p)?;
        }
        return Err(MetricsAddrError::Syntax(s.to_string()));
    } else {
        return Err(MetricsAddrError::Syntax(s.to_string()));
    };
    if !addr.ip().is_loopback() {
        return Err(MetricsAddrError::NotLoopback(addr.ip()));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_taken() {
        let ok = |s: &str| parse_address(s).unwrap().to_string();
        assert_eq!(ok("127.0.0.1:9100"), "127.0.0.1:9100");
        assert_eq!(ok("127.0.0.53:9100"), "127.0.0.53:9100");
        assert_eq!(ok("[::1]:9100"), "[::1]:9100");
        assert_eq!(ok(":9100"), "127.0.0.1:9100");
        assert_eq!(ok("127.0.0.1"), format!("127.0.0.1:{DEFAULT_PORT}"));
        assert_eq!(ok("::1"), format!("[::1]:{DEFAULT_PORT}"));
    }

    #[test]
    fn anything_else_is_refused_with_its_reason() {
        use MetricsAddrError::*;
        let err = |s: &str| parse_address(s).unwrap_err();
        assert_eq!(err("0.0.0.0:9100"), NotLoopback("0.0.0.0".parse().unwrap()));
        assert_eq!(err("[::]:9100"), NotLoopback("::".parse().unwrap()));
        assert_eq!(
            err("10.0.0.1:9100"),
            NotLoopback("10.0.0.1".parse().unwrap())
        );
        assert_eq!(err("127.0.0.1:0"), BadPort("0".into()));
        assert_eq!(err(":0"), BadPort("0".into()));
        assert_eq!(err(":http"), BadPort("http".into()));
        assert_eq!(err("127.0.0.1:99999"), BadPort("99999".into()));
        assert_eq!(err("localhost:9100"), Syntax("localhost:9100".into()));
        assert_eq!(err(""), Syntax("".into()));
        assert!(err("0.0.0.0:9100")
            .to_string()
            .contains("not a loopback address"));
    }
}
