//! The C allocator's habits in a long-running app (glibc on Linux). The app runs many threads
//! (the embedded server's, sync's blocking walks and index writes, WebKit's IPC): glibc gives
//! each busy thread an arena of its own, up to eight per core, and memory freed after a burst
//! (a sync pass of 10,000 files) stays with those arenas. Fewer arenas, large blocks mapped on
//! their own, and handing free pages back now and then keep an idle app small. Elsewhere the
//! system allocator is left as it is.

/// Arenas at most (glibc's default is 8 per core). Two: ten pairs' bursts left 28 MiB in four
/// arenas, 10 MiB in two, and the sync was no slower.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MAX_ARENAS: libc::c_int = 2;

/// Allocations at least this large get a mapping of their own, unmapped when freed. glibc starts
/// there too, but raises the threshold to the largest such block freed so far (up to 32 MiB):
/// after the first burst, the buffers of uploads and hashes (256 KiB to 1 MiB each, hundreds
/// at once while ten pairs sync) come from the arenas and their pages stay there.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 << 10;

/// How often free memory is handed back to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Limits the allocator's arenas and fixes its mapping threshold: call before the app starts
/// its threads.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets tunables of the allocator; any value is accepted.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MAX_ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
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
