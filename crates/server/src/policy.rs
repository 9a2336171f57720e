//! Bucket policies: the stored JSON, parsed and evaluated deny-first on every request, as OSS
//! does. Supported: `Effect`, `Principal`, `Action` (`oss:*`, names, wildcards), `Resource`
//! (`acs:oss:*:*:bucket/prefix*`), and conditions `Bool` on `acs:SecureTransport`,
//! `IpAddress` / `NotIpAddress` on `acs:SourceIp`. Anything else is refused when the policy is
//! put, so evaluation never meets a clause it would have to ignore.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A string or a list of strings (both are valid JSON for these fields).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn values(&self) -> &[String] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Statement {
    effect: Effect,
    action: OneOrMany,
    #[serde(default)]
    principal: Option<OneOrMany>,
    resource: OneOrMany,
    #[serde(default)]
    condition: BTreeMap<String, BTreeMap<String, OneOrMany>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Document {
    version: String,
    statement: Vec<Statement>,
}

/// A parsed, validated bucket policy.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// The facts of a request that a policy can look at.
#[derive(Debug, Clone)]
pub struct PolicyRequest<'a> {
    /// The access key id that signed, `None` when anonymous.
    pub principal: Option<&'a str>,
    /// The requester is the bucket owner.
    pub is_owner: bool,
    /// `oss:GetObject`, …
    pub action: &'a str,
    /// `acs:oss:<region>:<owner>:<bucket>[/<key>]`.
    pub resource: &'a str,
    pub secure: bool,
    pub source_ip: IpAddr,
}

/// What a policy says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    /// No statement applies: ACLs and ownership decide.
    NotApplicable,
}

const CONDITION_KEYS: &[(&str, &str)] = &[
    ("Bool", "acs:SecureTransport"),
    ("IpAddress", "acs:SourceIp"),
    ("NotIpAddress", "acs:SourceIp"),
];

impl Policy {
    /// Parses and validates a policy; the error says what is wrong.
    pub fn parse(json: &str) -> Result<Policy, String> {
        let doc: Document =
            serde_json::from_str(json).map_err(|e| format!("the policy is not valid: {e}"))?;
        if doc.version != "1" {
            return Err(format!("Version must be \"1\", not {:?}", doc.version));
        }
        if doc.statement.is_empty() {
            return Err("the policy has no Statement".to_owned());
        }
        for st in &doc.statement {
            if st.action.values().is_empty() || st.resource.values().is_empty() {
                return Err("every statement needs an Action and a Resource".to_owned());
            }
            if let Some(a) = st.action.values().iter().find(|a| !a.starts_with("oss:")) {
                return Err(format!("unsupported action {a:?}"));
            }
            if let Some(r) = st
                .resource
                .values()
                .iter()
                .find(|r| !r.starts_with("acs:oss:"))
            {
                return Err(format!("unsupported resource {r:?}"));
            }
            for (operator, keys) in &st.condition {
                for (key, values) in keys {
                    if !CONDITION_KEYS.contains(&(operator.as_str(), key.as_str())) {
                        return Err(format!("unsupported condition {operator} on {key}"));
                    }
                    for v in values.values() {
                        let valid = match operator.as_str() {
                            "Bool" => v == "true" || v == "false",
                            _ => parse_cidr(v).is_some(),
                        };
                        if !valid {
                            return Err(format!("invalid value {v:?} for {operator} {key}"));
                        }
                    }
                }
            }
        }
        Ok(Policy {
            statements: doc.statement,
        })
    }

    /// The policy grants something to anyone, as OSS judges it (GetBucketPolicyStatus's
    /// `IsPublic`): an `Allow` statement whose principal is everyone (`*` or none) and whose
    /// conditions do not narrow who can use it to given source addresses. A `Deny`, a named
    /// principal, or an `IpAddress` condition without a catch-all range is not public.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|st| {
            let principals = st
                .principal
                .as_ref()
                .map(OneOrMany::values)
                .unwrap_or_default();
            let everyone = principals.is_empty() || principals.iter().any(|p| p.contains('*'));
            let narrowed = st.condition.get("IpAddress").is_some_and(|keys| {
                keys.values().all(|v| {
                    !v.values()
                        .iter()
                        .any(|c| parse_cidr(c).is_some_and(|c| c.bits == 0))
                })
            });
            st.effect == Effect::Allow && everyone && !narrowed
        })
    }

    /// Deny-first: any applicable Deny wins, then any applicable Allow.
    pub fn evaluate(&self, req: &PolicyRequest<'_>) -> Decision {
        let mut allowed = false;
        for st in self.statements.iter().filter(|st| applies(st, req)) {
            match st.effect {
                Effect::Deny => return Decision::Deny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::NotApplicable
        }
    }
}

