//! Offline inputs: CSV series and NAB-format corpora. (Live input is [`crate::prom`].)

pub mod csv;
pub mod nab;
