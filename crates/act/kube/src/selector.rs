//! A Deployment's `spec.selector` as a `labelSelector` query.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::Error;

/// The selector in the API's query syntax: `app=shop,tier in (web,api),!canary`.
/// An empty selector is refused: listing every ReplicaSet of the namespace is never meant.
pub(crate) fn to_query(selector: &LabelSelector) -> Result<String, Error> {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            other => {
                return Err(Error::Unexpected(format!(
                "label selector operator {other:?} is not one of In, NotIn, Exists, DoesNotExist"
            )))
            }
        });
    }
    if parts.is_empty() {
        return Err(Error::Unexpected(
            "the deployment's selector is empty".into(),
        ));
    }
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn req(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn labels_and_expressions() {
        let selector = LabelSelector {
            match_labels: Some([("app".into(), "shop".into()), ("a".into(), "b".into())].into()),
            match_expressions: Some(vec![
                req("tier", "In", &["web", "api"]),
                req("env", "NotIn", &["dev"]),
                req("canary", "DoesNotExist", &[]),
                req("team", "Exists", &[]),
            ]),
        };
        assert_eq!(
            to_query(&selector).unwrap(),
            "a=b,app=shop,tier in (web,api),env notin (dev),!canary,team"
        );
    }

    #[test]
    fn empty_and_unknown_are_refused() {
        assert!(to_query(&LabelSelector::default()).is_err());
        let selector = LabelSelector {
            match_expressions: Some(vec![req("x", "Gt", &["1"])]),
            ..Default::default()
        };
        assert!(to_query(&selector)
            .unwrap_err()
            .to_string()
            .contains("\"Gt\""));
    }
}
