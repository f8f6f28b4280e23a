//! `Controller.target` strings, as OVS's vconn/pvconn read them: active `tcp:IP[:PORT]`
//! and `unix:PATH`, passive `ptcp:[PORT][:IP]` and `punix:PATH`; the port defaults to
//! 6653 (OFP_PORT). SSL is not supported by xvs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// OpenFlow's IANA port, OVS's default.
pub const OFP_PORT: u16 = 6653;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Connect to this address (a host name is resolved at each attempt).
    Tcp {
        host: String,
        port: u16,
    },
    Unix(PathBuf),
    /// Listen on this address.
    PTcp(SocketAddr),
    PUnix(PathBuf),
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, String> {
        let (scheme, rest) = s.split_once(':').ok_or_else(|| {
            format!("\"{s}\": not a connection method (tcp:, unix:, ptcp:, punix:)")
        })?;
        match scheme {
            "tcp" => {
                let (host, port) = split_host_port(rest, s)?;
                if host.is_empty() {
                    return Err(format!("\"{s}\": tcp: needs a host"));
                }
                Ok(Target::Tcp {
                    host,
                    port: port.unwrap_or(OFP_PORT),
                })
            }
            "ptcp" => {
                // ptcp:[PORT][:IP]
                let (port, ip) = match rest.split_once(':') {
                    Some((p, ip)) => (p, Some(ip)),
                    None => (rest, None),
                };
                let port = if port.is_empty() {
                    OFP_PORT
                } else {
                    port.parse()
                        .map_err(|_| format!("\"{s}\": \"{port}\" is not a port"))?
                };
                let ip: IpAddr = match ip {
                    None | Some("") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    Some(ip) => ip
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse()
                        .map_err(|_| format!("\"{s}\": \"{ip}\" is not an IP address"))?,
                };
                Ok(Target::PTcp(SocketAddr::new(ip, port)))
            }
            "unix" | "punix" if rest.is_empty() => Err(format!("\"{s}\": needs a socket path")),
            "unix" => Ok(Target::Unix(PathBuf::from(rest))),
            "punix" => Ok(Target::PUnix(PathBuf::from(rest))),
            "ssl" | "pssl" => Err(format!("\"{s}\": SSL connections are not supported by xvs")),
            _ => Err(format!(
                "\"{s}\": unknown connection method \"{scheme}\" (tcp:, unix:, ptcp:, punix:)"
            )),
        }
    }

    /// Whether xvsd connects (OVS: the controller is "primary"); passive targets are
    /// listened on (OVS: "service" connections).
    pub fn is_active(&self) -> bool {
        matches!(self, Target::Tcp { .. } | Target::Unix(_))
    }
}

/// `HOST[:PORT]`, HOST possibly an IPv6 address in brackets.
fn split_host_port(rest: &str, whole: &str) -> Result<(String, Option<u16>), String> {
    let port = |p: &str| -> Result<Option<u16>, String> {
        p.parse()
            .map(Some)
            .map_err(|_| format!("\"{whole}\": \"{p}\" is not a port"))
    };
    if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("\"{whole}\": unterminated [IPv6 address]"))?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host.to_string(), port(p)?)),
            None if after.is_empty() => Ok((host.to_string(), None)),
            None => Err(format!("\"{whole}\": bad text after the address")),
        };
    }
    match rest.rsplit_once(':') {
        // A bare IPv6 address has several colons: no port then.
        Some((h, _)) if h.contains(':') => Ok((rest.to_string(), None)),
        Some((h, p)) => Ok((h.to_string(), port(p)?)),
        None => Ok((rest.to_string(), None)),
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            Target::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
            Target::PTcp(a) => write!(f, "ptcp:{}:{}", a.port(), a.ip()),
            Target::PUnix(p) => write!(f, "punix:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_as_ovs_reads_them() {
        let tcp = |h: &str, p| Target::Tcp {
            host: h.into(),
            port: p,
        };
        assert_eq!(
            Target::parse("tcp:127.0.0.1:6633"),
            Ok(tcp("127.0.0.1", 6633))
        );
        assert_eq!(Target::parse("tcp:127.0.0.1"), Ok(tcp("127.0.0.1", 6653)));
        assert_eq!(Target::parse("tcp:[::1]:6633"), Ok(tcp("::1", 6633)));
        assert_eq!(Target::parse("tcp:[::1]"), Ok(tcp("::1", 6653)));
        assert_eq!(Target::parse("tcp:fe80::1"), Ok(tcp("fe80::1", 6653)));
        assert_eq!(
            Target::parse("unix:/run/c.sock"),
            Ok(Target::Unix("/run/c.sock".into()))
        );
        assert_eq!(
            Target::parse("ptcp:"),
            Ok(Target::PTcp("0.0.0.0:6653".parse().unwrap()))
        );
        assert_eq!(
            Target::parse("ptcp:6634:127.0.0.1"),
            Ok(Target::PTcp("127.0.0.1:6634".parse().unwrap()))
        );
        assert_eq!(
            Target::parse("ptcp:6634"),
            Ok(Target::PTcp("0.0.0.0:6634".parse().unwrap()))
        );
        assert_eq!(
            Target::parse("punix:/run/x.sock"),
            Ok(Target::PUnix("/run/x.sock".into()))
        );
        for bad in [
            "tcp:",
            "tcp:1.2.3.4:x",
            "ssl:1.2.3.4:6653",
            "unix:",
            "bogus",
            "udp:1:2",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        assert!(Target::parse("tcp:1.2.3.4").unwrap().is_active());
        assert!(!Target::parse("ptcp:").unwrap().is_active());
        assert_eq!(tcp("::1", 6633).to_string(), "tcp:[::1]:6633");
    }
}
