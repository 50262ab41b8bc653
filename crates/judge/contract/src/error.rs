use std::fmt;
use std::path::PathBuf;

/// One problem in a contract, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The contract file as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The field path, e.g. `phases[2].rate` (empty for the document itself).
    pub path: String,
    /// What was wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl Diagnostic {
    /// The diagnostic for a file that is not YAML at all.
    pub fn syntax(file: &str, error: &crate::yaml::SyntaxError) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            line: error.position.line,
            column: error.position.column,
            path: String::new(),
            message: format!("not valid YAML: {}", error.message),
        }
    }
}

/// Why a contract could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The contract is invalid; every problem found is listed.
    #[error("{}", render("the contract", .0))]
    Invalid(Vec<Diagnostic>),
}

/// "`what` is invalid (N problems):" and one diagnostic per line, as every file reader
/// of ballast reports them.
pub fn render(what: &str, diagnostics: &[Diagnostic]) -> String {
    let mut out = format!(
        "{what} is invalid ({} problem{}):",
        diagnostics.len(),
        if diagnostics.len() == 1 { "" } else { "s" }
    );
    for d in diagnostics {
        out.push_str("\n  ");
        out.push_str(&d.to_string());
    }
    out
}
