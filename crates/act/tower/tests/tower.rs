//! ballast-tower's integration tests: one binary, one module per subject.

mod tower {
    pub mod traces;
}
