//! `ossvault transfers` against a real `ossvault serve`: a queue stored by the app (written
//! here as the app's queue writes it) is listed, run to the end and cleared.

use ossvault_ops::transfers::{Direction, TransferInfo, TransferState};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ossvault");
const KEY_ID: &str = "LTAITRANSFERS";
const SECRET: &str = "transfers-secret";

struct Server {
    child: Child,
    endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--no-profile", "--address", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data)
        .args(["--access-key-id", KEY_ID, "--access-key-secret", SECRET])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let endpoint = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "serve exited");
        if let Some(e) = line.trim().strip_prefix("endpoint: ") {
            break e.to_owned();
        }
    };
    Server { child, endpoint }
}

fn ossvault(home: &Path, server: &Server, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env("OSSVAULT_TRANSFERS_DIR", home.join("transfers"))
        .env("OSSVAULT_CONFIG", home.join("config.toml"))
        .env("OSSVAULT_CONFIG_DIR", home.join("config"))
        .env("OSSVAULT_NO_KEYCHAIN", "1")
        .env("OSSVAULT_ENDPOINT", &server.endpoint)
        .env("OSSVAULT_ACCESS_KEY_ID", KEY_ID)
        .env("OSSVAULT_ACCESS_KEY_SECRET", SECRET)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ossvault {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn transfers_are_listed_resumed_and_cleared() {
    let home = tempfile::tempdir().unwrap();
    let server = serve(&home.path().join("data"));
    ossvault(home.path(), &server, &["mb", "oss://queued"]);
    let file = home.path().join("photo.jpg");
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &content).unwrap();
    // An upload the app paused, on the default connection, as the app stores it.
    let queue = home.path().join("transfers").join("queue");
    std::fs::create_dir_all(&queue).unwrap();
    let transfer = TransferInfo {
        id: 1,
        batch: 1,
        direction: Direction::Upload,
        connection: "default".into(),
        bucket: "queued".into(),
        key: "2024/photo.jpg".into(),
        local: file.clone(),
        folder: None,
        encryption: None,
        server_side: None,
        state: TransferState::Paused,
        done: 0,
        total: Some(content.len() as u64),
        bytes_per_sec: 0,
        eta_secs: None,
        created_ms: 1,
        finished_ms: None,
        parts_resumed: 0,
        parts_sent: 0,
    };
    let stored = serde_json::json!({ "version": 1, "transfer": transfer });
    std::fs::write(queue.join("00000000000000000001.json"), stored.to_string()).unwrap();

    let listed = json_lines(&ossvault(
        home.path(),
        &server,
        &["transfers", "ls", "--json"],
    ));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], 1);
    assert_eq!(listed[0]["state"]["state"], "paused");
    assert_eq!(listed[0]["key"], "2024/photo.jpg");

    ossvault(home.path(), &server, &["transfers", "resume"]);
    let listed = json_lines(&ossvault(
        home.path(),
        &server,
        &["transfers", "ls", "--json"],
    ));
    assert_eq!(listed[0]["state"]["state"], "completed", "{listed:?}");
    let text = ossvault(home.path(), &server, &["transfers", "ls"]);
    assert!(
        text.contains("completed") && text.contains("oss://queued/2024/photo.jpg"),
        "{text}"
    );

    let back = home.path().join("back.jpg");
    ossvault(
        home.path(),
        &server,
        &["cp", "oss://queued/2024/photo.jpg", back.to_str().unwrap()],
    );
    assert!(std::fs::read(&back).unwrap() == content);

    let cleared = ossvault(home.path(), &server, &["transfers", "clear"]);
    assert!(cleared.contains("1 finished"), "{cleared}");
    assert!(ossvault(home.path(), &server, &["transfers", "ls"]).is_empty());
}
