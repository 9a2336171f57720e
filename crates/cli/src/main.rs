//! `ossvault`: the command line of ossvault.
//!
//! Every flag is defined here, once; each command family lives in its own module and keeps to
//! parsing, printing and calling `ossvault-client`.

mod backup;
mod bucket_settings;
mod buckets;
mod connection;
mod cp;
mod cse;
mod du;
mod key;
mod kms;
mod ls;
mod object_settings;
mod output;
mod profile;
mod rm;
mod scrub;
mod serve;
mod sign;
mod stat;
mod sync;
mod transfers;
mod units;
mod versioning;

/// mimalloc rather than the system allocator: a sync of many small files and the server that
/// takes them move buffers of a few KiB by the tens of thousands, where glibc's malloc and free
/// (with its consolidations) cost more than the hashing.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use connection::ConnectionArgs;
use output::Output;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// How a command finds its connection, shown under every command that talks to OSS.
macro_rules! connection_help {
    () => {
        "Connection settings come from, in order of precedence: the flags (-e, -i, -k, --region,
--sign-version), the environment (OSSVAULT_ENDPOINT, OSSVAULT_ACCESS_KEY_ID,
OSSVAULT_ACCESS_KEY_SECRET, OSSVAULT_REGION, OSSVAULT_SIGN_VERSION), then the profile
(--profile NAME, default `default`) saved by `ossvault profile set`."
    };
}
const CONNECTION_HELP: &str = connection_help!();

const AFTER_HELP: &str = concat!(
    connection_help!(),
    "

Examples:
  ossvault profile set default -e http://127.0.0.1:9000 -i AKID -k SECRET
  ossvault mb oss://photos
  ossvault cp ./holiday.jpg oss://photos/2024/
  ossvault cp -r ./album oss://photos/album/ --jobs 8
  ossvault ls oss://photos/2024/ -d
  ossvault cp oss://photos/2024/holiday.jpg ./
  ossvault sign oss://photos/2024/holiday.jpg --expires 3600
  ossvault rm -r -f oss://photos/album/
  ossvault key gen --name docs
  ossvault cp ./secret.pdf oss://photos/private/ --encrypt docs
  ossvault cp oss://photos/private/secret.pdf ./   (decrypted automatically)
  ossvault key rotate docs --rewrap oss://photos/private/"
);

