// The Sync screen's state: every pair with its live status, as the core streams it (the UI
// never polls), and how a status reads: its state line, "n of m" and the progress bar.
import { derived, writable } from "svelte/store";
import type { FileState, PairOverview, PairStatus, SyncMode } from "./api";
import type { MessageKey } from "./i18n";

/** Every pair with its status, in name order (the last update of the core's stream). */
export const syncPairs = writable<PairOverview[]>([]);

/** Applies one update of the stream: it carries every pair, so it replaces the list, but
 * unchanged entries keep their identity (a list row re-renders only when its pair changed). */
export function applySyncUpdate(prev: PairOverview[], next: PairOverview[]): PairOverview[] {
  const old = new Map(prev.map((p) => [p.pair.name, p]));
  return next.map((p) => {
    const o = old.get(p.pair.name);
    return o && JSON.stringify(o) === JSON.stringify(p) ? o : p;
  });
}

export interface StateLine {
  /** The state's kind (drives the colour and the data-state of a row). */
  kind: PairStatus["state"];
  key: MessageKey;
  vars: Record<string, string | number>;
  /** The reason of an error, offline or retry. */
  reason: string | null;
}

/** How a pair's state reads: "Idle, 12 files in sync", "Syncing 3 of 10", "Offline, retrying
 * in 4 s", "Error: …". */
export function stateLine(s: PairStatus): StateLine {
  switch (s.state) {
    case "idle":
      return { kind: s.state, key: "sync.state.idle", vars: { count: s.indexed }, reason: null };
    case "scanning":
      return { kind: s.state, key: "sync.state.scanning", vars: {}, reason: null };
    case "syncing":
      return {
        kind: s.state,
        key: "sync.state.syncing",
        vars: { done: s.files_done, total: s.files_total },
        reason: null,
      };
    case "paused":
      // Paused during a pass: the pass waits for the resume with the rest of its files.
      if (midPass(s)) {
        const vars = { done: s.files_done, total: s.files_total };
        return { kind: s.state, key: "sync.state.pausedInPass", vars, reason: null };
      }
      return { kind: s.state, key: "sync.state.paused", vars: {}, reason: null };
    case "offline":
      return { kind: s.state, key: "sync.state.offline", vars: { secs: s.retry_in_s }, reason: s.reason };
    case "retrying":
      return { kind: s.state, key: "sync.state.retrying", vars: { secs: s.retry_in_s }, reason: s.reason };
    case "error":
      return { kind: s.state, key: "sync.state.error", vars: {}, reason: s.reason };
    default:
      return { kind: "stopped", key: "sync.state.stopped", vars: {}, reason: null };
  }
}

/** Whether a pass is under way with files left (syncing, or paused in the middle of it). */
function midPass(s: PairStatus): boolean {
  return s.files_total > 0 && s.files_done < s.files_total;
}

/** The progress of a pass in percent (files done of files total, bytes when known), also
 * while it is paused; null when no pass is under way. */
export function syncProgress(s: PairStatus): number | null {
  const underWay = s.state === "syncing" || (s.state === "paused" && midPass(s));
  if (!underWay || s.files_total <= 0) return null;
  const byBytes = s.bytes_total > 0 ? s.bytes_done / s.bytes_total : null;
  const byFiles = s.files_done / s.files_total;
  const p = byBytes === null ? byFiles : Math.max(byFiles, Math.min(byBytes, 1));
  return Math.min(100, Math.floor(p * 100));
}

/** Files of a status in conflict. */
export function conflictCount(s: PairStatus): number {
  return Object.values(s.files).filter((f) => f.state === "conflict").length;
}

/** The sidebar's badge: the worst state of all pairs, or null when all is quiet. */
export const syncBadge = derived(syncPairs, (all): "error" | "offline" | "syncing" | null => {
  const states = all.map((p) => p.status.state);
  if (states.includes("error")) return "error";
  if (states.some((s) => s === "offline" || s === "retrying")) return "offline";
  if (states.some((s) => s === "syncing" || s === "scanning")) return "syncing";
  return null;
});

/** A bandwidth limit typed in KiB/s as the core takes it (bytes per second; 0 or empty:
 * unlimited); NaN for what is not a number. */
export function bandwidthFromKiB(text: string): number | null {
  const trimmed = text.trim();
  if (trimmed === "" || trimmed === "0") return null;
  const n = Number(trimmed);
  return Number.isFinite(n) && n > 0 ? Math.round(n * 1024) : NaN;
}

/** The trash's stamp `20260304T050607.250Z` as a Date. */
export function stampDate(stamp: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/.exec(stamp);
  if (!m) return null;
  const [y = 0, mo = 1, d = 1, h = 0, mi = 0, s = 0, ms = 0] = m.slice(1).map(Number);
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
}

export const MODE_KEYS: Record<SyncMode, MessageKey> = {
  upload: "sync.mode.upload",
  "two-way": "sync.mode.twoWay",
  download: "sync.mode.download",
};

export const MODE_HINT_KEYS: Record<SyncMode, MessageKey> = {
  upload: "sync.modeHint.upload",
  "two-way": "sync.modeHint.twoWay",
  download: "sync.modeHint.download",
};

export const FILE_STATE_KEYS: Record<FileState["state"], MessageKey> = {
  pending: "sync.file.pending",
  transferring: "sync.file.transferring",
  synced: "sync.file.synced",
  conflict: "sync.file.conflict",
  error: "sync.file.error",
  skipped: "sync.file.skipped",
};

export const SYNC_BADGE_KEYS: Record<"error" | "offline" | "syncing", MessageKey> = {
  error: "nav.syncBadge.error",
  offline: "nav.syncBadge.offline",
  syncing: "nav.syncBadge.syncing",
};