fn applies(st: &Statement, req: &PolicyRequest<'_>) -> bool {
    let principals = st
        .principal
        .as_ref()
        .map(OneOrMany::values)
        .unwrap_or_default();
    let everyone = principals.is_empty() || principals.iter().any(|p| p == "*");
    let named = req
        .principal
        .is_some_and(|id| principals.iter().any(|p| p == id));
    // As on OSS: `Principal: *` without a condition binds everyone but the owner; with a
    // condition it binds the owner too.
    let principal_matches = named || (everyone && (!req.is_owner || !st.condition.is_empty()));
    principal_matches
        && st
            .action
            .values()
            .iter()
            .any(|a| glob(&a.to_ascii_lowercase(), &req.action.to_ascii_lowercase()))
        && st.resource.values().iter().any(|r| glob(r, req.resource))
        && st.condition.iter().all(|(op, keys)| {
            keys.values()
                .all(|values| condition(op, values.values(), req))
        })
}

fn condition(operator: &str, values: &[String], req: &PolicyRequest<'_>) -> bool {
    match operator {
        "Bool" => values
            .iter()
            .any(|v| v == if req.secure { "true" } else { "false" }),
        "IpAddress" => values
            .iter()
            .any(|v| parse_cidr(v).is_some_and(|c| c.contains(req.source_ip))),
        "NotIpAddress" => !values
            .iter()
            .any(|v| parse_cidr(v).is_some_and(|c| c.contains(req.source_ip))),
        _ => false,
    }
}

/// `*` matches any run of characters (including `/`), `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matching with backtracking to the last `*`: linear in practice, no recursion.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

struct Cidr {
    net: IpAddr,
    bits: u32,
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.net, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            _ => ip,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u32) -> bool {
    let whole = (bits / 8) as usize;
    let rest = bits % 8;
    a[..whole] == b[..whole] && (rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0)
}

