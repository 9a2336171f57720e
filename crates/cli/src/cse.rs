//! Client-side encryption glue: the keystore the CLI opens, master keys out of it (or the KMS),
//! encrypting uploads and decrypting downloads for `cp`, and the key lookup of `stat` and
//! `key rotate --rewrap`.
//!
//! Uploads stream the file through the crypto crate's encryptor: a small file is one PutObject,
//! a large one a multipart upload whose parts are read, encrypted and sent one part per job
//! (memory: jobs × part size). Downloads HEAD the object, pick its key by fingerprint (KMS key
//! id; for OSS SDK objects, which name no key, every RSA key of the keystore in turn) and stream
//! the body through the decryptor into a temp file renamed over the target only once the whole
//! object decrypted (and, for the sealed format, authenticated).

use crate::KeystoreArgs;
use anyhow::{anyhow, bail, Context, Result};
use futures_util::{stream, StreamExt, TryStreamExt};
use ossvault_client::transfer::{CancellationToken, OnProgress, TransferProgress, UploadOutcome};
use ossvault_client::{Client, ObjectMeta, PartInfo, PutOptions, RangeSpec, RequestBody};
use ossvault_crypto::{
    decrypt_to_file, CipherReader, EncryptOptions, Envelope, Fingerprint, Format, KeyWrap,
    KeyWrapError, KeyWrapFuture, MasterKey, ObjectHeaders,
};
use ossvault_keystore::{Backend, KeyMaterial, Keystore};
use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Overrides the directory of the keystore's metadata (`<config dir>/ossvault`).
pub const ENV_CONFIG_DIR: &str = "OSSVAULT_CONFIG_DIR";
/// The passphrase of `--keystore-file` (else it is asked on the terminal).
pub const ENV_KEYSTORE_PASSPHRASE: &str = "OSSVAULT_KEYSTORE_PASSPHRASE";

/// Files up to this size are encrypted in memory and sent as one retryable body.
const IN_MEMORY_MAX: u64 = 16 << 20;

/// The keystore's metadata directory: `$OSSVAULT_CONFIG_DIR`, else `<config dir>/ossvault`.
pub fn config_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV_CONFIG_DIR).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    Ok(dirs::config_dir()
        .context("no config directory on this system: set OSSVAULT_CONFIG_DIR")?
        .join("ossvault"))
}

/// Opens the keystore: the system keychain, or the passphrase file of `--keystore-file`.
pub fn open_keystore(args: &KeystoreArgs) -> Result<Keystore> {
    let _ = ossvault_keystore::disable_core_dumps();
    let dir = config_dir()?;
    let backend = match &args.keystore_file {
        Some(path) => Backend::PassphraseFile {
            path: path.clone(),
            passphrase: keystore_passphrase()?,
        },
        None => Backend::SystemKeychain,
    };
    let headless = args.keystore_file.is_none();
    Keystore::open(&dir, backend).map_err(|e| {
        let hint = if headless {
            " (without a keychain, keep the keys in a passphrase-encrypted file: --keystore-file \
             PATH, passphrase in OSSVAULT_KEYSTORE_PASSPHRASE)"
        } else {
            ""
        };
        anyhow!("cannot open the keystore: {e}{hint}")
    })
}

fn keystore_passphrase() -> Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var(ENV_KEYSTORE_PASSPHRASE) {
        if !p.is_empty() {
            return Ok(Zeroizing::new(p));
        }
    }
    prompt_secret("Keystore passphrase: ").context(
        "the file keystore needs its passphrase: set OSSVAULT_KEYSTORE_PASSPHRASE or run on a terminal",
    )
}

/// Reads a secret from the terminal (`/dev/tty`) without echoing it.
pub fn prompt_secret(prompt: &str) -> Result<Zeroizing<String>> {
    let secret =
        Zeroizing::new(rpassword::prompt_password(prompt).context("no terminal to ask on")?);
    if secret.is_empty() {
        bail!("an empty passphrase");
    }
    Ok(secret)
}

