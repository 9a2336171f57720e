import { describe, expect, it } from "vitest";
import { get } from "svelte/store";
import type { PairOverview, PairStatus } from "./api";
import { translate } from "./i18n";
import {
  applySyncUpdate,
  bandwidthFromKiB,
  conflictCount,
  stampDate,
  stateLine,
  syncBadge,
  syncPairs,
  syncProgress,
} from "./sync";

function status(over: Partial<PairStatus> & Pick<PairStatus, "state">): PairStatus {
  return {
    pair: "docs",
    files_done: 0,
    files_total: 0,
    bytes_done: 0,
    bytes_total: 0,
    indexed: 0,
    files: {},
    last_sync_ms: null,
    ...over,
  } as PairStatus;
}

function overview(name: string, s: PairStatus): PairOverview {
  return {
    pair: {
      name,
      local: `/home/u/${name}`,
      bucket: "b",
      prefix: "p/",
      key: "k",
      mode: "two-way",
      profile: "local",
      paused: false,
      bandwidth_limit: null,
    },
    status: { ...s, pair: name },
  };
}

describe("sync status", () => {
  it("reads as n of m while syncing, in both languages", () => {
    const line = stateLine(status({ state: "syncing", files_done: 3, files_total: 10 }));
    expect(line.kind).toBe("syncing");
    expect(translate("en", line.key, line.vars)).toBe("Syncing 3 of 10");
    expect(translate("zh-CN", line.key, line.vars)).toBe("正在同步 3/10");
  });

  it("says how far a pass got when it is paused in the middle, and keeps its progress", () => {
    const mid = status({ state: "paused", files_done: 2, files_total: 5 });
    const line = stateLine(mid);
    expect(line.kind).toBe("paused");
    expect(translate("en", line.key, line.vars)).toBe("Paused at 2 of 5");
    expect(translate("zh-CN", line.key, line.vars)).toBe("已暂停，已完成 2/5");
    expect(syncProgress(mid)).toBe(40);
    const after = status({ state: "paused", files_done: 5, files_total: 5 });
    expect(translate("en", stateLine(after).key, stateLine(after).vars)).toBe("Paused");
    expect(syncProgress(after)).toBeNull();
  });

  it("carries the reason of errors and retries, and counts idle files", () => {
    const err = stateLine(status({ state: "error", code: "NoSuchKey", reason: "key k is missing" }));
    expect(err.reason).toBe("key k is missing");
    const off = stateLine(status({ state: "offline", retry_in_s: 4, reason: "connection refused" }));
    expect(translate("en", off.key, off.vars)).toBe("Offline, retrying in 4 s");
    const idle = stateLine(status({ state: "idle", indexed: 1 }));
    expect(translate("en", idle.key, idle.vars)).toBe("Up to date, 1 file");
    expect(translate("en", idle.key, { count: 12 })).toBe("Up to date, 12 files");
  });

  it("progress follows bytes when known, files otherwise, and is null when idle", () => {
    expect(syncProgress(status({ state: "idle" }))).toBeNull();
    expect(syncProgress(status({ state: "syncing", files_done: 1, files_total: 4 }))).toBe(25);
    expect(
      syncProgress(status({ state: "syncing", files_done: 1, files_total: 4, bytes_done: 90, bytes_total: 100 })),
    ).toBe(90);
    expect(syncProgress(status({ state: "syncing", files_done: 5, files_total: 4 }))).toBe(100);
  });

  it("an update replaces the list but keeps unchanged rows as they were", () => {
    const a = overview("a", status({ state: "idle" }));
    const b = overview("b", status({ state: "syncing", files_done: 1, files_total: 2 }));
    const first = applySyncUpdate([], [a, b]);
    const b2 = overview("b", status({ state: "syncing", files_done: 2, files_total: 2 }));
    const next = applySyncUpdate(first, [structuredClone(a), b2]);
    expect(next[0]).toBe(first[0]);
    expect(next[1]).toBe(b2);
    expect(applySyncUpdate(next, [b2]).map((p) => p.pair.name)).toEqual(["b"]);
  });

  it("the sidebar badge is the worst state", () => {
    syncPairs.set([overview("a", status({ state: "idle" }))]);
    expect(get(syncBadge)).toBeNull();
    syncPairs.set([overview("a", status({ state: "idle" })), overview("b", status({ state: "scanning" }))]);
    expect(get(syncBadge)).toBe("syncing");
    syncPairs.update((l) => [...l, overview("c", status({ state: "error", code: "X", reason: "y" }))]);
    expect(get(syncBadge)).toBe("error");
  });

  it("counts conflicts, reads bandwidth in KiB/s and trash stamps", () => {
    const s = status({ state: "idle", files: { "a.txt": { state: "conflict", copy: "a.c.txt" }, b: { state: "pending" } } });
    expect(conflictCount(s)).toBe(1);
    expect(bandwidthFromKiB("")).toBeNull();
    expect(bandwidthFromKiB("0")).toBeNull();
    expect(bandwidthFromKiB("512")).toBe(512 * 1024);
    expect(bandwidthFromKiB("fast")).toBeNaN();
    expect(stampDate("20260304T050607.250Z")?.toISOString()).toBe("2026-03-04T05:06:07.250Z");
    expect(stampDate("yesterday")).toBeNull();
  });
});