#[derive(Parser)]
#[command(
    name = "ossvault",
    version,
    about = "Encrypted object storage on OSS, and an embedded OSS-compatible server",
    after_help = AFTER_HELP
)]
struct Cli {
    /// Print results as JSON: one document per result, JSON lines for listings.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the embedded OSS-compatible server.
    Serve(serve::ServeArgs),
    /// Check every stored object and quarantine the damaged: of a stopped server's data
    /// directory (--data-dir), or through a running server (the connection's).
    #[command(after_help = CONNECTION_HELP)]
    Scrub(scrub::ScrubArgs),
    /// Copy a stopped server's data directory to a new one, consistently.
    Backup(backup::BackupArgs),
    /// Restore a backup into a new data directory.
    Restore(backup::RestoreArgs),
    /// Make a bucket: `ossvault mb oss://bucket`.
    #[command(after_help = CONNECTION_HELP)]
    Mb(MbArgs),
    /// Remove a bucket: `ossvault rb oss://bucket` (-f empties it first).
    #[command(after_help = CONNECTION_HELP)]
    Rb(RbArgs),
    /// List buckets, or the objects under oss://bucket[/prefix].
    #[command(after_help = CONNECTION_HELP)]
    Ls(LsArgs),
    /// Copy files and objects: local→oss (upload), oss→local (download), oss→oss.
    #[command(after_help = CONNECTION_HELP)]
    Cp(CpArgs),
    /// Delete an object, or with -r everything under a prefix.
    #[command(after_help = CONNECTION_HELP)]
    Rm(RmArgs),
    /// Show the metadata of an object, or the information of a bucket.
    #[command(after_help = CONNECTION_HELP)]
    Stat(StatArgs),
    /// Print a presigned URL for an object.
    #[command(after_help = CONNECTION_HELP)]
    Sign(SignArgs),
    /// Total objects and bytes under oss://bucket[/prefix], per storage class.
    #[command(after_help = CONNECTION_HELP)]
    Du(DuArgs),
    /// Show or set a bucket's default server-side encryption.
    #[command(after_help = CONNECTION_HELP)]
    BucketEncryption(BucketEncryptionArgs),
    /// Show or set a bucket's policy (--https-only refuses every plain-HTTP request).
    #[command(after_help = CONNECTION_HELP)]
    BucketPolicy(BucketPolicyArgs),
    /// Show or set a bucket's versioning: `ossvault bucket-versioning oss://bucket
    /// [enabled|suspended]`.
    #[command(after_help = CONNECTION_HELP)]
    BucketVersioning(BucketVersioningArgs),
    /// Show, set (--set KEY=VALUE ..., replacing them) or delete (--delete) an object's tags.
    #[command(after_help = CONNECTION_HELP)]
    ObjectTagging(ObjectTaggingArgs),
    /// Make oss://bucket/LINK a symlink to oss://bucket/TARGET (which need not exist yet).
    #[command(after_help = CONNECTION_HELP)]
    CreateSymlink(CreateSymlinkArgs),
    /// Print the object a symlink points to.
    #[command(after_help = CONNECTION_HELP)]
    ReadSymlink(ReadSymlinkArgs),
    /// Restore an archived object (Archive, ColdArchive) so that it can be read.
    #[command(after_help = CONNECTION_HELP)]
    RestoreObject(RestoreObjectArgs),
    /// Show or switch Block Public Access, of a bucket or (without one) of the whole server.
    #[command(after_help = CONNECTION_HELP)]
    PublicAccessBlock(PublicAccessBlockArgs),
    /// The embedded server's KMS: customer master keys for SSE-KMS, BYOK import, and rotation
    /// of the SSE-OSS master key. Connection flags go before the action
    /// (`ossvault kms -e URL ls`), or come from the environment or a profile.
    #[command(after_help = CONNECTION_HELP)]
    Kms(KmsCommandArgs),
    /// Manage connection profiles in the config file.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Master keys of client-side encryption (`cp --encrypt NAME`), kept in the system
    /// keychain, or with --keystore-file in a passphrase-encrypted file.
    Key(KeyCommandArgs),
    /// The transfer queue shared with the desktop app: `ls`, `resume`, `clear`.
    Transfers(transfers::TransfersArgs),
    /// Watched-folder sync with client-side encryption: `sync add LOCAL oss://bucket/prefix/
    /// [--key NAME|kms:ID] [--mode upload|two-way|download]`, then `sync run [--watch]`.
    #[command(after_help = CONNECTION_HELP)]
    Sync(sync::SyncArgs),
}

/// Where master keys are kept. The keystore's metadata (names, fingerprints, public keys, no
/// secret) is in $OSSVAULT_CONFIG_DIR, else <config dir>/ossvault.
#[derive(Args, Clone, Debug, Default)]
pub struct KeystoreArgs {
    /// Keep master keys in this passphrase-encrypted file instead of the system keychain (for
    /// machines without a Secret Service); the passphrase comes from
    /// OSSVAULT_KEYSTORE_PASSPHRASE, else a prompt.
    #[arg(
        long,
        value_name = "PATH",
        env = "OSSVAULT_KEYSTORE_FILE",
        global = true,
        help_heading = "Keystore"
    )]
    pub keystore_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct KeyCommandArgs {
    #[command(flatten)]
    pub keystore: KeystoreArgs,
    #[command(subcommand)]
    pub action: KeyAction,
}

/// The kinds of master key `key gen` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyTypeArg {
    /// A 256-bit secret key (sealed format only).
    Aes256,
    /// RSA key pairs (both formats; compat, the OSS SDKs' format, needs RSA).
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

