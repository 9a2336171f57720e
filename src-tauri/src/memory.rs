//! The C allocator's habits in a long-running app (glibc on Linux). The app runs many threads
//! (the embedded server's, sync's blocking walks and index writes, WebKit's IPC): glibc gives
//! each busy thread an arena of its own, up to eight per core, and memory freed after a burst
//! (a sync pass of 10,000 files) stays with those arenas. Fewer arenas, and handing free pages
//! back now and then, keep an idle app small. Elsewhere the system allocator is left as it is.

/// Arenas at most (glibc's default is 8 per core).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MAX_ARENAS: libc::c_int = 4;

/// How often free memory is handed back to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Limits the allocator's arenas: call before the app starts its threads.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the allocator; any value is accepted.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MAX_ARENAS);
    }
}

/// Hands the allocator's free pages back to the system every [`TRIM_EVERY`], on a blocking
/// thread (a trim takes each arena's lock for a moment).
pub fn start_trimming(runtime: &tokio::runtime::Handle) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    runtime.spawn(async {
        let mut every = tokio::time::interval(TRIM_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            // SAFETY: malloc_trim only returns free memory to the system.
            let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        }
    });
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = runtime;
}
