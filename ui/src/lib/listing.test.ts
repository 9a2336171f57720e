import { describe, expect, it } from "vitest";
import type { ObjectPage } from "./api";
import { PagedListing, sortEntries, entriesOf } from "./listing";

/** A server of `n` objects under `photos/`, pages of `size`; counts the calls. */
function server(n: number, size: number) {
  const calls: (string | null)[] = [];
  const fetch = async (token: string | null): Promise<ObjectPage> => {
    calls.push(token);
    const start = token === null ? 0 : Number(token);
    const end = Math.min(n, start + size);
    return {
      folders: [],
      objects: Array.from({ length: end - start }, (_, i) => ({
        key: `photos/${String(start + i).padStart(6, "0")}.jpg`,
        size: start + i,
        etag: "e",
        lastModified: null,
        storageClass: "Standard",
      })),
      nextToken: end < n ? String(end) : null,
    };
  };
  return { fetch, calls };
}

describe("PagedListing", () => {
  it("fetches only the pages the view needs", async () => {
    const s = server(100_000, 1000);
    const l = new PagedListing("photos/", s.fetch);
    await l.ensure(0, 40);
    expect(s.calls).toEqual([null]);
    expect(l.knownCount).toBe(1000);
    expect(l.complete).toBe(false);
    expect(l.entryAt(0)?.name).toBe("000000.jpg");
    // Reaching the end of what is known loads the next page.
    await l.ensure(980, 1020);
    expect(s.calls).toEqual([null, "1000"]);
    expect(l.entryAt(1019)?.name).toBe("001019.jpg");
  });

  it("scrolling to the end of 100,000 objects holds a few pages, never all", async () => {
    const s = server(100_000, 1000);
    const l = new PagedListing("photos/", s.fetch);
    let maxHeld = 0;
    for (let top = 0; !l.complete || top < l.knownCount; top += 500) {
      await l.ensure(top, top + 40);
      maxHeld = Math.max(maxHeld, l.heldCount);
      if (l.complete && top + 40 >= l.knownCount) break;
    }
    expect(l.complete).toBe(true);
    expect(l.knownCount).toBe(100_000);
    expect(l.entryAt(99_999)?.name).toBe("099999.jpg");
    expect(maxHeld).toBeLessThanOrEqual(4000);
    expect(l.allEntries()).toBeNull();
  });

  it("a page dropped from memory is fetched again when the view returns", async () => {
    const s = server(10_000, 1000);
    const l = new PagedListing("photos/", s.fetch);
    for (let top = 0; top <= 9000; top += 1000) await l.ensure(top, top + 40);
    expect(l.entryAt(5)).toBeUndefined();
    const before = s.calls.length;
    await l.ensure(0, 40);
    expect(s.calls.length).toBe(before + 1);
    expect(s.calls[s.calls.length - 1]).toBeNull();
    expect(l.entryAt(5)?.name).toBe("000005.jpg");
  });

  it("says when a view needs a fetch, and whether ensuring it changed anything", async () => {
    const s = server(10_000, 1000);
    const l = new PagedListing("photos/", s.fetch);
    expect(l.needs(0, 40)).toBe(true);
    expect(await l.ensure(0, 40)).toBe(true);
    // Within the held page: nothing to fetch, nothing changes.
    expect(l.needs(100, 140)).toBe(false);
    expect(await l.ensure(100, 140)).toBe(false);
    expect(s.calls).toEqual([null]);
    // Past it: the next page.
    expect(l.needs(990, 1030)).toBe(true);
    expect(await l.ensure(990, 1030)).toBe(true);
    expect(s.calls).toEqual([null, "1000"]);
  });

  it("a small folder is held whole and sortable", async () => {
    const s = server(3, 1000);
    const l = new PagedListing("photos/", s.fetch);
    await l.ensure(0, 40);
    const all = l.allEntries();
    expect(all?.length).toBe(3);
    const bySize = sortEntries(all ?? [], "size", false);
    expect(bySize.map((e) => e.size)).toEqual([2, 1, 0]);
  });
});

describe("entries", () => {
  it("folders come first, names relative to the folder", () => {
    const e = entriesOf(
      {
        folders: ["a/b/"],
        objects: [{ key: "a/x.txt", size: 1, etag: "", lastModified: null, storageClass: "Standard" }],
        nextToken: null,
      },
      "a/",
    );
    expect(e.map((x) => [x.kind, x.name])).toEqual([
      ["folder", "b/"],
      ["object", "x.txt"],
    ]);
  });
  it("sorting keeps folders above objects", () => {
    const e = sortEntries(
      [
        { kind: "object", key: "a", name: "a", size: 5, lastModified: null, storageClass: null },
        { kind: "folder", key: "z/", name: "z/", size: null, lastModified: null, storageClass: null },
      ],
      "name",
      true,
    );
    expect(e[0]?.kind).toBe("folder");
  });
});
