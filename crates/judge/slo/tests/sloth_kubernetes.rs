//! Sloth's Kubernetes resource as `kubectl get -o yaml` exports it: what the API server
//! writes about the object is accepted, anything else in `metadata` refused.

use ballast_slo::load_str;

const RESOURCE: &str = "apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata:
  name: shop-slos
  namespace: monitoring
  uid: 4b1f9c2e-0d7a-4c55-9a3b-1e2f3a4b5c6d
  resourceVersion: \"4242\"
  generation: 3
  creationTimestamp: \"2026-11-30T10:00:00Z\"
  managedFields: [{ manager: kubectl, operation: Apply }]
spec:
  service: shop
  slos:
    - name: availability
      objective: 99.9
      sli:
        events:
          errorQuery: sum(rate(http_requests_total{code=~\"5..\"}[{{.window}}]))
          totalQuery: sum(rate(http_requests_total[{{.window}}]))
      alerting:
        name: ShopAvailability
";

#[test]
fn api_server_bookkeeping_is_accepted_and_other_metadata_refused() {
    let slos = load_str(RESOURCE, "k8s.yaml", ".".as_ref()).unwrap();
    let object = slos[0].kubernetes.as_ref().unwrap();
    assert_eq!(object.name, "shop-slos");
    assert_eq!(object.namespace.as_deref(), Some("monitoring"));
    let bad = RESOURCE.replace("  generation: 3\n", "  generation: 3\n  owner: web\n");
    let e = load_str(&bad, "k8s.yaml", ".".as_ref())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("k8s.yaml:9:3: metadata.owner: unknown field"),
        "{e}"
    );
}
