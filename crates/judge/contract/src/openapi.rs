//! `ballast contract init --from-openapi`: a starting contract from an OpenAPI 3
//! document — one request per operation, its examples as bodies and path values.

use crate::yaml;
use serde_json::Value;
use std::fmt::Write as _;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Writes a contract (YAML text) for the operations of OpenAPI 3 document `doc` (YAML or
/// JSON). `base_url` overrides the document's first server.
pub fn contract_from_openapi(doc: &str, base_url: Option<&str>) -> Result<String, String> {
    let root = yaml::parse(doc)
        .map_err(|e| {
            format!(
                "line {}:{}: not valid YAML or JSON: {}",
                e.position.line, e.position.column, e.message
            )
        })?
        .to_json();
    match root.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with('3') => {}
        Some(v) => {
            return Err(format!(
                "openapi: version {v:?} is not supported; expected an OpenAPI 3.x document"
            ))
        }
        None => {
            return Err(
                "openapi: missing; expected an OpenAPI 3.x document (Swagger 2 is not supported)"
                    .into(),
            )
        }
    }
    let title = root
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("service");
    let server = root
        .pointer("/servers/0/url")
        .and_then(Value::as_str)
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"));
    let base = base_url
        .or(server)
        .unwrap_or("http://127.0.0.1:8080")
        .trim_end_matches('/');
    if base.contains('?') {
        return Err("servers[0].url has a query; a base URL cannot (pass --base-url)".into());
    }
    if let Err(e) = ballast_spec::Target::parse(base) {
        return Err(format!(
            "servers[0].url: {e}; pass --base-url to choose the service's address"
        ));
    }
    let paths = root
        .get("paths")
        .and_then(Value::as_object)
        .ok_or("paths: missing; the document has no operations")?;

    let mut requests = String::new();
    let mut names: Vec<String> = Vec::new();
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        if !path.starts_with('/') {
            return Err(format!("paths: {path:?} does not start with '/'"));
        }
        let shared_params = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let mut name = op
                .get("operationId")
                .and_then(Value::as_str)
                .map(sanitize)
                .unwrap_or_else(|| sanitize(&format!("{method}{}", path.replace('/', "_"))));
            while names.contains(&name) {
                name.push('_');
            }
            names.push(name.clone());
            let mut params = shared_params.clone();
            params.extend(
                op.get("parameters")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            let url = fill_path(path, &params);
            let _ = writeln!(requests, "  - name: {}", quote(&name));
            let _ = writeln!(requests, "    method: {}", method.to_uppercase());
            let _ = writeln!(requests, "    path: {}", quote(&url));
            if let Some(example) = body_example(op) {
                let _ = writeln!(
                    requests,
                    "    headers: {{ Content-Type: application/json }}"
                );
                let _ = writeln!(
                    requests,
                    "    body: {{ json: {} }}",
                    literal_dollars(&example)
                );
            }
            let mut expect: Vec<u16> = op
                .get("responses")
                .and_then(Value::as_object)
                .map(|r| {
                    r.keys()
                        .filter_map(|k| k.parse::<u16>().ok())
                        .filter(|c| (200..400).contains(c))
                        .collect()
                })
                .unwrap_or_default();
            expect.sort_unstable();
            if !expect.is_empty() {
                let list: Vec<String> = expect.iter().map(u16::to_string).collect();
                let _ = writeln!(requests, "    expect: [{}]", list.join(", "));
            }
        }
    }
    if names.is_empty() {
        return Err("paths: no GET, POST, PUT, PATCH or DELETE operations found".into());
    }
    // The title also goes into a comment, where a line break would end the comment.
    let comment_title: String = title
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect();
    Ok(format!(
        "# A starting contract for {comment_title}, written by `ballast contract init --from-openapi`.\n\
         # Adjust rates, durations and thresholds to your service; see docs/contract.md.\n\
         name: {}\n\
         target:\n  base_url: {}\n  timeout: 2s\n\
         requests:\n{requests}\
         phases:\n  - name: baseline\n    rate: 50/s\n    warmup: 5s\n    duration: 30s\n\
         \x20 - name: surge\n    rate: 200/s\n    duration: 30s\n\
         clauses:\n\
         \x20 - name: baseline error rate stays under 1%\n    phase: baseline\n    check: error_rate <= 1%\n\
         \x20 - name: under a 300% surge p95 stays within twice the baseline\n    phase: surge\n    check: p95 <= 2 * baseline.p95\n",
        quote(title),
        quote(base)
    ))
}