/// The crypto crate's master key for a keystore key version (checked against its fingerprint).
pub fn master_from_material(m: &KeyMaterial) -> Result<MasterKey> {
    let key = if let Some(secret) = m.aes256() {
        MasterKey::aes256(Zeroizing::new(*secret))
    } else if let Some(private) = m.rsa_private() {
        let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(private, rsa::pkcs8::LineEnding::LF)
            .map_err(|e| anyhow!("cannot encode the RSA key {}: {e}", m.name()))?;
        MasterKey::rsa_private_from_pem(&pem)?
    } else {
        bail!("key {} has no usable secret", m.name());
    };
    if key.fingerprint().to_hex() != m.fingerprint() {
        bail!(
            "key {}@v{}: the keystore's fingerprint {} is not the key's {}",
            m.name(),
            m.version(),
            m.fingerprint(),
            key.fingerprint()
        );
    }
    Ok(key)
}

/// A KMS CMK of the endpoint's KMS (the embedded server's), as the crypto crate's key wrap.
pub struct KmsKey {
    client: Client,
    key_id: String,
}

impl KeyWrap for KmsKey {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn generate_data_key(&self) -> KeyWrapFuture<'_, ossvault_crypto::GeneratedDataKey> {
        Box::pin(async move {
            let dk = self
                .client
                .generate_data_key(Some(&self.key_id), Some(32), None)
                .await
                .map_err(|e| KeyWrapError::new(crate::output::render_client_error(&e)))?;
            Ok(ossvault_crypto::GeneratedDataKey {
                plaintext: dk.plaintext,
                ciphertext_blob: dk.ciphertext_blob,
            })
        })
    }

    fn decrypt<'a>(&'a self, ciphertext_blob: &'a str) -> KeyWrapFuture<'a, Zeroizing<Vec<u8>>> {
        Box::pin(async move {
            let d = self
                .client
                .decrypt(ciphertext_blob, None)
                .await
                .map_err(|e| KeyWrapError::new(crate::output::render_client_error(&e)))?;
            Ok(d.plaintext)
        })
    }
}

/// A KMS master key named exactly `key_id` (as recorded in an object's metadata).
pub fn kms_master(client: &Client, key_id: &str) -> MasterKey {
    MasterKey::kms(Arc::new(KmsKey {
        client: client.clone(),
        key_id: key_id.to_owned(),
    }))
}

/// The master key of `--encrypt`: `kms:CMK_ID` (resolved to the CMK's canonical id, which is
/// what objects record), or the name of a keystore key (its current version).
pub async fn encryption_key(client: &Client, spec: &str, ks: &KeystoreArgs) -> Result<MasterKey> {
    if let Some(id) = spec.strip_prefix("kms:") {
        if id.is_empty() {
            bail!("--encrypt kms: needs a CMK id (kms:CMK_ID)");
        }
        let meta = client
            .describe_key(id)
            .await
            .with_context(|| format!("KMS key {id}"))?;
        return Ok(kms_master(client, &meta.key_id));
    }
    let store = open_keystore(ks)?;
    let material = store.secret(spec, None).map_err(|e| anyhow!("{e}"))?;
    master_from_material(&material)
}

/// The object names a key that the keystore does not hold.
#[derive(Debug)]
pub struct MissingKey(pub Fingerprint);

impl fmt::Display for MissingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the key with fingerprint {} is not in the keychain (key import / key restore it)",
            self.0
        )
    }
}

impl std::error::Error for MissingKey {}

/// The opened envelope of an encrypted object, and which key opened it.
pub struct Opened {
    pub envelope: Envelope,
    /// `name@vN`, or `kms:ID`.
    pub key_label: String,
}

