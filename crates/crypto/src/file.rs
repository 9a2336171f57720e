//! Writing decrypted output to a file so that a failure never leaves a partial or unauthenticated
//! file under the target name: the output goes to a temporary file beside the target, which is
//! synced and renamed over the target only once the whole stream has been verified.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{Error, Result};
use crate::stream::CipherStream;

/// Bytes read from the source per step.
const STEP: usize = 1024 * 1024;

/// Removes the temporary file unless the rename happened (also when the future is dropped).
struct TempFile {
    path: Option<PathBuf>,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Streams `source` through `stream` (normally a [`Decryptor`](crate::Decryptor) or a ranged
/// read's) into `target`, atomically: the output is written to a temporary file in the target's
/// directory, synced, and renamed over `target` only after [`CipherStream::finish`] succeeded; the
/// directory is then synced so the rename is durable. On any error (wrong key, tampering,
/// truncation, I/O) or cancellation the temporary file is removed and `target` is untouched.
///
/// Returns the number of bytes written.
pub async fn decrypt_to_file<R, S>(
    source: R,
    mut stream: S,
    target: impl AsRef<Path>,
) -> Result<u64>
where
    R: AsyncRead + Unpin,
    S: CipherStream,
{
    let target = target.as_ref();
    let name = target.file_name().ok_or_else(|| {
        Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} does not name a file", target.display()),
        ))
    })?;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp_path = dir.join(format!(
        ".{}.{:016x}.ossvault-tmp",
        name.to_string_lossy(),
        rand::random::<u64>()
    ));
    // Armed before the file exists: a cancelled open leaves nothing behind either.
    let mut temp = TempFile {
        path: Some(temp_path.clone()),
    };
    let open_path = temp_path.clone();
    let file = blocking(move || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(open_path)
    })
    .await?;
    let mut writer = Writer {
        file: Some(file),
        pending: None,
        spare: Vec::new(),
    };
    let result = copy(source, &mut stream, &mut writer).await;
    // Never return while a write into the temporary file is still running.
    let file = writer.settle().await;
    let written = result?;
    let file = file?;
    blocking(move || file.sync_all()).await?;
    tokio::fs::rename(&temp_path, target).await?;
    temp.path = None;
    sync_dir(dir).await?;
    Ok(written)
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))?
        .map_err(Error::Io)
}

type WriteTask = tokio::task::JoinHandle<std::io::Result<(std::fs::File, Vec<u8>)>>;

/// Writes output buffers on a blocking thread while the next piece is read and decrypted: one
/// write in flight, buffers handed over (never copied) and recycled.
struct Writer {
    file: Option<std::fs::File>,
    pending: Option<WriteTask>,
    spare: Vec<u8>,
}

impl Writer {
    async fn wait(&mut self) -> Result<()> {
        if let Some(task) = self.pending.take() {
            let (file, buf) = task
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))??;
            self.file = Some(file);
            self.spare = buf;
        }
        Ok(())
    }

    async fn write(&mut self, buf: Vec<u8>) -> Result<Vec<u8>> {
        self.wait().await?;
        let mut file = self.file.take().expect("no write in flight");
        self.pending = Some(tokio::task::spawn_blocking(move || {
            std::io::Write::write_all(&mut file, &buf)?;
            Ok((file, buf))
        }));
        Ok(std::mem::take(&mut self.spare))
    }

    /// Waits for the write in flight; the file, if every write succeeded.
    async fn settle(&mut self) -> Result<std::fs::File> {
        self.wait().await?;
        self.file
            .take()
            .ok_or_else(|| Error::Io(std::io::Error::other("an earlier write failed")))
    }
}

async fn copy<R, S>(mut source: R, stream: &mut S, writer: &mut Writer) -> Result<u64>
where
    R: AsyncRead + Unpin,
    S: CipherStream,
{
    let mut input = vec![0u8; STEP];
    let mut output = Vec::with_capacity(STEP + 64 * 1024);
    let mut written = 0u64;
    loop {
        let n = source.read(&mut input).await?;
        output.clear();
        if n == 0 {
            stream.finish(&mut output)?;
        } else {
            stream.update(&input[..n], &mut output)?;
        }
        written += output.len() as u64;
        output = writer.write(output).await?;
        if n == 0 {
            return Ok(written);
        }
    }
}

/// Makes a rename in `dir` durable ([`ossvault_fs::sync_dir`], off the async threads).
async fn sync_dir(dir: PathBuf) -> Result<()> {
    blocking(move || ossvault_fs::sync_dir(&dir)).await
}