#[derive(Subcommand)]
pub enum KeyAction {
    /// Generate a master key: `key gen --name NAME --type aes256|rsa2048|rsa3072|rsa4096`.
    Gen {
        /// The key's name (letters, digits, `.`, `_`, `-`).
        #[arg(long)]
        name: String,
        /// The kind of key.
        #[arg(long = "type", value_enum, default_value = "aes256")]
        kind: KeyTypeArg,
    },
    /// Import a master key from FILE (`-`: stdin): an RSA private key PEM (PKCS#1 or PKCS#8,
    /// 2048/3072/4096 bits, e.g. the key pair of the OSS SDKs' RsaProvider), or an AES-256 key
    /// as 64 hex digits or base64 of 32 bytes.
    Import {
        /// The key's name.
        #[arg(long)]
        name: String,
        /// The key file, or `-` for stdin.
        file: PathBuf,
    },
    /// Write an encrypted backup of a key, every version, to a new file (age, passphrase).
    Export {
        /// The key.
        name: String,
        /// The backup file to create (never replaced).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Take the backup passphrase from this environment variable (else it is asked).
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Restore a key from a backup made by `key export`.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Restore under this name instead of the one it had.
        #[arg(long)]
        name: Option<String>,
        /// Take the backup passphrase from this environment variable (else it is asked).
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// List the keys (never their secrets).
    Ls,
    /// Print an RSA key's public key (PEM).
    Public {
        /// The key.
        name: String,
    },
    /// Rename a key: every version's secret moves to the new name, fingerprints stay (objects
    /// stay readable), and the sync folders that encrypt with it follow it.
    Rename {
        /// The key's name now.
        old: String,
        /// Its new name (letters, digits, `.`, `_`, `-`).
        new: String,
    },
    /// Delete a key and every version's secret: what it encrypted becomes unreadable. Asks
    /// for the key's name on a terminal; --force skips the question.
    Rm {
        /// The key.
        name: String,
        /// Delete without asking.
        #[arg(long)]
        force: bool,
    },
    /// Add a new version of a key and make it current (older versions stay, to decrypt);
    /// with --rewrap, move the objects under a prefix to the new version.
    Rotate(KeyRotateArgs),
}

#[derive(Args)]
pub struct KeyRotateArgs {
    /// The key.
    pub name: String,
    /// Rewrap the content key of every object under oss://bucket/prefix encrypted by an older
    /// version to the current one: a server-side CopyObject of the object onto itself with new
    /// metadata, never a re-upload. Resumable: run the same command again after an
    /// interruption (it finishes the rewrap without rotating again); objects already current
    /// are skipped.
    #[arg(long, value_name = "oss://bucket/prefix")]
    pub rewrap: Option<String>,
    /// Rewrap to the current version without adding a new one.
    #[arg(long, requires = "rewrap")]
    pub no_rotate: bool,
    /// Objects rewrapped in parallel.
    #[arg(short, long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=128))]
    pub jobs: u32,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct MbArgs {
    /// oss://bucket
    pub bucket: String,
    /// Access control of the new bucket.
    #[arg(long, value_parser = ["private", "public-read", "public-read-write"])]
    pub acl: Option<String>,
    /// The storage class its objects take unless a write names one.
    #[arg(long, value_parser = ["Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive"])]
    pub storage_class: Option<String>,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct RbArgs {
    /// oss://bucket
    pub bucket: String,
    /// Delete every object (on a versioned bucket: every version and delete marker) and abort
    /// every unfinished multipart upload first.
    #[arg(short, long)]
    pub force: bool,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct LsArgs {
    /// oss://bucket[/prefix]; without it, the buckets are listed.
    pub url: Option<String>,
    /// One level only: objects directly under the prefix, and sub-"directories" (delimiter `/`).
    #[arg(short = 'd', long = "directory")]
    pub directory: bool,
    /// Stop after N entries.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Every version and delete marker, with version ids (ListObjectVersions).
    #[arg(long)]
    pub all_versions: bool,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct BucketVersioningArgs {
    /// oss://bucket
    pub bucket: String,
    /// Turn versioning on, or suspend it (without one: show it). A bucket once versioned can
    /// be suspended but never returns to unversioned.
    #[arg(value_enum, ignore_case = true)]
    pub status: Option<VersioningArg>,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// A bucket's versioning state, as `bucket-versioning` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VersioningArg {
    Enabled,
    Suspended,
}

#[derive(Args)]
pub struct CpArgs {
    /// Source: a local path or oss://bucket/key.
    pub source: String,
    /// Destination: a local path or oss://bucket/key; a trailing `/` means "into this directory".
    pub destination: String,
    /// Copy a directory tree (local dir → oss prefix, oss prefix → local dir, oss → oss).
    #[arg(short, long)]
    pub recursive: bool,
    /// Part size of multipart uploads, ranged downloads and part copies (5MiB, 8M, 100KiB, bytes).
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    pub part_size: Option<u64>,
    /// Files this big or bigger are transferred in parts (default: 8MiB up, 16MiB down, 1GiB
    /// oss→oss).
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    pub bigfile_threshold: Option<u64>,
    /// Files transferred in parallel with -r, and parts in flight for one large file
    /// [default: 16 files; 4 parts up, 8 ranges down].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=128))]
    pub jobs: Option<u32>,
    /// Where resumable transfers keep their checkpoints; an interrupted copy of the same file
    /// resumes from there [default: <cache dir>/ossvault/checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Download only bytes a-b (inclusive; also `a-` and `-n` for the last n bytes).
    #[arg(long, value_name = "a-b", allow_hyphen_values = true)]
    pub range: Option<String>,
    /// Copy this version of the source object (`null` for the null version) rather than its
    /// current one: a download, or oss→oss (onto its own key, it restores that version).
    #[arg(long, value_name = "ID", conflicts_with = "recursive")]
    pub version_id: Option<String>,
    /// Server-side encryption of the uploaded or copied objects (else the bucket's default).
    #[arg(long, value_enum, ignore_case = true)]
    pub sse: Option<SseArg>,
    /// The CMK for --sse KMS.
    #[arg(long, value_name = "ID", requires = "sse")]
    pub kms_key_id: Option<String>,
    /// --sse KMS: encrypt the data with SM4 (国密) instead of AES-256.
    #[arg(long, value_enum, ignore_case = true, requires = "sse")]
    pub sse_data_encryption: Option<DataEncryptionArg>,
    /// Client-side encryption of uploads: the name of a keystore key (`ossvault key ls`), or
    /// `kms:CMK_ID` for a data key of the endpoint's KMS. Encrypted uploads are not resumable
    /// (an interrupted one starts over). Downloads need no flag: encrypted objects are detected
    /// and decrypted with the key they name.
    #[arg(long, value_name = "KEY")]
    pub encrypt: Option<String>,
    /// The client-side encryption format: sealed (authenticated, the default) or compat (the
    /// OSS SDKs' format, readable by oss2's CryptoBucket and the v2 EncryptionClient; RSA keys
    /// only, no integrity protection).
    #[arg(long, value_enum, requires = "encrypt", ignore_case = true)]
    pub format: Option<FormatArg>,
    /// Compat format: a material description entry (repeatable), as the OSS SDKs record it to
    /// name their key pair (e.g. the `mat_desc` of oss2's RsaProvider, which must match).
    #[arg(long, value_name = "KEY=VALUE", requires = "encrypt")]
    pub matdesc: Vec<String>,
    #[command(flatten)]
    pub keystore: KeystoreArgs,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Client-side encryption formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Chunked AES-256-GCM, authenticated (FORMAT.md §1).
    Sealed,
    /// The OSS SDKs' AES-256-CTR format (FORMAT.md §2).
    Compat,
}

/// Server-side encryption of new objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SseArg {
    /// SSE-OSS: keys fully managed by the server.
    #[value(name = "AES256")]
    Aes256,
    /// SSE-OSS with SM4 (国密): SM4-GCM instead of AES-256-GCM, keys managed by the server.
    #[value(name = "SM4")]
    Sm4,
    /// SSE-KMS: data keys from the KMS (the default CMK, or --kms-key-id).
    #[value(name = "KMS")]
    Kms,
}

/// The data encryption of SSE-KMS other than the default AES-256.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DataEncryptionArg {
    /// SM4 (国密), sealed as SM4-GCM.
    #[value(name = "SM4")]
    Sm4,
}

#[derive(Args)]
pub struct BucketEncryptionArgs {
    /// oss://bucket
    pub bucket: String,
    /// Set the default encryption of new objects (without a flag: show it).
    #[arg(long, value_enum, ignore_case = true, conflicts_with = "delete")]
    pub sse: Option<SseArg>,
    /// The CMK for --sse KMS (default: the region's default CMK).
    #[arg(long, value_name = "ID", requires = "sse")]
    pub kms_key_id: Option<String>,
    /// --sse KMS: encrypt the data of new objects with SM4 (国密) instead of AES-256.
    #[arg(long, value_enum, ignore_case = true, requires = "sse")]
    pub sse_data_encryption: Option<DataEncryptionArg>,
    /// Remove the default encryption (existing objects stay as they are).
    #[arg(long)]
    pub delete: bool,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct ObjectTaggingArgs {
    /// oss://bucket/key
    pub object: String,
    /// Replace the object's tags with these (repeat for each; at most 10).
    #[arg(long, value_name = "KEY=VALUE", value_parser = object_settings::parse_tag, conflicts_with = "delete")]
    pub set: Vec<(String, String)>,
    /// Remove every tag of the object.
    #[arg(long)]
    pub delete: bool,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct CreateSymlinkArgs {
    /// oss://bucket/link: the symlink to write
    pub link: String,
    /// oss://bucket/target: the object it points to, in the same bucket
    pub target: String,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct RestoreObjectArgs {
    /// oss://bucket/key
    pub object: String,
    /// Days the restored copy stays readable (Archive 1–7, ColdArchive 1–365) [default: 1].
    #[arg(long)]
    pub days: Option<u64>,
    /// ColdArchive's priority: Expedited, Standard or Bulk [default: Standard].
    #[arg(long)]
    pub tier: Option<String>,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct PublicAccessBlockArgs {
    /// oss://bucket (without one: the server-wide switch)
    pub bucket: Option<String>,
    /// Block public access (public ACLs and policies grant anonymous requests nothing).
    #[arg(long, conflicts_with = "off")]
    pub on: bool,
    /// Stop blocking public access.
    #[arg(long)]
    pub off: bool,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct ReadSymlinkArgs {
    /// oss://bucket/link
    pub link: String,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct BucketPolicyArgs {
    /// oss://bucket
    pub bucket: String,
    /// Deny every request not made over HTTPS (without a flag: show the policy).
    #[arg(long, conflicts_with_all = ["file", "delete"])]
    pub https_only: bool,
    /// Set the policy from a JSON file.
    #[arg(long, value_name = "FILE", conflicts_with = "delete")]
    pub file: Option<PathBuf>,
    /// Remove the policy.
    #[arg(long)]
    pub delete: bool,
    /// Say whether the policy grants public access (GetBucketPolicyStatus).
    #[arg(long, conflicts_with_all = ["https_only", "file", "delete"])]
    pub status: bool,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct KmsCommandArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,
    #[command(flatten)]
    pub kms: kms::KmsArgs,
}

#[derive(Args)]
pub struct RmArgs {
    /// oss://bucket/key, or with -r oss://bucket[/prefix].
    pub url: String,
    /// Delete every object whose key starts with the prefix.
    #[arg(short, long)]
    pub recursive: bool,
    /// Do not ask for confirmation (required with -r when stdin is not a terminal).
    #[arg(short, long)]
    pub force: bool,
    /// Delete this version (or delete marker) for good, instead of adding a delete marker on
    /// a versioned bucket.
    #[arg(long, value_name = "ID", conflicts_with_all = ["recursive", "all_versions"])]
    pub version_id: Option<String>,
    /// Delete every version and delete marker of the object (with -r: of every object under
    /// the prefix), for good.
    #[arg(long)]
    pub all_versions: bool,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct StatArgs {
    /// oss://bucket/key, or oss://bucket for the bucket's information.
    pub url: String,
    /// The metadata of this version of the object (`null` for the null version).
    #[arg(long, value_name = "ID")]
    pub version_id: Option<String>,
    #[command(flatten)]
    pub keystore: KeystoreArgs,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SignMethod {
    #[value(name = "GET")]
    Get,
    #[value(name = "PUT")]
    Put,
}

#[derive(Args)]
pub struct SignArgs {
    /// oss://bucket/key
    pub url: String,
    /// Seconds the URL stays valid (at most 604800 = 7 days with V4 signatures).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub expires: u64,
    /// The HTTP method the URL allows.
    #[arg(long, value_enum, default_value = "GET", ignore_case = true)]
    pub method: SignMethod,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct DuArgs {
    /// oss://bucket[/prefix]
    pub url: String,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Subcommand)]
pub enum ProfileCommand {
    /// Create or update a profile (fields not given keep their saved value).
    ///
    /// The profile is saved in the config file ($OSSVAULT_CONFIG, else
    /// <config dir>/ossvault/config.toml), written with mode 0600. The access key secret is
    /// stored in that file for now; a later version moves it into the OS keychain.
    /// `-k -` reads the secret from stdin, which keeps it out of `ps` and the shell history.
    Set(ProfileSetArgs),
    /// List the profiles (secrets are never printed).
    Ls,
    /// Remove a profile.
    Rm {
        /// Profile name.
        name: String,
    },
}

#[derive(Args)]
pub struct ProfileSetArgs {
    /// Profile name (`default` is used when --profile is not given).
    pub name: String,
    #[command(flatten)]
    pub flags: connection::ConnectionFlags,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.json);
    if let Command::Serve(args) = cli.command {
        init_logging("info");
        return report(serve::run(args), &out);
    }
    init_logging("warn");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(Err(e.into()), &out),
    };
    let result = runtime.block_on(run(cli.command, &out));
    let code = report(result, &out);
    // Transfers still winding down after a cancellation must not hold the exit.
    runtime.shutdown_background();
    code
}

async fn run(command: Command, out: &Output) -> anyhow::Result<()> {
    match command {
        Command::Serve(_) => unreachable!("served above"),
        Command::Scrub(a) => scrub::run(a, out).await,
        Command::Backup(a) => backup::backup(a, out),
        Command::Restore(a) => backup::restore(a, out),
        Command::Mb(a) => buckets::make(&connection::client(&a.conn)?, out, &a).await,
        Command::Rb(a) => buckets::remove(&connection::client(&a.conn)?, out, &a).await,
        Command::Ls(a) => ls::run(&connection::client(&a.conn)?, out, &a).await,
        Command::Cp(a) => cp::run(&connection::client(&a.conn)?, out, &a).await,
        Command::Rm(a) => rm::run(&connection::client(&a.conn)?, out, &a).await,
        Command::Stat(a) => stat::run(&connection::client(&a.conn)?, out, &a).await,
        Command::Sign(a) => sign::run(&connection::client(&a.conn)?, out, &a),
        Command::Du(a) => du::run(&connection::client(&a.conn)?, out, &a).await,
        Command::BucketEncryption(a) => {
            bucket_settings::encryption(&connection::client(&a.conn)?, out, &a).await
        }
        Command::BucketPolicy(a) => {
            bucket_settings::policy(&connection::client(&a.conn)?, out, &a).await
        }
        Command::BucketVersioning(a) => {
            versioning::bucket_versioning(&connection::client(&a.conn)?, out, &a).await
        }
        Command::ObjectTagging(a) => {
            object_settings::tagging(&connection::client(&a.conn)?, out, &a).await
        }
        Command::CreateSymlink(a) => {
            object_settings::create_symlink(&connection::client(&a.conn)?, out, &a).await
        }
        Command::ReadSymlink(a) => {
            object_settings::read_symlink(&connection::client(&a.conn)?, out, &a).await
        }
        Command::RestoreObject(a) => {
            object_settings::restore_object(&connection::client(&a.conn)?, out, &a).await
        }
        Command::PublicAccessBlock(a) => {
            object_settings::public_access_block(&connection::client(&a.conn)?, out, &a).await
        }
        Command::Kms(a) => kms::run(&connection::client(&a.conn)?, a.kms, out.json).await,
        Command::Profile(c) => profile::run(out, c),
        Command::Key(a) => key::run(a, out).await,
        Command::Transfers(a) => transfers::run(a, out).await,
        Command::Sync(a) => sync::run(a, out).await,
    }
}

/// Turns the outcome into an exit code; a failure is one line on stderr.
fn report(result: anyhow::Result<()>, out: &Output) -> ExitCode {
    let flushed = out.flush();
    match result.and(flushed.map_err(Into::into)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            out.finish_bars();
            eprintln!("ossvault: {}", output::render_error(&e));
            ExitCode::from(output::exit_code(&e))
        }
    }
}

/// Logs go to stderr (stdout carries results); `RUST_LOG` overrides the default level.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn connection_flags_follow_the_command_like_ossutil() {
        let cli = Cli::try_parse_from([
            "ossvault",
            "ls",
            "oss://b/p",
            "-e",
            "http://h:1",
            "-i",
            "id",
            "-k",
            "s",
            "--json",
        ])
        .unwrap();
        assert!(cli.json);
        let Command::Ls(ls) = cli.command else {
            panic!("not ls")
        };
        assert_eq!(ls.conn.flags.endpoint.as_deref(), Some("http://h:1"));
        assert_eq!(ls.url.as_deref(), Some("oss://b/p"));
        let cli = Cli::try_parse_from(["ossvault", "cp", "a", "oss://b/", "--range", "-5"]);
        assert!(cli.is_ok(), "a negative range is a value");
    }
}
