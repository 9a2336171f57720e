fn main() {
    // The app embeds ui/dist (made by `npm --prefix ui run build`, which scripts/run.sh and
    // scripts/test.sh run first). A fresh clone has none: a page saying so stands in for it,
    // so that `cargo build`/`cargo test` of the workspace work before the UI is built.
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/dist");
    if !dist.join("index.html").exists() {
        let _ = std::fs::create_dir_all(&dist);
        let _ = std::fs::write(
            dist.join("index.html"),
            "<!doctype html><meta charset=\"utf-8\"><title>ossvault</title>\
             <p>The UI is not built: run <code>npm --prefix ui ci &amp;&amp; npm --prefix ui run build</code>, \
             then build the app again.</p>\n",
        );
    }
    tauri_build::build()
}
