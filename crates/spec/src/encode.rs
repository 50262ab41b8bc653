//! Percent-encoding, once for the whole workspace: a path segment or a query value keeps
//! RFC 3986's unreserved characters (`A–Z a–z 0–9 - . _ ~`) and encodes every other byte
//! of its UTF-8 form.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Every byte but RFC 3986's unreserved ones.
pub const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` percent-encoded as one URL component (a path segment, a query key or value).
///
/// ```
/// assert_eq!(ballast_spec::encode_component("a b/c{d}"), "a%20b%2Fc%7Bd%7D");
/// assert_eq!(ballast_spec::encode_component("rate(x[5m])"), "rate%28x%5B5m%5D%29");
/// ```
pub fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8 text.
pub fn decode_component(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips_and_leaves_only_unreserved(text in "\\PC{0,40}") {
            let encoded = encode_component(&text);
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
            prop_assert_eq!(decode_component(&encoded), Some(text));
        }
    }
}