/// `10.0.0.0/8`, `192.168.1.7` (a single address), or IPv6 forms.
fn parse_cidr(s: &str) -> Option<Cidr> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u32>().ok()?)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some(Cidr { net: addr, bits })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(
        action: &'a str,
        resource: &'a str,
        secure: bool,
        owner: bool,
    ) -> PolicyRequest<'a> {
        PolicyRequest {
            principal: if owner { Some("owner") } else { None },
            is_owner: owner,
            action,
            resource,
            secure,
            source_ip: "127.0.0.1".parse().unwrap(),
        }
    }

    #[test]
    fn https_only_denies_plain_http_for_everyone() {
        let p = Policy::parse(&ossvault_proto::policy::https_only("bkt")).unwrap();
        let obj = "acs:oss:cn-hangzhou:owner:bkt/a/b.txt";
        assert_eq!(
            p.evaluate(&request("oss:GetObject", obj, false, true)),
            Decision::Deny
        );
        assert_eq!(
            p.evaluate(&request("oss:GetObject", obj, false, false)),
            Decision::Deny
        );
        assert_eq!(
            p.evaluate(&request("oss:PutObject", obj, true, true)),
            Decision::NotApplicable
        );
        let bucket = "acs:oss:cn-hangzhou:owner:bkt";
        assert_eq!(
            p.evaluate(&request("oss:ListObjects", bucket, false, true)),
            Decision::Deny
        );
        let other = "acs:oss:cn-hangzhou:owner:bkt2/x";
        assert_eq!(
            p.evaluate(&request("oss:GetObject", other, false, true)),
            Decision::NotApplicable
        );
    }

    #[test]
    fn allow_without_condition_binds_others_not_the_owner() {
        let p = Policy::parse(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:Get*","Principal":"*",
                "Resource":"acs:oss:*:*:bkt/public/*"}]}"#,
        )
        .unwrap();
        let res = "acs:oss:cn-hangzhou:owner:bkt/public/x";
        assert_eq!(
            p.evaluate(&request("oss:GetObject", res, false, false)),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&request("oss:PutObject", res, false, false)),
            Decision::NotApplicable
        );
        assert_eq!(
            p.evaluate(&request("oss:GetObject", res, false, true)),
            Decision::NotApplicable
        );
        let private = "acs:oss:cn-hangzhou:owner:bkt/private/x";
        assert_eq!(
            p.evaluate(&request("oss:GetObject", private, false, false)),
            Decision::NotApplicable
        );
    }

    #[test]
    fn source_ip_conditions() {
        let p = Policy::parse(
            r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":["oss:*"],"Principal":["*"],
                "Resource":["acs:oss:*:*:bkt/*"],"Condition":{"NotIpAddress":{"acs:SourceIp":["10.0.0.0/8"]}}}]}"#,
        )
        .unwrap();
        let res = "acs:oss:r:o:bkt/k";
        let mut req = request("oss:GetObject", res, true, true);
        assert_eq!(
            p.evaluate(&req),
            Decision::Deny,
            "127.0.0.1 is outside 10/8"
        );
        req.source_ip = "10.1.2.3".parse().unwrap();
        assert_eq!(p.evaluate(&req), Decision::NotApplicable);
        req.source_ip = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(
            p.evaluate(&req),
            Decision::NotApplicable,
            "v4-mapped v6 addresses match v4 ranges"
        );
    }

    #[test]
    fn invalid_policies_are_refused_with_a_reason() {
        for (json, why) in [
            ("not json", "not valid"),
            (r#"{"Version":"2","Statement":[]}"#, "Version"),
            (r#"{"Version":"1","Statement":[]}"#, "no Statement"),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Maybe","Action":"oss:*","Resource":"acs:oss:*:*:b"}]}"#,
                "not valid",
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"oss:*","Resource":"acs:oss:*:*:b",
                    "Condition":{"StringLike":{"acs:UserAgent":"x"}}}]}"#,
                "unsupported condition",
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"oss:*","Resource":"acs:oss:*:*:b",
                    "Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/99"}}}]}"#,
                "invalid value",
            ),
        ] {
            let err = Policy::parse(json).unwrap_err();
            assert!(err.contains(why), "{json}: {err}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob("acs:oss:*:*:b/*", "acs:oss:cn:1:b/x/y"));
        assert!(!glob("acs:oss:*:*:b/*", "acs:oss:cn:1:bb/x"));
        assert!(glob("oss:get*", "oss:getobject"));
        assert!(glob("a?c", "abc") && !glob("a?c", "ac"));
        assert!(glob("*", "") && glob("**x", "x"));
    }

    #[test]
    fn public_policies_are_told_apart() {
        let public = |st: &str| {
            Policy::parse(&format!(r#"{{"Version":"1","Statement":[{st}]}}"#))
                .unwrap()
                .is_public()
        };
        let res = r#""Resource":["acs:oss:*:*:b/*"]"#;
        assert!(public(&format!(
            r#"{{"Effect":"Allow","Action":["oss:GetObject"],"Principal":["*"],{res}}}"#
        )));
        // No principal is everyone too (the v2 SDK's test policy).
        assert!(public(&format!(
            r#"{{"Effect":"Allow","Action":["oss:PutObject"],{res}}}"#
        )));
        assert!(public(&format!(
            r#"{{"Effect":"Allow","Action":["oss:GetObject"],"Principal":["*"],{res},
                "Condition":{{"IpAddress":{{"acs:SourceIp":["0.0.0.0/0"]}}}}}}"#
        )));
        assert!(!public(&format!(
            r#"{{"Effect":"Allow","Action":["oss:GetObject"],"Principal":["*"],{res},
                "Condition":{{"IpAddress":{{"acs:SourceIp":["10.0.0.0/8"]}}}}}}"#
        )));
        assert!(!public(&format!(
            r#"{{"Effect":"Allow","Action":["oss:GetObject"],"Principal":["2000"],{res}}}"#
        )));
        assert!(!public(&format!(
            r#"{{"Effect":"Deny","Action":["oss:*"],"Principal":["*"],{res},
                "Condition":{{"Bool":{{"acs:SecureTransport":["false"]}}}}}}"#
        )));
    }
}
