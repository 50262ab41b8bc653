//! Kubernetes name rules, checked before a name goes into a request path.

/// A namespace: an RFC 1123 DNS label (at most 63 lowercase alphanumerics or `-`, starting and
/// ending with an alphanumeric).
pub(crate) fn namespace(name: &str) -> Result<(), String> {
    if name.len() > 63 {
        return Err(format!("namespace {name:?} is longer than 63 characters"));
    }
    label(name).map_err(|why| format!("namespace {name:?} {why}"))
}

/// An object name (Deployment, ConfigMap, Remediation): an RFC 1123 DNS subdomain, at most
/// 253 characters of dot-separated labels.
pub(crate) fn object(kind: &str, name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err(format!(
            "{kind} name {name:?} is longer than 253 characters"
        ));
    }
    for part in name.split('.') {
        label(part).map_err(|why| format!("{kind} name {name:?} {why}"))?;
    }
    Ok(())
}

fn label(part: &str) -> Result<(), &'static str> {
    let bytes = part.as_bytes();
    match (bytes.first(), bytes.last()) {
        (None, _) | (_, None) => Err("is empty or has an empty part"),
        (Some(first), Some(last))
            if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() =>
        {
            Err("must start and end with a lowercase letter or digit")
        }
        _ if bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-') =>
        {
            Ok(())
        }
        _ => Err("may hold only lowercase letters, digits and '-'"),
    }
}

/// A ConfigMap data key: at most 253 of `[-._a-zA-Z0-9]`, not `.` or `..`.
pub(crate) fn configmap_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 253 {
        return Err(format!("configmap key {key:?} must be 1 to 253 characters"));
    }
    if key == "." || key == ".." {
        return Err(format!("configmap key {key:?} is not allowed"));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(format!(
            "configmap key {key:?} may hold only letters, digits, '-', '.' and '_'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        for ok in ["default", "shop-prod", "a", "x1"] {
            namespace(ok).unwrap();
        }
        for bad in ["", "Shop", "-a", "a-", "a.b", "a/b", &"a".repeat(64)] {
            assert!(namespace(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn object_names() {
        for ok in ["shop", "shop.v2", "a-b.c-d"] {
            object("deployment", ok).unwrap();
        }
        for bad in ["", "shop/../x", "a..b", ".a", "UPPER", "a b", "a?watch=1"] {
            let err = object("deployment", bad).unwrap_err();
            assert!(err.starts_with("deployment name"), "{err}");
        }
    }

    #[test]
    fn configmap_keys() {
        for ok in ["LOG_LEVEL", "app.properties", "a-b"] {
            configmap_key(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", &"k".repeat(254)] {
            assert!(configmap_key(bad).is_err(), "{bad:?} passed");
        }
    }
}
