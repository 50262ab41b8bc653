//! `ballast demo`: the seed's golden contract table, end to end. An inventory service, a
//! chaos proxy in front of it and the reference shop (every ballast-tower layer) on free
//! loopback ports; `contracts/golden.yaml` (built into the binary) run by `verify`; the
//! verdict table and the report. Everything started is stopped, also on Ctrl-C or failure.
//!
//! With `--database` (and `--redis`) the shop's dependency is a real PostgreSQL (and its
//! shared cache a real Redis), each behind a proxy of its own; the faults stay the same.
//!
//! `demo serve`, `demo shop`, `demo inventory` run one service alone; `demo load` is the
//! load engine alone.

mod deps;

use super::interrupted;
use super::verify::{exit_code, run_contract, Outputs};
use crate::cli::{DemoArgs, DemoCommand, DemoLoadArgs, DemoServeArgs, DemoShopArgs};
use crate::output::LiveProgress;
use anyhow::Context as _;
use ballast_demo::{DemoServerConfig, SlowAbove, Stall};
use ballast_load::{LoadConfig, Model, Stop};
use ballast_verify::VerifyOptions;
use deps::DependencyUrl;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

/// The demo's contract, built in so that `cargo run --release -- demo` needs no file.
const GOLDEN: &str = include_str!("../../../../../contracts/golden.yaml");

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(DemoCommand::Serve(a)) => return serve(a).await,
        Some(DemoCommand::Shop(a)) => return shop(a).await,
        Some(DemoCommand::Inventory { bind }) => {
            let inventory = ballast_shop::InventoryConfig {
                bind,
                ..Default::default()
            }
            .build()
            .await
            .map_err(|e| super::InputError(e.to_string()))?;
            eprintln!("inventory listening on {}", inventory.url());
            until_stopped().await?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(DemoCommand::Load(a)) => return load(a).await,
        None => {}
    }
    let database = args
        .database
        .as_deref()
        .map(|url| DependencyUrl::parse("--database", url, &["postgres", "postgresql"], 5432))
        .transpose()
        .map_err(super::InputError)?;
    let redis = args
        .redis
        .as_deref()
        .map(|url| DependencyUrl::parse("--redis", url, &["redis"], 6379))
        .transpose()
        .map_err(super::InputError)?;
    // Reach them before anything starts (this also creates the stock table): a wrong URL
    // is one clear line, not a service that never becomes ready.
    ballast_shop::check_dependencies(args.database.as_deref(), args.redis.as_deref())
        .await
        .map_err(|e| super::InputError(e.to_string()))?;
    let inventory = match database {
        Some(_) => None,
        None => Some(
            ballast_shop::InventoryConfig::default()
                .build()
                .await
                .context("starting the inventory service")?,
        ),
    };
    let shop_port = free_port()?;
    let proxy_port = free_port()?;
    let mut vars = BTreeMap::new();
    vars.insert("BALLAST_DEMO_SHOP_PORT", shop_port.to_string());
    vars.insert("BALLAST_DEMO_PROXY_PORT", proxy_port.to_string());
    if let Some(inventory) = &inventory {
        vars.insert(
            "BALLAST_DEMO_INVENTORY_PORT",
            inventory.addr().port().to_string(),
        );
    }
    vars.insert(
        "BALLAST_DEMO_FALLBACK",
        if args.disable_fallback {
            "--disable-fallback"
        } else {
            "--with-fallback"
        }
        .into(),
    );
    let (phase, warmup) = if args.quick {
        ("6s", "2s")
    } else {
        ("20s", "5s")
    };
    vars.insert("BALLAST_DEMO_PHASE", phase.into());
    vars.insert("BALLAST_DEMO_WARMUP", warmup.into());
    let lookup = |name: &str| vars.get(name).cloned().or_else(|| std::env::var(name).ok());
    let mut contract = ballast_contract::Contract::parse_with_vars(
        GOLDEN,
        "contracts/golden.yaml",
        std::path::Path::new("."),
        &lookup,
    )
    .context("the built-in contract")?;
    let cache_port = match &redis {
        Some(_) => Some(free_port()?),
        None => None,
    };
    use_real_dependencies(
        &mut contract,
        database.as_ref().map(|db| (db, proxy_port)),
        redis.as_ref().zip(cache_port),
    )?;

    println!(
        "ballast demo: the seed's golden contract table, end to end{}",
        if args.quick { " (quick)" } else { "" }
    );
    match (&inventory, &database) {
        (Some(inventory), _) => println!(
            "  inventory  http://{}/   (the shop's dependency)",
            inventory.addr()
        ),
        (None, Some(db)) => println!(
            "  database   {}   (the shop's dependency: table {})",
            db.upstream(),
            ballast_shop::STOCK_TABLE
        ),
        (None, None) => {}
    }
    println!("  proxy      127.0.0.1:{proxy_port}   (ballast chaos, in front of the dependency)");
    if let (Some(redis), Some(port)) = (&redis, cache_port) {
        println!(
            "  redis      {}   (the shops' shared cache, through the proxy on 127.0.0.1:{port})",
            redis.upstream()
        );
    }
    println!(
        "  shop       http://127.0.0.1:{shop_port}/   (every ballast-tower layer{})\n",
        if args.disable_fallback {
            ", fallback cache left out"
        } else {
            ""
        }
    );
    let outputs = Outputs {
        report: Some(args.report.clone()),
        junit: None,
        json: None,
    };
    let report = run_contract(
        &contract,
        &VerifyOptions::default(),
        &outputs,
        !args.no_progress,
    )
    .await?;
    drop(inventory);
    println!("\nreport: {}", args.report.join("report.html").display());
    Ok(exit_code(&report))
}

