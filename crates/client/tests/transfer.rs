//! Uploads and downloads of real files against the real embedded server: simple and multipart,
//! parallel ranges, resuming after a cancellation or a SIGKILL, and what is left behind when a
//! transfer fails.

mod common;
mod support;

use common::TestServer;
use ossvault_client::transfer::{
    download_file, upload_file, CancellationToken, DownloadOptions, OnCancel, OnProgress,
    UploadOptions,
};
use ossvault_client::{Client, Error, RetryPolicy, SignVersion};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{checkpoints, names_in, sha256_file, uploads_in, write_random_file, Recorder, MIB};

const BUCKET: &str = "transfers";

async fn setup() -> (TestServer, Client, tempfile::TempDir) {
    let server = TestServer::start().await;
    let client = server.client(SignVersion::V4);
    client.create_bucket(BUCKET, None).await.unwrap();
    (server, client, tempfile::tempdir().unwrap())
}

/// Multipart upload options: 5 MiB parts, `jobs` in flight, checkpoints in `checkpoint_dir`.
fn multipart(jobs: usize, checkpoint_dir: Option<&Path>) -> UploadOptions {
    UploadOptions {
        part_size: 5 * MIB,
        jobs,
        checkpoint_dir: checkpoint_dir.map(Path::to_owned),
        ..Default::default()
    }
}

/// Parallel download options: 5 MiB ranges, `jobs` in flight, from 1 MiB up.
fn ranged(jobs: usize, checkpoint_dir: Option<&Path>) -> DownloadOptions {
    DownloadOptions {
        part_size: 5 * MIB,
        parallel_threshold: MIB,
        jobs,
        checkpoint_dir: checkpoint_dir.map(Path::to_owned),
        ..Default::default()
    }
}

/// A progress callback that cancels `token` once `done` reaches `at` bytes.
fn cancel_at(token: &CancellationToken, at: u64) -> OnProgress {
    let token = token.clone();
    Arc::new(move |p| {
        if p.done >= at {
            token.cancel();
        }
    })
}

fn temp_of(target: &Path) -> PathBuf {
    let name = target.file_name().unwrap().to_string_lossy();
    target.with_file_name(format!(".{name}.ossvault-part"))
}

