//! Action parameters written with the alert's values: `{{ labels.instance }}`,
//! `{{ annotations.summary | json }}`, `{{ fingerprint }}`.
//!
//! Deliberately small: a value is named, optionally passed through one filter (`json` for
//! a quoted JSON string, `url` for a URL component), and a name the alert does not carry
//! is an error at the time of the action, never an empty string acting on the wrong
//! target.

use std::collections::BTreeMap;

/// A parsed template: literal text and the values it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Value { name: Name, filter: Filter },
}

#[derive(Debug, Clone, PartialEq)]
enum Name {
    Label(String),
    Annotation(String),
    Field(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Filter {
    None,
    Json,
    Url,
}

/// The fields a template may name besides labels and annotations.
pub const FIELDS: [&str; 5] = ["fingerprint", "startsAt", "policy", "incident", "target"];

/// What a template is rendered with.
#[derive(Debug, Clone, Default)]
pub struct Values<'a> {
    /// The alert's labels.
    pub labels: Option<&'a BTreeMap<String, String>>,
    /// The alert's annotations.
    pub annotations: Option<&'a BTreeMap<String, String>>,
    /// `fingerprint`, `startsAt`, `policy`, `incident`, `target`.
    pub fields: BTreeMap<&'static str, String>,
}

impl Template {
    /// Parses `text`; the error says which placeholder is wrong and why.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| {
                format!(
                    "a `{{{{` at byte {} is never closed with `}}}}`",
                    text.len() - rest.len() + open
                )
            })?;
            parts.push(parse_placeholder(after[..close].trim())?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// Whether the template names any value (a plain string otherwise).
    pub fn is_plain(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Writes the template with `values`; a missing label or annotation is an error.
    pub fn render(&self, values: &Values<'_>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Value { name, filter } => {
                    let value = match name {
                        Name::Label(l) => values.labels.and_then(|m| m.get(l)).ok_or_else(|| {
                            format!("the alert has no label {l:?} (named by {{{{ labels.{l} }}}})")
                        })?,
                        Name::Annotation(a) => {
                            values.annotations.and_then(|m| m.get(a)).ok_or_else(|| {
                                format!("the alert has no annotation {a:?} (named by {{{{ annotations.{a} }}}})")
                            })?
                        }
                        Name::Field(f) => values
                            .fields
                            .get(f)
                            .ok_or_else(|| format!("no value for {{{{ {f} }}}} here"))?,
                    };
                    match filter {
                        Filter::None => out.push_str(value),
                        Filter::Json => {
                            out.push_str(&serde_json::Value::String(value.clone()).to_string())
                        }
                        // Not form encoding: its `+` for a space is a plus sign in a path.
                        Filter::Url => out.push_str(&ballast_spec::encode_component(value)),
                    }
                }
            }
        }
        Ok(out)
    }
}

fn parse_placeholder(inner: &str) -> Result<Part, String> {
    let (name, filter) = match inner.split_once('|') {
        Some((n, f)) => (
            n.trim(),
            match f.trim() {
                "json" => Filter::Json,
                "url" => Filter::Url,
                other => {
                    return Err(format!(
                        "unknown filter {other:?} in {{{{ {inner} }}}}; expected json or url"
                    ))
                }
            },
        ),
        None => (inner, Filter::None),
    };
    let name = if let Some(l) = name.strip_prefix("labels.") {
        Name::Label(checked(l, inner)?)
    } else if let Some(a) = name.strip_prefix("annotations.") {
        Name::Annotation(checked(a, inner)?)
    } else if let Some(f) = FIELDS.iter().find(|f| **f == name) {
        Name::Field(f)
    } else {
        return Err(format!(
            "{{{{ {inner} }}}} names nothing an alert has; expected labels.NAME, annotations.NAME or one of {}",
            FIELDS.join(", ")
        ));
    };
    Ok(Part::Value { name, filter })
}

fn checked(name: &str, inner: &str) -> Result<String, String> {
    if ballast_core::alert::valid_label_name(name) {
        Ok(name.to_string())
    } else {
        Err(format!(
            "{{{{ {inner} }}}}: {name:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values(labels: &BTreeMap<String, String>) -> Values<'_> {
        Values {
            labels: Some(labels),
            annotations: None,
            fields: [("fingerprint", "ab12".to_string())].into(),
        }
    }

    #[test]
    fn renders_labels_fields_and_filters() {
        let labels: BTreeMap<_, _> = [("service".to_string(), "shop \"a\"&b".to_string())].into();
        let t =
            Template::parse("{\"svc\": {{ labels.service | json }}, \"fp\": \"{{fingerprint}}\"}")
                .unwrap();
        assert_eq!(
            t.render(&values(&labels)).unwrap(),
            r#"{"svc": "shop \"a\"&b", "fp": "ab12"}"#
        );
        let u = Template::parse("/restart?svc={{ labels.service | url }}").unwrap();
        assert_eq!(
            u.render(&values(&labels)).unwrap(),
            "/restart?svc=shop%20%22a%22%26b"
        );
        let path = Template::parse("/services/{{ labels.service | url }}/scale").unwrap();
        assert_eq!(
            path.render(&values(&labels)).unwrap(),
            "/services/shop%20%22a%22%26b/scale"
        );
        assert!(Template::parse("plain").unwrap().is_plain());
    }

    #[test]
    fn refuses_what_it_cannot_fill() {
        assert!(Template::parse("{{ labels.x")
            .unwrap_err()
            .contains("never closed"));
        assert!(Template::parse("{{ label.x }}")
            .unwrap_err()
            .contains("names nothing"));
        assert!(Template::parse("{{ labels.x | upper }}")
            .unwrap_err()
            .contains("unknown filter"));
        assert!(Template::parse("{{ labels.a-b }}")
            .unwrap_err()
            .contains("not a label name"));
        let labels = BTreeMap::new();
        let t = Template::parse("{{ labels.instance }}").unwrap();
        assert!(t
            .render(&values(&labels))
            .unwrap_err()
            .contains("no label \"instance\""));
    }

    proptest! {
        #[test]
        fn text_without_placeholders_renders_as_itself(text in "[^{}]{0,40}") {
            let t = Template::parse(&text).unwrap();
            prop_assert_eq!(t.render(&Values::default()).unwrap(), text);
        }

        #[test]
        fn json_filter_always_yields_a_json_string(value in ".{0,40}") {
            let labels: BTreeMap<_, _> = [("v".to_string(), value.clone())].into();
            let out = Template::parse("{{ labels.v | json }}").unwrap().render(&values(&labels)).unwrap();
            prop_assert_eq!(serde_json::from_str::<String>(&out).unwrap(), value);
        }
    }
}
