//! Carrying out one action. No shell anywhere: programs run from an argv, requests go
//! through the shared HTTP client, and every action has its own timeout.
//!
//! An action answers `Ok(what it did)` or `Err(why it failed)`; the engine decides what
//! follows.

use ballast_heal_policy::policy::{
    http_method, ActionSpec, ChaosAction, ExecAction, GoGcAction, HttpAction, RestartAction,
    TowerAction,
};
use ballast_heal_policy::template::{Template, Values};
use ballast_http::{Client, Request};
use serde_json::{json, Value};
use std::time::Duration;

/// What actions need besides their spec.
#[derive(Clone)]
pub struct Actions {
    http: Client,
    #[cfg(feature = "kubernetes")]
    kube: Option<std::sync::Arc<ballast_kube::Kube>>,
}

impl std::fmt::Debug for Actions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actions").finish_non_exhaustive()
    }
}

/// The longest any single action may take, whatever its own setting says.
pub const MAX_ACTION_TIME: Duration = Duration::from_secs(600);

impl Actions {
    /// Actions over `http`, reading secrets from the process environment.
    pub fn new(http: Client) -> Actions {
        Actions {
            http,
            #[cfg(feature = "kubernetes")]
            kube: None,
        }
    }

    /// Kubernetes actions go through this client.
    #[cfg(feature = "kubernetes")]
    pub fn with_kube(mut self, kube: ballast_kube::Kube) -> Actions {
        self.kube = Some(std::sync::Arc::new(kube));
        self
    }

    /// Carries out `spec` for the alert in `values`.
    pub async fn run(&self, spec: &ActionSpec, values: &Values<'_>) -> Result<String, String> {
        match spec {
            ActionSpec::Http(h) => self.http(h, values).await,
            ActionSpec::Exec(e) => exec(e, values).await,
            ActionSpec::Restart(r) => self.restart(r, values).await,
            ActionSpec::Chaos(c) => self.chaos(c).await,
            ActionSpec::Tower(t) => self.tower(t).await,
            ActionSpec::GoGc(g) => self.go_gc(g).await,
            ActionSpec::Kubernetes(k) => self.kubernetes(&render_strings(k, values)?).await,
        }
    }

    fn secret(&self, name: &str) -> Result<String, String> {
        match std::env::var(name).ok() {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(format!(
                "the environment variable {name} (the action's token) is not set"
            )),
        }
    }

