//! xvsctl: configure and inspect a running xvsd, with the commands OVS users know.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

use xvs_daemon::protocol::{request_line, Command, Response};

const DEFAULT_SOCKET: &str = "/run/xvs/xvsd.sock";

const USAGE: &str = "\
usage: xvsctl [--socket PATH] [--json] COMMAND [ARG...]

bridges and ports (as ovs-vsctl):
  add-br BR                      del-br BR
  add-port BR PORT [tag=N] [trunks=A,B] [type=system|internal|patch|gre|vxlan]
           [peer=P] [remote_ip=A] [local_ip=A] [key=flow|N] [csum=true]
           [underlay=IF] [ofport=N]
  del-port BR PORT               show
flows (as ovs-ofctl):
  add-flow BR FLOW               add-flows BR FILE|-
  mod-flows [--strict] BR FLOW   del-flows [--strict] BR [MATCH]
  replace-flows BR FILE|-        dump-flows [--names] BR [MATCH]
  dump-ports BR                  fdb-show BR
  trace BR PACKET                dp-show
--json prints the daemon's structured answer instead of text.";

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("xvsctl: {msg}\n\n{USAGE}");
    ExitCode::from(2)
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

fn main() -> ExitCode {
    let mut socket = DEFAULT_SOCKET.to_string();
    let (mut json, mut strict, mut names) = (false, false, false);
    let mut args: Vec<String> = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--socket" => match it.next() {
                Some(s) => socket = s,
                None => return usage_error("--socket needs a path"),
            },
            s if s.starts_with("--socket=") => socket = s["--socket=".len()..].to_string(),
            "--json" => json = true,
            "--strict" => strict = true,
            "--names" => names = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            s if s.starts_with("--") => return usage_error(&format!("unknown option {s}")),
            _ => args.push(a),
        }
    }
    let Some((name, rest)) = args.split_first() else {
        return usage_error("no command");
    };
    let arg = |i: usize, what: &str| {
        rest.get(i)
            .cloned()
            .ok_or(format!("{name}: missing {what}"))
    };
    let built: Result<Command, String> = (|| {
        let want = |n: usize| {
            if rest.len() > n {
                Err(format!("{name}: too many arguments"))
            } else {
                Ok(())
            }
        };
        Ok(match name.as_str() {
            "add-br" => {
                want(1)?;
                Command::AddBr {
                    bridge: arg(0, "BR")?,
                }
            }
            "del-br" => {
                want(1)?;
                Command::DelBr {
                    bridge: arg(0, "BR")?,
                }
            }
            "add-port" => {
                let mut options = BTreeMap::new();
                for kv in rest.iter().skip(2) {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or(format!("add-port: option \"{kv}\" is not KEY=VALUE"))?;
                    options.insert(k.to_string(), v.to_string());
                }
                Command::AddPort {
                    bridge: arg(0, "BR")?,
                    port: arg(1, "PORT")?,
                    options,
                }
            }
            "del-port" => {
                want(2)?;
                Command::DelPort {
                    bridge: arg(0, "BR")?,
                    port: arg(1, "PORT")?,
                }
            }
            "show" => {
                want(0)?;
                Command::Show
            }
            "add-flow" => {
                want(2)?;
                Command::AddFlow {
                    bridge: arg(0, "BR")?,
                    flow: arg(1, "FLOW")?,
                }
            }
            "add-flows" => {
                want(2)?;
                Command::AddFlows {
                    bridge: arg(0, "BR")?,
                    flows: read_flows(&arg(1, "FILE")?)?,
                }
            }
            "mod-flows" => {
                want(2)?;
                Command::ModFlows {
                    bridge: arg(0, "BR")?,
                    flow: arg(1, "FLOW")?,
                    strict,
                }
            }
            "del-flows" => {
                want(2)?;
                Command::DelFlows {
                    bridge: arg(0, "BR")?,
                    matcher: rest.get(1).cloned(),
                    strict,
                }
            }
            "replace-flows" => {
                want(2)?;
                Command::ReplaceFlows {
                    bridge: arg(0, "BR")?,
                    flows: read_flows(&arg(1, "FILE")?)?,
                }
            }
            "dump-flows" => {
                want(2)?;
                Command::DumpFlows {
                    bridge: arg(0, "BR")?,
                    matcher: rest.get(1).cloned(),
                    names,
                }
            }
            "dump-ports" => {
                want(1)?;
                Command::DumpPorts {
                    bridge: arg(0, "BR")?,
                }
            }
            "fdb-show" => {
                want(1)?;
                Command::FdbShow {
                    bridge: arg(0, "BR")?,
                }
            }
            "dp-show" => {
                want(0)?;
                Command::DpShow
            }
            "trace" => {
                want(2)?;
                Command::Trace {
                    bridge: arg(0, "BR")?,
                    packet: arg(1, "PACKET")?,
                }
            }
            other => return Err(format!("unknown command \"{other}\"")),
        })
    })();
    let cmd = match built {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };

    let mut stream = match UnixStream::connect(&socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "xvsctl: cannot reach xvsd at {socket}: {e} (is xvsd running? --socket PATH)"
            );
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = stream.write_all(request_line(None, &cmd).as_bytes()) {
        eprintln!("xvsctl: sending to xvsd: {e}");
        return ExitCode::FAILURE;
    }
    let mut line = String::new();
    if let Err(e) = BufReader::new(&stream).read_line(&mut line) {
        eprintln!("xvsctl: reading from xvsd: {e}");
        return ExitCode::FAILURE;
    }
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
    if json {
        let v = resp.result.unwrap_or(serde_json::Value::Null);
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if let Some(t) = resp.text {
        print!("{t}");
    }
    ExitCode::SUCCESS
}
