//! The trash: versions that sync replaced or deleted, kept under `<prefix>.ossvault-trash/` as
//! `<path>/@<YYYYMMDDTHHMMSS.mmmZ>` (server-side copies: nothing re-uploaded), listed and
//! restored (decrypted) to a local file, and purged after the pair's retention period.

use crate::error::{Error, Result};
use crate::exec::trash_stamp;
use crate::pair::Pair;
use crate::TRASH_DIR;
use futures_util::TryStreamExt;
use ossvault_client::{Client, ListRequest};
use ossvault_crypto::ObjectHeaders;
use ossvault_ops::copy::KeystoreOpener;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// One kept version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrashVersion {
    /// The trash object's key.
    pub key: String,
    /// The key the version had.
    pub original: String,
    /// When it was replaced or deleted (`YYYYMMDDTHHMMSS.mmmZ`, UTC).
    pub stamp: String,
    /// Stored size (ciphertext for encrypted objects).
    pub size: u64,
}

/// Parses `YYYYMMDDTHHMMSS.mmmZ`.
pub fn parse_stamp(s: &str) -> Option<OffsetDateTime> {
    let f = time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
    );
    time::PrimitiveDateTime::parse(s, &f)
        .ok()
        .map(|t| t.assume_utc())
}

/// Parses a `--at` time: RFC 3339 (`2026-03-04T05:06:07Z`), `YYYY-MM-DD HH:MM:SS` (UTC), or
/// a trash stamp.
pub fn parse_time(s: &str) -> Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    if let Ok(t) = time::PrimitiveDateTime::parse(s, &f) {
        return Ok(t.assume_utc());
    }
    parse_stamp(s).ok_or_else(|| {
        Error::InvalidInput(format!(
            "cannot read the time {s:?}: use RFC 3339 (2026-03-04T05:06:07Z) or \"2026-03-04 05:06:07\" (UTC)"
        ))
    })
}

/// Every kept version of `key` (a file of some pair under any prefix), oldest first. The
/// trash is looked for at each ancestor prefix of the key, so no pair needs to be known.
pub async fn versions(client: &Client, bucket: &str, key: &str) -> Result<Vec<TrashVersion>> {
    let mut found = Vec::new();
    let mut cut = 0;
    loop {
        let (prefix, rel) = key.split_at(cut);
        let base = format!("{prefix}{TRASH_DIR}{rel}/@");
        let request = ListRequest {
            prefix: base.clone(),
            ..Default::default()
        };
        let mut pages = std::pin::pin!(client.list_pages(bucket, request));
        while let Some(page) = pages.try_next().await? {
            for o in page.objects {
                let stamp = &o.key[base.len()..];
                if stamp.contains('/') || parse_stamp(stamp).is_none() {
                    continue;
                }
                found.push(TrashVersion {
                    stamp: stamp.to_owned(),
                    key: o.key.clone(),
                    original: key.to_owned(),
                    size: o.size,
                });
            }
        }
        match key[cut..].find('/') {
            Some(i) => cut += i + 1,
            None => break,
        }
    }
    found.sort_by(|a, b| a.stamp.cmp(&b.stamp));
    Ok(found)
}

/// The pair's kept versions (deleted or overwritten files), newest first, at most `limit`.
pub async fn trash(client: &Client, pair: &Pair, limit: usize) -> Result<Vec<TrashVersion>> {
    let base = pair.trash_prefix();
    let request = ListRequest {
        prefix: base.clone(),
        ..Default::default()
    };
    let mut found = Vec::new();
    let mut pages = std::pin::pin!(client.list_pages(&pair.bucket, request));
    while let Some(page) = pages.try_next().await? {
        for o in page.objects {
            let Some((rel, stamp)) = o.key[base.len()..].rsplit_once("/@") else {
                continue;
            };
            if parse_stamp(stamp).is_none() {
                continue;
            }
            found.push(TrashVersion {
                original: format!("{}{rel}", pair.prefix),
                stamp: stamp.to_owned(),
                key: o.key.clone(),
                size: o.size,
            });
        }
    }
    found.sort_by(|a, b| b.stamp.cmp(&a.stamp).then(a.original.cmp(&b.original)));
    found.truncate(limit);
    Ok(found)
}

/// What a restore did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Restored {
    pub version: TrashVersion,
    pub path: PathBuf,
    pub bytes: u64,
}

