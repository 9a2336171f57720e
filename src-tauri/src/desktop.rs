//! The app beside its window: the tray icon (the overall sync state; open, pause all, resume
//! all, quit), closing the window into the tray while pairs exist, and desktop notifications
//! (sync conflicts, sync errors, finished large transfers; each kind can be turned off in
//! the settings). The decisions are small functions tested below; the state comes from the
//! sync engine and the transfer queue.

use crate::state::AppState;
use ossvault_ops::transfers::{TransferEvent, TransferInfo, TransferState};
use ossvault_sync::{notices, Notice, Overall, PairStatus};
use std::time::Duration;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;

/// A finished transfer this big or bigger is worth a notification.
pub const LARGE_TRANSFER: u64 = 100 << 20;

/// The few words the tray and the notifications say, in the OS's language (the window's own
/// language lives in the web view).
struct Words {
    zh: bool,
}

impl Words {
    fn of_os() -> Words {
        let lang = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        Words {
            zh: lang.starts_with("zh"),
        }
    }

    fn pick(&self, en: &'static str, zh: &'static str) -> &'static str {
        if self.zh {
            zh
        } else {
            en
        }
    }

    fn overall(&self, o: &Overall) -> String {
        match (o, self.zh) {
            (Overall::None, false) => "No sync folders".into(),
            (Overall::None, true) => "没有同步文件夹".into(),
            (Overall::Error { pairs }, false) => format!("Sync: {pairs} folder(s) need attention"),
            (Overall::Error { pairs }, true) => format!("同步：{pairs} 个文件夹出错"),
            (Overall::Offline { .. }, false) => "Sync: offline, retrying".into(),
            (Overall::Offline { .. }, true) => "同步：离线，正在重试".into(),
            (Overall::Syncing { done, total }, false) => format!("Syncing {done} of {total}"),
            (Overall::Syncing { done, total }, true) => format!("正在同步 {done}/{total}"),
            (Overall::Paused, false) => "Sync paused".into(),
            (Overall::Paused, true) => "同步已暂停".into(),
            (Overall::Idle, false) => "Sync: up to date".into(),
            (Overall::Idle, true) => "同步：已是最新".into(),
        }
    }

    fn notice(&self, n: &Notice) -> (String, String) {
        match (n, self.zh) {
            (Notice::Conflict { pair, path }, false) => (
                format!("Sync conflict in {pair}"),
                format!("{path} changed on both sides: both versions were kept."),
            ),
            (Notice::Conflict { pair, path }, true) => (
                format!("{pair} 同步冲突"),
                format!("{path} 在两端都被修改，两个版本均已保留。"),
            ),
            (Notice::Error { pair, reason }, false) => {
                (format!("Sync of {pair} stopped"), reason.clone())
            }
            (Notice::Error { pair, reason }, true) => (format!("{pair} 同步出错"), reason.clone()),
        }
    }

    fn transfer(&self, t: &TransferInfo) -> (String, String) {
        let name = t.key.rsplit('/').find(|s| !s.is_empty()).unwrap_or(&t.key);
        let upload = matches!(t.direction, ossvault_ops::transfers::Direction::Upload);
        let title = match (upload, self.zh) {
            (true, false) => "Upload finished",
            (false, false) => "Download finished",
            (true, true) => "上传完成",
            (false, true) => "下载完成",
        };
        (
            title.into(),
            format!("{name} — oss://{}/{}", t.bucket, t.key),
        )
    }
}

/// What closing the window does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnClose {
    /// No sync folder: the app quits.
    Exit,
    /// Sync keeps running in the tray; `tell`: say so (the first time only).
    HideToTray { tell: bool },
}

/// Closing the window while sync folders exist keeps the app in the tray.
pub fn on_close(pairs: usize, told_about_tray: bool) -> OnClose {
    if pairs == 0 {
        OnClose::Exit
    } else {
        OnClose::HideToTray {
            tell: !told_about_tray,
        }
    }
}

/// Whether a transfer event is a large transfer that has just completed.
pub fn large_transfer_finished(event: &TransferEvent) -> Option<&TransferInfo> {
    match event {
        TransferEvent::Changed { transfer }
            if transfer.state == TransferState::Completed
                && transfer.total.unwrap_or(transfer.done) >= LARGE_TRANSFER =>
        {
            Some(transfer)
        }
        _ => None,
    }
}

fn show_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

fn notify<R: Runtime>(app: &AppHandle<R>, title: &str, body: &str) {
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::debug!(error = %e, "no desktop notification");
    }
}

/// Handles a request to close the main window: hides it to the tray while pairs exist.
pub fn close_requested<R: Runtime>(window: &tauri::Window<R>, api: &tauri::CloseRequestApi) {
    let state = window.state::<AppState>();
    let pairs = state.sync.store().list().map(|p| p.len()).unwrap_or(0);
    let told = state.settings.current().told_about_tray;
    match on_close(pairs, told) {
        OnClose::Exit => {}
        OnClose::HideToTray { tell } => {
            api.prevent_close();
            let _ = window.hide();
            if tell {
                let w = Words::of_os();
                notify(
                    window.app_handle(),
                    "ossvault",
                    w.pick(
                        "ossvault keeps syncing your folders in the tray. Quit from the tray icon's menu.",
                        "ossvault 会在托盘中继续同步您的文件夹。要退出，请使用托盘图标的菜单。",
                    ),
                );
                if let Err(e) = state.settings.update(|s| s.told_about_tray = true) {
                    tracing::warn!(error = %e, "cannot remember the tray hint");
                }
            }
        }
    }
}