fn sanitize(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    out = out.trim_matches('_').to_string();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        out.insert_str(0, "op_");
    }
    out
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
/// A YAML double-quoted string (JSON's escapes are YAML's) that the contract loader's
/// `${VAR}` expansion leaves alone.
fn quote(text: &str) -> String {
    literal_dollars(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into()))
}

/// `$${` is the contract's literal `${`.
fn literal_dollars(text: &str) -> String {
    text.replace("${", "$${")
}

fn example_of(param: &Value) -> Option<Value> {
    param
        .get("example")
        .or_else(|| param.pointer("/schema/example"))
        .or_else(|| {
            param
                .get("examples")
                .and_then(Value::as_object)
                .and_then(|m| m.values().next()?.get("value"))
        })
        .cloned()
}

/// Replaces each `{name}` placeholder in the path with the parameter's example (percent-encoded)
/// or, without one, a template variable; adds required query parameters. Braces that are not
/// a placeholder are percent-encoded: a raw `{{` would otherwise open a template variable.
fn fill_path(path: &str, params: &[Value]) -> String {
    let mut path_values: Vec<(&str, String)> = Vec::new();
    let mut query = Vec::new();
    for p in params {
        let (Some(name), Some(location)) = (
            p.get("name").and_then(Value::as_str),
            p.get("in").and_then(Value::as_str),
        ) else {
            continue;
        };
        let value = match example_of(p) {
            Some(Value::String(s)) => ballast_spec::encode_component(&s),
            Some(other) => ballast_spec::encode_component(&other.to_string()),
            None => template_for(p.pointer("/schema/type").and_then(Value::as_str)).into(),
        };
        match location {
            "path" => path_values.push((name, value)),
            "query" if p.get("required").and_then(Value::as_bool) == Some(true) => {
                query.push(format!("{}={value}", ballast_spec::encode_component(name)))
            }
            _ => {}
        }
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find(['{', '}']) {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        let placeholder = rest
            .strip_prefix('{')
            .and_then(|after| after.find(['{', '}']).map(|end| (after, end)))
            .filter(|(after, end)| after.as_bytes()[*end] == b'}' && *end > 0);
        match placeholder {
            Some((after, end)) => {
                let name = &after[..end];
                // An undeclared placeholder still needs a value: a fresh one per request.
                match path_values.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(value),
                    None => out.push_str(template_for(None)),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(if rest.starts_with('{') { "%7B" } else { "%7D" });
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query.join("&"));
    }
    out
}

fn template_for(schema_type: Option<&str>) -> &'static str {
    match schema_type {
        Some("integer") | Some("number") => "{{randint 1 1000}}",
        _ => "{{seq}}",
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters, so an example value can sit in
/// a path segment or a query value whatever it holds (`/`, `&`, `{`, spaces…).
fn body_example(op: &Value) -> Option<String> {
    let media = op.pointer("/requestBody/content")?.as_object()?;
    let json = media
        .iter()
        .find(|(k, _)| k.contains("json"))
        .map(|(_, v)| v)?;
    let example = json
        .get("example")
        .or_else(|| {
            json.get("examples")
                .and_then(Value::as_object)
                .and_then(|m| m.values().next()?.get("value"))
        })
        .or_else(|| json.pointer("/schema/example"))?;
    serde_json::to_string(example).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DOC: &str = r#"
openapi: 3.0.3
info: { title: Shop }
servers: [{ url: "http://127.0.0.1:9000" }]
paths:
  /items/{id}:
    get:
      operationId: getItem
      parameters:
        - { name: id, in: path, required: true, schema: { type: integer } }
      responses: { "200": { description: ok }, "404": { description: missing } }
  /orders:
    post:
      requestBody:
        content:
          application/json:
            example: { sku: 42, qty: 1 }
      responses: { "201": { description: created } }
"#;

    #[test]
    fn writes_a_contract_that_loads() {
        let text = contract_from_openapi(DOC, None).unwrap();
        assert!(
            text.contains("path: \"/items/{{randint 1 1000}}\""),
            "{text}"
        );
        assert!(
            text.contains("body: { json: {\"qty\":1,\"sku\":42} }"),
            "{text}"
        );
        assert!(text.contains("expect: [201]"));
        let contract =
            crate::Contract::parse(&text, "init.yaml", std::path::Path::new(".")).unwrap();
        assert_eq!(contract.requests.len(), 2);
        assert_eq!(contract.target.base_url, "http://127.0.0.1:9000");
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(contract_from_openapi("swagger: '2.0'\npaths: {}\n", None)
            .unwrap_err()
            .contains("OpenAPI 3"));
        assert!(contract_from_openapi("openapi: 3.1.0\npaths: {}\n", None)
            .unwrap_err()
            .contains("no GET"));
        assert!(
            contract_from_openapi("openapi: 3.0.0\npaths: { \":/x\": { get: {} } }\n", None)
                .unwrap_err()
                .contains("does not start with '/'")
        );
        let bad_server = "openapi: 3.0.0\nservers: [{ url: \"http://1210..:.079000://x\" }]\npaths: { /a: { get: {} } }\n";
        assert!(contract_from_openapi(bad_server, None)
            .unwrap_err()
            .contains("servers[0].url"));
        assert!(contract_from_openapi(bad_server, Some("http://127.0.0.1:9")).is_ok());
        assert!(contract_from_openapi("openapi: [", None)
            .unwrap_err()
            .contains("not valid YAML"));
    }

    #[test]
    fn literal_braces_and_odd_examples_stay_literal() {
        let doc = r#"
openapi: 3.0.3
paths:
  /items/{{id}/x}/{name}/{undeclared}:
    get:
      parameters:
        - { name: id, in: path, schema: { type: integer } }
        - { name: name, in: path, example: "a b/{{c}}" }
        - { name: q, in: query, required: true, example: "x&y=z" }
"#;
        let text = contract_from_openapi(doc, None).unwrap();
        assert!(
            text.contains(
                "path: \"/items/%7B{{randint 1 1000}}/x%7D/a%20b%2F%7B%7Bc%7D%7D/{{seq}}?q=x%26y%3Dz\""
            ),
            "{text}"
        );
        crate::Contract::parse(&text, "init.yaml", std::path::Path::new(".")).unwrap();
    }

    #[test]
    fn a_title_with_line_breaks_stays_in_its_comment() {
        let doc = "openapi: 3.0.3\ninfo: { title: \"NU-\\r\\r\\tLL\\u2028x\\n\" }\npaths: { /a: { get: {} } }\n";
        let text = contract_from_openapi(doc, None).unwrap();
        assert!(
            text.starts_with("# A starting contract for NU-   LL x ,"),
            "{text}"
        );
        let contract =
            crate::Contract::parse(&text, "init.yaml", std::path::Path::new(".")).unwrap();
        assert_eq!(contract.name, "NU-\r\r\tLL\u{2028}x\n");
    }

    #[test]
    fn dollar_braces_are_not_environment_variables() {
        let doc = r#"
openapi: 3.0.3
info: { title: "a ${HOME} b" }
paths:
  /a/${id}:
    post:
      parameters: [{ name: id, in: path }]
      requestBody: { content: { application/json: { example: { k: "${X}" } } } }
"#;
        let text = contract_from_openapi(doc, None).unwrap();
        let contract =
            crate::Contract::parse(&text, "init.yaml", std::path::Path::new(".")).unwrap();
        assert_eq!(contract.name, "a ${HOME} b");
        assert!(text.contains("path: \"/a/$${{seq}}\""), "{text}");
    }

    #[test]
    fn the_fuzzers_unclosed_braces_load() {
        let doc = "openapi: 3.0.3\npaths:\n  /items/{{id}:\n    get: {}\n  /a/}}{:\n    get: {}\n";
        let text = contract_from_openapi(doc, None).unwrap();
        crate::Contract::parse(&text, "init.yaml", std::path::Path::new(".")).unwrap();
    }

    proptest! {
        #[test]
        fn written_contracts_load(path in "/[a-z{}/]{0,20}", example in "[ -~]{0,12}") {
            let doc = format!(
                "openapi: 3.0.0\npaths:\n  {path:?}:\n    get:\n      parameters: [{{ name: a, in: path, example: {example:?} }}]\n"
            );
            if let Ok(text) = contract_from_openapi(&doc, None) {
                if let Err(e) = crate::Contract::parse(&text, "init.yaml", std::path::Path::new(".")) {
                    panic!("{e}\n{text}");
                }
            }
        }

        #[test]
        fn never_panics(text in "[a-z0-9:{}\\[\\] \n/\"'-]{0,80}") {
            let _ = contract_from_openapi(&format!("openapi: 3.0.0\n{text}"), None);
        }
    }
}
