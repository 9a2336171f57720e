//! The CLI's side of client-side encryption: which keystore `--keystore-file` names (and its
//! passphrase, from the environment or a prompt). The work itself is `ossvault_ops::keys` and
//! `ossvault_ops::encrypted`.

use crate::KeystoreArgs;
use anyhow::{anyhow, bail, Context, Result};
use ossvault_keystore::{Backend, Keystore};
use zeroize::Zeroizing;

/// The passphrase of `--keystore-file` (else it is asked on the terminal).
pub const ENV_KEYSTORE_PASSPHRASE: &str = "OSSVAULT_KEYSTORE_PASSPHRASE";

/// Opens the keystore: the system keychain, or the passphrase file of `--keystore-file`.
pub fn open_keystore(args: &KeystoreArgs) -> Result<Keystore> {
    let backend = match &args.keystore_file {
        Some(path) => Backend::PassphraseFile {
            path: path.clone(),
            passphrase: keystore_passphrase()?,
        },
        None => Backend::SystemKeychain,
    };
    let headless = args.keystore_file.is_none();
    ossvault_ops::keys::open_keystore(backend).map_err(|e| {
        let hint = if headless {
            " (without a keychain, keep the keys in a passphrase-encrypted file: --keystore-file \
             PATH, passphrase in OSSVAULT_KEYSTORE_PASSPHRASE)"
        } else {
            ""
        };
        anyhow!("cannot open the keystore: {e}{hint}")
    })
}

/// The master key `--encrypt` names: `kms:CMK_ID` or a keystore key's name.
pub async fn encryption_key(
    client: &ossvault_client::Client,
    spec: &str,
    ks: &KeystoreArgs,
) -> Result<ossvault_crypto::MasterKey> {
    Ok(ossvault_ops::keys::encryption_key(client, spec, || {
        open_keystore(ks).map_err(|e| ossvault_ops::Error::InvalidInput(e.to_string()))
    })
    .await?)
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
