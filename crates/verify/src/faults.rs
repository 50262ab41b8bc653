//! Faults of a contract's chaos phases, put in place through the chaos proxy: an embedded
//! `ballast-chaos` server that lives for the run, or a running one (ours or Toxiproxy)
//! over its HTTP API. Whatever happens, every fault added is removed before the run ends.

use crate::report::FaultRecord;
use crate::Error;
use ballast_chaos::{ApiClient, ChaosConfig, ChaosServer, ProxyUpdate, Toxic};
use ballast_contract::{ChaosPlan, PhasePlan};
use std::time::Instant;

/// Where faults go.
pub(crate) enum Faults {
    Embedded(ChaosServer),
    Remote(Box<ApiClient>),
}

/// One fault in place.
#[derive(Clone)]
pub(crate) struct Applied {
    proxy: String,
    /// The toxic's name, or `None` for a proxy taken down.
    toxic: Option<String>,
    record: usize,
}

impl Faults {
    /// Starts the embedded proxies, or connects to the running API and checks that the
    /// proxies the phases name exist there.
    pub(crate) async fn start(plan: &ChaosPlan, phases: &[&PhasePlan]) -> Result<Faults, Error> {
        match &plan.api {
            None => {
                let config = ChaosConfig {
                    proxies: plan.proxies.iter().map(proxy_config).collect(),
                    ..Default::default()
                };
                let server = config
                    .build()
                    .await
                    .map_err(|e| Error::Chaos(format!("starting the proxies: {e}")))?;
                Ok(Faults::Embedded(server))
            }
            Some(url) => {
                let client = ApiClient::new(url, plan.token.clone())
                    .map_err(|e| Error::Chaos(e.to_string()))?;
                let existing = client
                    .proxies()
                    .await
                    .map_err(|e| Error::Chaos(format!("{url}: {e}")))?;
                for p in &plan.proxies {
                    if !existing.iter().any(|e| e.name == p.name) {
                        client
                            .create_proxy(&p.name, &p.listen, &p.upstream)
                            .await
                            .map_err(|e| {
                                Error::Chaos(format!("{url}: creating {}: {e}", p.name))
                            })?;
                    }
                }
                let names: Vec<String> = client
                    .proxies()
                    .await
                    .map_err(|e| Error::Chaos(e.to_string()))?
                    .into_iter()
                    .map(|p| p.name)
                    .collect();
                for phase in phases {
                    for c in &phase.chaos {
                        if !names.contains(&c.proxy) {
                            return Err(Error::Chaos(format!(
                                "phase {}: {url} has no proxy {:?}; it has {}",
                                phase.name,
                                c.proxy,
                                names.join(", ")
                            )));
                        }
                    }
                }
                Ok(Faults::Remote(Box::new(client)))
            }
        }
    }

    async fn add_toxic(&self, proxy: &str, toxic: &Toxic) -> Result<(), String> {
        match self {
            Faults::Embedded(s) => s
                .add_toxic(proxy, toxic.clone())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Faults::Remote(c) => c
                .add_toxic(proxy, toxic)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }

    async fn set_enabled(&self, proxy: &str, enabled: bool) -> Result<(), String> {
        match self {
            Faults::Embedded(s) => s
                .update_proxy(
                    proxy,
                    ProxyUpdate {
                        enabled: Some(enabled),
                        ..Default::default()
                    },
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Faults::Remote(c) => c
                .call(
                    http::Method::POST,
                    &format!("/proxies/{}", ballast_spec::encode_component(proxy)),
                    Some(&serde_json::json!({ "enabled": enabled })),
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }

    /// Puts the phase's faults in place; `records` gets one entry per fault.
    pub(crate) async fn apply(
        &self,
        phase: &PhasePlan,
        start: Instant,
        records: &mut Vec<FaultRecord>,
    ) -> Result<Vec<Applied>, Error> {
        let mut applied = Vec::new();
        let mut push =
            |records: &mut Vec<FaultRecord>, proxy: &str, kind: &str, toxic: Option<String>| {
                records.push(FaultRecord {
                    phase: phase.name.clone(),
                    proxy: proxy.to_string(),
                    toxic: kind.to_string(),
                    applied_s: start.elapsed().as_secs_f64(),
                    removed_s: None,
                });
                applied.push(Applied {
                    proxy: proxy.to_string(),
                    toxic,
                    record: records.len() - 1,
                });
            };
        for c in phase.chaos.iter().filter(|c| c.toxic == "down") {
            if let Err(e) = self.set_enabled(&c.proxy, false).await {
                self.remove(&applied.clone(), start, records).await;
                return Err(Error::Chaos(format!(
                    "phase {}: taking {} down: {e}",
                    phase.name, c.proxy
                )));
            }
            push(records, &c.proxy, "down", None);
        }
        for (proxy, toxic) in &phase.toxics {
            if let Err(e) = self.add_toxic(proxy, toxic).await {
                self.remove(&applied.clone(), start, records).await;
                return Err(Error::Chaos(format!(
                    "phase {}: adding {} to {proxy}: {e}",
                    phase.name, toxic.name
                )));
            }
            push(
                records,
                proxy,
                toxic.kind.type_name(),
                Some(toxic.name.clone()),
            );
        }
        Ok(applied)
    }

    /// Removes faults (errors are reported on stderr, never left silent, and never stop
    /// the removal of the others).
    pub(crate) async fn remove(
        &self,
        applied: &[Applied],
        start: Instant,
        records: &mut [FaultRecord],
    ) {
        for a in applied {
            let result = match &a.toxic {
                None => self.set_enabled(&a.proxy, true).await,
                Some(name) => match self {
                    Faults::Embedded(s) => s
                        .remove_toxic(&a.proxy, name)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Faults::Remote(c) => c
                        .remove_toxic(&a.proxy, name)
                        .await
                        .map_err(|e| e.to_string()),
                },
            };
            match result {
                Ok(()) => {
                    if let Some(r) = records.get_mut(a.record) {
                        r.removed_s = Some(start.elapsed().as_secs_f64());
                    }
                }
                Err(e) => eprintln!("warning: removing a fault from proxy {}: {e}", a.proxy),
            }
        }
    }

    /// Stops the embedded server (a remote one keeps running, with our faults removed).
    pub(crate) async fn shutdown(self) {
        if let Faults::Embedded(s) = self {
            s.shutdown().await;
        }
    }
}

/// The chaos proxy's configuration for a contract's proxy.
fn proxy_config(plan: &ballast_contract::ProxyPlan) -> ballast_chaos::ProxyConfig {
    let mut config = ballast_chaos::ProxyConfig::new(&plan.name, &plan.listen, &plan.upstream);
    config.http = plan.http;
    config
}
