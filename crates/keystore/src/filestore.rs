//! The passphrase-encrypted file keystore: every secret in one file, sealed with AES-256-GCM
//! under a key derived from the user's passphrase with Argon2id. Format: `FORMAT.md`.
//!
//! Chosen explicitly by the user where no OS keychain is available. The file is re-read for
//! every operation (changes are made under the keystore's lock), so several processes see each
//! other's changes; the derived key is cached for as long as the file's salt and parameters stay
//! the same.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::keychain::SecretStore;

const MAGIC: &[u8; 8] = b"OSSVKEYS";
const FORMAT_VERSION: u8 = 1;
const KDF_ARGON2ID_V13: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// magic, version, kdf id, m_cost, t_cost, p_cost, salt, nonce.
const HEADER_LEN: usize = 8 + 1 + 1 + 4 + 4 + 4 + SALT_LEN + NONCE_LEN;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KdfParams {
    /// Memory in KiB.
    pub(crate) m_cost: u32,
    /// Passes.
    pub(crate) t_cost: u32,
    /// Lanes.
    pub(crate) p_cost: u32,
}

impl KdfParams {
    /// RFC 9106's second recommended option: 64 MiB, 3 passes, 4 lanes.
    pub(crate) const DEFAULT: KdfParams = KdfParams {
        m_cost: 64 * 1024,
        t_cost: 3,
        p_cost: 4,
    };

    /// Bounds accepted when reading a file, so that a crafted file cannot make opening it take
    /// hours or all memory.
    fn check(self) -> std::result::Result<(), String> {
        if !(8..=1 << 20).contains(&self.m_cost)
            || !(1..=64).contains(&self.t_cost)
            || !(1..=64).contains(&self.p_cost)
        {
            return Err(format!("Argon2id parameters out of bounds: {self:?}"));
        }
        Ok(())
    }

    fn derive(self, passphrase: &str, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let params = argon2::Params::new(self.m_cost, self.t_cost, self.p_cost, Some(32))
            .map_err(|e| Error::Crypto(format!("Argon2id parameters: {e}")))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
            .map_err(|e| Error::Crypto(format!("Argon2id: {e}")))?;
        Ok(key)
    }
}

type Entries = BTreeMap<String, Zeroizing<Vec<u8>>>;

struct DerivedKey {
    params: KdfParams,
    salt: [u8; SALT_LEN],
    key: Zeroizing<[u8; 32]>,
}

/// Secrets in one passphrase-encrypted file.
pub(crate) struct FileStore {
    path: PathBuf,
    passphrase: Zeroizing<String>,
    derived: Mutex<Option<DerivedKey>>,
}

impl FileStore {
    /// Opens the file, checking the passphrase, or creates an empty one with `params`.
    pub(crate) fn open(
        path: &Path,
        passphrase: Zeroizing<String>,
        params: KdfParams,
    ) -> Result<Self> {
        if passphrase.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        let store = FileStore {
            path: path.to_owned(),
            passphrase,
            derived: Mutex::new(None),
        };
        if path.exists() {
            store.read()?;
        } else {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let mut salt = [0u8; SALT_LEN];
            OsRng.fill_bytes(&mut salt);
            let key = params.derive(&store.passphrase, &salt)?;
            *store.derived.lock().expect("lock poisoned") = Some(DerivedKey { params, salt, key });
            store.write(&Entries::new())?;
        }
        Ok(store)
    }