async fn download_and_compare(client: &Client, key: &str, original: &Path) {
    let copy = original.with_extension("check");
    download_file(client, BUCKET, key, &copy, &ranged(4, None))
        .await
        .unwrap();
    assert!(sha256_file(&copy) == sha256_file(original), "{key} differs");
    std::fs::remove_file(copy).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_files_round_trip_with_single_requests() {
    let (_server, client, dir) = setup().await;
    for (i, len) in [0, 1, 5 * MIB + 1].into_iter().enumerate() {
        let src = dir.path().join(format!("src-{i}"));
        write_random_file(&src, len, i as u64);
        let key = format!("small/{i}");
        let up_progress = Recorder::default();
        let up = upload_file(
            &client,
            &src,
            BUCKET,
            &key,
            &UploadOptions {
                progress: Some(up_progress.callback()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!((up.size, up.parts_sent, up.parts_resumed), (len, 1, 0));
        up_progress.assert_complete(len);
        let meta = client.head_object(BUCKET, &key).await.unwrap();
        assert_eq!(meta.object_type.as_deref(), Some("Normal"));
        assert_eq!(
            (meta.size, &meta.etag, meta.crc64),
            (len, &up.etag, up.crc64)
        );

        let dst = dir.path().join(format!("dst-{i}"));
        let down_progress = Recorder::default();
        let down = download_file(
            &client,
            BUCKET,
            &key,
            &dst,
            &DownloadOptions {
                progress: Some(down_progress.callback()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            (down.size, &down.etag, down.bytes_resumed),
            (len, &up.etag, 0)
        );
        down_progress.assert_complete(len);
        assert_eq!(sha256_file(&dst), sha256_file(&src), "{len} bytes");
    }
    // No temp file left behind.
    assert!(names_in(dir.path()).iter().all(|n| !n.starts_with('.')));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_file_round_trips_multipart_and_in_parallel_ranges() {
    let (_server, client, dir) = setup().await;
    let src = dir.path().join("big");
    let len = 64 * MIB;
    write_random_file(&src, len, 7);
    let progress = Recorder::default();
    let started = Instant::now();
    let up = upload_file(
        &client,
        &src,
        BUCKET,
        "big",
        &UploadOptions {
            progress: Some(progress.callback()),
            ..multipart(4, None)
        },
    )
    .await
    .unwrap();
    let upload_time = started.elapsed();
    assert_eq!((up.parts_sent, up.parts_resumed), (13, 0));
    assert!(up.etag.ends_with("-13\""), "{}", up.etag);
    progress.assert_complete(len);
    let meta = client.head_object(BUCKET, "big").await.unwrap();
    assert_eq!(meta.object_type.as_deref(), Some("Multipart"));
    assert_eq!((meta.size, meta.crc64), (len, up.crc64));
    assert!(uploads_in(&client, BUCKET).await.is_empty());

    let dst = dir.path().join("big.copy");
    let progress = Recorder::default();
    let started = Instant::now();
    let down = download_file(
        &client,
        BUCKET,
        "big",
        &dst,
        &DownloadOptions {
            progress: Some(progress.callback()),
            ..ranged(4, None)
        },
    )
    .await
    .unwrap();
    let download_time = started.elapsed();
    assert_eq!((down.size, down.bytes_resumed), (len, 0));
    progress.assert_complete(len);
    assert_eq!(sha256_file(&dst), sha256_file(&src));
    eprintln!(
        "64 MiB: multipart upload {upload_time:?} ({:.0} MiB/s), parallel download {download_time:?} ({:.0} MiB/s)",
        64.0 / upload_time.as_secs_f64(),
        64.0 / download_time.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_download_with_unaligned_ranges() {
    let (_server, client, dir) = setup().await;
    let src = dir.path().join("src");
    let len = 20 * MIB + 3;
    write_random_file(&src, len, 11);
    // A simple upload: the ranges of the download need not match any part boundaries.
    let up = upload_file(
        &client,
        &src,
        BUCKET,
        "unaligned",
        &UploadOptions {
            multipart_threshold: 64 * MIB,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(up.parts_sent, 1);
    for (part_size, jobs) in [(3 * MIB + 7, 3), (len, 2), (MIB, 8)] {
        let dst = dir.path().join("dst");
        let down = download_file(
            &client,
            BUCKET,
            "unaligned",
            &dst,
            &DownloadOptions {
                part_size,
                parallel_threshold: 0,
                jobs,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(down.size, len);
        assert_eq!(
            sha256_file(&dst),
            sha256_file(&src),
            "ranges of {part_size}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_upload_resumes_from_its_checkpoint() {
    let (_server, client, dir) = setup().await;
    let src = dir.path().join("src");
    write_random_file(&src, 64 * MIB, 21);
    let ck = dir.path().join("checkpoints");
    let cancel = CancellationToken::new();
    let first = UploadOptions {
        progress: Some(cancel_at(&cancel, 15 * MIB)),
        cancel: cancel.clone(),
        ..multipart(4, Some(&ck))
    };
    let err = upload_file(&client, &src, BUCKET, "resumed", &first)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert_eq!(checkpoints(&ck).len(), 1);
    let uploads = uploads_in(&client, BUCKET).await;
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].0, "resumed");
    assert!(client.head_object(BUCKET, "resumed").await.is_err());

    let progress = Recorder::default();
    let again = UploadOptions {
        progress: Some(progress.callback()),
        cancel: CancellationToken::new(),
        ..first.clone()
    };
    let up = upload_file(&client, &src, BUCKET, "resumed", &again)
        .await
        .unwrap();
    assert!(up.parts_resumed >= 3, "{up:?}");
    assert_eq!(up.parts_sent, 13 - up.parts_resumed);
    // The resumed parts count as done from the start.
    assert!(progress.reports()[0].done >= 15 * MIB);
    progress.assert_complete(64 * MIB);
    assert!(checkpoints(&ck).is_empty());
    assert!(uploads_in(&client, BUCKET).await.is_empty());
    download_and_compare(&client, "resumed", &src).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_with_abort_leaves_nothing() {
    let (_server, client, dir) = setup().await;
    let src = dir.path().join("src");
    write_random_file(&src, 40 * MIB, 22);
    let ck = dir.path().join("checkpoints");
    let cancel = CancellationToken::new();
    let opts = UploadOptions {
        progress: Some(cancel_at(&cancel, 10 * MIB)),
        cancel: cancel.clone(),
        on_cancel: OnCancel::Abort,
        ..multipart(4, Some(&ck))
    };
    let err = upload_file(&client, &src, BUCKET, "aborted", &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert!(uploads_in(&client, BUCKET).await.is_empty());
    assert!(checkpoints(&ck).is_empty());
    assert!(client.head_object(BUCKET, "aborted").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_upload_without_checkpoint_is_aborted() {
    let (_server, client, dir) = setup().await;
    let src = dir.path().join("src");
    write_random_file(&src, 40 * MIB, 23);
    let cancel = CancellationToken::new();
    // KeepForResume, but with no checkpoint nothing could resume it.
    let opts = UploadOptions {
        progress: Some(cancel_at(&cancel, 10 * MIB)),
        cancel: cancel.clone(),
        ..multipart(4, None)
    };
    let err = upload_file(&client, &src, BUCKET, "k", &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert!(uploads_in(&client, BUCKET).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_file_starts_the_upload_over() {
    let (_server, client, dir) = setup().await;
    let src = dir.path().join("src");
    write_random_file(&src, 64 * MIB, 31);
    let ck = dir.path().join("checkpoints");
    let cancel = CancellationToken::new();
    let first = UploadOptions {
        progress: Some(cancel_at(&cancel, 15 * MIB)),
        cancel: cancel.clone(),
        ..multipart(4, Some(&ck))
    };
    let err = upload_file(&client, &src, BUCKET, "changed", &first)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    let stale = uploads_in(&client, BUCKET).await;
    assert_eq!(stale.len(), 1);

    // Same size, other content. The mtime is set explicitly: file systems with coarse
    // timestamps could otherwise give the rewrite the same one.
    write_random_file(&src, 64 * MIB, 32);
    let file = std::fs::File::options().write(true).open(&src).unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(10))
        .unwrap();
    drop(file);
    let again = UploadOptions {
        progress: None,
        cancel: CancellationToken::new(),
        ..first.clone()
    };
    let up = upload_file(&client, &src, BUCKET, "changed", &again)
        .await
        .unwrap();
    assert_eq!((up.parts_resumed, up.parts_sent), (0, 13));
    // The stale upload was aborted, the new one completed.
    assert!(uploads_in(&client, BUCKET).await.is_empty());
    assert!(checkpoints(&ck).is_empty());
    download_and_compare(&client, "changed", &src).await;

    // Other upload options (metadata) also start over: Initiate fixed the old ones.
    let cancel = CancellationToken::new();
    let third = UploadOptions {
        progress: Some(cancel_at(&cancel, 15 * MIB)),
        cancel: cancel.clone(),
        ..multipart(4, Some(&ck))
    };
    upload_file(&client, &src, BUCKET, "changed", &third)
        .await
        .unwrap_err();
    let mut fourth = UploadOptions {
        cancel: CancellationToken::new(),
        progress: None,
        ..third.clone()
    };
    fourth.put.content_type = Some("text/plain".into());
    let up = upload_file(&client, &src, BUCKET, "changed", &fourth)
        .await
        .unwrap();
    assert_eq!((up.parts_resumed, up.parts_sent), (0, 13));
    let meta = client.head_object(BUCKET, "changed").await.unwrap();
    assert_eq!(meta.content_type.as_deref(), Some("text/plain"));
    assert!(uploads_in(&client, BUCKET).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_download_resumes_from_its_checkpoint() {
    let (_server, client, dir) = setup().await;
    let src = dir.path().join("src");
    let len = 64 * MIB;
    write_random_file(&src, len, 41);
    upload_file(&client, &src, BUCKET, "obj", &multipart(4, None))
        .await
        .unwrap();
    let ck = dir.path().join("checkpoints");
    let dst = dir.path().join("dst");
    let cancel = CancellationToken::new();
    // Half the bytes: with 4 ranges of 5 MiB in flight, at least 12 MiB are in whole ranges.
    let first = DownloadOptions {
        progress: Some(cancel_at(&cancel, len / 2)),
        cancel: cancel.clone(),
        ..ranged(4, Some(&ck))
    };
    let err = download_file(&client, BUCKET, "obj", &dst, &first)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert!(!dst.exists());
    assert_eq!(std::fs::metadata(temp_of(&dst)).unwrap().len(), len);
    assert_eq!(checkpoints(&ck).len(), 1);

    let progress = Recorder::default();
    let again = DownloadOptions {
        progress: Some(progress.callback()),
        cancel: CancellationToken::new(),
        ..first.clone()
    };
    let down = download_file(&client, BUCKET, "obj", &dst, &again)
        .await
        .unwrap();
    assert!(down.bytes_resumed >= 10 * MIB, "{down:?}");
    assert_eq!(down.bytes_resumed % (5 * MIB), 0);
    assert_eq!(progress.reports()[0].done, down.bytes_resumed);
    progress.assert_complete(len);
    assert_eq!(sha256_file(&dst), sha256_file(&src));
    assert!(!temp_of(&dst).exists());
    assert!(checkpoints(&ck).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_object_starts_the_download_over() {
    let (_server, client, dir) = setup().await;
    let src = dir.path().join("src");
    write_random_file(&src, 32 * MIB, 51);
    upload_file(&client, &src, BUCKET, "obj", &multipart(4, None))
        .await
        .unwrap();
    let ck = dir.path().join("checkpoints");
    let dst = dir.path().join("dst");
    let cancel = CancellationToken::new();
    let first = DownloadOptions {
        progress: Some(cancel_at(&cancel, 20 * MIB)),
        cancel: cancel.clone(),
        ..ranged(2, Some(&ck))
    };
    download_file(&client, BUCKET, "obj", &dst, &first)
        .await
        .unwrap_err();
    assert!(temp_of(&dst).exists());

    // Replaced meanwhile, same size.
    write_random_file(&src, 32 * MIB, 52);
    upload_file(&client, &src, BUCKET, "obj", &multipart(4, None))
        .await
        .unwrap();
    let again = DownloadOptions {
        progress: None,
        cancel: CancellationToken::new(),
        ..first.clone()
    };
    let down = download_file(&client, BUCKET, "obj", &dst, &again)
        .await
        .unwrap();
    assert_eq!(down.bytes_resumed, 0);
    assert_eq!(sha256_file(&dst), sha256_file(&src));
    assert!(checkpoints(&ck).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_downloads_leave_no_file() {
    let (_server, client, dir) = setup().await;
    let dst = dir.path().join("dst");

    let err = download_file(
        &client,
        BUCKET,
        "missing",
        &dst,
        &DownloadOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some("NoSuchKey"));
    assert!(names_in(dir.path()).is_empty());

    // A failure never touches an existing file of that name either.
    std::fs::write(&dst, b"keep me").unwrap();
    download_file(
        &client,
        BUCKET,
        "missing",
        &dst,
        &DownloadOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(std::fs::read(&dst).unwrap(), b"keep me");
    std::fs::remove_file(&dst).unwrap();

    let src = dir.path().join("src");
    write_random_file(&src, 24 * MIB, 61);
    upload_file(&client, &src, BUCKET, "obj", &multipart(4, None))
        .await
        .unwrap();
    std::fs::remove_file(&src).unwrap();
    // Cancelled without a checkpoint, in ranges and in one GET: the temp file goes.
    for opts in [
        ranged(4, None),
        DownloadOptions {
            parallel_threshold: u64::MAX,
            ..Default::default()
        },
    ] {
        let cancel = CancellationToken::new();
        let opts = DownloadOptions {
            progress: Some(cancel_at(&cancel, 6 * MIB)),
            cancel: cancel.clone(),
            ..opts
        };
        let err = download_file(&client, BUCKET, "obj", &dst, &opts)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err}");
        assert!(
            names_in(dir.path()).is_empty(),
            "{:?}",
            names_in(dir.path())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_bad_options_and_honours_an_early_cancel() {
    let (_server, client, dir) = setup().await;
    let src = dir.path().join("src");
    write_random_file(&src, MIB, 71);
    let err = upload_file(
        &client,
        &src,
        BUCKET,
        "k",
        &UploadOptions {
            part_size: 50 << 10,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");

    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = upload_file(
        &client,
        &src,
        BUCKET,
        "k",
        &UploadOptions {
            cancel: cancel.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled));
    let err = download_file(
        &client,
        BUCKET,
        "k",
        &dir.path().join("dst"),
        &DownloadOptions {
            cancel,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled));
    assert!(client.head_object(BUCKET, "k").await.is_err());

    let err = upload_file(&client, dir.path(), BUCKET, "k", &UploadOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_checkpoint_dir_leaves_nothing_behind() {
    let (_server, client, dir) = setup().await;
    let src = dir.path().join("src");
    write_random_file(&src, 12 * MIB, 91);
    // A file where the checkpoint directory should be: no checkpoint can be saved.
    let ck = dir.path().join("not-a-dir");
    std::fs::write(&ck, b"").unwrap();
    let err = upload_file(&client, &src, BUCKET, "k", &multipart(2, Some(&ck)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    // No checkpoint names the upload, so nothing could resume it: it was aborted.
    assert!(uploads_in(&client, BUCKET).await.is_empty());

    upload_file(&client, &src, BUCKET, "k", &multipart(2, None))
        .await
        .unwrap();
    let dst = dir.path().join("dst");
    let err = download_file(&client, BUCKET, "k", &dst, &ranged(2, Some(&ck)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert_eq!(names_in(dir.path()), ["not-a-dir", "src"]);
}

// ---- crash (SIGKILL) ----

const CRASH_ENDPOINT_ENV: &str = "OSSVAULT_TRANSFER_CRASH_ENDPOINT";
const CRASH_FILE_ENV: &str = "OSSVAULT_TRANSFER_CRASH_FILE";
const CRASH_CHECKPOINTS_ENV: &str = "OSSVAULT_TRANSFER_CRASH_CHECKPOINTS";
const CRASH_KEY: &str = "crash/big";
const CRASH_FILE_SIZE: u64 = 48 * MIB;

/// The options of both halves of the crash test: 5 MiB parts, 2 in flight, checkpointed.
fn crash_options(checkpoint_dir: &Path) -> UploadOptions {
    multipart(2, Some(checkpoint_dir))
}

/// The child half of `upload_resumes_after_sigkill`: uploads until killed.
#[test]
#[ignore = "run by upload_resumes_after_sigkill in a child process"]
fn crash_upload_child() {
    let (Ok(endpoint), Ok(file), Ok(ck)) = (
        std::env::var(CRASH_ENDPOINT_ENV),
        std::env::var(CRASH_FILE_ENV),
        std::env::var(CRASH_CHECKPOINTS_ENV),
    ) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = support::client_with_retries(&endpoint, RetryPolicy::default());
        // Throttled after each part (the callback runs once the part is checkpointed), so the
        // parent reliably kills it mid-upload however fast the machine: the other part in
        // flight keeps streaming meanwhile.
        let opts = UploadOptions {
            progress: Some(Arc::new(|p| {
                if p.done > 0 {
                    std::thread::sleep(Duration::from_millis(300));
                }
            })),
            ..crash_options(Path::new(&ck))
        };
        upload_file(&client, Path::new(&file), BUCKET, CRASH_KEY, &opts)
            .await
            .unwrap();
        println!("finished");
    });
}

/// SIGKILLs a process in the middle of a checkpointed multipart upload, then uploads again
/// with the same options: only the parts the checkpoint did not record are sent.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_resumes_after_sigkill() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let (server, client, dir) = setup().await;
    let src = dir.path().join("big");
    write_random_file(&src, CRASH_FILE_SIZE, 81);
    let ck = dir.path().join("checkpoints");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_upload_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_ENDPOINT_ENV, server.server.endpoint())
        .env(CRASH_FILE_ENV, &src)
        .env(CRASH_CHECKPOINTS_ENV, &ck)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    let checkpointed = loop {
        let parts = checkpoints(&ck).first().and_then(|path| {
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
            Some(json["parts"].as_array()?.len())
        });
        if parts.is_some_and(|n| n >= 2) {
            break parts.unwrap();
        }
        assert!(Instant::now() < deadline, "the child made no progress");
        assert!(child.try_wait().unwrap().is_none(), "the child ended early");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "not killed by SIGKILL: {status:?}"
    );
    assert_eq!(uploads_in(&client, BUCKET).await.len(), 1);

    let up = upload_file(&client, &src, BUCKET, CRASH_KEY, &crash_options(&ck))
        .await
        .unwrap();
    let total = CRASH_FILE_SIZE.div_ceil(5 * MIB) as u32;
    eprintln!(
        "killed with {checkpointed} parts checkpointed; resumed {}, sent {}",
        up.parts_resumed, up.parts_sent
    );
    assert!(up.parts_resumed >= 2, "{up:?}");
    assert_eq!(up.parts_sent, total - up.parts_resumed);
    assert!(uploads_in(&client, BUCKET).await.is_empty());
    assert!(checkpoints(&ck).is_empty());
    download_and_compare(&client, CRASH_KEY, &src).await;
}

/// With the metadata the caller already read, the download skips its HEAD; metadata that went
/// stale (the object was replaced) is caught by the GETs' ETag check and leaves no file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_metadata_spares_the_head_and_stale_metadata_is_refused() {
    let (_server, client, dir) = setup().await;
    let src = dir.path().join("src");
    write_random_file(&src, 3 * MIB, 61);
    upload_file(&client, &src, BUCKET, "obj", &multipart(2, None))
        .await
        .unwrap();
    let meta = client.head_object(BUCKET, "obj").await.unwrap();
    for opts in [DownloadOptions::default(), ranged(2, None)] {
        let dst = dir.path().join("dst");
        let with_meta = DownloadOptions {
            known_meta: Some(meta.clone()),
            ..opts.clone()
        };
        let down = download_file(&client, BUCKET, "obj", &dst, &with_meta)
            .await
            .unwrap();
        assert_eq!((down.size, sha256_file(&dst)), (3 * MIB, sha256_file(&src)));
        std::fs::remove_file(&dst).unwrap();
    }

    write_random_file(&src, 3 * MIB, 62);
    upload_file(&client, &src, BUCKET, "obj", &multipart(2, None))
        .await
        .unwrap();
    for opts in [DownloadOptions::default(), ranged(2, None)] {
        let dst = dir.path().join("stale");
        let stale = DownloadOptions {
            known_meta: Some(meta.clone()),
            ..opts
        };
        download_file(&client, BUCKET, "obj", &dst, &stale)
            .await
            .unwrap_err();
        assert!(
            !dst.exists() && !temp_of(&dst).exists(),
            "no file from a stale download"
        );
    }
}