/// Finds the key that opens an encrypted object and opens it.
pub async fn open_object(
    client: &Client,
    headers: &ObjectHeaders,
    ks: &KeystoreArgs,
) -> Result<Opened> {
    if let Some(id) = headers.kms_key_id() {
        let key = kms_master(client, id);
        let envelope = headers.open(&key).await?;
        return Ok(Opened {
            envelope,
            key_label: format!("kms:{id}"),
        });
    }
    let store = open_keystore(ks)?;
    if let Some(fp) = headers.key_fingerprint() {
        let Some((name, version)) = store.by_fingerprint(&fp.to_hex())? else {
            return Err(MissingKey(fp).into());
        };
        let key = master_from_material(&store.secret(&name, Some(version))?)?;
        let envelope = headers.open(&key).await?;
        return Ok(Opened {
            envelope,
            key_label: format!("{name}@v{version}"),
        });
    }
    // An OSS SDK object: no fingerprint; try each RSA key version.
    for info in store.list()? {
        if !info.kind.is_rsa() {
            continue;
        }
        for v in &info.versions {
            let key = master_from_material(&store.secret(&info.name, Some(v.version))?)?;
            if let Ok(envelope) = headers.open(&key).await {
                return Ok(Opened {
                    envelope,
                    key_label: format!("{}@v{}", info.name, v.version),
                });
            }
        }
    }
    bail!(
        "no RSA key in the keychain opens this object: it was written by an OSS SDK, which \
         records no key fingerprint{}; import the SDK's RSA private key (key import)",
        headers
            .matdesc()
            .map(|m| format!(" (matdesc {m})"))
            .unwrap_or_default()
    )
}

/// How to encrypt and upload files.
pub struct EncryptedUpload<'a> {
    pub client: &'a Client,
    pub master: &'a MasterKey,
    pub format: Format,
    /// Compat: the material description to record.
    pub matdesc: Vec<(String, String)>,
    pub part_size: u64,
    pub threshold: u64,
    pub jobs: usize,
    pub put: PutOptions,
    pub progress: OnProgress,
    pub cancel: CancellationToken,
}

impl EncryptedUpload<'_> {
    /// Encrypts `path` into `bucket/key`: one PutObject below the threshold, else a multipart
    /// upload (aborted on failure or cancellation: encrypted uploads do not resume).
    pub async fn upload(&self, path: &Path, bucket: &str, key: &str) -> Result<UploadOutcome> {
        let size = tokio::fs::metadata(path)
            .await
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        let mut options = EncryptOptions {
            format: self.format,
            ..EncryptOptions::default()
        };
        if self.format == Format::Compat {
            options.plaintext_len = Some(size);
            options.matdesc = self.matdesc.clone();
        }
        let envelope = Envelope::new(self.master, &options).await?;
        let report = |done| {
            (self.progress)(TransferProgress { done, total: size });
        };
        report(0);
        if size < self.threshold.max(1) {
            let mut put = self.put.clone();
            put.headers.extend(envelope.headers().iter().cloned());
            let body = if size <= IN_MEMORY_MAX {
                let plain = Zeroizing::new(tokio::fs::read(path).await?);
                if plain.len() as u64 != size {
                    bail!("{} changed while it was read", path.display());
                }
                RequestBody::Bytes(envelope.encrypt_to_vec(&plain)?.into())
            } else {
                let file = tokio::fs::File::open(path).await?;
                let reader = CipherReader::new(file, envelope.encryptor());
                RequestBody::Stream {
                    body: reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(reader)),
                    len: envelope.ciphertext_len(size),
                }
            };
            let put_object = self.client.put_object(bucket, key, body, &put);
            let result = tokio::select! {
                r = put_object => r?,
                _ = self.cancel.cancelled() => return Err(ossvault_client::Error::Cancelled.into()),
            };
            report(size);
            return Ok(UploadOutcome {
                size,
                etag: result.etag,
                crc64: result.crc64,
                parts_resumed: 0,
                parts_sent: 1,
            });
        }
        let part = envelope.align_part_size(
            self.part_size
                .max(size.div_ceil(ossvault_proto::limits::MAX_PARTS as u64)),
        );
        let plan = envelope.multipart(part, Some(size))?;
        let mut put = self.put.clone();
        put.headers.extend(plan.initiate_headers());
        let client = self.client;
        let upload_id = client.initiate_multipart(bucket, key, &put).await?;
        let count = plan.part_count(size);
        let part_headers = plan.part_headers();
        let done = AtomicU64::new(0);
        let (plan, part_headers, done, upload_id_ref) = (&plan, &part_headers, &done, &upload_id);
        let parts = stream::iter(1..=count)
            .map(|n| async move {
                let offset = plan.part_offset(n);
                let len = part.min(size - offset);
                let plain = read_at(path, offset, len).await?;
                let mut encryptor = plan.part_encryptor(n, n == count)?;
                let mut sealed = Vec::with_capacity(plan.part_ciphertext_len(len) as usize);
                encryptor.update(&plain, &mut sealed)?;
                encryptor.finish(&mut sealed)?;
                drop(plain);
                let info = client
                    .upload_part_with_headers(
                        bucket,
                        key,
                        upload_id_ref,
                        n,
                        RequestBody::Bytes(sealed.into()),
                        part_headers,
                    )
                    .await?;
                report(done.fetch_add(len, Ordering::Relaxed) + len);
                Ok::<PartInfo, anyhow::Error>(info)
            })
            .buffer_unordered(self.jobs.max(1))
            .try_collect::<Vec<PartInfo>>();
        let parts = tokio::select! {
            r = parts => r,
            _ = self.cancel.cancelled() => Err(ossvault_client::Error::Cancelled.into()),
        };
        let completed = match parts {
            Ok(mut parts) => {
                parts.sort_by_key(|p| p.number);
                client
                    .complete_multipart(bucket, key, &upload_id, &parts)
                    .await
                    .map(|r| (r, parts.len() as u32))
                    .map_err(anyhow::Error::from)
            }
            Err(e) => Err(e),
        };
        match completed {
            Ok((result, sent)) => Ok(UploadOutcome {
                size,
                etag: result.etag,
                crc64: result.crc64,
                parts_resumed: 0,
                parts_sent: sent,
            }),
            Err(e) => {
                if let Err(abort) = client.abort_multipart(bucket, key, &upload_id).await {
                    tracing::warn!("cannot abort the multipart upload of {key}: {abort}");
                }
                Err(e)
            }
        }
    }
}