    fn corrupt(&self, detail: impl Into<String>) -> Error {
        Error::FileKeystoreCorrupt {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }

    fn read(&self) -> Result<Entries> {
        let bytes = std::fs::read(&self.path).map_err(|e| Error::io(&self.path, e))?;
        if bytes.len() < HEADER_LEN + TAG_LEN || &bytes[..8] != MAGIC {
            return Err(self.corrupt("not an ossvault file keystore"));
        }
        if bytes[8] != FORMAT_VERSION || bytes[9] != KDF_ARGON2ID_V13 {
            return Err(self.corrupt(format!(
                "format {} / KDF {} not supported by this build",
                bytes[8], bytes[9]
            )));
        }
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let params = KdfParams {
            m_cost: u32_at(10),
            t_cost: u32_at(14),
            p_cost: u32_at(18),
        };
        params.check().map_err(|e| self.corrupt(e))?;
        let salt: [u8; SALT_LEN] = bytes[22..22 + SALT_LEN].try_into().expect("salt length");
        let nonce = Nonce::from_slice(&bytes[22 + SALT_LEN..HEADER_LEN]);
        let (header, body) = bytes.split_at(HEADER_LEN);
        let (ciphertext, tag) = body.split_at(body.len() - TAG_LEN);

        let mut derived = self.derived.lock().expect("lock poisoned");
        let reuse = matches!(&*derived, Some(d) if d.params == params && d.salt == salt);
        if !reuse {
            let key = params.derive(&self.passphrase, &salt)?;
            *derived = Some(DerivedKey { params, salt, key });
        }
        let key = &derived.as_ref().expect("set above").key;
        let cipher = Aes256Gcm::new_from_slice(key.as_ref()).expect("32-byte key");
        let mut plain = Zeroizing::new(ciphertext.to_vec());
        cipher
            .decrypt_in_place_detached(nonce, header, &mut plain, Tag::from_slice(tag))
            .map_err(|_| Error::WrongPassphrase)?;
        decode_entries(&plain).ok_or_else(|| self.corrupt("malformed content"))
    }

    fn write(&self, entries: &Entries) -> Result<()> {
        let derived = self.derived.lock().expect("lock poisoned");
        let derived = derived
            .as_ref()
            .expect("the file was read or created on open");
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.push(FORMAT_VERSION);
        header.push(KDF_ARGON2ID_V13);
        header.extend_from_slice(&derived.params.m_cost.to_le_bytes());
        header.extend_from_slice(&derived.params.t_cost.to_le_bytes());
        header.extend_from_slice(&derived.params.p_cost.to_le_bytes());
        header.extend_from_slice(&derived.salt);
        header.extend_from_slice(&nonce);
        debug_assert_eq!(header.len(), HEADER_LEN);

        let mut body = encode_entries(entries);
        let cipher = Aes256Gcm::new_from_slice(derived.key.as_ref()).expect("32-byte key");
        let tag = cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &header, &mut body)
            .map_err(|e| Error::Crypto(format!("AES-GCM: {e}")))?;
        // `body` is ciphertext now; the file is header || ciphertext || tag.
        let mut file = Vec::with_capacity(HEADER_LEN + body.len() + TAG_LEN);
        file.extend_from_slice(&header);
        file.extend_from_slice(&body);
        file.extend_from_slice(&tag);
        fsutil::write_atomic(&self.path, &file)
    }
}

/// `u32 count`, then per entry `u16 account length, account, u32 secret length, secret`
/// (little-endian), in account order. Sized up front: no reallocation leaves copies behind.
fn encode_entries(entries: &Entries) -> Zeroizing<Vec<u8>> {
    let size = 4 + entries
        .iter()
        .map(|(k, v)| 2 + k.len() + 4 + v.len())
        .sum::<usize>();
    let mut out = Zeroizing::new(Vec::with_capacity(size + TAG_LEN));
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (account, secret) in entries {
        out.extend_from_slice(&(account.len() as u16).to_le_bytes());
        out.extend_from_slice(account.as_bytes());
        out.extend_from_slice(&(secret.len() as u32).to_le_bytes());
        out.extend_from_slice(secret);
    }
    out
}

fn decode_entries(mut bytes: &[u8]) -> Option<Entries> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if bytes.len() < n {
            return None;
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Some(head)
    }
    let count = u32::from_le_bytes(take(&mut bytes, 4)?.try_into().ok()?);
    let mut entries = Entries::new();
    for _ in 0..count {
        let len = u16::from_le_bytes(take(&mut bytes, 2)?.try_into().ok()?) as usize;
        let account = std::str::from_utf8(take(&mut bytes, len)?).ok()?.to_owned();
        let len = u32::from_le_bytes(take(&mut bytes, 4)?.try_into().ok()?) as usize;
        let secret = Zeroizing::new(take(&mut bytes, len)?.to_vec());
        entries.insert(account, secret);
    }
    bytes.is_empty().then_some(entries)
}

