// The app's settings, kept by the Rust core in settings.json (language and theme stay in
// localStorage: they are the UI's alone). One store for every screen that shows or changes them.
import { get, writable } from "svelte/store";
import { api, type AppSettings, type ServerSettings, type SettingsView, type KeySummary } from "./api";

export const settingsView = writable<SettingsView | null>(null);

/** Reads the settings from the core (once at start, and again when the Settings screen opens). */
export async function loadSettings(): Promise<SettingsView> {
  const view = await api.settingsGet();
  settingsView.set(view);
  return view;
}

/** Saves a change of the current settings; the store follows only once the core accepted it. */
export async function saveSettings(change: (s: AppSettings) => AppSettings): Promise<AppSettings> {
  const view = get(settingsView) ?? (await loadSettings());
  const saved = await api.settingsSet(change(structuredClone(view.settings)));
  settingsView.update((v) => (v ? { ...v, settings: saved } : v));
  return saved;
}

/** The server settings that differ from those the running server started with. */
export function restartNeeded(now: ServerSettings, atStart: ServerSettings): boolean {
  return (
    now.httpPort !== atStart.httpPort ||
    now.httpsPort !== atStart.httpsPort ||
    now.https !== atStart.https ||
    (now.dataDir ?? "") !== (atStart.dataDir ?? "") ||
    now.startWithApp !== atStart.startWithApp
  );
}

/** A port field: empty or 0 is a free port; else a whole number (the core checks the range). */
export function parsePort(text: string): number | null {
  const t = text.trim();
  if (t === "") return 0;
  return /^\d{1,5}$/.test(t) && Number(t) <= 65535 ? Number(t) : null;
}

/** A bandwidth field in KiB/s: empty or 0 is unlimited (null); else bytes per second. */
export function parseLimit(text: string): number | null | undefined {
  const t = text.trim();
  if (t === "" || t === "0") return null;
  if (!/^\d+(\.\d+)?$/.test(t)) return undefined;
  return Math.round(Number(t) * 1024);
}

/** Bytes per second as the KiB/s field shows them ("" for unlimited). */
export function limitText(bytesPerSec: number | null): string {
  if (bytesPerSec === null) return "";
  const kib = bytesPerSec / 1024;
  return Number.isInteger(kib) ? String(kib) : kib.toFixed(2);
}

/** The first-run offer shows when no key exists and it was neither taken nor dismissed. */
export function offerFirstKey(keys: KeySummary[] | null, settings: AppSettings | null): boolean {
  return keys !== null && keys.length === 0 && settings !== null && !settings.keyPromptDone;
}

/** The keys no backup holds entirely (never exported, or rotated since). */
export function notBackedUp(keys: KeySummary[]): KeySummary[] {
  return keys.filter((k) => !k.backedUp);
}

/** A request to the Keys screen: the first-run flow (generate, then export the new key). */
export const keyFlow = writable<"first-run" | null>(null);