    async fn send(
        &self,
        request: Request,
        timeout: Duration,
    ) -> Result<ballast_http::Response, String> {
        let shown = ballast_http::redact(request.url());
        match tokio::time::timeout(timeout.min(MAX_ACTION_TIME), self.http.send(request)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "{shown}: no answer within {}",
                ballast_core::format_duration(timeout)
            )),
        }
    }

    async fn http(&self, h: &HttpAction, values: &Values<'_>) -> Result<String, String> {
        let url_text = render(&h.url, values)?;
        let url = parse_url(&url_text)?;
        let method = http_method(&h.method).unwrap_or("POST");
        let method = http::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut request = Request::new(method.clone(), url.clone()).repeatable(false);
        for (name, value) in &h.headers {
            request = request.header(name, &render(value, values)?);
        }
        if let Some(env) = &h.bearer_token_env {
            request = request.header("authorization", &format!("Bearer {}", self.secret(env)?));
        }
        if let Some(body) = &h.body {
            let text = render(body, values)?;
            let content_type = h
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| {
                    if serde_json::from_str::<Value>(&text).is_ok() {
                        "application/json"
                    } else {
                        "text/plain"
                    }
                    .to_string()
                });
            request = request.body(&content_type, text.into_bytes());
        }
        let response = self.send(request, h.timeout).await?;
        let ok = if h.expect.is_empty() {
            response.is_success()
        } else {
            h.expect.contains(&response.status)
        };
        let summary = format!(
            "{method} {} answered {}",
            ballast_http::redact(&url),
            response.status
        );
        if ok {
            Ok(summary)
        } else {
            Err(format!("{summary}: {}", snippet(&response.text())))
        }
    }

    async fn restart(&self, r: &RestartAction, values: &Values<'_>) -> Result<String, String> {
        let service = render(&r.service, values)?;
        let mut url = parse_url(&r.supervisor)?;
        let prefix = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!(
            "{prefix}/restart/{}",
            ballast_spec::encode_component(&service)
        ));
        let mut request = Request::new(http::Method::POST, url).repeatable(false);
        if let Some(env) = &r.token_env {
            request = request.header("authorization", &format!("Bearer {}", self.secret(env)?));
        }
        let response = self.send(request, r.timeout).await?;
        if response.is_success() {
            Ok(format!(
                "restarted {service}: {}",
                snippet(&response.text())
            ))
        } else {
            Err(format!(
                "the supervisor answered {} for {service}: {}",
                response.status,
                snippet(&response.text())
            ))
        }
    }

    async fn chaos(&self, c: &ChaosAction) -> Result<String, String> {
        let base = parse_url(&c.api)?;
        let join = |path: String| -> Result<url::Url, String> {
            let mut u = base.clone();
            let prefix = u.path().trim_end_matches('/').to_string();
            u.set_path(&format!("{prefix}{path}"));
            Ok(u)
        };
        let proxy = ballast_spec::encode_component(&c.proxy);
        let (request, what) = if let Some(toxic) = &c.add_toxic {
            (
                Request::new(
                    http::Method::POST,
                    join(format!("/proxies/{proxy}/toxics"))?,
                )
                .json(toxic),
                format!(
                    "added toxic {} to proxy {}",
                    toxic
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("(unnamed)"),
                    c.proxy
                ),
            )
        } else if let Some(name) = &c.remove_toxic {
            (
                Request::new(
                    http::Method::DELETE,
                    join(format!(
                        "/proxies/{proxy}/toxics/{}",
                        ballast_spec::encode_component(name)
                    ))?,
                ),
                format!("removed toxic {name} from proxy {}", c.proxy),
            )
        } else {
            let enabled = c.enabled.unwrap_or(true);
            (
                Request::new(http::Method::POST, join(format!("/proxies/{proxy}"))?)
                    .json(&json!({ "enabled": enabled })),
                format!(
                    "{} proxy {}",
                    if enabled { "enabled" } else { "disabled" },
                    c.proxy
                ),
            )
        };
        let response = self.send(request.repeatable(false), c.timeout).await?;
        if response.is_success() {
            Ok(what)
        } else {
            Err(format!(
                "the chaos API answered {}: {}",
                response.status,
                snippet(&response.text())
            ))
        }
    }

    async fn tower(&self, t: &TowerAction) -> Result<String, String> {
        let token = self.secret(&t.token_env)?;
        let mut done = Vec::new();
        if let Some(limit) = &t.limit {
            let max = if limit.as_str() == Some("auto") {
                Value::Null
            } else {
                limit.clone()
            };
            self.admin(&t.admin, "limit", &token, json!({ "max": max }), t.timeout)
                .await?;
            done.push(format!("limit {limit}"));
        }
        if let Some(f) = &t.fallback {
            self.admin(
                &t.admin,
                "fallback",
                &token,
                json!({ "force": f == "force" }),
                t.timeout,
            )
            .await?;
            done.push(format!("fallback {f}"));
        }
        if let Some(b) = &t.breaker {
            self.admin(
                &t.admin,
                "breaker",
                &token,
                json!({ "name": b.name, "state": b.state }),
                t.timeout,
            )
            .await?;
            done.push(format!("breaker {} {}", b.name, b.state));
        }
        Ok(format!("tower admin {}: {}", t.admin, done.join(", ")))
    }

    async fn go_gc(&self, g: &GoGcAction) -> Result<String, String> {
        let token = self.secret(&g.token_env)?;
        let answer = self
            .admin(
                &g.admin,
                "gc",
                &token,
                json!({ "percent": g.percent }),
                g.timeout,
            )
            .await?;
        Ok(format!("GOGC set to {} ({})", g.percent, snippet(&answer)))
    }

    async fn admin(
        &self,
        base: &str,
        what: &str,
        token: &str,
        body: Value,
        timeout: Duration,
    ) -> Result<String, String> {
        let mut url = parse_url(base)?;
        let prefix = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{prefix}/{what}"));
        let request = Request::new(http::Method::POST, url.clone())
            .json(&body)
            .header("authorization", &format!("Bearer {token}"))
            .repeatable(false);
        let response = self.send(request, timeout).await?;
        if response.is_success() {
            Ok(response.text())
        } else {
            Err(format!(
                "{} answered {}: {}",
                ballast_http::redact(&url),
                response.status,
                snippet(&response.text())
            ))
        }
    }

    #[cfg(feature = "kubernetes")]
    async fn kubernetes(&self, spec: &Value) -> Result<String, String> {
        let Some(kube) = &self.kube else {
            return Err("no Kubernetes client: the healer was started without a kubeconfig".into());
        };
        let action: ballast_kube::KubeAction =
            serde_json::from_value(spec.clone()).map_err(|e| e.to_string())?;
        let outcome = kube.run(&action).await.map_err(|e| e.to_string())?;
        Ok(serde_json::to_string(&outcome).unwrap_or_default())
    }

    #[cfg(not(feature = "kubernetes"))]
    async fn kubernetes(&self, _spec: &Value) -> Result<String, String> {
        Err("this ballast was built without the `kubernetes` feature".into())
    }
}

