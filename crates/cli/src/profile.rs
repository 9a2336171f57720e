//! `ossvault profile set|ls|rm`: the connection profiles of `ossvault_ops::profiles` (shared
//! with the desktop app; secrets in the OS keychain, or the 0600 file where none is reachable).

use crate::output::Output;
use crate::{ProfileCommand, ProfileSetArgs};
use anyhow::{bail, Result};
use ossvault_ops::profiles::{Profile, ProfileUpdate, Profiles, SecretPlace, SignVersionName};
use serde_json::json;
use std::io::{IsTerminal, Write};
use zeroize::Zeroizing;

pub fn run(out: &Output, command: ProfileCommand) -> Result<()> {
    let profiles = Profiles::open_default()?;
    match command {
        ProfileCommand::Set(args) => set(out, &profiles, args),
        ProfileCommand::Ls => list(out, &profiles),
        ProfileCommand::Rm { name } => remove(out, &profiles, &name),
    }
}

fn set(out: &Output, profiles: &Profiles, args: ProfileSetArgs) -> Result<()> {
    let f = args.flags;
    let secret = match f.access_key_secret.as_deref() {
        Some("-") => Some(read_secret()?),
        other => other.map(|s| Zeroizing::new(s.to_owned())),
    };
    let outcome = profiles.set(
        &args.name,
        ProfileUpdate {
            endpoint: f.endpoint,
            region: f.region,
            access_key_id: f.access_key_id,
            access_key_secret: secret,
            sign_version: f.sign_version.map(Into::into),
        },
    )?;
    if out.json {
        out.json(&describe(&args.name, &outcome.profile))?;
    } else {
        out.line(format!(
            "profile {:?} {} in {}",
            args.name,
            if outcome.created { "saved" } else { "updated" },
            profiles.path().display()
        ))?;
    }
    if outcome.secret == SecretPlace::File {
        out.warn(format!(
            "no OS keychain is reachable: the secret is kept in {} (mode 0600); it moves into \
             the keychain the next time one is",
            profiles.path().display()
        ));
    }
    Ok(())
}

/// The secret, from the first line of stdin.
fn read_secret() -> Result<Zeroizing<String>> {
    if std::io::stdin().is_terminal() {
        eprint!("access key secret: ");
        std::io::stderr().flush()?;
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().read_line(&mut line)?;
    let secret = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    if secret.is_empty() {
        bail!("no secret on stdin");
    }
    Ok(secret)
}

fn list(out: &Output, profiles: &Profiles) -> Result<()> {
    let file = profiles.load()?;
    if out.json {
        for (name, p) in &file.profiles {
            out.json(&describe(name, p))?;
        }
        return Ok(());
    }
    out.line(format!(
        "{:<16} {:<40} {:<16} {:<24} {:<6} SECRET",
        "NAME", "ENDPOINT", "REGION", "ACCESS KEY ID", "SIGN"
    ))?;
    for (name, p) in &file.profiles {
        out.line(format!(
            "{:<16} {:<40} {:<16} {:<24} {:<6} {}",
            name,
            p.endpoint.as_deref().unwrap_or("-"),
            p.region.as_deref().unwrap_or("-"),
            p.access_key_id.as_deref().unwrap_or("-"),
            match p.sign_version {
                Some(SignVersionName::V1) => "v1",
                Some(SignVersionName::V4) => "v4",
                None => "-",
            },
            match (p.secret_in_keychain, p.access_key_secret.is_some()) {
                (true, _) => "(keychain)",
                (false, true) => "(file)",
                (false, false) => "-",
            }
        ))?;
    }
    Ok(())
}

fn remove(out: &Output, profiles: &Profiles, name: &str) -> Result<()> {
    profiles.remove(name)?;
    if out.json {
        out.json(&json!({ "profile": name, "removed": true }))?;
    } else {
        out.line(format!("profile {name:?} removed"))?;
    }
    Ok(())
}

/// What may be shown of a profile: everything but the secret.
fn describe(name: &str, p: &Profile) -> serde_json::Value {
    json!({
        "name": name,
        "endpoint": p.endpoint,
        "region": p.region,
        "access_key_id": p.access_key_id,
        "sign_version": p.sign_version,
        "has_secret": p.has_secret(),
        "secret_in_keychain": p.secret_in_keychain,
    })
}
