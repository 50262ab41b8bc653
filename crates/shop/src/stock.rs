//! Where the shop's stock levels come from: the inventory service over HTTP, or a table in
//! a real PostgreSQL; optionally read through a real Redis shared by every shop instance.
//!
//! Each is a `tower::Service<u64>` answering `{"id":…,"stock":…}`, so the breaker and the
//! fallback cache wrap them all the same way. A failed dependency is an error; a failed
//! shared cache is not (the shop goes to the source and counts the cache error), because a
//! cache that takes the shop down with it defeats its purpose.

use crate::Error;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Mutex;

/// A stock answer: the JSON body, as the inventory service writes it.
pub(crate) type Stock = http::Response<String>;

/// The table the shop reads in PostgreSQL mode; created and filled when missing.
pub const STOCK_TABLE: &str = "ballast_demo_stock";
/// Products the table is filled with (ids 1 to this).
const SEEDED_PRODUCTS: u32 = 1000;
/// How long a shared-cache entry lives: short, so the database still sees traffic.
const SHARED_CACHE_TTL_SECS: u64 = 2;
/// How long a shared-cache call may take before the shop goes to the source instead.
const SHARED_CACHE_TIMEOUT: Duration = Duration::from_millis(20);

fn body(id: u64, stock: i64) -> String {
    format!("{{\"id\":{id},\"stock\":{stock}}}")
}

/// Connects to `database` (creating and filling [`STOCK_TABLE`] when missing) and to
/// `redis`, as a shop would, and lets go: a clear error before anything else starts.
pub async fn check_dependencies(database: Option<&str>, redis: Option<&str>) -> Result<(), Error> {
    if let Some(url) = database {
        Postgres::new(url)?.prepare_table().await?;
    }
    if let Some(url) = redis {
        SharedCache::new(url)?
            .connection()
            .await
            .map_err(|message| Error::Dependency {
                what: format!("redis at {url}"),
                message,
            })?;
    }
    Ok(())
}

/// The stock source the breaker guards.
#[derive(Clone)]
pub(crate) struct StockClient {
    source: Source,
    shared: Option<Arc<SharedCache>>,
}

#[derive(Clone)]
enum Source {
    Inventory(Arc<Inventory>),
    Postgres(Arc<Postgres>),
}

impl StockClient {
    /// Connects what needs connecting (PostgreSQL: also creates and fills the table), so a
    /// wrong URL fails at start, not at the first request.
    pub(crate) async fn connect(
        inventory: &str,
        database: Option<&str>,
        redis: Option<&str>,
        registry: &mut Registry,
    ) -> Result<StockClient, Error> {
        let source = match database {
            Some(url) => {
                let postgres = Postgres::new(url)?;
                postgres.prepare_table().await?;
                Source::Postgres(Arc::new(postgres))
            }
            None => Source::Inventory(Arc::new(Inventory::new(inventory)?)),
        };
        let shared = match redis {
            Some(url) => {
                let cache = SharedCache::new(url)?;
                cache.register(registry);
                // A cache that cannot be reached at start is a configuration error; one
                // that fails later is survived.
                cache.connection().await.map_err(|e| Error::Dependency {
                    what: format!("redis at {url}"),
                    message: e,
                })?;
                Some(Arc::new(cache))
            }
            None => None,
        };
        Ok(StockClient { source, shared })
    }

    async fn lookup(self, id: u64) -> Result<Stock, std::io::Error> {
        if let Some(shared) = &self.shared {
            if let Some(hit) = shared.get(id).await {
                return Ok(http::Response::new(hit));
            }
        }
        let answer = match &self.source {
            Source::Inventory(inventory) => inventory.stock(id).await?,
            Source::Postgres(postgres) => postgres.stock(id).await.map(|s| body(id, s))?,
        };
        if let Some(shared) = &self.shared {
            shared.put(id, &answer).await;
        }
        Ok(http::Response::new(answer))
    }
}

impl tower::Service<u64> for StockClient {
    type Response = Stock;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Stock, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, id: u64) -> Self::Future {
        Box::pin(self.clone().lookup(id))
    }
}

/// The inventory service over HTTP, through a pool of kept-alive connections (a service
/// under a surge must not pay a TCP handshake per lookup).
struct Inventory {
    client: reqwest::Client,
    base: String,
}

impl Inventory {
    fn new(base: &str) -> Result<Inventory, Error> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .connect_timeout(Duration::from_secs(2))
            // The breaker's call timeout is the one that matters; this only bounds a
            // lookup nobody waits for any more.
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::Dependency {
                what: "inventory client".into(),
                message: e.to_string(),
            })?;
        let base = base.trim_end_matches('/').to_string();
        reqwest::Url::parse(&base).map_err(|e| Error::Dependency {
            what: format!("--inventory {base}"),
            message: format!("{e}; expected a URL like http://127.0.0.1:8081"),
        })?;
        Ok(Inventory { client, base })
    }

    async fn stock(&self, id: u64) -> Result<String, std::io::Error> {
        let response = self
            .client
            .get(format!("{}/stock/{id}", self.base))
            .send()
            .await
            .map_err(std::io::Error::other)?;
        let status = response.status();
        let text = response.text().await.map_err(std::io::Error::other)?;
        if !status.is_success() {
            return Err(std::io::Error::other(format!(
                "inventory answered {status}"
            )));
        }
        Ok(text)
    }
}

