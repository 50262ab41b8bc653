//! Flags as the user types them. Values are parsed into the engines' own types here, so
//! a bad value is a clap usage error (one line, exit code 2) before anything runs.

use ballast_core::{parse_duration, RateSpec};
use ballast_load::Shard;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// ballast — make a service's stability a contract: verified before release,
/// watched in production, defended automatically.
#[derive(Debug, Parser)]
#[command(
    name = "ballast",
    version,
    propagate_version = true,
    arg_required_else_help = true
)]
#[command(after_help = "Examples:
  ballast demo                                        the seed's golden table, end to end (about 95 s; --quick about 30 s)
  ballast load http://127.0.0.1:8080/ --rate 2000/s --duration 30s
  ballast load http://127.0.0.1:8080/ --concurrency 64 --requests 100000 --json run.json
  ballast report merge shard-1.json shard-2.json -o run.json
  ballast completions bash > /etc/bash_completion.d/ballast")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send HTTP load to one URL and measure latency, errors and throughput.
    #[command(after_help = "Examples:
  Open model (constant rate; latency counted from each request's due time):
    ballast load http://127.0.0.1:8080/api --rate 5000/s --duration 30s
  Linear ramp:
    ballast load http://127.0.0.1:8080/ --rate 100/s..2000/s --duration 2m
  Closed model (maximum throughput with 64 requests in flight):
    ballast load http://127.0.0.1:8080/ --concurrency 64 --duration 10s
  POST a JSON file over HTTP/2 with a header:
    ballast load https://127.0.0.1:8443/orders --http2 --insecure -X POST \\
      -H 'Content-Type: application/json' --body-file order.json --rate 200/s
  Shard 2 of 4 (run the other three elsewhere, then `ballast report merge`):
    ballast load http://10.0.0.5/ --rate 40000/s --duration 5m --shard 2/4 --json s2.json")]
    Load(LoadArgs),
    /// Run a stability contract (load, measurement, verdict): the CI gate.
    #[command(
        after_help = "Exit codes: 0 every fail-severity clause held; 1 a clause failed (or could not be decided);
2 the contract or a flag is invalid (nothing was sent); 130 interrupted.

Examples:
  ballast verify contracts/examples/basic.yaml
  ballast verify shop.yaml --report out/ --junit out/junit.xml --json out/verdict.json
  ballast verify shop.yaml --dry-run           # print the plan, send nothing
  ballast verify shop.yaml --only surge        # one phase; clauses needing others are skipped"
    )]
    Verify(VerifyArgs),
    /// Check, scaffold or describe contract files.
    Contract {
        #[command(subcommand)]
        command: ContractCommand,
    },
    /// Error budgets, burn-rate alert rules and live SLO status.
    Slo {
        #[command(subcommand)]
        command: crate::cmd::slo::SloCommand,
    },
    /// Self-healing: receive Alertmanager webhooks, act on them as a policy says (HTTP,
    /// exec, restart, throttle or shed, GC tuning, Kubernetes), verify recovery with
    /// PromQL, and keep an audit trail.
    Heal {
        #[command(subcommand)]
        command: crate::cmd::heal::HealCommand,
    },
    /// Run a local service under supervision: restarted when it exits, and on request
    /// through a small control API (what `ballast heal`'s restart action calls).
    Supervise(crate::cmd::heal::SuperviseArgs),
    /// Profiles: capture Go's /debug/pprof (or a ballast-tower service's), read, draw and
    /// compare them, attribute instability to CPU, heap, goroutines or blocking, and watch
    /// the heap in production.
    Profile {
        #[command(subcommand)]
        command: crate::cmd::profile::ProfileCommand,
    },
    /// Work with result files.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Fault-injection proxy with Toxiproxy's API: serve it, or drive a running one.
    #[command(after_help = "Examples:
  ballast chaos serve --config proxies.yaml
  ballast chaos add redis --listen 127.0.0.1:26379 --upstream 127.0.0.1:6379
  ballast chaos toxic add redis -t latency -a latency=100
  ballast chaos list
  ballast chaos reset")]
    Chaos {
        #[command(subcommand)]
        command: crate::cmd::chaos::ChaosCommand,
    },
    /// Seasonal baselines of a series and the SLO objective they support.
    Baseline {
        #[command(subcommand)]
        command: crate::cmd::anomaly::BaselineCommand,
    },
    /// Streaming anomaly detection: live watch, offline scoring, NAB benchmark.
    Anomaly {
        #[command(subcommand)]
        command: crate::cmd::anomaly::AnomalyCommand,
    },
    /// Leak and trend test of gauges (goroutines, tasks, heap, RSS, fds): Theil–Sen slope,
    /// Mann–Kendall significance, growth watch. Exit 1 when a series is growing.
    #[command(after_help = "Examples:
  ballast leak go_goroutines go_memstats_heap_inuse_bytes --prometheus http://127.0.0.1:9090 --window 6h
  ballast leak process_open_fds --prometheus URL --limit 1024
  ballast leak --csv goroutines.csv")]
    Leak(crate::cmd::anomaly::LeakArgs),
    /// Circuit breakers of ballast-tower: replay a recorded trace to tune one offline.
    Breaker {
        #[command(subcommand)]
        command: crate::cmd::breaker::BreakerCommand,
    },
    /// Run ballast end to end against a built-in service on loopback.
    #[command(after_help = "Examples:
  ballast demo                      # the golden contract, about 95 s
  ballast demo --quick              # short phases, about 30 s
  ballast demo --disable-fallback   # must fail clause 2 (exit 1)
  ballast demo --database postgres://postgres@127.0.0.1:5432/test --redis redis://127.0.0.1:6379/")]
    Demo(DemoArgs),
    /// Print shell completions.
    Completions {
        /// The shell to complete for.
        shell: Shell,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The contract file (YAML).
    pub contract: PathBuf,
    /// Write report.html, verdict.json and junit.xml into this directory.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Write JUnit XML (one test case per clause) to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the full result (schema ballast.verify.v1) to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Run only this phase.
    #[arg(long, value_name = "PHASE")]
    pub only: Option<String>,
    /// Print the plan (phases, rates, durations, requests) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// No live progress.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Run only the built-in service, in the foreground (contracts' examples spawn it).
    Serve(DemoServeArgs),
    /// Run the demo's shop (the reference service using every ballast-tower layer).
    Shop(DemoShopArgs),
    /// Run the shop's inventory dependency.
    Inventory {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        bind: std::net::SocketAddr,
    },
    /// The load engine alone: an open-model run against the built-in service, with a stall
    /// that only coordinated-omission-corrected latency shows.
    Load(DemoLoadArgs),
}

