//! A proxy's toxics in order, and the immutable [`Chain`] snapshot live connections read.
//!
//! The set itself is plain data behind the proxy's lock; every change produces a new
//! `Chain` that the proxy publishes on a watch channel. Connections pick it up at their
//! next wake-up, so a change reaches live connections without dropping them.

use super::{Stream, Toxic};
use crate::metrics::ToxicCounters;
use crate::rng::{seed_for, Dice};
use crate::Error;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A toxic as connections use it: the settings plus its dice and counters.
#[derive(Debug)]
pub(crate) struct ActiveToxic {
    /// Stable across updates, so a connection keeps its per-toxic state (bytes counted by
    /// `limit_data`, bandwidth pacing) when only the attributes change.
    pub id: u64,
    pub toxic: Toxic,
    pub dice: Dice,
    pub counters: Arc<ToxicCounters>,
}

/// What live connections of a proxy read: the toxics per direction, in order.
#[derive(Debug, Default)]
pub(crate) struct Chain {
    /// Bumped to close every connection (proxy disabled, deleted or moved).
    pub epoch: u64,
    /// TCP toxics on client → upstream.
    pub upstream: Vec<Arc<ActiveToxic>>,
    /// TCP toxics on upstream → client.
    pub downstream: Vec<Arc<ActiveToxic>>,
    /// HTTP toxics (they act on requests).
    pub http: Vec<Arc<ActiveToxic>>,
    /// New connections parse HTTP/1.1 (the proxy is marked `http`, or has HTTP toxics).
    pub track_http: bool,
}

impl Chain {
    pub(crate) fn tcp(&self, stream: Stream) -> &[Arc<ActiveToxic>] {
        match stream {
            Stream::Upstream => &self.upstream,
            Stream::Downstream => &self.downstream,
        }
    }
}

/// The toxics of one proxy.
#[derive(Debug)]
pub(crate) struct ToxicSet {
    proxy: String,
    seed: u64,
    next_id: u64,
    revision: u64,
    toxics: Vec<Arc<ActiveToxic>>,
    /// Kept after a toxic is removed so `/metrics` counters never go backwards.
    counters: BTreeMap<String, Arc<ToxicCounters>>,
}

impl ToxicSet {
    pub(crate) fn new(proxy: &str, seed: u64) -> Self {
        ToxicSet {
            proxy: proxy.to_string(),
            seed,
            next_id: 1,
            revision: 0,
            toxics: Vec::new(),
            counters: BTreeMap::new(),
        }
    }

    fn activate(&mut self, id: u64, toxic: Toxic) -> Arc<ActiveToxic> {
        self.revision += 1;
        let counters = self.counters.entry(toxic.name.clone()).or_default().clone();
        // Each revision rolls new dice, as Toxiproxy re-rolls toxicity on update; with a
        // seeded server the sequence is still fixed.
        let dice = Dice::new(seed_for(
            self.seed ^ self.revision,
            &format!("{}/{}", self.proxy, toxic.name),
        ));
        Arc::new(ActiveToxic {
            id,
            toxic,
            dice,
            counters,
        })
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.toxics.iter().position(|t| t.toxic.name == name)
    }

