//! The packet-rate harness: a topology of veth pairs in namespaces, scenarios (what the
//! generator offers and what must arrive), switches under test (xvs and its peers), and
//! runs measured side by side with medians, ratios, CSV and a table.
//!
//! ```text
//!   gen netns: gen0 --veth-- sw_in  [switch netns: the switch under test]  sw_out --veth-- sink0 :sink netns
//! ```
//! The generator sends into `gen0`, the switch forwards from `sw_in` to `sw_out`, the sink
//! counts and checks what reaches `sink0`. Cores: generator on `cores.generator`, the switch's
//! forwarding thread on `cores.switch`.

pub mod chart;
pub mod dut;
pub mod peers;
pub mod report;
pub mod run;
pub mod scenario;
pub mod topology;

pub use dut::{SwitchUnderTest, Xvs};
pub use run::{measure, Cores, Measurement, RunConfig};
pub use scenario::Scenario;
pub use topology::Topology;

/// What can go wrong while setting up or running a measurement.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("command `{cmd}` failed: {detail}")]
    Command { cmd: String, detail: String },
    #[error("{0}")]
    Traffic(String),
    #[error("switch {switch}: {detail}")]
    Switch { switch: String, detail: String },
    #[error("{0} is missing: {1}")]
    Missing(String, String),
}

/// Runs a command, returning stdout, or an error that names the command and its stderr.
pub fn sh(cmd: &str, args: &[&str]) -> Result<String, HarnessError> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| HarnessError::Command {
            cmd: format!("{cmd} {}", args.join(" ")),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(HarnessError::Command {
            cmd: format!("{cmd} {}", args.join(" ")),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
