//! Prints the Remediation CRD: `cargo run -p ballast-kube --example crd > deploy/crds/remediation.yaml`.

fn main() {
    print!("{}", ballast_kube::operator::crd_yaml());
}