/// Points the built-in contract at the real dependencies: the `inventory` proxy goes to
/// PostgreSQL and the shop reads the database through it; a second proxy, `cache`, goes to
/// Redis. The contract's faults and clauses stay as they are.
fn use_real_dependencies(
    contract: &mut ballast_contract::Contract,
    database: Option<(&DependencyUrl, u16)>,
    redis: Option<(&DependencyUrl, u16)>,
) -> anyhow::Result<()> {
    let args = &mut contract
        .target
        .spawn
        .as_mut()
        .context("the built-in contract spawns the shop")?
        .args;
    let chaos = contract
        .chaos
        .as_mut()
        .context("the built-in contract has a chaos section")?;
    if let Some((db, proxy_port)) = database {
        let flag = args
            .iter()
            .position(|a| a == "--inventory")
            .context("the built-in contract passes --inventory")?;
        args[flag] = "--database".into();
        args[flag + 1] = db.via(proxy_port);
        let proxy = chaos
            .proxies
            .iter_mut()
            .find(|p| p.name == "inventory")
            .context("the built-in contract has an inventory proxy")?;
        proxy.upstream = db.upstream();
    }
    if let Some((redis, cache_port)) = redis {
        args.push("--redis".into());
        args.push(redis.via(cache_port));
        chaos.proxies.push(ballast_contract::ProxyPlan::new(
            "cache",
            format!("127.0.0.1:{cache_port}"),
            redis.upstream(),
        ));
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

async fn until_stopped() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// `ballast demo shop`: the reference service alone, until Ctrl-C or SIGTERM.
async fn shop(args: DemoShopArgs) -> anyhow::Result<ExitCode> {
    let admin_token = args
        .admin_token_env
        .as_deref()
        .map(admin_token)
        .transpose()
        .map_err(super::InputError)?;
    let admin = admin_token.is_some();
    let shop = ballast_shop::ShopConfig {
        bind: args.bind,
        inventory: args.inventory,
        database: args.database,
        redis: args.redis,
        dependency_timeout: args.dependency_timeout,
        disable_fallback: args.disable_fallback,
        admin_token,
    }
    .build()
    .await
    .map_err(|e| super::InputError(e.to_string()))?;
    eprintln!(
        "shop listening on {}{}{}",
        shop.url(),
        if args.disable_fallback {
            " (no fallback cache)"
        } else {
            ""
        },
        if admin {
            " (admin endpoint at /admin)"
        } else {
            ""
        }
    );
    until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}

/// The admin token from the environment variable `var` (`--admin-token-env`): a token on
/// the command line would show in `ps` and shell history, so only its variable's name is.
fn admin_token(var: &str) -> Result<String, String> {
    match std::env::var(var) {
        Ok(token) if !token.trim().is_empty() => Ok(token),
        Ok(_) => Err(format!(
            "--admin-token-env: the environment variable {var} is empty; set it to the admin \
             endpoint's bearer token"
        )),
        Err(std::env::VarError::NotPresent) => Err(format!(
            "--admin-token-env: the environment variable {var} is not set; set it to the admin \
             endpoint's bearer token"
        )),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!(
            "--admin-token-env: the environment variable {var} is not valid UTF-8"
        )),
    }
}

/// `ballast demo load`: the load engine against a built-in service that stalls once, where
/// corrected latency shows the stall that service time hides.
async fn load(args: DemoLoadArgs) -> anyhow::Result<ExitCode> {
    let stall = Stall {
        at: args.duration / 2,
        length: Duration::from_millis(300),
    };
    let server = DemoServerConfig {
        latency: Duration::from_micros(200),
        stall: Some(stall),
        fail_every: Some(200),
        ..Default::default()
    }
    .build()
    .await
    .context("starting the built-in service")?;
    println!(
        "ballast demo load: built-in service on {} (200µs per request, every 200th answered 503, \
         one {}ms stall at {:.1}s)",
        server.url(),
        stall.length.as_millis(),
        stall.at.as_secs_f64()
    );
    println!(
        "sending {} for {:.0}s (open model, 16 connections)\n",
        args.rate,
        args.duration.as_secs_f64()
    );
    let mut config = LoadConfig::new(server.url());
    config.model = Model::Open { rate: args.rate };
    config.stop = Stop::After(args.duration);
    config.connections = Some(16);
    let test = config.build()?;
    let progress = LiveProgress::new(!args.no_progress);
    let report = test.run(interrupted(), |p| progress.update(p)).await?;
    progress.finish();
    server.shutdown().await;
    print!("{}", report.summary());
    println!(
        "\nThe stall held {} requests back: corrected p99 {:.1}ms vs service-time p99 {:.1}ms.\n\
         A closed-loop tool would have reported the second figure.",
        report.late, report.latency_ms.p99, report.service_ms.p99
    );
    super::load::write_and_exit(&report, args.json.as_deref())
}

/// `ballast demo serve`: the built-in service alone, until Ctrl-C or SIGTERM.
async fn serve(args: DemoServeArgs) -> anyhow::Result<ExitCode> {
    let server = DemoServerConfig {
        bind: args.bind,
        latency: args.latency,
        fail_every: args.fail_every,
        slow_above: match (args.slow_above, args.slow_by) {
            (Some(rate), Some(extra)) => Some(SlowAbove {
                rps: rate.at_fraction(0.0).per_second(),
                extra,
            }),
            _ => None,
        },
        dependency_timeout_at: args.dependency_timeout_at,
        ..Default::default()
    }
    .build()
    .await
    .map_err(|e| super::InputError(e.to_string()))?;
    eprintln!(
        "ballast demo service listening on {} (metrics at {}metrics)",
        server.url(),
        server.url()
    );
    until_stopped().await?;
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