/// `len` bytes of `path` from `offset`, read off the async threads.
async fn read_at(path: &Path, offset: u64, len: u64) -> Result<Zeroizing<Vec<u8>>> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(&path)?;
        let mut buf = Zeroizing::new(vec![0u8; len as usize]);
        file.read_exact_at(&mut buf, offset)?;
        Ok::<_, io::Error>(buf)
    })
    .await?
    .context("cannot read the file being uploaded")
}

/// The plaintext bytes a `--range` asks for, of an object of `total` plaintext bytes.
pub fn plain_range(range: RangeSpec, total: u64) -> Result<Range<u64>> {
    let r = match range {
        RangeSpec::From { start, end } => {
            start..end.map_or(total, |e| e.saturating_add(1)).min(total)
        }
        RangeSpec::Last(n) => total.saturating_sub(n)..total,
    };
    if r.start >= total && total > 0 {
        bail!("the range is outside the object ({total} bytes decrypted)");
    }
    Ok(r)
}

/// Downloads and decrypts an object (or a plaintext range of it) into `target`, atomically.
/// Returns the plaintext bytes written.
#[allow(clippy::too_many_arguments)]
pub async fn download(
    client: &Client,
    bucket: &str,
    key: &str,
    meta: &ObjectMeta,
    envelope: &Envelope,
    target: &Path,
    range: Option<RangeSpec>,
    progress: impl Fn(u64) + Send + Sync,
) -> Result<u64> {
    let (stream, request) = match range {
        None => (envelope.decryptor(), None),
        Some(r) => {
            let total = envelope.plaintext_len(meta.size)?;
            let read = envelope.range(plain_range(r, total)?, meta.size)?;
            let request = read.http_range().map(|_| {
                let s = read.stored_range();
                RangeSpec::From {
                    start: s.start,
                    end: Some(s.end - 1),
                }
            });
            if request.is_none() {
                let empty: &[u8] = &[];
                return Ok(decrypt_to_file(empty, read.into_decryptor(), target).await?);
            }
            (read.into_decryptor(), request)
        }
    };
    let (_, response) = client.get_object(bucket, key, request).await?;
    let body = response
        .bytes_stream()
        .map_err(io::Error::other)
        .inspect_ok(|chunk| progress(chunk.len() as u64));
    let reader = tokio_util::io::StreamReader::new(Box::pin(body));
    Ok(decrypt_to_file(reader, stream, target).await?)
}