    /// Adds a toxic at the end of its direction's chain.
    pub(crate) fn add(&mut self, toxic: Toxic) -> Result<Toxic, Error> {
        if self.position(&toxic.name).is_some() {
            return Err(Error::ToxicExists {
                proxy: self.proxy.clone(),
                toxic: toxic.name,
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        let active = self.activate(id, toxic.clone());
        self.toxics.push(active);
        Ok(toxic)
    }

    /// Applies an API update (`attributes` merged, `toxicity` replaced).
    pub(crate) fn update(&mut self, name: &str, patch: &Value) -> Result<Toxic, Error> {
        let index = self.position(name).ok_or_else(|| self.not_found(name))?;
        let next = self.toxics[index].toxic.updated(patch)?;
        let id = self.toxics[index].id;
        self.toxics[index] = self.activate(id, next.clone());
        Ok(next)
    }

    /// Adds the toxic, or replaces the one of the same name in place (same position, same
    /// per-connection state when the direction is unchanged).
    pub(crate) fn upsert(&mut self, toxic: Toxic) -> Toxic {
        match self.position(&toxic.name) {
            Some(index) if self.toxics[index].toxic.stream == toxic.stream => {
                let id = self.toxics[index].id;
                self.toxics[index] = self.activate(id, toxic.clone());
                toxic
            }
            Some(index) => {
                self.toxics.remove(index);
                self.add(toxic.clone()).unwrap_or(toxic)
            }
            None => self.add(toxic.clone()).unwrap_or(toxic),
        }
    }

    pub(crate) fn remove(&mut self, name: &str) -> Result<Toxic, Error> {
        let index = self.position(name).ok_or_else(|| self.not_found(name))?;
        Ok(self.toxics.remove(index).toxic.clone())
    }

    pub(crate) fn clear(&mut self) {
        self.toxics.clear();
    }

    pub(crate) fn get(&self, name: &str) -> Result<Toxic, Error> {
        self.position(name)
            .map(|i| self.toxics[i].toxic.clone())
            .ok_or_else(|| self.not_found(name))
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.toxics.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.toxics.len()
    }

    /// Upstream toxics first, then downstream, each in the order added (Toxiproxy's order).
    pub(crate) fn list(&self) -> Vec<Toxic> {
        let mut out: Vec<Toxic> = Vec::with_capacity(self.toxics.len());
        for stream in [Stream::Upstream, Stream::Downstream] {
            out.extend(
                self.toxics
                    .iter()
                    .filter(|t| t.toxic.stream == stream)
                    .map(|t| t.toxic.clone()),
            );
        }
        out
    }

    pub(crate) fn counters(&self) -> impl Iterator<Item = (&String, &Arc<ToxicCounters>)> {
        self.counters.iter()
    }

    /// The snapshot for live connections.
    pub(crate) fn chain(&self, epoch: u64, http_proxy: bool) -> Chain {
        let pick = |stream: Stream, http: bool| -> Vec<Arc<ActiveToxic>> {
            self.toxics
                .iter()
                .filter(|t| t.toxic.kind.is_http() == http && (http || t.toxic.stream == stream))
                .cloned()
                .collect()
        };
        let http = pick(Stream::Upstream, true);
        Chain {
            epoch,
            upstream: pick(Stream::Upstream, false),
            downstream: pick(Stream::Downstream, false),
            track_http: http_proxy || !http.is_empty(),
            http,
        }
    }

    fn not_found(&self, name: &str) -> Error {
        Error::ToxicNotFound {
            proxy: self.proxy.clone(),
            toxic: name.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxic::ToxicKind;
    use serde_json::json;

    fn toxic(body: Value) -> Toxic {
        Toxic::from_json(&body, false).unwrap()
    }

    #[test]
    fn names_are_unique_and_lists_go_upstream_first() {
        let mut set = ToxicSet::new("p", 1);
        set.add(toxic(json!({"type": "latency"}))).unwrap();
        set.add(toxic(json!({"type": "latency", "stream": "upstream"})))
            .unwrap();
        let err = set.add(toxic(json!({"type": "latency"}))).unwrap_err();
        assert_eq!(err.status(), 409);
        let names: Vec<_> = set.list().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["latency_upstream", "latency_downstream"]);
    }

    #[test]
    fn chain_splits_tcp_and_http_toxics() {
        let mut set = ToxicSet::new("p", 1);
        set.add(toxic(json!({"type": "http_abort"}))).unwrap();
        set.add(toxic(json!({"type": "bandwidth", "stream": "upstream"})))
            .unwrap();
        let chain = set.chain(3, false);
        assert_eq!(chain.epoch, 3);
        assert_eq!((chain.upstream.len(), chain.downstream.len()), (1, 0));
        assert_eq!(chain.http.len(), 1);
        assert!(chain.track_http);
        set.remove("http_abort_upstream").unwrap();
        assert!(!set.chain(3, false).track_http);
        assert!(set.chain(3, true).track_http);
    }

    #[test]
    fn update_keeps_the_id_and_counters() {
        let mut set = ToxicSet::new("p", 1);
        set.add(toxic(
            json!({"type": "limit_data", "attributes": {"bytes": 5}}),
        ))
        .unwrap();
        let before = set.chain(0, false).downstream[0].clone();
        let updated = set
            .update(
                "limit_data_downstream",
                &json!({"attributes": {"bytes": 9}}),
            )
            .unwrap();
        let after = set.chain(0, false).downstream[0].clone();
        assert_eq!(before.id, after.id);
        assert!(Arc::ptr_eq(&before.counters, &after.counters));
        assert!(matches!(updated.kind, ToxicKind::LimitData(l) if l.bytes == 9));
        assert_eq!(set.update("nope", &json!({})).unwrap_err().status(), 404);
    }

    #[test]
    fn upsert_replaces_in_place() {
        let mut set = ToxicSet::new("p", 1);
        set.upsert(toxic(json!({"name": "a", "type": "latency"})));
        set.upsert(toxic(json!({"name": "b", "type": "latency"})));
        set.upsert(toxic(
            json!({"name": "a", "type": "latency", "attributes": {"latency": 7}}),
        ));
        let names: Vec<_> = set.list().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(set.get("a").unwrap().kind.attributes()["latency"], json!(7));
        set.clear();
        assert!(set.is_empty());
    }
}
