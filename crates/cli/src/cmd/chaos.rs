//! `ballast chaos`: run the fault-injection proxy (`serve`), or drive a running one (ours or
//! Toxiproxy) from the terminal (`list`, `add`, `toxic add`, `toxic rm`, `reset`).

use super::{interrupted, InputError};
use anyhow::Context as _;
use ballast_chaos::{ApiClient, ChaosConfig, ProxyInfo, Toxic};
use clap::{Args, Subcommand};
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Toxiproxy's API port, so existing clients find us where they expect.
const DEFAULT_API: &str = "127.0.0.1:8474";
const TOKEN_ENV: &str = "BALLAST_CHAOS_TOKEN";

#[derive(Debug, Subcommand)]
pub enum ChaosCommand {
    /// Run the proxies and the Toxiproxy-compatible HTTP API until Ctrl-C.
    #[command(after_help = "Examples:
  ballast chaos serve --config proxies.yaml
  ballast chaos serve --api 0.0.0.0:8474 --token \"$TOKEN\"     # a token is required off loopback

The config file (JSON or YAML) is either Toxiproxy's array of proxies or
  {\"proxies\": [{\"name\": ..., \"listen\": ..., \"upstream\": ..., \"http\": true,
                 \"toxics\": [...], \"adaptive\": {...}}], \"seed\": 7}
Chaos level changes are logged at info level: RUST_LOG=ballast_chaos=info.")]
    Serve(ServeArgs),
    /// List the proxies of a running server and their toxics.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create a proxy on a running server.
    #[command(
        after_help = "Example:\n  ballast chaos add redis --listen 127.0.0.1:26379 --upstream 127.0.0.1:6379"
    )]
    Add {
        /// Proxy name.
        name: String,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// host:port to forward to.
        #[arg(long)]
        upstream: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Add or remove toxics.
    Toxic {
        #[command(subcommand)]
        command: ToxicCommand,
    },
    /// Write a contract's faults for another chaos tool (Chaos Mesh on Kubernetes).
    #[command(
        after_help = "Example:\n  ballast chaos export --format chaos-mesh shop.yaml --namespace shop --app checkout | kubectl apply -f -"
    )]
    Export {
        /// Output format.
        #[arg(long, value_parser = ["chaos-mesh"], default_value = "chaos-mesh")]
        format: String,
        /// The contract.
        contract: std::path::PathBuf,
        /// Namespace of the service and its dependencies.
        #[arg(long, default_value = "default")]
        namespace: String,
        /// `app` label of the service's pods [default: the contract's name].
        #[arg(long)]
        app: Option<String>,
    },
    /// Enable every proxy and remove every toxic and adaptive controller.
    Reset {
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ToxicCommand {
    /// Add a toxic to a proxy.
    #[command(
        after_help = "Attributes are key=value (numbers in Toxiproxy's units: ms, KB/s):
  ballast chaos toxic add redis -t latency -a latency=100 -a jitter=10
  ballast chaos toxic add redis -t timeout -a timeout=0 --toxicity 0.5
  ballast chaos toxic add web -t http_abort -a status=503 -a path_prefix=/api/ --toxicity 0.1
  ballast chaos toxic add web -t http_delay -a delay=200 -a headers.x-tenant=slow"
    )]
    Add {
        /// Proxy name.
        proxy: String,
        /// latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data,
        /// http_delay or http_abort.
        #[arg(short = 't', long = "type")]
        kind: String,
        /// Toxic name [default: <type>_<stream>].
        #[arg(short, long)]
        name: Option<String>,
        /// upstream or downstream [default: downstream; upstream for HTTP toxics].
        #[arg(short, long)]
        stream: Option<String>,
        /// Probability it applies (per connection; per request for HTTP toxics).
        #[arg(long, default_value_t = 1.0)]
        toxicity: f64,
        /// An attribute, key=value (repeatable); headers.NAME=value for HTTP matches.
        #[arg(short = 'a', long = "attribute", value_name = "KEY=VALUE", value_parser = parse_attribute)]
        attributes: Vec<(String, Value)>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove a toxic from a proxy.
    Rm {
        /// Proxy name.
        proxy: String,
        /// Toxic name.
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the HTTP API. A non-loopback address needs --token.
    #[arg(long, value_name = "ADDR")]
    pub api: Option<SocketAddr>,
    /// Proxies to start with (JSON or YAML; Toxiproxy's config files work too).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Bearer token the API requires [env: BALLAST_CHAOS_TOKEN].
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The chaos API to talk to.
    #[arg(long, default_value = DEFAULT_API, value_name = "URL")]
    pub api: String,
    /// Bearer token [env: BALLAST_CHAOS_TOKEN].
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

impl ClientArgs {
    fn client(&self) -> anyhow::Result<ApiClient> {
        ApiClient::new(&self.api, token(self.token.clone())).map_err(input)
    }
}

fn token(flag: Option<String>) -> Option<String> {
    flag.or_else(|| std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()))
}

/// `key=value`; the value is JSON when it parses as JSON (numbers, true), text otherwise.
fn parse_attribute(s: &str) -> Result<(String, Value), String> {
    let (key, value) = s
        .split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .ok_or_else(|| format!("expected KEY=VALUE (e.g. latency=100), got {s:?}"))?;
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
    Ok((key.trim().to_string(), value))
}

/// Bad input or a 4xx answer: exit code 2. Anything else (unreachable, 5xx): 1.
fn input(e: ballast_chaos::Error) -> anyhow::Error {
    if (400..500).contains(&e.status()) {
        anyhow::Error::new(InputError(e.to_string()))
    } else {
        anyhow::Error::new(e)
    }
}

pub async fn run(command: ChaosCommand) -> anyhow::Result<ExitCode> {
    match command {
        ChaosCommand::Serve(args) => serve(args).await,
        ChaosCommand::Export {
            format: _,
            contract,
            namespace,
            app,
        } => {
            let contract = ballast_contract::Contract::load(&contract)?;
            let app = app.unwrap_or_else(|| contract.name.clone());
            let options = ballast_contract::chaos_mesh::ExportOptions { namespace, app };
            print!(
                "{}",
                ballast_contract::chaos_mesh::export(&contract, &options)
            );
            Ok(ExitCode::SUCCESS)
        }
        ChaosCommand::List { client, json } => {
            let proxies = client.client()?.proxies().await.map_err(input)?;
            if json {
                let map: Map<String, Value> = proxies
                    .iter()
                    .map(|p| (p.name.clone(), p.to_json()))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&Value::Object(map))?);
            } else {
                print!("{}", table(&proxies));
            }
            Ok(ExitCode::SUCCESS)
        }
        ChaosCommand::Add {
            name,
            listen,
            upstream,
            client,
        } => {
            let info = client
                .client()?
                .create_proxy(&name, &listen, &upstream)
                .await
                .map_err(input)?;
            println!(
                "created proxy {} on {} → {}",
                info.name, info.listen, info.upstream
            );
            Ok(ExitCode::SUCCESS)
        }
        ChaosCommand::Toxic {
            command:
                ToxicCommand::Add {
                    proxy,
                    kind,
                    name,
                    stream,
                    toxicity,
                    attributes,
                    client,
                },
        } => {
            let mut body = serde_json::json!({
                "type": kind,
                "toxicity": toxicity,
                "attributes": attributes_object(attributes),
            });
            if let Some(name) = name {
                body["name"] = Value::String(name);
            }
            if let Some(stream) = stream {
                body["stream"] = Value::String(stream);
            }
            let toxic = Toxic::from_json(&body, true).map_err(|e| input(e.into()))?;
            let added = client
                .client()?
                .add_toxic(&proxy, &toxic)
                .await
                .map_err(input)?;
            println!(
                "added {} {} toxic {:?} on proxy {proxy}: {}",
                added.stream.as_str(),
                added.kind.type_name(),
                added.name,
                added.kind.attributes()
            );
            Ok(ExitCode::SUCCESS)
        }
        ChaosCommand::Toxic {
            command:
                ToxicCommand::Rm {
                    proxy,
                    name,
                    client,
                },
        } => {
            client
                .client()?
                .remove_toxic(&proxy, &name)
                .await
                .map_err(input)?;
            println!("removed toxic {name:?} from proxy {proxy}");
            Ok(ExitCode::SUCCESS)
        }
        ChaosCommand::Reset { client } => {
            client.client()?.reset().await.map_err(input)?;
            println!("reset: every proxy enabled, every toxic removed");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `headers.X=v` pairs nest into a `headers` object; the rest stay flat.
fn attributes_object(attributes: Vec<(String, Value)>) -> Value {
    let mut map = Map::new();
    for (key, value) in attributes {
        match key.split_once('.') {
            Some((outer, inner)) => {
                let entry = map
                    .entry(outer.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(nested) = entry {
                    // Header values are text even when they look like numbers.
                    let text = match value {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    nested.insert(inner.to_string(), Value::String(text));
                }
            }
            None => {
                map.insert(key, value);
            }
        }
    }
    Value::Object(map)
}

fn table(proxies: &[ProxyInfo]) -> String {
    if proxies.is_empty() {
        return "no proxies\n".into();
    }
    let rows: Vec<[String; 5]> = proxies
        .iter()
        .map(|p| {
            let toxics = if p.toxics.is_empty() {
                "-".to_string()
            } else {
                p.toxics
                    .iter()
                    .map(|t| {
                        format!(
                            "{} ({} {}, toxicity {})",
                            t.name,
                            t.stream.as_str(),
                            attributes_text(t),
                            t.toxicity
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let enabled = if p.enabled { "yes" } else { "no (down)" };
            let name = match p.chaos_level {
                Some(level) => format!("{} [level {level}]", p.name),
                None => p.name.clone(),
            };
            [
                name,
                p.listen.clone(),
                p.upstream.clone(),
                enabled.to_string(),
                toxics,
            ]
        })
        .collect();
    let header = ["NAME", "LISTEN", "UPSTREAM", "ENABLED", "TOXICS"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header.map(str::to_string)).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == 4 {
                    cell.clone()
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn attributes_text(toxic: &Toxic) -> String {
    match toxic.kind.attributes() {
        Value::Object(map) => {
            let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} {}", toxic.kind.type_name(), parts.join(" "))
        }
        _ => toxic.kind.type_name().to_string(),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| InputError(format!("--config {}: {e}", path.display())))?;
            ChaosConfig::from_text(&text, &path.display().to_string()).map_err(input)?
        }
        None => ChaosConfig::default(),
    };
    // Flags win over the file; the API is on unless neither says where.
    if let Some(api) = args.api {
        config.api = Some(api);
    }
    config.api = Some(
        config
            .api
            .unwrap_or_else(|| DEFAULT_API.parse().expect("a valid default")),
    );
    if let Some(token) = token(args.token) {
        config.token = Some(token);
    }
    let server = config
        .build()
        .await
        .map_err(|e| match e {
            ballast_chaos::Error::Bind { .. } => anyhow::Error::new(e),
            other => input(other),
        })
        .context("starting the chaos proxy")?;
    let api = server.api_addr().map(|a| a.to_string()).unwrap_or_default();
    println!(
        "ballast chaos: API on http://{api} (Toxiproxy-compatible; GET /metrics for Prometheus)"
    );
    for proxy in server.proxies().await {
        println!(
            "  proxy {}: {} → {}{}",
            proxy.name,
            proxy.listen,
            proxy.upstream,
            if proxy.enabled { "" } else { " (down)" }
        );
    }
    println!("Ctrl-C stops it.");
    interrupted().await;
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_read_numbers_text_and_headers() {
        let pairs = [
            "latency=100",
            "path_prefix=/api",
            "headers.X-Tenant=7",
            "body=\"quoted\"",
        ]
        .map(|a| parse_attribute(a).unwrap());
        let object = attributes_object(pairs.to_vec());
        assert_eq!(
            object,
            serde_json::json!({"latency": 100, "path_prefix": "/api", "headers": {"X-Tenant": "7"}, "body": "quoted"})
        );
        assert!(parse_attribute("novalue").is_err());
        assert!(parse_attribute("=1").is_err());
    }

    #[test]
    fn tables_show_toxics_and_down_proxies() {
        let body = serde_json::json!({"type": "latency", "attributes": {"latency": 5}});
        let proxy = ProxyInfo {
            name: "redis".into(),
            listen: "127.0.0.1:26379".into(),
            upstream: "127.0.0.1:6379".into(),
            enabled: false,
            http: false,
            toxics: vec![Toxic::from_json(&body, true).unwrap()],
            chaos_level: Some(2),
        };
        let text = table(&[proxy]);
        assert!(text.starts_with("NAME"), "{text}");
        assert!(
            text.contains("redis [level 2]") && text.contains("no (down)"),
            "{text}"
        );
        assert!(
            text.contains("latency_downstream (downstream latency jitter=0 latency=5, toxicity 1)"),
            "{text}"
        );
        assert_eq!(table(&[]), "no proxies\n");
    }
}
