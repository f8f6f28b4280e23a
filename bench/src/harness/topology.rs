//! The namespaces and veth pairs of one measurement, named with a prefix unique to the
//! run and removed on drop (also when a measurement fails).

use super::{sh, HarnessError};

pub struct Topology {
    pub gen_ns: String,
    pub switch_ns: String,
    pub sink_ns: String,
    /// The generator's interface (in `gen_ns`) and its peer, the switch's input port.
    pub gen_if: String,
    pub sw_in: String,
    /// The switch's output port and its peer, the sink's interface (in `sink_ns`).
    pub sw_out: String,
    pub sink_if: String,
    pub gen_mac: [u8; 6],
    pub sink_mac: [u8; 6],
    pub sw_out_mac: [u8; 6],
    pub sw_in_mac: [u8; 6],
}

/// `ip -n NS args...`
pub fn ip_in(ns: &str, args: &[&str]) -> Result<String, HarnessError> {
    let mut a = vec!["-n", ns];
    a.extend_from_slice(args);
    sh("ip", &a)
}

fn mac_of(ns: &str, ifname: &str) -> Result<[u8; 6], HarnessError> {
    let out = ip_in(ns, &["-o", "link", "show", ifname])?;
    let parse = || -> Option<[u8; 6]> {
        let at = out.find("link/ether ")? + "link/ether ".len();
        let mut mac = [0u8; 6];
        for (i, part) in out.get(at..at + 17)?.split(':').enumerate() {
            *mac.get_mut(i)? = u8::from_str_radix(part, 16).ok()?;
        }
        Some(mac)
    };
    parse().ok_or_else(|| HarnessError::Command {
        cmd: format!("ip -n {ns} link show {ifname}"),
        detail: format!("no MAC in {out:?}"),
    })
}

impl Topology {
    /// Creates the three namespaces and two veth pairs, each interface up, IPv6 off (no
    /// stray frames), GRO on (NAPI, so XDP redirects into the veths work).
    pub fn create(prefix: &str) -> Result<Topology, HarnessError> {
        let t = Topology {
            gen_ns: format!("{prefix}-gen"),
            switch_ns: format!("{prefix}-sw"),
            sink_ns: format!("{prefix}-sink"),
            gen_if: "gen0".into(),
            sw_in: "sw_in".into(),
            sw_out: "sw_out".into(),
            sink_if: "sink0".into(),
            gen_mac: [0; 6],
            sink_mac: [0; 6],
            sw_out_mac: [0; 6],
            sw_in_mac: [0; 6],
        };
        // From here on, Drop removes whatever was created.
        let mut t = t;
        for ns in [&t.gen_ns, &t.switch_ns, &t.sink_ns] {
            sh("ip", &["netns", "add", ns])?;
            ip_in(ns, &["link", "set", "lo", "up"])?;
        }
        for (a, ns_a, b, ns_b) in [
            (&t.gen_if, &t.gen_ns, &t.sw_in, &t.switch_ns),
            (&t.sw_out, &t.switch_ns, &t.sink_if, &t.sink_ns),
        ] {
            sh(
                "ip",
                &[
                    "link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b, "netns",
                    ns_b,
                ],
            )?;
            for (ns, ifname) in [(ns_a, a), (ns_b, b)] {
                sh(
                    "ip",
                    &[
                        "netns",
                        "exec",
                        ns,
                        "sysctl",
                        "-qw",
                        &format!("net.ipv6.conf.{ifname}.disable_ipv6=1"),
                    ],
                )?;
                ip_in(ns, &["link", "set", ifname, "up"])?;
                sh(
                    "ip",
                    &["netns", "exec", ns, "ethtool", "-K", ifname, "gro", "on"],
                )?;
            }
        }
        t.gen_mac = mac_of(&t.gen_ns, &t.gen_if)?;
        t.sink_mac = mac_of(&t.sink_ns, &t.sink_if)?;
        t.sw_out_mac = mac_of(&t.switch_ns, &t.sw_out)?;
        t.sw_in_mac = mac_of(&t.switch_ns, &t.sw_in)?;
        Ok(t)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [&self.gen_ns, &self.switch_ns, &self.sink_ns] {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}