/// The tray icon: the overall sync state (tooltip and first menu line, live), open the
/// window, pause all, resume all, quit.
pub fn install_tray<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let w = Words::of_os();
    let line = MenuItem::with_id(
        app,
        "sync-state",
        w.overall(&Overall::None),
        false,
        None::<&str>,
    )?;
    let open = MenuItem::with_id(
        app,
        "open",
        w.pick("Open ossvault", "打开 ossvault"),
        true,
        None::<&str>,
    )?;
    let pause = MenuItem::with_id(
        app,
        "pause-all",
        w.pick("Pause all sync", "全部暂停同步"),
        true,
        None::<&str>,
    )?;
    let resume = MenuItem::with_id(
        app,
        "resume-all",
        w.pick("Resume all sync", "全部继续同步"),
        true,
        None::<&str>,
    )?;
    let quit = MenuItem::with_id(
        app,
        "quit",
        w.pick("Quit ossvault", "退出 ossvault"),
        true,
        None::<&str>,
    )?;
    let menu = Menu::with_items(
        app,
        &[
            &line,
            &PredefinedMenuItem::separator(app)?,
            &open,
            &pause,
            &resume,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let mut builder = TrayIconBuilder::with_id("main")
        .menu(&menu)
        .tooltip("ossvault")
        .on_menu_event(|app, event| {
            let sync = &app.state::<AppState>().sync;
            match event.id().as_ref() {
                "open" => show_window(app),
                "pause-all" | "resume-all" => {
                    if let Err(e) = sync.set_all_paused(event.id().as_ref() == "pause-all") {
                        tracing::warn!(error = %e, "pause/resume all");
                    }
                }
                // RunEvent::Exit shuts the transfer queue and the pairs down.
                "quit" => app.exit(0),
                _ => {}
            }
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    let tray = builder.build(app)?;
    let engine = app.state::<AppState>().sync.clone();
    tauri::async_runtime::spawn(async move {
        let mut last = None;
        engine
            .watch_statuses(Duration::from_millis(500), |all| {
                let statuses: Vec<PairStatus> = all.iter().map(|o| o.status.clone()).collect();
                let overall = Overall::of(&statuses);
                if last.as_ref() != Some(&overall) {
                    let text = w.overall(&overall);
                    let _ = tray.set_tooltip(Some(format!("ossvault — {text}")));
                    let _ = line.set_text(text);
                    last = Some(overall);
                }
                true
            })
            .await;
    });
    Ok(())
}

/// Desktop notifications of sync conflicts and errors and of finished large transfers, each
/// kind as the settings allow (read at the moment, so a switch takes effect at once).
pub fn start_notifications<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<AppState>();
    let engine = state.sync.clone();
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        let w = Words::of_os();
        let mut before: Option<Vec<PairStatus>> = None;
        engine
            .watch_statuses(Duration::from_millis(250), |all| {
                let now: Vec<PairStatus> = all.iter().map(|o| o.status.clone()).collect();
                if let Some(before) = &before {
                    let on = handle.state::<AppState>().settings.current().notifications;
                    for n in notices(before, &now) {
                        let wanted = match n {
                            Notice::Conflict { .. } => on.conflicts,
                            Notice::Error { .. } => on.sync_errors,
                        };
                        if wanted {
                            let (title, body) = w.notice(&n);
                            notify(&handle, &title, &body);
                        }
                    }
                }
                before = Some(now);
                true
            })
            .await;
    });
    if let Ok(queue) = &state.transfers {
        let mut events = queue.subscribe();
        let handle = app.clone();
        tauri::async_runtime::spawn(async move {
            let w = Words::of_os();
            let mut told = std::collections::HashSet::new();
            loop {
                match events.recv().await {
                    Ok(event) => {
                        let Some(t) = large_transfer_finished(&event) else {
                            continue;
                        };
                        let on = handle.state::<AppState>().settings.current().notifications;
                        if on.large_transfers && told.insert(t.id) {
                            let (title, body) = w.transfer(t);
                            notify(&handle, &title, &body);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_hides_to_the_tray_while_pairs_exist_and_tells_once() {
        assert_eq!(on_close(0, false), OnClose::Exit);
        assert_eq!(on_close(0, true), OnClose::Exit);
        assert_eq!(on_close(2, false), OnClose::HideToTray { tell: true });
        assert_eq!(on_close(1, true), OnClose::HideToTray { tell: false });
    }

    #[test]
    fn only_completed_transfers_of_100_mib_or_more_are_large() {
        let info = |state: TransferState, total: Option<u64>| TransferInfo {
            id: 1,
            batch: 1,
            direction: ossvault_ops::transfers::Direction::Upload,
            connection: "local".into(),
            bucket: "b".into(),
            key: "big.iso".into(),
            local: "/tmp/big.iso".into(),
            folder: None,
            encryption: None,
            server_side: None,
            state,
            done: total.unwrap_or(0),
            total,
            bytes_per_sec: 0,
            eta_secs: None,
            created_ms: 0,
            finished_ms: None,
            parts_resumed: 0,
            parts_sent: 0,
        };
        let changed = |t| TransferEvent::Changed { transfer: t };
        assert!(large_transfer_finished(&changed(info(
            TransferState::Completed,
            Some(LARGE_TRANSFER)
        )))
        .is_some());
        assert!(large_transfer_finished(&changed(info(
            TransferState::Completed,
            Some(LARGE_TRANSFER - 1)
        )))
        .is_none());
        assert!(large_transfer_finished(&changed(info(
            TransferState::Running,
            Some(LARGE_TRANSFER)
        )))
        .is_none());
        assert!(large_transfer_finished(&TransferEvent::Added {
            transfer: info(TransferState::Completed, Some(LARGE_TRANSFER))
        })
        .is_none());
    }
}