#[derive(Debug, Args)]
pub struct DemoShopArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// Base URL of the inventory (in the demo, the chaos proxy in front of it).
    #[arg(long, default_value = "http://127.0.0.1:8081/")]
    pub inventory: String,
    /// Read stock from this PostgreSQL instead of the inventory
    /// (postgres://user@host:port/db; creates and fills the table ballast_demo_stock).
    #[arg(long, value_name = "URL", conflicts_with = "inventory")]
    pub database: Option<String>,
    /// Read stock through this Redis, a cache shared by every shop (redis://host:port/).
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// How long an inventory call may take before it counts as failed.
    #[arg(long, default_value = "100ms", value_parser = parse_positive_duration)]
    pub dependency_timeout: Duration,
    /// Build the shop without its fallback cache.
    #[arg(long, conflicts_with = "with_fallback")]
    pub disable_fallback: bool,
    /// Build the shop with its fallback cache (the default; lets scripts say it explicitly).
    #[arg(long)]
    pub with_fallback: bool,
    /// Serve the admin endpoint under /admin (GET /admin/state; POST /admin/limit {"max": N|null},
    /// /admin/fallback {"force": bool}, /admin/breaker {"name": "inventory", "state": "open"|"auto"})
    /// with the bearer token held by this environment variable (never the token itself on the
    /// command line); refused when the variable is unset or empty.
    #[arg(long, value_name = "VAR")]
    pub admin_token_env: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoLoadArgs {
    /// How long the load runs.
    #[arg(long, default_value = "5s", value_parser = parse_positive_duration)]
    pub duration: Duration,

    /// Open-model rate against the built-in service.
    #[arg(long, default_value = "1000/s", value_parser = parse_rate)]
    pub rate: RateSpec,

    /// Write the result (schema ballast.load.v1) to this file.
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,

    /// No live progress.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct DemoServeArgs {
    /// Address to listen on (loopback unless you say otherwise).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// Time spent on each request.
    #[arg(long, default_value = "1ms", value_parser = parse_duration_arg)]
    pub latency: Duration,
    /// Slow down while the previous second saw more than this rate (e.g. 300/s).
    #[arg(long, value_parser = parse_rate, requires = "slow_by")]
    pub slow_above: Option<RateSpec>,
    /// Latency added while above --slow-above.
    #[arg(long, value_parser = parse_duration_arg)]
    pub slow_by: Option<Duration>,
    /// Answer every N-th request with 503.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub fail_every: Option<u64>,
    /// From this long after start, the dependency times out and the cache answers.
    #[arg(long, value_parser = parse_duration_arg)]
    pub dependency_timeout_at: Option<Duration>,
}

