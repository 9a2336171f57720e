import { describe, expect, it } from "vitest";
import { get } from "svelte/store";
import type { TransferInfo } from "./api";
import { applyTransferEvent, transfers, transferList, activeTransfers } from "./stores";
import { bucketNameProblem } from "./bucketName";
import { resolveTheme } from "./theme";
import { errorKey } from "./errors";

function snap(id: number, state: TransferInfo["state"], createdAt = id): TransferInfo {
  return {
    id,
    batch: id,
    direction: "upload",
    connection: "local",
    bucket: "b",
    key: `f${id}`,
    local: `/tmp/f${id}`,
    folder: null,
    encryption: null,
    total: 100,
    done: 0,
    bytes_per_sec: 0,
    eta_secs: null,
    state,
    created_ms: createdAt,
    finished_ms: null,
  };
}

describe("transfers store", () => {
  it("applies added, progress, changed and removed events", () => {
    let m = new Map<number, TransferInfo>();
    m = applyTransferEvent(m, { event: "added", transfer: snap(1, { state: "queued" }) });
    m = applyTransferEvent(m, { event: "progress", id: 1, done: 40, total: 100, bytes_per_sec: 10, eta_secs: 6 });
    expect(m.get(1)?.done).toBe(40);
    expect(m.get(1)?.eta_secs).toBe(6);
    m = applyTransferEvent(m, { event: "changed", transfer: { ...snap(1, { state: "completed" }), done: 100 } });
    expect(m.get(1)?.state.state).toBe("completed");
    // Progress of an unknown transfer is ignored rather than inventing a row.
    m = applyTransferEvent(m, { event: "progress", id: 9, done: 1, total: 1, bytes_per_sec: 0, eta_secs: null });
    expect(m.has(9)).toBe(false);
    m = applyTransferEvent(m, { event: "removed", id: 1 });
    expect(m.size).toBe(0);
    // A listener that fell behind gets the whole list.
    m = applyTransferEvent(m, { event: "resync", transfers: [snap(7, { state: "paused" })] });
    expect([...m.keys()]).toEqual([7]);
  });

  it("lists newest first and counts the active ones", () => {
    transfers.set(
      new Map([
        [1, snap(1, { state: "completed" }, 10)],
        [2, snap(2, { state: "running" }, 20)],
        [3, snap(3, { state: "queued" }, 30)],
        [4, snap(4, { state: "failed", code: "AccessDenied", message: "no", request_id: "r1" }, 5)],
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
