//! `ossvault`: the command line of ossvault.
//!
//! Every flag is defined here, once; each command family lives in its own module and keeps to
//! parsing, printing and calling `ossvault-client`.

mod bucket_settings;
mod buckets;
mod connection;
mod cp;
mod du;
mod kms;
mod ls;
mod output;
mod profile;
mod rm;
mod serve;
mod sign;
mod stat;
mod units;
mod urls;

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
  ossvault rm -r -f oss://photos/album/"
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
    /// The embedded server's KMS: customer master keys for SSE-KMS, BYOK import, and rotation
    /// of the SSE-OSS master key. Connection flags go before the action
    /// (`ossvault kms -e URL ls`), or come from the environment or a profile.
    #[command(after_help = CONNECTION_HELP)]
    Kms(KmsCommandArgs),
    /// Manage connection profiles in the config file.
    #[command(subcommand)]
    Profile(ProfileCommand),
}

#[derive(Args)]
pub struct MbArgs {
    /// oss://bucket
    pub bucket: String,
    /// Access control of the new bucket.
    #[arg(long, value_parser = ["private", "public-read", "public-read-write"])]
    pub acl: Option<String>,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct RbArgs {
    /// oss://bucket
    pub bucket: String,
    /// Delete every object and abort every unfinished multipart upload first.
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
    #[command(flatten)]
    pub conn: ConnectionArgs,
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
    /// Files transferred in parallel with -r, and parts in flight for one large file.
    #[arg(short, long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=128))]
    pub jobs: u32,
    /// Where resumable transfers keep their checkpoints; an interrupted copy of the same file
    /// resumes from there [default: <cache dir>/ossvault/checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Download only bytes a-b (inclusive; also `a-` and `-n` for the last n bytes).
    #[arg(long, value_name = "a-b", allow_hyphen_values = true)]
    pub range: Option<String>,
    /// Server-side encryption of the uploaded or copied objects (else the bucket's default).
    #[arg(long, value_enum, ignore_case = true)]
    pub sse: Option<SseArg>,
    /// The CMK for --sse KMS.
    #[arg(long, value_name = "ID", requires = "sse")]
    pub kms_key_id: Option<String>,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// Server-side encryption of new objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SseArg {
    /// SSE-OSS: keys fully managed by the server.
    #[value(name = "AES256")]
    Aes256,
    /// SSE-KMS: data keys from the KMS (the default CMK, or --kms-key-id).
    #[value(name = "KMS")]
    Kms,
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
    /// Remove the default encryption (existing objects stay as they are).
    #[arg(long)]
    pub delete: bool,
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
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

#[derive(Args)]
pub struct StatArgs {
    /// oss://bucket/key, or oss://bucket for the bucket's information.
    pub url: String,
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
        Command::Kms(a) => kms::run(&connection::client(&a.conn)?, a.kms, out.json).await,
        Command::Profile(c) => profile::run(out, c),
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
