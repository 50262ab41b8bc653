//! Integration tests of ballast-anomaly, one binary (links once).

mod client;
mod corpus;
mod live;
mod nab_reference;
mod servers;