pub(crate) fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Check a contract without running it (every problem, with file:line:column).
    Check {
        /// The contract file.
        contract: PathBuf,
    },
    /// Print the JSON Schema of contract files (for editor completion).
    Schema,
    /// Write a starting contract from an OpenAPI 3 document (its examples become bodies).
    Init {
        /// OpenAPI 3 document, YAML or JSON.
        #[arg(long, value_name = "api.yaml")]
        from_openapi: PathBuf,
        /// Where to write the contract [default: stdout].
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Base URL of the service [default: the document's first server, else http://127.0.0.1:8080].
        #[arg(long)]
        base_url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge the `--json` reports of shards of one run exactly (histograms add).
    Merge {
        /// Reports written by `ballast load --json` (two or more).
        #[arg(required = true, num_args = 1..)]
        inputs: Vec<PathBuf>,
        /// Where to write the merged report.
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Target URL (http:// or https://).
    pub url: String,

    /// Open model: requests per second, constant ("5000/s") or a ramp ("100/s..2000/s").
    #[arg(long, value_parser = parse_rate, conflicts_with = "concurrency", value_name = "RATE")]
    pub rate: Option<RateSpec>,

    /// Closed model: requests in flight, back to back [default: 64].
    #[arg(long, short = 'c', value_parser = clap::value_parser!(u32).range(1..=1_000_000), value_name = "N")]
    pub concurrency: Option<u32>,

    /// How long to send load [default: 10s].
    #[arg(long, short = 'z', value_parser = parse_positive_duration, conflicts_with = "requests", value_name = "DURATION")]
    pub duration: Option<Duration>,

    /// Stop after this many requests.
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    pub requests: Option<u64>,

    /// TCP connections [default: the concurrency; 64 for --rate].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000), value_name = "N")]
    pub connections: Option<u32>,

    /// HTTP method.
    #[arg(short = 'X', long = "method", default_value = "GET")]
    pub method: String,

    /// Request header, repeatable.
    #[arg(short = 'H', long = "header", value_parser = parse_header, value_name = "'Name: value'")]
    pub headers: Vec<(String, String)>,

    /// Request body.
    #[arg(
        short = 'd',
        long = "body",
        conflicts_with = "body_file",
        value_name = "BODY"
    )]
    pub body: Option<String>,

    /// Request body from a file.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,

    /// Per-request timeout, connecting included.
    #[arg(long, default_value = "2s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// Speak HTTP/2 (ALPN over TLS, prior knowledge over cleartext).
    #[arg(long)]
    pub http2: bool,

    /// Accept any TLS certificate (self-signed test servers).
    #[arg(long, short = 'k')]
    pub insecure: bool,

    /// Run shard I of N: 1/N of the rate and of --requests.
    #[arg(long, value_parser = parse_shard, value_name = "I/N")]
    pub shard: Option<Shard>,

    /// Write the full result (schema ballast.load.v1) to this file.
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,

    /// No live progress (it is also off when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DemoArgs {
    #[command(subcommand)]
    pub command: Option<DemoCommand>,

    /// Short phases (about 45 s in all) for CI and first impressions.
    #[arg(long)]
    pub quick: bool,

    /// Run the shop without its fallback cache: the dependency clause must then fail.
    #[arg(long)]
    pub disable_fallback: bool,

    /// The shop's dependency is this PostgreSQL (on loopback), through the chaos proxy,
    /// instead of the bundled inventory service: postgres://user@127.0.0.1:5432/db.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,

    /// The shop reads through this Redis (on loopback) as its shared cache, through a
    /// second chaos proxy: redis://127.0.0.1:6379/.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,

    /// Where to write report.html, junit.xml and verdict.json.
    #[arg(long, default_value = "ballast-demo-report", value_name = "DIR")]
    pub report: PathBuf,

    /// No live progress.
    #[arg(long)]
    pub no_progress: bool,
}

fn parse_rate(s: &str) -> Result<RateSpec, String> {
    s.parse().map_err(|e: ballast_core::Error| e.to_string())
}

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s) {
        Ok(d) if d.is_zero() => Err("expected a duration above zero, e.g. 30s".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("expected 'Name: value', got {s:?}")),
    }
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn header_parsing() {
        assert_eq!(
            parse_header("A: b: c").unwrap(),
            ("A".into(), "b: c".into())
        );
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header(": v").is_err());
    }
}