async fn exec(e: &ExecAction, values: &Values<'_>) -> Result<String, String> {
    let argv: Vec<String> = e
        .argv
        .iter()
        .map(|a| render(a, values))
        .collect::<Result<_, _>>()?;
    let mut command = tokio::process::Command::new(&argv[0]);
    // The healer's own environment holds its tokens: a program gets only the basics and
    // what the policy gives it.
    command.env_clear();
    for name in INHERITED_ENV {
        if let Ok(v) = std::env::var(name) {
            command.env(name, v);
        }
    }
    command
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in &e.env {
        command.env(k, render(v, values)?);
    }
    let child = command
        .spawn()
        .map_err(|err| format!("cannot start {:?}: {err}", argv[0]))?;
    match tokio::time::timeout(e.timeout.min(MAX_ACTION_TIME), child.wait_with_output()).await {
        Err(_) => Err(format!(
            "{:?} did not finish within {} and was killed",
            argv[0],
            ballast_core::format_duration(e.timeout)
        )),
        Ok(Err(err)) => Err(format!("{:?}: {err}", argv[0])),
        Ok(Ok(out)) => {
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if out.status.success() {
                Ok(format!("{} exited 0: {}", argv.join(" "), snippet(&said)))
            } else {
                Err(format!(
                    "{} failed ({}): {}",
                    argv.join(" "),
                    out.status,
                    snippet(&said)
                ))
            }
        }
    }
}

/// What an `exec` action's program inherits from the healer's environment.
pub const INHERITED_ENV: [&str; 8] = [
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
];

/// Every string in a JSON value written with the alert's values (Kubernetes actions:
/// `deployment: "{{ labels.deployment }}"`).
fn render_strings(value: &Value, values: &Values<'_>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(render(s, values)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| render_strings(v, values))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), render_strings(v, values)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn render(text: &str, values: &Values<'_>) -> Result<String, String> {
    Template::parse(text)?.render(values)
}

fn parse_url(text: &str) -> Result<url::Url, String> {
    match url::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
        Ok(u) => Err(format!(
            "{text:?}: expected http or https, found {}",
            u.scheme()
        )),
        Err(e) => Err(format!("{text:?} is not a URL: {e}")),
    }
}

fn snippet(text: &str) -> String {
    let t = text.trim();
    if t.chars().count() > 300 {
        format!("{}…", t.chars().take(300).collect::<String>())
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_specs_are_written_with_the_alerts_values() {
        let labels = [("deployment".to_string(), "shop".to_string())].into();
        let values = Values {
            labels: Some(&labels),
            annotations: None,
            fields: [
                ("fingerprint", "ab12".to_string()),
                ("startsAt", "2026-12-01T20:00:00Z".to_string()),
            ]
            .into(),
        };
        let spec = serde_json::json!({"trigger_remediation": {"name": "fix-{{ labels.deployment }}",
            "fingerprint": "{{ fingerprint }}", "starts_at": "{{ startsAt }}", "labels": {"deployment": "{{ labels.deployment }}"}, "n": 3}});
        let out = render_strings(&spec, &values).unwrap();
        assert_eq!(out["trigger_remediation"]["name"], "fix-shop");
        assert_eq!(
            out["trigger_remediation"]["starts_at"],
            "2026-12-01T20:00:00Z"
        );
        assert_eq!(out["trigger_remediation"]["labels"]["deployment"], "shop");
        assert_eq!(out["trigger_remediation"]["n"], 3);
        let missing =
            serde_json::json!({"scale": {"deployment": "{{ labels.nope }}", "replicas": 2}});
        assert!(render_strings(&missing, &values)
            .unwrap_err()
            .contains("no label \"nope\""));
        #[cfg(feature = "kubernetes")]
        {
            let action: ballast_kube::KubeAction = serde_json::from_value({
                let mut o = out.clone();
                o["trigger_remediation"]
                    .as_object_mut()
                    .unwrap()
                    .remove("n");
                o
            })
            .unwrap();
            assert!(action.validate().is_ok(), "{action:?}");
        }
    }
}
