//! Key rotation by re-wrapping: `ObjectHeaders::rewrap` moves an object's content key to another
//! master key without touching its content (FORMAT.md §1.2).

mod common;

use common::*;
use ossvault_crypto::names::{self, *};
use ossvault_crypto::{EncryptOptions, Envelope, Error, MasterKey, ObjectHeaders};

/// The object's headers with its encryption headers replaced by `new`, as a CopyObject REPLACE
/// would leave them.
fn replaced(old: &[(String, String)], new: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = old
        .iter()
        .filter(|(k, _)| !names::is_encryption_header(k))
        .cloned()
        .collect();
    h.extend(new);
    h
}

#[tokio::test]
async fn sealed_objects_rewrap_between_aes_and_rsa_keys_with_the_content_unchanged() {
    let plain = pattern(200_003);
    let (v1, v2, rsa) = (aes_key(1), aes_key(2), rsa_key());
    let env = Envelope::new(&v1, &EncryptOptions::sealed()).await.unwrap();
    let stored = env.encrypt_to_vec(&plain).unwrap();
    let mut headers = env.headers().to_vec();
    headers.push(("x-oss-meta-owner".into(), "me".into()));
    for (old, new) in [(&v1, &v2), (&v2, &rsa), (&rsa, &v1)] {
        let meta = ObjectHeaders::parse(&headers).unwrap();
        let rewrapped = meta.rewrap(old, new).await.unwrap();
        headers = replaced(&headers, rewrapped);
        let meta = ObjectHeaders::parse(&headers).unwrap();
        assert_eq!(meta.key_fingerprint(), Some(new.fingerprint()));
        assert!(matches!(
            meta.open(old).await,
            Err(Error::WrongKey { .. } | Error::WrongKeyKind { .. })
        ));
        let env = meta.open(new).await.unwrap();
        assert_eq!(env.decrypt_to_vec(&stored).unwrap(), plain);
        assert_eq!(header(&headers, "x-oss-meta-owner"), "me");
    }
}

#[tokio::test]
async fn rewrap_refuses_the_wrong_old_key_and_a_kms_target() {
    let env = Envelope::new(&aes_key(1), &EncryptOptions::sealed())
        .await
        .unwrap();
    let meta = ObjectHeaders::parse(env.headers()).unwrap();
    assert!(matches!(
        meta.rewrap(&aes_key(3), &aes_key(2)).await,
        Err(Error::WrongKey { .. })
    ));
    let kms = MasterKey::kms(FakeKms::new("cmk-1"));
    assert!(matches!(
        meta.rewrap(&aes_key(1), &kms).await,
        Err(Error::Unsupported(_))
    ));
}

#[tokio::test]
async fn compat_objects_rewrap_to_another_rsa_key_keeping_their_sdk_headers() {
    let plain = pattern(70_000);
    let (old, new) = (rsa_key(), other_rsa_key());
    let opts = EncryptOptions {
        matdesc: vec![("tag".into(), "value".into())],
        plaintext_len: Some(plain.len() as u64),
        ..EncryptOptions::compat()
    };
    let env = Envelope::new(&old, &opts).await.unwrap();
    let stored = env.encrypt_to_vec(&plain).unwrap();
    let headers = env.headers().to_vec();
    let meta = ObjectHeaders::parse(&headers).unwrap();
    let headers = replaced(&headers, meta.rewrap(&old, &new).await.unwrap());
    assert_eq!(header(&headers, CSE_MATDESC), r#"{"tag": "value"}"#);
    assert_eq!(header(&headers, CSE_UNENCRYPTED_CONTENT_LENGTH), "70000");
    let meta = ObjectHeaders::parse(&headers).unwrap();
    assert_eq!(meta.key_fingerprint(), Some(new.fingerprint()));
    let env = meta.open(&new).await.unwrap();
    assert_eq!(env.decrypt_to_vec(&stored).unwrap(), plain);
    let range = env.range(1000..2000, stored.len() as u64).unwrap();
    let part = &stored[range.stored_range().start as usize..range.stored_range().end as usize];
    assert_eq!(range.decrypt(part).unwrap(), &plain[1000..2000]);
}
