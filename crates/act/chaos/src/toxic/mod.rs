//! Toxics. What a toxic *is* ([`Toxic`], [`ToxicKind`], Toxiproxy's JSON) lives in
//! `ballast-spec`, shared with contracts; how a proxy holds and runs its ordered set of
//! them ([`set::ToxicSet`]) is here.

pub(crate) mod set;

pub use ballast_spec::toxic::*;
