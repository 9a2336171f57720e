//! The ossvault desktop app: a thin Tauri shell. Each command in [`commands`] validates its
//! input, calls one function of the ossvault crates and maps the error to
//! [`error::CommandError`]; the logic lives in `ossvault-ops` (shared with the CLI).
//!
//! At start the app runs the embedded OSS server in-process on 127.0.0.1 (HTTP and HTTPS, free
//! ports unless `OSSVAULT_APP_ADDRESS` / `OSSVAULT_APP_HTTPS_ADDRESS` say otherwise), its data
//! under the app's data directory, its secrets in the OS keychain, and saves the CLI profile
//! `local` that reaches it.

pub mod commands;
pub mod desktop;
pub mod error;
pub mod memory;
pub mod opener;
pub mod startup;
pub mod state;
pub mod validate;
pub mod webview_env;

/// Registers every command on a builder (the real runtime, or the mock one in tests); the
/// caller manages the state before the first command can arrive.
pub fn with_commands<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    use commands::*;
    builder.invoke_handler(tauri::generate_handler![
        app::app_status,
        connections::list_connections,
        connections::save_connection,
        connections::remove_connection,
        connections::test_connection,
        buckets::list_buckets,
        buckets::create_bucket,
        buckets::delete_bucket,
        buckets::bucket_settings,
        buckets::set_bucket_encryption,
        buckets::set_https_only,
        buckets::set_bucket_acl,
        buckets::list_kms_keys,
        objects::list_objects,
        objects::create_folder,
        objects::delete_objects,
        objects::object_properties,
        objects::object_badges,
        objects::presign_url,
        transfers::upload_paths,
        transfers::download_objects,
        transfers::list_transfers,
        transfers::watch_transfers,
        transfers::transfer_action,
        transfers::clear_finished_transfers,
        settings::settings_get,
        settings::settings_set,
        settings::open_log_folder,
        keys::list_keys,
        keys::generate_key,
        keys::import_key,
        keys::export_key_backup,
        keys::restore_key_backup,
        keys::key_public_pem,
        keys::set_default_key,
        keys::rotate_key,
        keys::rename_key,
        keys::rotate_key_rewrap,
        keys::cancel_rewrap,
        keys::delete_key,
        kms::kms_list_keys,
        kms::kms_create_key,
        kms::kms_set_key_enabled,
        kms::kms_schedule_deletion,
        kms::kms_cancel_deletion,
        kms::kms_import_material,
        kms::kms_rotate_master_key,
        sync::list_sync_pairs,
        sync::watch_sync,
        sync::add_sync_pair,
        sync::pause_sync_pair,
        sync::resume_sync_pair,
        sync::remove_sync_pair,
        sync::set_sync_bandwidth,
        sync::sync_files,
        sync::sync_conflicts,
        sync::resolve_sync_conflict,
        sync::open_sync_conflict_version,
        sync::sync_trash,
        sync::restore_sync_version,
        sync::sync_ignore_rules,
        sync::set_sync_ignore_rules,
        settings::notification_settings,
        settings::set_notification_settings,
        settings::set_ui_language,
    ])
}

/// Runs the app until it is quit (closing the window keeps it in the tray while sync folders
/// exist).
pub fn run() {
    webview_env::prepare();
    memory::tune_allocator();
    let setup = startup::prepare();
    let runtime = setup.runtime;
    tauri::async_runtime::set(runtime.handle().clone());
    memory::start_trimming(runtime.handle());
    // The embedded server starts while the window and its webview come up; the state is in
    // place before the event loop runs, so before the page can call a command.
    let starting = runtime.spawn(startup::start(setup.dirs, setup.settings, setup.prepared));
    let app = with_commands(tauri::Builder::default())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_autostart::Builder::new().build())
        .setup(move |app| {
            use tauri::Manager;
            let state = tauri::async_runtime::block_on(starting)?;
            // After the embedded server is up: pairs on the Local connection reach it.
            startup::start_sync(state.sync.clone());
            app.manage(state);
            if let Err(e) = desktop::install_tray(app.handle()) {
                tracing::warn!(error = %e, "no tray icon");
            }
            desktop::start_notifications(app.handle());
            Ok(())
        })
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                desktop::close_requested(window, api);
            }
        })
        .build(tauri::generate_context!())
        .expect("cannot start the app");
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            // Running transfers stop with their checkpoints stored and the pairs with their
            // indexes (both resume at the next start), then the embedded server.
            use tauri::Manager;
            let state = handle.state::<state::AppState>();
            tauri::async_runtime::block_on(startup::shut_down(
                &state,
                std::time::Duration::from_secs(5),
            ));
        }
    });
    drop(setup.log_guard);
}
