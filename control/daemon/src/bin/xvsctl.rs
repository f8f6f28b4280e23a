//! xvsctl: configure and inspect a running xvsd, with the commands OVS users know.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use xvs_daemon::protocol::{request_line, Command, Response, MAX_LINE};

const ADD_PORT_OPTIONS: &str = "\
Port options (KEY=VALUE, any number, in any order):
  type=system|internal|patch|gre|vxlan
                   system (the default): the netdev PORT; internal: a netdev PORT
                   made for the host, on the bridge; patch: joined to another
                   bridge's patch port; gre, vxlan: a tunnel
  tag=N            access port of VLAN N for NORMAL (otherwise a trunk)
  trunks=A,B       a trunk of these VLANs only
  vlan_mode=M      access, trunk, native-tagged or native-untagged (a trunk whose
                   untagged frames are in VLAN tag=N, leaving tagged or not)
  priority_tags=P  never, if-nonzero or always: keep a frame's priority in a VID 0
                   tag where it leaves untagged
  peer=P           patch: the patch port on the other bridge (required)
  remote_ip=A      gre, vxlan: the far end, IPv4 (required)
  local_ip=A       gre, vxlan: the outer source address
  key=flow|N       gre, vxlan: the tunnel id from the flow (set_tunnel) or fixed
                   (VXLAN: 24 bits); no key when omitted
  csum=true        gre: checksummed GRE (false, the default)
  underlay=IF      gre, vxlan: the underlay netdev (otherwise the one holding
                   local_ip, or the one the route to remote_ip leaves by)
  ofport=N         the OpenFlow port number (otherwise the next free one)

Example:
  xvsctl add-port br-tun gre-1 type=gre remote_ip=192.168.1.253 key=flow ofport=2";

