//! Bucket policy documents the tools write.

/// The policy that makes a bucket HTTPS-only, as OSS documents it: deny every action on the
/// bucket and its objects when `acs:SecureTransport` is false. Bucket names are
/// `[a-z0-9-]`, so nothing needs escaping.
pub fn https_only(bucket: &str) -> String {
    format!(
        r#"{{"Version":"1","Statement":[{{"Effect":"Deny","Action":["oss:*"],"Principal":["*"],"Resource":["acs:oss:*:*:{bucket}","acs:oss:*:*:{bucket}/*"],"Condition":{{"Bool":{{"acs:SecureTransport":["false"]}}}}}}]}}"#
    )
}
