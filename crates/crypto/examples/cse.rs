//! A small file-to-file front end of ossvault-crypto, used by the interop tests
//! (tests/interop/test_cse_vectors.py) to exchange objects with the official OSS SDKs offline.
//!
//! ```text
//! cse encrypt --format compat --public-key pub.pem --in plain --out stored --headers-out h.json
//! cse encrypt --format sealed --aes-key HEX --part-size 131072 --in plain --out stored --headers-out h.json
//! cse decrypt --private-key key.pem --headers h.json --in stored --out plain [--range 10:5000]
//! cse fingerprint --public-key pub.pem
//! ```
//!
//! Headers files are JSON objects of header name → value. With `--part-size` the object is
//! encrypted as a multipart upload (parts made independently, last first) and `--headers-out`
//! gets the InitiateMultipartUpload headers, `--part-headers-out` those of each UploadPart.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ossvault_crypto::{
    decrypt_to_file, EncryptOptions, Envelope, Format, MasterKey, ObjectHeaders,
};
use zeroize::Zeroizing;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct KeyArgs {
    /// AES-256 master key as 64 hex digits.
    #[arg(long)]
    aes_key: Option<String>,
    /// RSA private key PEM file (PKCS#1 or PKCS#8).
    #[arg(long)]
    private_key: Option<PathBuf>,
    /// RSA public key PEM file (SPKI or PKCS#1); encryption only.
    #[arg(long)]
    public_key: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Encrypts a file into a stored object and its metadata headers.
    Encrypt {
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long, default_value = "sealed")]
        format: Format,
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        headers_out: PathBuf,
        /// Multipart: plaintext part size.
        #[arg(long)]
        part_size: Option<u64>,
        #[arg(long)]
        part_headers_out: Option<PathBuf>,
        /// Compat matdesc entries, `key=value`.
        #[arg(long)]
        matdesc: Vec<String>,
        /// Compat: record the plaintext length (as the SDKs do when Content-Length is given).
        #[arg(long)]
        record_length: bool,
    },
    /// Decrypts a stored object (or a plaintext range of it) given its headers.
    Decrypt {
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long)]
        headers: PathBuf,
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Plaintext range `start:end` (end exclusive).
        #[arg(long)]
        range: Option<String>,
    },
    /// Prints a key's fingerprint.
    Fingerprint {
        #[command(flatten)]
        key: KeyArgs,
    },
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn master(k: &KeyArgs) -> Res<MasterKey> {
    if let Some(hex) = &k.aes_key {
        let mut secret = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex, secret.as_mut_slice())?;
        return Ok(MasterKey::aes256(secret));
    }
    if let Some(p) = &k.private_key {
        return Ok(MasterKey::rsa_private_from_pem(&std::fs::read_to_string(
            p,
        )?)?);
    }
    if let Some(p) = &k.public_key {
        return Ok(MasterKey::rsa_public_from_pem(&std::fs::read_to_string(
            p,
        )?)?);
    }
    Err("give --aes-key, --private-key or --public-key".into())
}

fn write_headers(path: &PathBuf, h: &[(String, String)]) -> Res<()> {
    let map: BTreeMap<&str, &str> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    std::fs::write(path, serde_json::to_string_pretty(&map)?)?;
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    match Cli::parse().command {
        Command::Encrypt {
            key,
            format,
            input,
            out,
            headers_out,
            part_size,
            part_headers_out,
            matdesc,
            record_length,
        } => {
            let plain = std::fs::read(&input)?;
            let mut opts = EncryptOptions {
                format,
                ..EncryptOptions::default()
            };
            for kv in matdesc {
                let (k, v) = kv.split_once('=').ok_or("matdesc entries are key=value")?;
                opts.matdesc.push((k.into(), v.into()));
            }
            if record_length {
                opts.plaintext_len = Some(plain.len() as u64);
            }
            let env = Envelope::new(&master(&key)?, &opts).await?;
            match part_size {
                None => {
                    std::fs::write(&out, env.encrypt_to_vec(&plain)?)?;
                    write_headers(&headers_out, env.headers())?;
                }
                Some(size) => {
                    let plan = env.multipart(size, Some(plain.len() as u64))?;
                    let count = plan.part_count(plain.len() as u64);
                    let mut parts = vec![Vec::new(); count as usize];
                    for n in (1..=count).rev() {
                        let s = plan.part_offset(n) as usize;
                        let e = (s + size as usize).min(plain.len());
                        let mut enc = plan.part_encryptor(n, n == count)?;
                        enc.update(&plain[s..e], &mut parts[n as usize - 1])?;
                        enc.finish(&mut parts[n as usize - 1])?;
                    }
                    std::fs::write(&out, parts.concat())?;
                    write_headers(&headers_out, &plan.initiate_headers())?;
                    if let Some(p) = part_headers_out {
                        write_headers(&p, &plan.part_headers())?;
                    }
                }
            }
        }
        Command::Decrypt {
            key,
            headers,
            input,
            out,
            range,
        } => {
            let h: BTreeMap<String, String> = serde_json::from_slice(&std::fs::read(&headers)?)?;
            let env = ObjectHeaders::parse(&h)?.open(&master(&key)?).await?;
            let stored = std::fs::read(&input)?;
            match range {
                None => {
                    decrypt_to_file(&stored[..], env.decryptor(), &out).await?;
                }
                Some(r) => {
                    let (a, b) = r.split_once(':').ok_or("--range is start:end")?;
                    let plan = env.range(a.parse()?..b.parse()?, stored.len() as u64)?;
                    let s = plan.stored_range();
                    let bytes = &stored[s.start as usize..s.end as usize];
                    decrypt_to_file(bytes, plan.into_decryptor(), &out).await?;
                }
            }
        }
        Command::Fingerprint { key } => println!("{}", master(&key)?.fingerprint()),
    }
    Ok(())
}
