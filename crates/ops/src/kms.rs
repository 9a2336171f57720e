//! The local KMS of ossvault's embedded server (customer master keys for SSE-KMS): the
//! listing with each key's metadata, and the import of bring-your-own key material.

use crate::{Error, Result};
use ossvault_client::{Client, KeyMetadata};
use std::path::Path;
use zeroize::Zeroizing;

/// Length of the AES-256 key material a BYOK key takes.
pub const KEY_MATERIAL_LEN: usize = 32;

/// Every key of the KMS with its metadata (state, description, deletion date), in listing order.
pub async fn list_keys(client: &Client) -> Result<Vec<KeyMetadata>> {
    let mut keys = Vec::new();
    for entry in client.all_keys().await? {
        keys.push(client.describe_key(&entry.key_id).await?);
    }
    Ok(keys)
}

/// Key material as given by a user: 32 raw bytes, or 64 hex digits (whitespace ignored).
/// Every intermediate copy is wiped.
pub fn parse_key_material(given: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if given.len() == KEY_MATERIAL_LEN {
        return Ok(Zeroizing::new(given.to_vec()));
    }
    let digits: Zeroizing<Vec<u8>> = Zeroizing::new(
        given
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect(),
    );
    match hex::decode(&*digits) {
        Ok(material) if material.len() == KEY_MATERIAL_LEN => Ok(Zeroizing::new(material)),
        Ok(mut wrong) => {
            zeroize::Zeroize::zeroize(&mut wrong);
            Err(material_error())
        }
        Err(_) => Err(material_error()),
    }
}

/// [`parse_key_material`] of a file's content.
pub fn read_key_material(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let raw = Zeroizing::new(std::fs::read(path).map_err(Error::io(path))?);
    parse_key_material(&raw).map_err(|_| {
        Error::InvalidInput(format!(
            "{} must hold {KEY_MATERIAL_LEN} raw bytes or {} hex digits (AES-256 key material)",
            path.display(),
            KEY_MATERIAL_LEN * 2
        ))
    })
}

fn material_error() -> Error {
    Error::InvalidInput(format!(
        "key material must be {KEY_MATERIAL_LEN} raw bytes or {} hex digits (AES-256)",
        KEY_MATERIAL_LEN * 2
    ))
}

/// Imports material into a key created for it (Origin EXTERNAL, PendingImport): it is wrapped
/// here with RSA-OAEP-SHA256 under the server's import key, so the raw material never leaves
/// this process. Returns the key's metadata after the import.
pub async fn import_key_material(
    client: &Client,
    key_id: &str,
    material: &[u8],
) -> Result<KeyMetadata> {
    if material.len() != KEY_MATERIAL_LEN {
        return Err(material_error());
    }
    client.import_raw_key_material(key_id, material).await?;
    Ok(client.describe_key(key_id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_is_raw_or_hex() {
        assert_eq!(*parse_key_material(&[7u8; 32]).unwrap(), [7u8; 32]);
        let hexed = format!(" {}\n", hex::encode([9u8; 32]));
        assert_eq!(*parse_key_material(hexed.as_bytes()).unwrap(), [9u8; 32]);
        for bad in [
            &b"abcd"[..],
            &[1u8; 31],
            hex::encode([1u8; 31]).as_bytes(),
            b"zz",
        ] {
            assert_eq!(parse_key_material(bad).unwrap_err().code(), "InvalidInput");
        }
    }

    #[test]
    fn material_files_name_the_file_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "abcd").unwrap();
        let e = read_key_material(&short).unwrap_err();
        assert!(e.to_string().contains("short"), "{e}");
        let missing = read_key_material(&dir.path().join("none")).unwrap_err();
        assert_eq!(missing.code(), "Io");
    }
}
