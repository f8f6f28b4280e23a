//! What the switch prints: the text (as the OVS tools print it) and the JSON (`--json`)
//! of every answer. Nothing else lives here, and nothing here changes state: each
//! function takes what it shows and returns text or a JSON value.
//!
//! - [`flows`]: `dump-flows` lines and their JSON, `fdb-show`;
//! - [`trace`]: `ofproto/trace` from a traced translation;
//! - [`datapath`]: datapath actions (as `ovs-dpctl` prints them) and `dp-show`;
//! - [`dpctl`]: the workers' cache entries as `dpctl/dump-flows` prints a datapath's
//!   flows;
//! - [`appctl`]: the other `ovs-appctl` answers (`dpif/show`, `pmd-stats-show`,
//!   `upcall/show`, `coverage/show`, `fdb/show`);
//! - [`show`]: `show` (bridges, ports, how the datapath runs them, tunnel underlays) and
//!   `dump-ports`, with the plain status types the daemon fills in for them.

pub mod appctl;
pub mod datapath;
pub mod dpctl;
pub mod flows;
pub mod show;
pub mod trace;
