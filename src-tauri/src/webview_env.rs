//! How WebKitGTK's processes start on Linux: environment variables that GTK, WebKit and
//! JavaScriptCore read when they start, and that WebKit's page and network processes inherit.
//! A variable the user set is never overridden. Elsewhere the webview is the system's
//! (WKWebView, WebView2), which reads none of these.
//!
//! - **No GPU render node** (a virtual machine, a remote desktop, Xvfb): Mesa's only driver is
//!   then llvmpipe, a CPU emulating a GPU, and every process that loads it pays ~20 MiB for LLVM
//!   (relocated tables and start-up code, private to the process). By default three parts load
//!   it: GTK probing GLX when it opens the display, WebKit asking EGL in the app's process which
//!   render node to hand to the page's process, and the page's process itself. Without a render
//!   node the app draws on the CPU, as llvmpipe would anyway: WebKit without compositing and
//!   DMABuf buffers, GTK without GL, and WebKit told the render node outright, so only the page's
//!   process loads Mesa (under Xvfb: the app's process 20 MiB smaller at start). With a render
//!   node nothing changes.
//! - **JavaScriptCore's optimizing tiers** (DFG and FTL) are off: the UI's scripts are short
//!   event handlers and renders of at most a page of rows, which the interpreter and the
//!   baseline JIT run well; the optimizing compilers' code and profiles cost the page's process
//!   ~7 MiB after a sync of 50,000 files (137 → 130 MiB) while clicks were answered as fast.

#[cfg(target_os = "linux")]
use std::path::Path;

/// Always set.
#[cfg(target_os = "linux")]
const JS_TIERS: [(&str, &str); 2] = [("JSC_useDFGJIT", "false"), ("JSC_useFTLJIT", "false")];

/// Set when there is no render node. `/dev/null` for the render node: WebKit takes any
/// non-empty value as given (an empty one makes it ask EGL), and opening it finds no GPU.
#[cfg(target_os = "linux")]
const WITHOUT_GPU: [(&str, &str); 4] = [
    ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
    ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"),
    ("GDK_GL", "disable"),
    ("WEBKIT_WEB_RENDER_DEVICE_FILE", "/dev/null"),
];

/// Sets the variables. Call before any thread starts (first thing in [`crate::run`]).
pub fn prepare() {
    #[cfg(target_os = "linux")]
    for (name, value) in settings_to_add(has_render_node(Path::new("/dev/dri")), |name| {
        std::env::var_os(name).is_some()
    }) {
        std::env::set_var(name, value);
    }
}

/// The variables to set: [`JS_TIERS`], and [`WITHOUT_GPU`] without a render node, less those
/// already set.
#[cfg(target_os = "linux")]
fn settings_to_add(
    render_node: bool,
    is_set: impl Fn(&str) -> bool,
) -> Vec<(&'static str, &'static str)> {
    let without_gpu: &[(&str, &str)] = if render_node { &[] } else { &WITHOUT_GPU };
    JS_TIERS
        .iter()
        .chain(without_gpu)
        .filter(|(name, _)| !is_set(name))
        .copied()
        .collect()
}

/// Whether `dir` (`/dev/dri`) holds a render node (`renderD128`, ...); display-only nodes
/// (`card0`) don't count: WebKit renders through a render node.
#[cfg(target_os = "linux")]
fn has_render_node(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        })
        .unwrap_or(false)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_render_node_is_found_by_its_name() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_render_node(dir.path()));
        assert!(!has_render_node(&dir.path().join("missing")));
        std::fs::write(dir.path().join("card0"), b"").unwrap();
        assert!(!has_render_node(dir.path()));
        std::fs::write(dir.path().join("renderD128"), b"").unwrap();
        assert!(has_render_node(dir.path()));
    }

    #[test]
    fn cpu_drawing_only_without_a_render_node_and_never_over_the_users_choice() {
        fn names(v: Vec<(&'static str, &'static str)>) -> Vec<&'static str> {
            v.into_iter().map(|(name, _)| name).collect()
        }
        let with_gpu = names(settings_to_add(true, |_| false));
        assert_eq!(with_gpu, ["JSC_useDFGJIT", "JSC_useFTLJIT"]);
        let all = settings_to_add(false, |_| false);
        assert_eq!(all.len(), JS_TIERS.len() + WITHOUT_GPU.len());
        assert!(all.contains(&("GDK_GL", "disable")));
        assert!(all.contains(&("WEBKIT_WEB_RENDER_DEVICE_FILE", "/dev/null")));
        let users = ["WEBKIT_DISABLE_COMPOSITING_MODE", "JSC_useDFGJIT"];
        let some = names(settings_to_add(false, |name| users.contains(&name)));
        assert_eq!(some.len(), all.len() - users.len());
        assert!(users.iter().all(|u| !some.contains(u)));
    }
}
