//! The app beside its window: the tray icon (the overall sync state; open, pause all, resume
//! all, quit), closing the window into the tray while pairs exist, and desktop notifications
//! (sync conflicts, sync errors, finished large transfers; each kind can be turned off in
//! the settings), all in the UI's language. The decisions are small functions tested below;
//! the state comes from the sync engine and the transfer queue.

use crate::state::AppState;
use ossvault_ops::app_settings::UiLanguage;
use ossvault_ops::transfers::{TransferEvent, TransferInfo, TransferState};
use ossvault_sync::{notices, Notice, Overall, PairStatus};
use std::time::Duration;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;

/// A finished transfer this big or bigger is worth a notification.
pub const LARGE_TRANSFER: u64 = 100 << 20;

/// The few words the tray and the notifications say, in the UI's language (the UI tells the
/// core: [`crate::commands::settings::set_ui_language`]), the OS's until it has.
struct Words {
    zh: bool,
}

/// The OS's language, as the UI would pick it.
fn os_language() -> UiLanguage {
    let lang = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    UiLanguage::of_locale(&lang)
}

impl Words {
    fn of(language: UiLanguage) -> Words {
        Words {
            zh: language == UiLanguage::SimplifiedChinese,
        }
    }

    /// In the language the UI last told (kept in the settings), else the OS's.
    fn of_app<R: Runtime>(app: &AppHandle<R>) -> Words {
        let told = app
            .try_state::<AppState>()
            .and_then(|s| s.settings.current().language);
        Words::of(told.unwrap_or_else(os_language))
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
                let w = Words::of_app(window.app_handle());
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

/// The tray menu's words (they follow the UI's language, live) and the sync state it shows.
pub struct TrayMenu<R: Runtime> {
    line: MenuItem<R>,
    open: MenuItem<R>,
    pause: MenuItem<R>,
    resume: MenuItem<R>,
    quit: MenuItem<R>,
    overall: std::sync::Mutex<Overall>,
    icon: std::sync::OnceLock<TrayIcon<R>>,
}

impl<R: Runtime> TrayMenu<R> {
    fn new(app: &AppHandle<R>) -> tauri::Result<TrayMenu<R>> {
        let item = |id: &str, enabled: bool| MenuItem::with_id(app, id, "", enabled, None::<&str>);
        let menu = TrayMenu {
            line: item("sync-state", false)?,
            open: item("open", true)?,
            pause: item("pause-all", true)?,
            resume: item("resume-all", true)?,
            quit: item("quit", true)?,
            overall: std::sync::Mutex::new(Overall::None),
            icon: std::sync::OnceLock::new(),
        };
        menu.say(&Words::of_app(app));
        Ok(menu)
    }

    fn menu(&self, app: &AppHandle<R>) -> tauri::Result<Menu<R>> {
        Menu::with_items(
            app,
            &[
                &self.line,
                &PredefinedMenuItem::separator(app)?,
                &self.open,
                &self.pause,
                &self.resume,
                &PredefinedMenuItem::separator(app)?,
                &self.quit,
            ],
        )
    }

    /// Says the menu, and the tooltip, in `w`.
    fn say(&self, w: &Words) {
        let state = w.overall(&self.overall.lock().unwrap_or_else(|p| p.into_inner()));
        let texts = [
            (&self.line, state.as_str()),
            (&self.open, w.pick("Open ossvault", "打开 ossvault")),
            (&self.pause, w.pick("Pause all sync", "全部暂停同步")),
            (&self.resume, w.pick("Resume all sync", "全部继续同步")),
            (&self.quit, w.pick("Quit ossvault", "退出 ossvault")),
        ];
        for (item, text) in texts {
            if let Err(e) = item.set_text(text) {
                tracing::debug!(error = %e, "tray menu text");
            }
        }
        if let Some(icon) = self.icon.get() {
            let _ = icon.set_tooltip(Some(format!("ossvault — {state}")));
        }
    }

    /// The menu's lines as they read now (the separators left out).
    pub fn texts(&self) -> tauri::Result<Vec<String>> {
        [
            &self.line,
            &self.open,
            &self.pause,
            &self.resume,
            &self.quit,
        ]
        .iter()
        .map(|item| item.text())
        .collect()
    }

    /// Shows another overall sync state (nothing to do when it is the same).
    fn show(&self, overall: Overall, w: &Words) {
        {
            let mut shown = self.overall.lock().unwrap_or_else(|p| p.into_inner());
            if *shown == overall {
                return;
            }
            *shown = overall;
        }
        self.say(w);
    }
}

/// The UI's language changed: the tray menu and tooltip say their words in it at once.
pub fn language_changed<R: Runtime>(app: &AppHandle<R>) {
    if let Some(menu) = app.try_state::<TrayMenu<R>>() {
        menu.say(&Words::of_app(app));
    }
}

/// The tray's menu (kept in the app's state, so its words can change): what
/// [`install_tray`] shows.
pub fn install_tray_menu<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let menu = TrayMenu::new(app)?;
    app.manage(menu);
    Ok(())
}

/// The tray icon: the overall sync state (tooltip and first menu line, live), open the
/// window, pause all, resume all, quit; in the UI's language.
pub fn install_tray<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    install_tray_menu(app)?;
    let tray_menu = app.state::<TrayMenu<R>>();
    let mut builder = TrayIconBuilder::with_id("main")
        .menu(&tray_menu.menu(app)?)
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
    let _ = tray_menu.icon.set(builder.build(app)?);
    tray_menu.say(&Words::of_app(app));
    let engine = app.state::<AppState>().sync.clone();
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        engine
            .watch_statuses(Duration::from_millis(500), |all| {
                let statuses: Vec<PairStatus> = all.iter().map(|o| o.status.clone()).collect();
                handle
                    .state::<TrayMenu<R>>()
                    .show(Overall::of(&statuses), &Words::of_app(&handle));
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
                            let (title, body) = Words::of_app(&handle).notice(&n);
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
            let mut told = std::collections::HashSet::new();
            loop {
                match events.recv().await {
                    Ok(event) => {
                        let Some(t) = large_transfer_finished(&event) else {
                            continue;
                        };
                        let on = handle.state::<AppState>().settings.current().notifications;
                        if on.large_transfers && told.insert(t.id) {
                            let (title, body) = Words::of_app(&handle).transfer(t);
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
    fn the_tray_menu_says_the_sync_state_and_changes_language_live() {
        let app = tauri::test::mock_app();
        let menu = TrayMenu::new(app.handle()).unwrap();
        let en = Words::of(UiLanguage::English);
        let zh = Words::of(UiLanguage::SimplifiedChinese);
        menu.say(&en);
        assert_eq!(
            menu.texts().unwrap(),
            [
                "No sync folders",
                "Open ossvault",
                "Pause all sync",
                "Resume all sync",
                "Quit ossvault"
            ]
        );
        menu.show(Overall::Syncing { done: 2, total: 5 }, &en);
        assert_eq!(menu.texts().unwrap()[0], "Syncing 2 of 5");
        // The language changes: every line, the state included, says it in the new one.
        menu.say(&zh);
        assert_eq!(
            menu.texts().unwrap(),
            [
                "正在同步 2/5",
                "打开 ossvault",
                "全部暂停同步",
                "全部继续同步",
                "退出 ossvault"
            ]
        );
        menu.show(Overall::Paused, &zh);
        assert_eq!(menu.texts().unwrap()[0], "同步已暂停");
    }

    #[test]
    fn a_locale_name_is_chinese_or_english_as_the_ui_decides() {
        for (name, language) in [
            ("zh_CN.UTF-8", UiLanguage::SimplifiedChinese),
            ("zh-TW", UiLanguage::SimplifiedChinese),
            ("ZH", UiLanguage::SimplifiedChinese),
            ("en_US.UTF-8", UiLanguage::English),
            ("de_DE", UiLanguage::English),
            ("", UiLanguage::English),
        ] {
            assert_eq!(UiLanguage::of_locale(name), language, "{name}");
        }
        let (title, body) = Words::of(UiLanguage::SimplifiedChinese).notice(&Notice::Conflict {
            pair: "docs".into(),
            path: "a.txt".into(),
        });
        assert_eq!(title, "docs 同步冲突");
        assert!(body.starts_with("a.txt 在两端"), "{body}");
    }

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
