import { describe, expect, it } from "vitest";
import { get } from "svelte/store";
import type { TransferSnapshot } from "./api";
import { applyTransferEvent, transfers, transferList, activeTransfers } from "./stores";
import { bucketNameProblem } from "./bucketName";
import { resolveTheme } from "./theme";
import { errorKey } from "./errors";

function snap(id: number, state: TransferSnapshot["state"], createdAt = id): TransferSnapshot {
  return {
    id,
    direction: "upload",
    name: `f${id}`,
    local: `/tmp/f${id}`,
    remote: `oss://b/f${id}`,
    connection: "local",
    total: 100,
    done: 0,
    bytesPerSec: 0,
    etaSecs: null,
    state,
    createdAt,
    finishedAt: null,
  };
}

describe("transfers store", () => {
  it("applies added, progress, changed and removed events", () => {
    let m = new Map<number, TransferSnapshot>();
    m = applyTransferEvent(m, { event: "added", snapshot: snap(1, { state: "queued" }) });
    m = applyTransferEvent(m, { event: "progress", id: 1, done: 40, total: 100, bytesPerSec: 10, etaSecs: 6 });
    expect(m.get(1)?.done).toBe(40);
    expect(m.get(1)?.etaSecs).toBe(6);
    m = applyTransferEvent(m, { event: "changed", snapshot: { ...snap(1, { state: "completed" }), done: 100 } });
    expect(m.get(1)?.state.state).toBe("completed");
    // Progress of an unknown transfer is ignored rather than inventing a row.
    m = applyTransferEvent(m, { event: "progress", id: 9, done: 1, total: 1, bytesPerSec: 0, etaSecs: null });
    expect(m.has(9)).toBe(false);
    m = applyTransferEvent(m, { event: "removed", id: 1 });
    expect(m.size).toBe(0);
  });

  it("lists newest first and counts the active ones", () => {
    transfers.set(
      new Map([
        [1, snap(1, { state: "completed" }, 10)],
        [2, snap(2, { state: "running" }, 20)],
        [3, snap(3, { state: "queued" }, 30)],
        [4, snap(4, { state: "failed", code: "AccessDenied", message: "no", requestId: "r1" }, 5)],
      ]),
    );
    expect(get(transferList).map((t) => t.id)).toEqual([3, 2, 1, 4]);
    expect(get(activeTransfers).map((t) => t.id)).toEqual([3, 2]);
  });
});

describe("bucket names", () => {
  it("follow the OSS rules", () => {
    expect(bucketNameProblem("photos-2026")).toBeNull();
    expect(bucketNameProblem("")).toBe("bucket.name.empty");
    expect(bucketNameProblem("ab")).toBe("bucket.name.length");
    expect(bucketNameProblem("a".repeat(64))).toBe("bucket.name.length");
    expect(bucketNameProblem("Photos")).toBe("bucket.name.chars");
    expect(bucketNameProblem("my_bucket")).toBe("bucket.name.chars");
    expect(bucketNameProblem("-abc")).toBe("bucket.name.hyphen");
    expect(bucketNameProblem("abc-")).toBe("bucket.name.hyphen");
  });
});

describe("theme and errors", () => {
  it("system follows the OS, a choice overrides it", () => {
    expect(resolveTheme("system", true)).toBe("dark");
    expect(resolveTheme("system", false)).toBe("light");
    expect(resolveTheme("light", true)).toBe("light");
    expect(resolveTheme("dark", false)).toBe("dark");
  });
  it("known codes have words, others the generic sentence", () => {
    expect(errorKey("BucketNotEmpty")).toBe("error.BucketNotEmpty");
    expect(errorKey("KeychainLocked")).toBe("error.KeychainUnavailable");
    expect(errorKey("SomethingNew")).toBe("error.unknown");
  });
});
