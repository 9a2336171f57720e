//! Server-side encryption asked for on one upload, overriding the bucket's default: SSE-OSS
//! (`AES256`, or `SM4` for 国密 SM4) or SSE-KMS with a CMK (the region's default CMK when none is named).

use serde::{Deserialize, Serialize};

/// The `x-oss-server-side-encryption` of a new object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "algorithm")]
pub enum ObjectSse {
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "SM4")]
    Sm4,
    #[serde(rename = "KMS", rename_all = "camelCase")]
    Kms {
        #[serde(default)]
        key_id: Option<String>,
    },
}

impl ObjectSse {
    /// The request headers asking for this encryption.
    pub fn headers(&self) -> Vec<(String, String)> {
        let (algorithm, key_id) = match self {
            ObjectSse::Aes256 => ("AES256", None),
            ObjectSse::Sm4 => ("SM4", None),
            ObjectSse::Kms { key_id } => ("KMS", key_id.as_deref()),
        };
        let mut h = vec![(
            "x-oss-server-side-encryption".to_owned(),
            algorithm.to_owned(),
        )];
        if let Some(id) = key_id.filter(|id| !id.is_empty()) {
            h.push((
                "x-oss-server-side-encryption-key-id".to_owned(),
                id.to_owned(),
            ));
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_name_the_algorithm_and_the_cmk_when_there_is_one() {
        assert_eq!(
            ObjectSse::Aes256.headers(),
            [("x-oss-server-side-encryption".into(), "AES256".into())]
        );
        assert_eq!(
            ObjectSse::Sm4.headers(),
            [("x-oss-server-side-encryption".into(), "SM4".into())]
        );
        assert_eq!(
            serde_json::from_str::<ObjectSse>(r#"{"algorithm":"SM4"}"#).unwrap(),
            ObjectSse::Sm4
        );
        assert_eq!(ObjectSse::Kms { key_id: None }.headers().len(), 1);
        let kms = ObjectSse::Kms {
            key_id: Some("cmk-1".into()),
        };
        assert_eq!(
            kms.headers()[1],
            ("x-oss-server-side-encryption-key-id".into(), "cmk-1".into())
        );
        // As the app sends it and the queue stores it.
        let json = serde_json::to_string(&kms).unwrap();
        assert_eq!(json, r#"{"algorithm":"KMS","keyId":"cmk-1"}"#);
        assert_eq!(serde_json::from_str::<ObjectSse>(&json).unwrap(), kms);
        assert_eq!(
            serde_json::from_str::<ObjectSse>(r#"{"algorithm":"AES256"}"#).unwrap(),
            ObjectSse::Aes256
        );
    }
}
