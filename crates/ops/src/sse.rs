//! Server-side encryption asked for on one upload, overriding the bucket's default: SSE-OSS
//! (`AES256`, or `SM4` for 国密 SM4) or SSE-KMS with a CMK (the region's default CMK when none is
//! named), its data encrypted with AES-256 or, on request, SM4.

use serde::{Deserialize, Serialize};

/// The data encryption of SSE-KMS other than the default AES-256 (`KMSDataEncryption` of a
/// bucket's rule, `x-oss-server-side-data-encryption` of a request); OSS takes only `SM4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataEncryption {
    #[serde(rename = "SM4")]
    Sm4,
}

impl DataEncryption {
    /// The value as OSS writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            DataEncryption::Sm4 => "SM4",
        }
    }

    /// Reads OSS's value (`None` for none or an empty one).
    pub fn parse(value: Option<&str>) -> Result<Option<DataEncryption>, String> {
        match value.map(str::trim) {
            None | Some("") => Ok(None),
            Some("SM4") => Ok(Some(DataEncryption::Sm4)),
            Some(other) => Err(format!(
                "unknown KMS data encryption {other:?}: only SM4 (AES-256 is the default)"
            )),
        }
    }
}

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
        /// SM4 instead of AES-256 for the data.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_encryption: Option<DataEncryption>,
    },
}

impl ObjectSse {
    /// The request headers asking for this encryption.
    pub fn headers(&self) -> Vec<(String, String)> {
        let (algorithm, key_id, data) = match self {
            ObjectSse::Aes256 => ("AES256", None, None),
            ObjectSse::Sm4 => ("SM4", None, None),
            ObjectSse::Kms {
                key_id,
                data_encryption,
            } => ("KMS", key_id.as_deref(), *data_encryption),
        };
        let mut h = vec![(
            "x-oss-server-side-encryption".to_owned(),
            algorithm.to_owned(),
        )];
        if let Some(data) = data {
            h.push((
                "x-oss-server-side-data-encryption".to_owned(),
                data.as_str().to_owned(),
            ));
        }
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
        assert_eq!(
            ObjectSse::Kms {
                key_id: None,
                data_encryption: None
            }
            .headers()
            .len(),
            1
        );
        let kms = ObjectSse::Kms {
            key_id: Some("cmk-1".into()),
            data_encryption: None,
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
        // KMS with SM4 data encryption: the data-encryption header, and the app's JSON.
        let sm4 = ObjectSse::Kms {
            key_id: None,
            data_encryption: Some(DataEncryption::Sm4),
        };
        assert_eq!(
            sm4.headers(),
            [
                ("x-oss-server-side-encryption".into(), "KMS".into()),
                ("x-oss-server-side-data-encryption".into(), "SM4".into())
            ]
        );
        let json = r#"{"algorithm":"KMS","keyId":null,"dataEncryption":"SM4"}"#;
        assert_eq!(serde_json::from_str::<ObjectSse>(json).unwrap(), sm4);
        assert!(
            serde_json::from_str::<ObjectSse>(r#"{"algorithm":"KMS","dataEncryption":"SM9"}"#)
                .is_err()
        );
    }

    #[test]
    fn data_encryption_is_sm4_or_nothing() {
        assert_eq!(DataEncryption::parse(None), Ok(None));
        assert_eq!(DataEncryption::parse(Some(" ")), Ok(None));
        assert_eq!(
            DataEncryption::parse(Some("SM4")),
            Ok(Some(DataEncryption::Sm4))
        );
        assert!(DataEncryption::parse(Some("AES256")).is_err());
    }
}
