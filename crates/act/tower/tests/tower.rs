//! ballast-tower's integration tests: one binary, one module per subject.

mod tower {
    pub mod grpc;
    pub mod service;
    pub mod support;
    pub mod traces;
}
