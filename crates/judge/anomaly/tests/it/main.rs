//! Integration tests of ballast-anomaly, one binary (links once).

mod corpus;
mod nab_reference;
