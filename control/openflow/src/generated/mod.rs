//! Tables generated from Open vSwitch 3.1's sources by `tools/gen_tables.py`
//! (errors, actions, fields) and from a capture of its TABLE_FEATURES reply by
//! `tools/gen_table_features.py`.

pub(crate) mod actions;
pub(crate) mod errors;
pub(crate) mod fields;
pub(crate) mod table_features;