impl SecretStore for FileStore {
    fn get(&self, account: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(self.read()?.remove(account))
    }

    fn set(&self, account: &str, secret: &[u8]) -> Result<()> {
        if account.len() > u16::MAX as usize {
            return Err(Error::Crypto("account name too long".into()));
        }
        let mut entries = self.read()?;
        entries.insert(account.to_owned(), Zeroizing::new(secret.to_vec()));
        self.write(&entries)
    }

    fn delete(&self, account: &str) -> Result<bool> {
        let mut entries = self.read()?;
        if entries.remove(account).is_none() {
            return Ok(false);
        }
        self.write(&entries)?;
        Ok(true)
    }

    fn probe(&self) -> Result<()> {
        self.read().map(drop)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Cheap parameters: unit tests derive keys dozens of times.
    pub(crate) const TEST_PARAMS: KdfParams = KdfParams {
        m_cost: 64,
        t_cost: 1,
        p_cost: 1,
    };

    fn pass(s: &str) -> Zeroizing<String> {
        Zeroizing::new(s.to_owned())
    }

    #[test]
    fn round_trip_wrong_passphrase_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/keys.ossvault");
        let store = FileStore::open(&path, pass("correct horse"), TEST_PARAMS).unwrap();
        assert!(store.get("a").unwrap().is_none());
        store.set("a", b"secret-one").unwrap();
        store.set("b", &[0u8, 1, 2, 255]).unwrap();
        assert_eq!(store.get("a").unwrap().unwrap().as_slice(), b"secret-one");
        assert!(store.delete("a").unwrap());
        assert!(!store.delete("a").unwrap());

        // Another handle (another process) sees the change; params come from the file.
        let again = FileStore::open(&path, pass("correct horse"), KdfParams::DEFAULT).unwrap();
        assert_eq!(
            again.get("b").unwrap().unwrap().as_slice(),
            &[0u8, 1, 2, 255]
        );
        assert!(again.get("a").unwrap().is_none());

        let err = FileStore::open(&path, pass("wrong horse"), TEST_PARAMS)
            .err()
            .unwrap();
        assert!(matches!(err, Error::WrongPassphrase), "{err}");

        let mut bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(4).any(|w| w == [0u8, 1, 2, 255]));
        let last = bytes.len() - 20;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            FileStore::open(&path, pass("correct horse"), TEST_PARAMS),
            Err(Error::WrongPassphrase)
        ));
        // Tampering with the header (here the salt) fails the same way.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[last] ^= 1;
        bytes[30] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            FileStore::open(&path, pass("correct horse"), TEST_PARAMS),
            Err(Error::WrongPassphrase)
        ));
        std::fs::write(&path, b"plain text").unwrap();
        assert!(matches!(
            FileStore::open(&path, pass("correct horse"), TEST_PARAMS),
            Err(Error::FileKeystoreCorrupt { .. })
        ));
    }

    #[test]
    fn empty_passphrase_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            FileStore::open(&dir.path().join("k"), pass(""), TEST_PARAMS),
            Err(Error::EmptyPassphrase)
        ));
    }

    #[test]
    fn entries_codec_rejects_trailing_and_short_input() {
        let mut entries = Entries::new();
        entries.insert("x".into(), Zeroizing::new(vec![9; 40]));
        let bytes = encode_entries(&entries);
        assert_eq!(decode_entries(&bytes).unwrap(), entries);
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(decode_entries(&longer).is_none());
        assert!(decode_entries(&bytes[..bytes.len() - 1]).is_none());
    }

    #[test]
    fn hostile_kdf_parameters_are_refused() {
        assert!(KdfParams {
            m_cost: u32::MAX,
            t_cost: 1,
            p_cost: 1
        }
        .check()
        .is_err());
        KdfParams::DEFAULT.check().unwrap();
    }
}
