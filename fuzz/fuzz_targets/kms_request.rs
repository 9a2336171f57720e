//! The KMS API's request parameters (`crates/server/src/kms/api.rs` `Params::parse`: query
//! pairs merged with a JSON body) and the accessors every action applies to them.
//!
//! Asserts: no panic; a parsed request keeps the first value of each query parameter and every
//! non-null body member; a parameter in both places is refused; `get` trims and drops blanks,
//! `required` agrees with `get`, a parsed `number` lies within its range, `one_of` accepts only
//! the listed values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ossvault_server::fuzzing::kms_params;

/// The input: the query string (`k=v&k2=v2`, not URL-decoded) up to the first newline, then
/// the body bytes.
fn split(data: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let (line, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let line = String::from_utf8_lossy(line);
    let query = line
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect();
    (query, body)
}

const NAMES: &[&str] = &[
    "Action",
    "KeyId",
    "Plaintext",
    "CiphertextBlob",
    "NumberOfBytes",
    "KeySpec",
    "EncryptionContext",
    "Description",
    "Limit",
];

fuzz_target!(|data: &[u8]| {
    let (query, body) = split(data);
    let mut names: Vec<&str> = NAMES.to_vec();
    names.extend(query.iter().take(4).map(|(k, _)| k.as_str()));

    let Ok((params, _context)) = kms_params(&query, body, &names) else {
        return;
    };
    let parsed_body: Option<serde_json::Map<String, serde_json::Value>> =
        if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(serde_json::from_slice(body).expect("accepted bodies are JSON objects"))
        };
    for (name, p) in names.iter().zip(&params) {
        let from_body = parsed_body
            .as_ref()
            .and_then(|b| b.get(*name))
            .filter(|v| !v.is_null())
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        let from_query = query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
        assert!(
            from_body.is_none() || from_query.is_none(),
            "{name} accepted from both the query and the body"
        );
        let raw = from_query.or(from_body);
        let expected = raw
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        assert_eq!(p.get, expected, "{name}");
        assert_eq!(p.required, p.get.is_some());
        if let Ok(Some(n)) = p.number {
            assert!((1..=1000).contains(&n));
        }
        if p.one_of.is_ok() {
            assert!(
                p.get.is_none() || ["AES_256", "RSA_2048"].contains(&p.get.as_deref().unwrap())
            );
        }
        if p.base64.is_ok() {
            assert!(p.get.is_some());
        }
    }
});
