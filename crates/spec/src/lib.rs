//! The vocabulary ballast's contracts, engines and orchestrator share.
//!
//! A contract (judged by `ballast-contract`) names targets, requests and faults; the load
//! engine sends the requests, the chaos proxy runs the faults, `ballast verify` wires them
//! together. Each of those reads the definitions from here, so the contract checker needs
//! no engine to know that a toxic or a URL is valid, and an engine never disagrees with
//! the checker about what a definition means. Everything here is pure: parsing and
//! validation, no I/O.
//!
//! ```
//! use ballast_spec::{Target, Toxic};
//!
//! let target = Target::parse("http://127.0.0.1:8080/v1/items?limit=5")?;
//! assert_eq!((target.host.as_str(), target.port), ("127.0.0.1", 8080));
//! assert_eq!(target.path_and_query, "/v1/items?limit=5");
//!
//! let toxic = Toxic::from_json(
//!     &serde_json::json!({"type": "latency", "attributes": {"latency": 40}}),
//!     true,
//! )?;
//! assert_eq!(toxic.name, "latency_downstream");
//! # Ok::<(), ballast_spec::Error>(())
//! ```

#![warn(missing_docs)]

mod encode;
mod error;
pub mod request;
pub mod target;
pub mod template;
pub mod toxic;

pub use encode::{decode_component, encode_component, COMPONENT};
pub use error::Error;
pub use request::{RequestTemplate, TemplateBody};
pub use target::{parse_http_url, Target};
pub use toxic::{Stream, Toxic, ToxicKind};