#[derive(Parser, Debug)]
#[command(
    name = "xvsctl",
    version,
    about = "Configure and inspect a running xvsd, with the commands OVS users know",
    after_help = "Bridges and ports as ovs-vsctl; flows as ovs-ofctl. \
                  Errors go to stderr with a non-zero exit status."
)]
pub(crate) struct Cli {
    /// xvsd's control socket.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "/run/xvs/xvsd.sock"
    )]
    socket: String,
    /// Give up after SECS (fractions allowed) without an answer, connecting
    /// included, with a non-zero status; 0 waits as long as it takes, as OVS's tools
    /// by default. (A request is answered once applied, or fails after 30 s at most
    /// on xvsd's side; a stopped xvsd never answers.)
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        default_value = "0",
        value_parser = timeout_secs
    )]
    timeout: f64,
    /// Print the daemon's structured answer (JSON) instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Accepted before the command as well, as xvsctl always did (`xvsctl --strict
    /// del-flows ...`); see mod-flows and del-flows.
    #[arg(long, hide = true)]
    strict: bool,
    /// Accepted before the command as well (`xvsctl --names dump-flows ...`); see
    /// dump-flows.
    #[arg(long, hide = true)]
    names: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Add a bridge.
    AddBr {
        /// The bridge.
        #[arg(value_name = "BR")]
        bridge: String,
    },
    /// Delete a bridge and its ports.
    DelBr {
        /// The bridge.
        #[arg(value_name = "BR")]
        bridge: String,
    },
    /// Add a port to a bridge: a netdev, an internal port, a patch port or a tunnel.
    #[command(after_help = ADD_PORT_OPTIONS)]
    AddPort {
        /// The bridge.
        #[arg(value_name = "BR")]
        bridge: String,
        /// The port's name (type=system: the netdev's).
        #[arg(value_name = "PORT")]
        port: String,
        /// Port options, see "Port options" below.
        #[arg(value_name = "KEY=VALUE", value_parser = key_value)]
        options: Vec<(String, String)>,
    },
    /// Delete a port from a bridge.
    DelPort {
        /// The bridge.
        #[arg(value_name = "BR")]
        bridge: String,
        /// The port.
        #[arg(value_name = "PORT")]
        port: String,
    },
    /// Bridges, ports and how the datapath runs them; tunnel underlays, next hops and MTUs.
    Show,
    /// Add one flow (ovs-ofctl syntax).
    AddFlow {
        /// The bridge.
        #[arg(value_name = "BR")]
        bridge: String,
        /// The flow in ovs-ofctl syntax, e.g. "priority=1,in_port=1 actions=NORMAL".
        #[arg(value_name = "FLOW")]
        flow: String,
    },
    /// Add flows from a file, one per line.
    AddFlows {
        /// The bridge.
        #[arg(value_name = "BR")]
        bridge: String,
        /// A file of flows, one per line, or - for standard input.
        #[arg(value_name = "FILE|-")]
        file: String,
    },
    /// Change the actions of the flows that FLOW's match covers.
    ModFlows {
        /// Only the flow with exactly this match and priority.
        #[arg(long)]
        strict: bool,
        /// The bridge.
        #[arg(value_name = "BR")]
        bridge: String,
        /// The flow in ovs-ofctl syntax, e.g. "priority=1,in_port=1 actions=NORMAL".
        #[arg(value_name = "FLOW")]
        flow: String,
    },
    /// Delete the flows that MATCH covers (all of the bridge's flows without it).
    DelFlows {
        /// Only the flow with exactly this match and priority.
        #[arg(long)]
        strict: bool,
        /// The bridge.
        #[arg(value_name = "BR")]
        bridge: String,
        /// A flow match in ovs-ofctl syntax, e.g. "table=20,dl_vlan=1".
        #[arg(value_name = "MATCH")]
        matcher: Option<String>,
    },
    /// Replace all of the bridge's flows with those of a file, one per line.
    ReplaceFlows {
        /// The bridge.
        #[arg(value_name = "BR")]
        bridge: String,
        /// A file of flows, one per line, or - for standard input.
        #[arg(value_name = "FILE|-")]
        file: String,
    },
    /// Flows with their counters, as ovs-ofctl prints them (those MATCH covers, if given).
    DumpFlows {
        /// Ports by name instead of by number.
        #[arg(long)]
        names: bool,
        /// The bridge.
        #[arg(value_name = "BR")]
        bridge: String,
        /// A flow match in ovs-ofctl syntax, e.g. "table=20,dl_vlan=1".
        #[arg(value_name = "MATCH")]
        matcher: Option<String>,
    },
    /// Port counters.
    DumpPorts {
        /// The bridge.
        #[arg(value_name = "BR")]
        bridge: String,
    },
    /// The MAC learning table.
    FdbShow {
        /// The bridge.
        #[arg(value_name = "BR")]
        bridge: String,
    },
    /// Datapath statistics per worker and in total, since the last clear (the upcall
    /// handler's and the pipeline's since the start).
    DpShow {
        /// Then count the workers' figures from zero again (as `ovs-appctl
        /// dpif-netdev/pmd-stats-clear`, which clears the same).
        #[arg(long)]
        clear: bool,
    },
    /// Where a packet would go through the bridge's flows (as ofproto/trace).
    Trace {
        /// The bridge.
        #[arg(value_name = "BR")]
        bridge: String,
        /// The packet's fields as a flow match, e.g. "in_port=1,dl_dst=ff:ff:ff:ff:ff:ff".
        #[arg(value_name = "PACKET")]
        packet: String,
    },
}

/// `--timeout`: seconds, 0 or more.
fn timeout_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..1e9).contains(&v) => Ok(v),
        _ => Err(format!("\"{s}\" is not a number of seconds (0 or more)")),
    }
}

/// An add-port option; not KEY=VALUE is a usage error.
fn key_value(kv: &str) -> Result<(String, String), String> {
    kv.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or(format!("option \"{kv}\" is not KEY=VALUE"))
}

fn read_flows(src: &str) -> Result<Vec<String>, String> {
    let mut text = String::new();
    if src == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("reading flows from stdin: {e}"))?;
    } else {
        text = std::fs::read_to_string(src).map_err(|e| format!("{src}: {e}"))?;
    }
    Ok(text.lines().map(str::to_string).collect())
}

