//! # xvs-openflow: the switch side of OpenFlow, sans I/O
//!
//! Bytes in, typed requests out; typed replies in, bytes out. No sockets, threads or
//! clock: the caller reads and writes the connection, keeps its state (negotiated
//! version, `flow_mod_table_id`, bundles, roles) and owns the flow tables. The aim is
//! to be indistinguishable on the wire from Open vSwitch 3.1's `ovs-vswitchd` for
//! what xvs's users send: the Neutron OVS agent (os-ken, OpenFlow 1.3) and Debian's
//! `ovs-ofctl` 3.1 (OpenFlow 1.0 + Nicira extensions; `-O OpenFlow13`; `--bundle`
//! = OpenFlow 1.4 or ONF bundles in 1.3). Replies are byte for byte OVS's, errors are
//! OVS's for the same input, and both are tested against captures of the real
//! programs (`tests/ovs_vectors.rs`, `tests/vectors/`, `tests/capture/`).
//!
//! Matches and actions are decoded at the wire level first — [`flow_mod::WireMatch`]
//! (OF1.0's `ofp10_match` or NXM/OXM TLVs), [`actions::WireAction`] and
//! [`actions::WireInstruction`] — validated as OVS validates them before looking at
//! what they mean. [`model`] maps them onto the pipeline's flow model
//! (`xvs_pipeline::ofp`: fields, matches, actions, instructions) and back, per
//! version and form, as OVS does: FLOW_MODs to flow-table commands, stats requests
//! to selections, stored flows to flow stats entries.
//!
//! ## A connection
//!
//! ```
//! use xvs_openflow::{decode_request, encode_hello, DecodeContext, Hello, MessageStream, Request, Version, VersionBitmap};
//!
//! let allowed = VersionBitmap::from_versions(&[Version::Of10, Version::Of13, Version::Of14]);
//! let our_hello = encode_hello(allowed, 1); // send at once
//! # let _ = our_hello;
//! let mut stream = MessageStream::new();
//! stream.feed(&[0x04, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 8, 0, 0, 0, 0x10]); // peer's HELLO (1.3)
//! let hello = Hello::parse(&stream.next_message().unwrap().unwrap()).unwrap();
//! let version = hello.negotiate(allowed).expect("else send HelloFailed::error_message() and close");
//! let mut ctx = DecodeContext::new(version);
//! stream.feed(&[0x04, 20, 0, 8, 0, 0, 0, 2]); // BARRIER_REQUEST
//! let msg = stream.next_message().unwrap().unwrap();
//! match decode_request(&msg, &ctx) {
//!     Ok(m) => match m.request {
//!         Request::BarrierRequest => { /* answer with request::encode_barrier_reply(version, m.header.xid) */ }
//!         Request::FlowModTableId(on) => ctx.flow_mod_table_id = on,
//!         _ => {}
//!     },
//!     Err(e) => { let _error_message = e.encode_reply(&msg); }
//! }
//! ```
//!
//! ## What is decoded (switch-bound requests)
//!
//! | | OpenFlow 1.0 (+ Nicira) | OpenFlow 1.3 | OpenFlow 1.4 |
//! |---|---|---|---|
//! | handshake | HELLO (version bitmap), ECHO_REQUEST/REPLY (any version) | same | same |
//! | switch | FEATURES_REQUEST, GET_CONFIG_REQUEST, SET_CONFIG, BARRIER_REQUEST (18) | same, BARRIER (20), ROLE_REQUEST | same |
//! | flows | OFPT_FLOW_MOD (`ofp10_match`, actions), NXT_FLOW_MOD (NXM, NXM_NX_COOKIE) | FLOW_MOD (OXM, instructions) | same (+ importance) |
//! | stats | DESC, FLOW, AGGREGATE, TABLE, PORT, PORT_DESC; NXST_FLOW, NXST_AGGREGATE | DESC, FLOW, AGGREGATE, TABLE, PORT_STATS, PORT_DESC, TABLE_FEATURES (read) | same |
//! | Nicira | NXT_SET_FLOW_FORMAT, NXT_FLOW_MOD_TABLE_ID, NXT_SET_PACKET_IN_FORMAT, NXT_SET_CONTROLLER_ID, NXT_FLOW_AGE, NXT_ROLE_REQUEST | same but SET_FLOW_FORMAT | same |
//! | bundles | — | ONF BUNDLE_CONTROL / BUNDLE_ADD_MESSAGE (2300/2301) | BUNDLE_CONTROL / BUNDLE_ADD_MESSAGE |
//!
//! Everything else gets the error OVS would send: OFPBRC_BAD_VERSION for another
//! version than the connection's (but HELLO/ERROR/ECHO), OFPBRC_BAD_LEN for a wrong
//! length, OFPBRC_BAD_TYPE / BAD_STAT / BAD_VENDOR / BAD_SUBTYPE for unknown
//! messages, OVS's match, action, instruction, flow-mod and bundle errors for bad
//! bodies. Requests OVS handles and xvs does not (packet-out, group, meter, port
//! and table mods, queue/group/meter/table-desc statistics, flow monitors, async
//! config, TLV tables, conntrack flushes, IPFIX, multipart requests in several
//! parts) are [`DecodeError::Unsupported`], answered like an unknown message of
//! their kind; messages only a switch sends get OFPBRC_BAD_TYPE as in OVS.
//!
//! ## What is encoded (replies)
//!
//! HELLO ([`hello`]), HELLO_FAILED text, ECHO_REPLY, BARRIER_REPLY ([`request`]),
//! OFPT_ERROR in each version's numbering with Nicira/experimenter forms
//! ([`errors`]), FEATURES_REPLY (1.0 with ports; 1.3/1.4 without; [`features`]),
//! GET_CONFIG_REPLY and ROLE_REPLY ([`config`]), BUNDLE_CONTROL replies
//! ([`bundle`]), and the statistics/multipart replies ([`stats`]): DESC, FLOW
//! (`ofp10_flow_stats`, `nx_flow_stats`, `ofp11_flow_stats` around the caller's
//! encoded match and actions/instructions), AGGREGATE, TABLE (1.0 and 1.3
//! layouts), PORT (1.0, 1.3, 1.4 with OVS's properties), PORT_DESC
//! (`ofp10_phy_port`, `ofp11_port`, `ofp14_port`) and TABLE_FEATURES with OVS 3.1's
//! property lists ([`table_features`]). [`stats::MultipartReply::split`] packs
//! entries into messages of at most 65535 bytes with REPLY_MORE as OVS does.
//!
//! ## Conventions
//!
//! * Port numbers are OpenFlow 1.0's everywhere in the API (16 bits, OFPP_LOCAL =
//!   0xfffe, OFPP_NONE = 0xffff), as in OVS and xvs's pipeline; OF1.1+ messages are
//!   converted with [`port::port_from_ofp11`] / [`port::port_to_ofp11`].
//! * Every decoder works on whole messages or bodies checked once by a view
//!   (`new_checked`); no input makes them panic (`tests/no_panic.rs`).
//! * OVS's tables (error numbers per version, known actions with their lengths,
//!   known NXM/OXM fields with masks and prerequisites) are generated from OVS
//!   v3.1.0's sources by `tools/gen_tables.py`; OVS's TABLE_FEATURES lists from a
//!   capture by `tools/gen_table_features.py`.
//! * Error replies carry the whole offending message as data (as much as fits),
//!   which is what OVS 3.1 sends (not only the first 64 bytes).

mod bytes;
mod generated;

pub mod actions;
pub mod bundle;
pub mod config;
pub mod errors;
pub mod features;
pub mod flow_mod;
pub mod framing;
pub mod hello;
pub mod model;
pub mod nicira;
pub mod of10_match;
pub mod oxm;
pub mod port;
pub mod request;
pub mod stats;
pub mod table_features;
pub mod version;

pub use errors::{encode_error, encode_error_reply, OfError, WireError};
pub use flow_mod::{FlowActions, FlowMod, WireMatch};
pub use framing::{FramingError, Header, MessageStream};
pub use hello::{encode_hello, Hello, HelloFailed};
pub use request::{decode_request, DecodeContext, DecodeError, Message, Request};
pub use version::{Version, VersionBitmap};