/// One pipelined connection to PostgreSQL, opened again when it closes (a proxy that
/// stalled it closes it when the fault is removed).
struct Postgres {
    config: tokio_postgres::Config,
    url: String,
    live: Mutex<Option<(Arc<tokio_postgres::Client>, tokio_postgres::Statement)>>,
}

impl Postgres {
    fn new(url: &str) -> Result<Postgres, Error> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| Error::Dependency {
            what: "--database".into(),
            message: format!("{e}; expected a URL like postgres://user@127.0.0.1:5432/dbname"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name("ballast-shop");
        Ok(Postgres {
            config,
            url: url.to_string(),
            live: Mutex::new(None),
        })
    }

    fn error(&self, e: tokio_postgres::Error) -> Error {
        Error::Dependency {
            what: format!("postgres at {}", self.url),
            message: describe(&e),
        }
    }

    /// Creates and fills the stock table when it is missing (idempotent; two shops starting
    /// at once may race on the CREATE, so a failure is tried once more).
    async fn prepare_table(&self) -> Result<(), Error> {
        let client = self.connect().await.map_err(|e| self.error(e))?;
        let setup = format!(
            "CREATE TABLE IF NOT EXISTS {STOCK_TABLE} (id bigint PRIMARY KEY, stock integer NOT NULL);
             INSERT INTO {STOCK_TABLE} SELECT g, (g * 37) % 100 FROM generate_series(1, {SEEDED_PRODUCTS}) g
             ON CONFLICT (id) DO NOTHING"
        );
        if client.batch_execute(&setup).await.is_err() {
            client
                .batch_execute(&setup)
                .await
                .map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    async fn connect(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "postgres connection ended");
            }
        });
        Ok(client)
    }

    /// The live connection and its prepared lookup, opened again when it closed.
    async fn client(
        &self,
    ) -> Result<(Arc<tokio_postgres::Client>, tokio_postgres::Statement), tokio_postgres::Error>
    {
        let mut live = self.live.lock().await;
        if let Some((client, statement)) = live.as_ref() {
            if !client.is_closed() {
                return Ok((client.clone(), statement.clone()));
            }
        }
        *live = None;
        let client = self.connect().await?;
        let statement = client
            .prepare(&format!("SELECT stock FROM {STOCK_TABLE} WHERE id = $1"))
            .await?;
        let client = Arc::new(client);
        *live = Some((client.clone(), statement.clone()));
        Ok((client, statement))
    }

    /// The stock of `id`; a product the table does not list has none.
    async fn stock(&self, id: u64) -> Result<i64, std::io::Error> {
        let io = |e: tokio_postgres::Error| std::io::Error::other(describe(&e));
        let (client, statement) = self.client().await.map_err(io)?;
        let id = i64::try_from(id).map_err(std::io::Error::other)?;
        let row = client.query_opt(&statement, &[&id]).await.map_err(io)?;
        Ok(row.map_or(0, |row| i64::from(row.get::<_, i32>(0))))
    }
}

/// tokio-postgres says "db error" and keeps the server's words in its source.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    result: &'static str,
}

/// Redis as a read-through cache shared by every shop instance.
struct SharedCache {
    client: redis::Client,
    live: Mutex<Option<redis::aio::MultiplexedConnection>>,
    calls: Family<CacheLabels, Counter>,
}

impl SharedCache {
    fn new(url: &str) -> Result<SharedCache, Error> {
        let client = redis::Client::open(url).map_err(|e| Error::Dependency {
            what: "--redis".into(),
            message: format!("{e}; expected a URL like redis://127.0.0.1:6379/"),
        })?;
        Ok(SharedCache {
            client,
            live: Mutex::new(None),
            calls: Family::default(),
        })
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "ballast_shop_shared_cache_calls",
            "Shared-cache (Redis) lookups by result: hit, miss, error",
            self.calls.clone(),
        );
    }

    fn count(&self, result: &'static str) {
        self.calls.get_or_create(&CacheLabels { result }).inc();
    }

    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, String> {
        let mut live = self.live.lock().await;
        if let Some(connection) = live.as_ref() {
            return Ok(connection.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(SHARED_CACHE_TIMEOUT));
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| e.to_string())?;
        *live = Some(connection.clone());
        Ok(connection)
    }

    /// Forgets a connection that failed, so the next call opens a new one.
    async fn drop_connection(&self) {
        *self.live.lock().await = None;
    }

    fn key(id: u64) -> String {
        format!("ballast:demo:stock:{id}")
    }

    async fn get(&self, id: u64) -> Option<String> {
        let call = async {
            let mut connection = self.connection().await?;
            redis::cmd("GET")
                .arg(Self::key(id))
                .query_async::<Option<String>>(&mut connection)
                .await
                .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(SHARED_CACHE_TIMEOUT, call).await {
            Ok(Ok(Some(hit))) => {
                self.count("hit");
                Some(hit)
            }
            Ok(Ok(None)) => {
                self.count("miss");
                None
            }
            Ok(Err(_)) | Err(_) => {
                self.count("error");
                self.drop_connection().await;
                None
            }
        }
    }

    async fn put(&self, id: u64, value: &str) {
        let call = async {
            let mut connection = self.connection().await?;
            redis::cmd("SET")
                .arg(Self::key(id))
                .arg(value)
                .arg("EX")
                .arg(SHARED_CACHE_TTL_SECS)
                .query_async::<()>(&mut connection)
                .await
                .map_err(|e| e.to_string())
        };
        if !matches!(
            tokio::time::timeout(SHARED_CACHE_TIMEOUT, call).await,
            Ok(Ok(()))
        ) {
            self.count("error");
            self.drop_connection().await;
        }
    }
}
