//! Notifying Alertmanager: alerts go to its v2 API (`POST /api/v2/alerts`), so anomalies
//! travel the same path as Prometheus' own alerts.

use crate::client::{Client, Request};
use crate::Error;
use ballast_core::alert::Alert;

/// Posts `alerts` to the Alertmanager at `base` (e.g. `http://127.0.0.1:9093`).
/// Alertmanager deduplicates alerts by their labels, so a failed post is retried like a
/// read.
pub async fn post_alerts(client: &Client, base: &url::Url, alerts: &[Alert]) -> Result<(), Error> {
    if alerts.is_empty() {
        return Ok(());
    }
    let mut url = base.clone();
    let prefix = url.path().trim_end_matches('/').to_string();
    url.set_path(&format!("{prefix}/api/v2/alerts"));
    let body = serde_json::to_vec(alerts).map_err(|e| Error::Format {
        url: url.to_string(),
        message: format!("cannot encode the alerts: {e}"),
    })?;
    let request = Request::new(http::Method::POST, url.clone())
        .body("application/json", body)
        .repeatable(true);
    let response = client.send(request).await?;
    if !response.is_success() {
        return Err(Error::Status {
            url: crate::client::redact(&url),
            status: response.status,
            body: response.text().trim().chars().take(200).collect(),
        });
    }
    Ok(())
}
