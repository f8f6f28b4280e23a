//! xvsd as a client of the real ovsdb-server, in ovs-vswitchd's place (RFC 7047): the
//! sans-I/O protocol ([`framing`], [`datum`], [`replica`], [`session`]) tested with
//! values in and values out, and the thin I/O around it ([`connection`], [`client`]).
//! What the database's contents mean for the switch is the bridge layer's
//! ([`crate::reconcile`]).

pub mod client;
pub mod connection;
pub mod datum;
pub mod framing;
pub mod replica;
pub mod session;
pub mod vsctl;
