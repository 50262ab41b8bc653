//! The checked-in CRD is the one the code generates.

#[test]
fn checked_in_crd_matches_the_generated_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../deploy/crds/remediation.yaml");
    let checked_in =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        checked_in == ballast_kube::operator::crd_yaml(),
        "deploy/crds/remediation.yaml is not the generated CRD; regenerate it with\n  \
         cargo run -p ballast-kube --example crd > deploy/crds/remediation.yaml"
    );
}

#[test]
fn generated_crd_is_a_structural_remediation_crd() {
    let crd = ballast_kube::operator::crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("remediations.heal.ballast.dev")
    );
    assert_eq!(crd.spec.group, "heal.ballast.dev");
    assert_eq!(crd.spec.scope, "Namespaced");
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version.subresources.as_ref().unwrap().status.is_some());
    // A structural schema may not list properties and also close them.
    let text = serde_json::to_string(&crd).unwrap();
    assert!(!text.contains(r#""additionalProperties":false"#), "{text}");
    assert!(text.contains("has(self.replicas) != has(self.by)"));
}
