//! The daemon's configuration on disk: bridges and ports (not flows: the agent
//! reprograms those after a restart, as with OVS).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

const STATE_VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortState {
    pub name: String,
    /// The `add-port` options, with the OpenFlow number it got (`ofport`), so a restart
    /// gives every port the same number.
    pub options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeState {
    pub name: String,
    pub ports: Vec<PortState>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub bridges: Vec<BridgeState>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            bridges: Vec::new(),
        }
    }
}

impl State {
    /// Reads the state file; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<State, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let s: State = serde_json::from_str(&text)
                    .map_err(|e| format!("state file {}: {e}", path.display()))?;
                if s.version != STATE_VERSION {
                    return Err(format!(
                        "state file {}: version {} is not {STATE_VERSION}",
                        path.display(),
                        s.version
                    ));
                }
                Ok(s)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(format!("state file {}: {e}", path.display())),
        }
    }

    /// Writes the file atomically (a temporary file renamed over it), owner-only.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        use std::os::unix::fs::OpenOptionsExt;
        let err = |e: std::io::Error| format!("state file {}: {e}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        f.write_all(
            serde_json::to_string_pretty(self)
                .expect("state serializes")
                .as_bytes(),
        )
        .map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    pub fn add_bridge(&mut self, name: &str) {
        self.bridges.push(BridgeState {
            name: name.to_string(),
            ports: Vec::new(),
        });
    }

    pub fn del_bridge(&mut self, name: &str) {
        self.bridges.retain(|b| b.name != name);
    }

    pub fn add_port(&mut self, bridge: &str, name: &str, options: BTreeMap<String, String>) {
        if let Some(b) = self.bridges.iter_mut().find(|b| b.name == bridge) {
            b.ports.push(PortState {
                name: name.to_string(),
                options,
            });
        }
    }

    pub fn del_port(&mut self, bridge: &str, name: &str) {
        if let Some(b) = self.bridges.iter_mut().find(|b| b.name == bridge) {
            b.ports.retain(|p| p.name != name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip() {
        let dir = std::env::temp_dir().join(format!("xvs-state-test-{}", std::process::id()));
        let path = dir.join("state.json");
        let mut s = State::default();
        s.add_bridge("br-int");
        s.add_port(
            "br-int",
            "tap1",
            [("tag".to_string(), "1".to_string())].into(),
        );
        s.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap(), s);
        std::fs::write(&path, "{not json").unwrap();
        assert!(State::load(&path).unwrap_err().contains("state.json"));
        assert_eq!(
            State::load(&dir.join("missing.json")).unwrap(),
            State::default()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
