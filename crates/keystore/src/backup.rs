//! Encrypted key backups: an [age](https://age-encryption.org/v1) file encrypted to an scrypt
//! passphrase recipient, whose payload is a JSON document with the key's metadata and the secret
//! of every version. Any age implementation (`age -d`, `rage -d`) opens it. Format: `FORMAT.md`.

use std::io::{Read, Write};

use age::secrecy::SecretString;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::material::{secret_base64, secret_from_base64};
use crate::metadata::KeyInfo;

/// The `format` field of the payload.
const PAYLOAD_FORMAT: &str = "ossvault-key-backup";
/// The `version` of the payload this build writes and reads.
const PAYLOAD_VERSION: u32 = 1;
/// Refuse to spend more than 2^22 scrypt work (4 GiB of memory) on a backup of unknown origin.
const MAX_WORK_FACTOR: u8 = 22;

#[derive(Serialize)]
struct PayloadOut<'a> {
    format: &'static str,
    version: u32,
    key: &'a KeyInfo,
    secrets: Vec<SecretOut<'a>>,
}

#[derive(Serialize)]
struct SecretOut<'a> {
    version: u32,
    encoding: &'static str,
    data: &'a str,
}

#[derive(Deserialize)]
struct PayloadIn {
    format: String,
    version: u32,
    key: KeyInfo,
    secrets: Vec<SecretIn>,
}

#[derive(Deserialize)]
struct SecretIn {
    version: u32,
    encoding: String,
    data: String,
}

impl Drop for SecretIn {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

/// `(version, stored secret)` of each version of a key.
pub(crate) type VersionSecrets = Vec<(u32, Zeroizing<Vec<u8>>)>;

/// How the secret bytes of a kind are encoded in the payload (before base64).
pub(crate) fn encoding_of(info: &KeyInfo) -> &'static str {
    if info.kind.is_rsa() {
        "pkcs8-der"
    } else {
        "raw"
    }
}

/// Encrypts `info` and the stored secret of each version with `passphrase`.
///
/// `work_factor` overrides age's calibration (about one second of scrypt on this machine).
pub(crate) fn seal(
    info: &KeyInfo,
    secrets: &[(u32, Zeroizing<Vec<u8>>)],
    passphrase: &str,
    work_factor: Option<u8>,
) -> Result<Vec<u8>> {
    if passphrase.is_empty() {
        return Err(Error::EmptyPassphrase);
    }
    let encoded: Vec<(u32, Zeroizing<String>)> = secrets
        .iter()
        .map(|(v, bytes)| (*v, secret_base64(bytes)))
        .collect();
    let payload = PayloadOut {
        format: PAYLOAD_FORMAT,
        version: PAYLOAD_VERSION,
        key: info,
        secrets: encoded
            .iter()
            .map(|(v, data)| SecretOut {
                version: *v,
                encoding: encoding_of(info),
                data,
            })
            .collect(),
    };
    // Size the buffer up front so that serde_json never reallocates it, which would leave
    // unzeroized copies of the secrets in freed memory.
    let public_len = serde_json::to_vec(info)
        .map_err(|e| Error::Crypto(format!("serialising backup: {e}")))?
        .len();
    let capacity = 1024 + public_len + encoded.iter().map(|(_, d)| d.len() + 96).sum::<usize>();
    let mut plain = Zeroizing::new(Vec::with_capacity(capacity * 2));
    serde_json::to_writer(&mut *plain, &payload)
        .map_err(|e| Error::Crypto(format!("serialising backup: {e}")))?;

    let mut recipient = age::scrypt::Recipient::new(SecretString::from(passphrase.to_owned()));
    if let Some(log_n) = work_factor {
        recipient.set_work_factor(log_n);
    }
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .map_err(|e| Error::Crypto(format!("age: {e}")))?;
    let mut out = Vec::with_capacity(plain.len() + 512);
    let crypto = |e: std::io::Error| Error::Crypto(format!("age: {e}"));
    let mut writer = encryptor.wrap_output(&mut out).map_err(crypto)?;
    writer.write_all(&plain).map_err(crypto)?;
    writer.finish().map_err(crypto)?;
    Ok(out)
}

/// Decrypts a backup made by [`seal`]: the key's metadata and `(version, stored secret)` pairs.
/// The caller checks the secrets against the metadata's fingerprints.
pub(crate) fn open(bytes: &[u8], passphrase: &str) -> Result<(KeyInfo, VersionSecrets)> {
    let decryptor = age::Decryptor::new_buffered(bytes).map_err(|e| match e {
        age::DecryptError::InvalidHeader | age::DecryptError::UnknownFormat => {
            Error::NotABackup("not an age file".into())
        }
        other => Error::NotABackup(other.to_string()),
    })?;
    if !decryptor.is_scrypt() {
        return Err(Error::NotABackup(
            "the age file is not passphrase-encrypted".into(),
        ));
    }
    let mut identity = age::scrypt::Identity::new(SecretString::from(passphrase.to_owned()));
    identity.set_max_work_factor(MAX_WORK_FACTOR);
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed
            | age::DecryptError::KeyDecryptionFailed
            | age::DecryptError::NoMatchingKeys => Error::WrongPassphrase,
            age::DecryptError::ExcessiveWork { required, .. } => Error::NotABackup(format!(
                "its passphrase work factor 2^{required} exceeds the 2^{MAX_WORK_FACTOR} accepted"
            )),
            other => Error::NotABackup(other.to_string()),
        })?;
    // The plaintext is shorter than the age file: this capacity is never outgrown.
    let mut plain = Zeroizing::new(Vec::with_capacity(bytes.len() + 64));
    reader
        .read_to_end(&mut plain)
        .map_err(|e| Error::NotABackup(format!("payload does not decrypt: {e}")))?;
    let payload: PayloadIn =
        serde_json::from_slice(&plain).map_err(|e| Error::NotABackup(format!("payload: {e}")))?;
    if payload.format != PAYLOAD_FORMAT {
        return Err(Error::NotABackup(format!(
            "payload format '{}'",
            payload.format
        )));
    }
    if payload.version != PAYLOAD_VERSION {
        return Err(Error::NotABackup(format!(
            "payload version {} (this build reads {PAYLOAD_VERSION})",
            payload.version
        )));
    }
    let mut secrets = Vec::with_capacity(payload.secrets.len());
    for s in &payload.secrets {
        if s.encoding != encoding_of(&payload.key) {
            return Err(Error::NotABackup(format!(
                "v{}: encoding '{}' for a {} key",
                s.version, s.encoding, payload.key.kind
            )));
        }
        let bytes = secret_from_base64(&s.data)
            .ok_or_else(|| Error::NotABackup(format!("v{}: invalid base64", s.version)))?;
        secrets.push((s.version, bytes));
    }
    let PayloadIn { key, .. } = payload;
    Ok((key, secrets))
}
