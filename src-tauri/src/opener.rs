//! Opens a file with the OS's default app (the one seam to the desktop's opener).

use std::path::Path;
use std::process::Command;

/// Starts the default app for `path` and returns at once.
pub fn open(path: &Path) -> std::io::Result<()> {
    let mut command = if cfg!(target_os = "macos") {
        Command::new("open")
    } else if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.args(["/C", "start", ""]);
        c
    } else {
        Command::new("xdg-open")
    };
    let mut child = command.arg(path).spawn()?;
    // Reaped in the background: the opener may outlive this call.
    std::thread::spawn(move || child.wait());
    Ok(())
}
