use ballast_contract::Diagnostic;

/// Why a judgement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule file is not valid: every problem at its file, line, column and field.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Rules(Vec<Diagnostic>),
    /// inferno refused the folded stacks or failed to write the SVG.
    #[error("flame graph: {0}")]
    Flame(String),
}

impl Error {
    /// Whether the error is the user's input (a rule file) rather than ours: exit code 2.
    pub fn is_input(&self) -> bool {
        matches!(self, Error::Rules(_))
    }
}