/// The request for a parsed command line; `Err` is an unreadable flow file.
fn build(cli: &Cli) -> Result<Command, String> {
    Ok(match &cli.cmd {
        Cmd::AddBr { bridge } => Command::AddBr {
            bridge: bridge.clone(),
        },
        Cmd::DelBr { bridge } => Command::DelBr {
            bridge: bridge.clone(),
        },
        Cmd::AddPort {
            bridge,
            port,
            options,
        } => Command::AddPort {
            bridge: bridge.clone(),
            port: port.clone(),
            options: options.iter().cloned().collect::<BTreeMap<_, _>>(),
        },
        Cmd::DelPort { bridge, port } => Command::DelPort {
            bridge: bridge.clone(),
            port: port.clone(),
        },
        Cmd::Show => Command::Show,
        Cmd::AddFlow { bridge, flow } => Command::AddFlow {
            bridge: bridge.clone(),
            flow: flow.clone(),
        },
        Cmd::AddFlows { bridge, file } => Command::AddFlows {
            bridge: bridge.clone(),
            flows: read_flows(file)?,
        },
        Cmd::ModFlows {
            strict,
            bridge,
            flow,
        } => Command::ModFlows {
            bridge: bridge.clone(),
            flow: flow.clone(),
            strict: *strict || cli.strict,
        },
        Cmd::DelFlows {
            strict,
            bridge,
            matcher,
        } => Command::DelFlows {
            bridge: bridge.clone(),
            matcher: matcher.clone(),
            strict: *strict || cli.strict,
        },
        Cmd::ReplaceFlows { bridge, file } => Command::ReplaceFlows {
            bridge: bridge.clone(),
            flows: read_flows(file)?,
        },
        Cmd::DumpFlows {
            names,
            bridge,
            matcher,
        } => Command::DumpFlows {
            bridge: bridge.clone(),
            matcher: matcher.clone(),
            names: *names || cli.names,
        },
        Cmd::DumpPorts { bridge } => Command::DumpPorts {
            bridge: bridge.clone(),
        },
        Cmd::FdbShow { bridge } => Command::FdbShow {
            bridge: bridge.clone(),
        },
        Cmd::DpShow { clear } => Command::DpShow { clear: *clear },
        Cmd::Trace { bridge, packet } => Command::Trace {
            bridge: bridge.clone(),
            packet: packet.clone(),
        },
    })
}

/// Connects, sends `request`, reads the response line.
fn exchange(socket: &str, request: &str) -> Result<String, String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        format!("cannot reach xvsd at {socket}: {e} (is xvsd running? --socket PATH)")
    })?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending to xvsd: {e}"))?;
    let mut line = String::new();
    match BufReader::new(&stream).read_line(&mut line) {
        Ok(0) => Err(format!(
            "xvsd at {socket} closed the connection without answering"
        )),
        Ok(_) => Ok(line),
        Err(e) => Err(format!("reading from xvsd: {e}")),
    }
}

fn main() -> ExitCode {
    // Usage errors exit 2 (clap's), --help and --version 0.
    let cli = Cli::parse();
    let cmd = match build(&cli) {
        Ok(c) => c,
        Err(e) => {
            // A flow file that cannot be read: a usage error, as it always was.
            eprintln!("xvsctl: {e}");
            return ExitCode::from(2);
        }
    };
    let socket = cli.socket.clone();
    let request = request_line(None, &cmd);
    if request.len() > MAX_LINE {
        eprintln!(
            "xvsctl: the request is {} bytes, over the control socket's limit of {} MiB: split the flows into several files, or use ovs-ofctl",
            request.len(),
            MAX_LINE >> 20
        );
        return ExitCode::FAILURE;
    }
    // The exchange runs on its own thread, so that a daemon that accepts and never
    // answers (stopped, or its socket's backlog full) cannot hold us past --timeout.
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let socket = socket.clone();
        std::thread::spawn(move || {
            let _ = tx.send(exchange(&socket, &request));
        });
    }
    let answer = if cli.timeout > 0.0 {
        match rx.recv_timeout(Duration::from_secs_f64(cli.timeout)) {
            Ok(a) => a,
            Err(_) => {
                eprintln!(
                    "xvsctl: no answer from xvsd at {socket} within {} s (--timeout): is it stopped or overloaded?",
                    cli.timeout
                );
                return ExitCode::FAILURE;
            }
        }
    } else {
        rx.recv()
            .unwrap_or_else(|_| Err("the request thread failed".into()))
    };
    let line = match answer {
        Ok(l) => l,
        Err(e) => {
            eprintln!("xvsctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    let resp: Response = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xvsctl: xvsd sent something that is not a response ({e}): {line}");
            return ExitCode::FAILURE;
        }
    };
    if !resp.ok {
        let e = resp
            .error
            .unwrap_or_else(|| xvs_daemon::protocol::ErrorBody {
                code: "unknown".into(),
                message: "request failed".into(),
            });
        eprintln!("xvsctl: {}", e.message);
        return ExitCode::FAILURE;
    }
    if cli.json {
        let v = resp.result.unwrap_or(serde_json::Value::Null);
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if let Some(t) = resp.text {
        print!("{t}");
    }
    ExitCode::SUCCESS
}
