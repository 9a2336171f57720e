//! The KMS API's request parser (`crates/server/src/kms/api.rs` `parse_request`: query pairs
//! merged with a JSON body, then typed per action into `ossvault_proto::kms::KmsRequest`).
//!
//! Input: the query string (`k=v&k2=v2`, not URL-decoded) up to the first newline, then the
//! body bytes.
//!
//! Asserts: no panic; parsing is deterministic; a parsed request round-trips through the
//! client's serialisation (`KmsRequest::params`, as query pairs with an empty body, and as a
//! JSON body) to an equal request; its action is the (trimmed) `Action` parameter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ossvault_server::fuzzing::kms_parse_request;

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

fuzz_target!(|data: &[u8]| {
    let (query, body) = split(data);
    let parsed = kms_parse_request(&query, body);
    assert_eq!(kms_parse_request(&query, body), parsed, "not deterministic");
    let Ok(request) = parsed else {
        return;
    };

    // The client's serialisation of the typed request parses back to it.
    let params: Vec<(String, String)> = request
        .params()
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_str().to_owned()))
        .collect();
    assert_eq!(params.first().map(|(k, _)| k.as_str()), Some("Action"));
    assert_eq!(params[0].1, request.action().as_str());
    let again = kms_parse_request(&params, b"");
    assert_eq!(
        again.as_ref(),
        Ok(&request),
        "query round trip\nparams {params:?}"
    );

    let json: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let body = serde_json::to_vec(&json).unwrap();
    let again = kms_parse_request(&[], &body);
    assert_eq!(
        again.as_ref(),
        Ok(&request),
        "JSON body round trip\nbody {json:?}"
    );
});
