//! Bucket policies (`crates/server/src/policy.rs`): `Policy::parse` on fuzzed JSON, then
//! `evaluate` on a fuzzed request when it parses.
//!
//! Asserts: no panic; a policy parsed from a document without a `Deny` effect never denies,
//! one without `Allow` never allows; evaluation is deterministic; an unparsable policy is an
//! error message, never a panic.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use ossvault_server::fuzzing::{Decision, Policy, PolicyRequest};
use std::net::IpAddr;

/// The input: 32 bytes of request facts (read with `arbitrary`), then the policy JSON.
const HEAD: usize = 32;

#[derive(Arbitrary, Debug)]
struct Facts {
    principal: Option<u8>,
    is_owner: bool,
    action: u8,
    resource_key: u8,
    secure: bool,
    ip: IpAddr,
}

const PRINCIPALS: &[&str] = &["owner", "ak", "*", "203456789", ""];
const KEYS: &[&str] = &["a/b.txt", "", "x", "private/secret", "a*b", "中文"];

const ACTIONS: &[&str] = &[
    "oss:GetObject",
    "oss:PutObject",
    "oss:DeleteObject",
    "oss:ListObjects",
    "oss:GetBucketAcl",
    "oss:PutBucketPolicy",
];

fuzz_target!(|data: &[u8]| {
    let (head, json) = data.split_at(data.len().min(HEAD));
    let Ok(json) = std::str::from_utf8(json) else {
        return;
    };
    let Ok(policy) = Policy::parse(json) else {
        return;
    };
    let Ok(facts) = Facts::arbitrary(&mut Unstructured::new(head)) else {
        return;
    };
    let action = ACTIONS[usize::from(facts.action) % ACTIONS.len()];
    let key = KEYS[usize::from(facts.resource_key) % KEYS.len()];
    let resource = format!("acs:oss:*:1234567890:bkt/{key}");
    let req = PolicyRequest {
        principal: facts
            .principal
            .map(|p| PRINCIPALS[usize::from(p) % PRINCIPALS.len()]),
        is_owner: facts.is_owner,
        action,
        resource: &resource,
        secure: facts.secure,
        source_ip: facts.ip,
    };
    let decision = policy.evaluate(&req);
    assert_eq!(policy.evaluate(&req), decision);
    match decision {
        Decision::Deny => assert!(json.contains("Deny"), "denied without a Deny statement"),
        Decision::Allow => assert!(json.contains("Allow"), "allowed without an Allow statement"),
        Decision::NotApplicable => {}
    }
    // The bucket-level resource of the same request.
    let bucket = "acs:oss:*:1234567890:bkt";
    let _ = policy.evaluate(&PolicyRequest {
        resource: bucket,
        ..req
    });
});