/// Restores the newest kept version of `bucket/key` (the newest at or before `at`) to `to`
/// (default: the file's place in the pair that syncs it, or `name.restored-STAMP.ext` beside it
/// when that exists). Never replaces an existing file.
pub async fn restore(
    client: &Client,
    keystore: &KeystoreOpener,
    pairs: &[Pair],
    bucket: &str,
    key: &str,
    at: Option<OffsetDateTime>,
    to: Option<&Path>,
) -> Result<Restored> {
    let all = versions(client, bucket, key).await?;
    let chosen = all
        .into_iter()
        .rev()
        .find(|v| match (at, parse_stamp(&v.stamp)) {
            (Some(at), Some(t)) => t <= at,
            _ => true,
        })
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "no kept version of oss://{bucket}/{key}{}",
                at.map(|t| format!(" at or before {t}")).unwrap_or_default()
            ))
        })?;
    let target = match to {
        Some(p) if p.is_dir() => {
            let name = key.rsplit('/').next().unwrap_or(key);
            p.join(ossvault_ops::location::safe_relative_path(name).map_err(Error::InvalidInput)?)
        }
        Some(p) => p.to_owned(),
        None => {
            let pair = pairs
                .iter()
                .filter(|p| p.bucket == bucket && key.starts_with(&p.prefix))
                .max_by_key(|p| p.prefix.len())
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "oss://{bucket}/{key} is in no sync pair: say where with --to PATH"
                    ))
                })?;
            let rel = &key[pair.prefix.len()..];
            let place = pair.local.join(
                ossvault_ops::location::safe_relative_path(rel).map_err(Error::InvalidInput)?,
            );
            if place.exists() {
                let restored = crate::exec::conflict_name(rel, OffsetDateTime::now_utc())
                    .replace(".conflict-", ".restored-");
                pair.local.join(crate::scan::rel_to_path(&restored))
            } else {
                place
            }
        }
    };
    if target.exists() {
        return Err(Error::InvalidInput(format!(
            "{} exists: restore elsewhere with --to PATH",
            target.display()
        )));
    }
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    let meta = client.head_object(bucket, &chosen.key).await?;
    let headers = ObjectHeaders::parse(&meta.headers).map_err(ossvault_ops::Error::from)?;
    let bytes = if headers.is_encrypted() {
        let ks = keystore.clone();
        let opened = ossvault_ops::keys::open_object(client, &headers, move || ks()).await?;
        ossvault_ops::encrypted::download(
            client,
            bucket,
            &chosen.key,
            &meta,
            &opened.envelope,
            &target,
            None,
            None,
            |_| {},
        )
        .await?
    } else {
        let mut file = ossvault_fs::DurableFile::create(&target, ossvault_fs::MODE_SHARED)
            .map_err(Error::io(&target))?;
        let (_, response) = client.get_object(bucket, &chosen.key, None).await?;
        let body = response
            .bytes()
            .await
            .map_err(ossvault_client::Error::from)?;
        std::io::Write::write_all(file.file(), &body).map_err(Error::io(&target))?;
        file.commit().map_err(Error::io(&target))?;
        body.len() as u64
    };
    Ok(Restored {
        version: chosen,
        path: target,
        bytes,
    })
}

/// Deletes the pair's kept versions older than its retention; returns how many.
pub async fn purge(client: &Client, pair: &Pair, now: OffsetDateTime) -> Result<u64> {
    let cutoff = trash_stamp(now - time::Duration::days(pair.trash_retention_days as i64));
    let request = ListRequest {
        prefix: pair.trash_prefix(),
        ..Default::default()
    };
    let mut old = Vec::new();
    let mut pages = std::pin::pin!(client.list_pages(&pair.bucket, request));
    while let Some(page) = pages.try_next().await? {
        for o in page.objects {
            if let Some((_, stamp)) = o.key.rsplit_once("/@") {
                if parse_stamp(stamp).is_some() && stamp < cutoff.as_str() {
                    old.push(o.key);
                }
            }
        }
    }
    let mut n = 0;
    for chunk in old.chunks(ossvault_proto::limits::MAX_DELETE_KEYS) {
        n += client.delete_objects(&pair.bucket, chunk).await?.len() as u64;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = time::macros::datetime!(2026-03-04 05:06:07.250 UTC);
        assert_eq!(parse_stamp(&trash_stamp(t)), Some(t));
        assert_eq!(
            parse_time("2026-03-04T05:06:07Z").unwrap(),
            time::macros::datetime!(2026-03-04 05:06:07 UTC)
        );
        assert_eq!(
            parse_time("2026-03-04 05:06:07").unwrap(),
            time::macros::datetime!(2026-03-04 05:06:07 UTC)
        );
        assert!(parse_time("yesterday").is_err());
    }
}
