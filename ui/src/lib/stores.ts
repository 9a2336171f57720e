// App-wide state: the current connection and view, toasts, and the transfers list.
import { derived, writable } from "svelte/store";
import type { AppError, TransferEvent, TransferInfo } from "./api";
import type { MessageKey } from "./i18n";

export type View = "buckets" | "browser" | "transfers" | "sync" | "keys" | "kms" | "connections" | "settings";

export const view = writable<View>("buckets");
export const connection = writable<string>("local");
/** The bucket (and folder) open in the browser. */
export const location = writable<{ bucket: string; prefix: string } | null>(null);
/** The current connection could not be reached (its last error). */
export const unreachable = writable<AppError | null>(null);

export interface Toast {
  id: number;
  kind: "info" | "success" | "error";
  key: MessageKey;
  vars?: Record<string, string | number>;
  error?: AppError;
}

export const toasts = writable<Toast[]>([]);
let nextToast = 1;

export function toast(
  kind: Toast["kind"],
  key: MessageKey,
  vars?: Record<string, string | number>,
  error?: AppError,
  ttlMs = 5000,
): void {
  const id = nextToast++;
  // At most four at once: the oldest goes first.
  toasts.update((list) => [...list, { id, kind, key, vars, error }].slice(-4));
  if (ttlMs > 0) setTimeout(() => dismissToast(id), ttlMs);
}

export function dismissToast(id: number): void {
  toasts.update((list) => list.filter((t) => t.id !== id));
}

/** Transfers by id, newest first when listed. */
export const transfers = writable<Map<number, TransferInfo>>(new Map());

/** Applies one event of the transfer manager to the list. */
export function applyTransferEvent(
  map: Map<number, TransferInfo>,
  e: TransferEvent,
): Map<number, TransferInfo> {
  const next = new Map(map);
  switch (e.event) {
    case "added":
    case "changed":
      next.set(e.transfer.id, e.transfer);
      break;
    case "resync":
      return new Map(e.transfers.map((t) => [t.id, t]));
    case "progress": {
      const t = next.get(e.id);
      if (t) {
        next.set(e.id, {
          ...t,
          done: e.done,
          total: e.total,
          bytes_per_sec: e.bytes_per_sec,
          eta_secs: e.eta_secs,
        });
      }
      break;
    }
    case "removed":
      next.delete(e.id);
      break;
  }
  return next;
}

export const transferList = derived(transfers, (m) =>
  [...m.values()].sort((a, b) => b.created_ms - a.created_ms || b.id - a.id),
);

export const activeTransfers = derived(transferList, (list) =>
  list.filter((t) => ["queued", "running"].includes(t.state.state)),
);
