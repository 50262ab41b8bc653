//! Integration tests of ballast-anomaly, one binary (links once).

mod corpus;
mod leak;
mod leak_recorded;
mod live;
mod nab_reference;
mod servers;
