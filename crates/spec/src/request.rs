//! A request as a contract writes it: method, templated path, headers and body, weight,
//! expected statuses. The load engine compiles these into prepared requests.

use crate::template::CsvTable;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A named request in a mix (a contract's `requests:` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestTemplate {
    /// Name, used for per-request results.
    pub name: String,
    /// Share of the traffic relative to the others (≥ 1).
    pub weight: u32,
    /// HTTP method.
    pub method: String,
    /// Path and query on the base URL; a [`Template`].
    pub path: String,
    /// Headers; values are [`Template`]s.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Body.
    #[serde(default)]
    pub body: TemplateBody,
    /// Statuses that count as success. Default: 200–399.
    #[serde(default)]
    pub expect: Option<Vec<u16>>,
    /// Rows for `{{csv.COLUMN}}`.
    #[serde(skip)]
    pub csv: Option<Arc<CsvTable>>,
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateBody {
    /// No body.
    #[default]
    None,
    /// Text with template variables.
    Text(String),
    /// Bytes sent as they are.
    Bytes(Vec<u8>),
}
