// The object browser's listing: pages fetched from the server as the view scrolls, and only
// the pages near the view kept in memory (the others keep their row count and start token,
// and are fetched again if the view comes back). A prefix of 100,000 objects never sits
// whole in memory.
import type { ObjectPage } from "./api";

export interface Entry {
  kind: "folder" | "object";
  /** The full key (a folder's ends with "/"). */
  key: string;
  /** The name shown: the key below the current folder. */
  name: string;
  size: number | null;
  lastModified: string | null;
  storageClass: string | null;
}

export type FetchPage = (token: string | null) => Promise<ObjectPage>;

interface Page {
  token: string | null;
  /** Rows once loaded (kept after eviction); null before the first load. */
  count: number | null;
  entries: Entry[] | null;
  /** The token of the page after; undefined until loaded, null on the last page. */
  next: string | null | undefined;
  loading: Promise<void> | null;
}

export function entriesOf(page: ObjectPage, folder: string): Entry[] {
  const folders: Entry[] = page.folders.map((key) => ({
    kind: "folder",
    key,
    name: key.slice(folder.length),
    size: null,
    lastModified: null,
    storageClass: null,
  }));
  const objects: Entry[] = page.objects.map((o) => ({
    kind: "object",
    key: o.key,
    name: o.key.slice(folder.length),
    size: o.size,
    lastModified: o.lastModified,
    storageClass: o.storageClass,
  }));
  return [...folders, ...objects];
}

export class PagedListing {
  private pages: Page[] = [{ token: null, count: null, entries: null, next: undefined, loading: null }];

  constructor(
    /** The folder shown (names are relative to it). */
    readonly folder: string,
    private readonly fetch: FetchPage,
    /** Pages held at once besides the ones in view. */
    private readonly spare: number = 2,
  ) {}

  /** Rows known so far (all rows once `complete`). */
  get knownCount(): number {
    return this.pages.reduce((n, p) => n + (p.count ?? 0), 0);
  }

  /** Every page has been seen: `knownCount` is the total. */
  get complete(): boolean {
    const last = this.pages[this.pages.length - 1];
    return last !== undefined && last.next === null;
  }

  /** Rows held in memory now. */
  get heldCount(): number {
    return this.pages.reduce((n, p) => n + (p.entries?.length ?? 0), 0);
  }

  /** Pages held in memory now. */
  get heldPages(): number {
    return this.pages.filter((p) => p.entries !== null).length;
  }

  /** Every row, when the whole listing is held (for sorting by any column); else null. */
  allEntries(): Entry[] | null {
    if (!this.complete || this.pages.some((p) => p.entries === null)) return null;
    return this.pages.flatMap((p) => p.entries ?? []);
  }

  /** The row at `index`, if its page is held. */
  entryAt(index: number): Entry | undefined {
    let start = 0;
    for (const p of this.pages) {
      const count = p.count ?? 0;
      if (index < start + count) return p.entries?.[index - start];
      start += count;
    }
    return undefined;
  }

  private pageRange(from: number, to: number): [number, number] {
    let start = 0;
    let first = -1;
    let last = -1;
    for (let i = 0; i < this.pages.length; i++) {
      const page = this.pages[i];
      if (page === undefined) break;
      const count = page.count ?? 0;
      const end = start + count;
      // A page not loaded yet is wanted when the view reaches where it starts.
      if (page.count === null ? start < to : end > from && start < to) {
        if (first < 0) first = i;
        last = i;
      }
      if (page.count === null) break;
      start = end;
    }
    // The view reaches past what is known: the next page is wanted too.
    if (to >= this.knownCount && !this.complete) last = this.pages.length - 1;
    if (first < 0) first = Math.max(0, last);
    return [first, Math.max(first, last)];
  }

  /** Fetches page `i` unless it is held; resolves to whether it was fetched. */
  private async load(i: number): Promise<boolean> {
    const page = this.pages[i];
    if (page === undefined) return false;
    if (page.entries !== null) return false;
    if (page.loading) {
      await page.loading;
      return true;
    }
    page.loading = (async () => {
      try {
        const result = await this.fetch(page.token);
        page.entries = entriesOf(result, this.folder);
        page.count = page.entries.length;
        page.next = result.nextToken;
        if (result.nextToken !== null && i === this.pages.length - 1) {
          this.pages.push({
            token: result.nextToken,
            count: null,
            entries: null,
            next: undefined,
            loading: null,
          });
        }
      } finally {
        page.loading = null;
      }
    })();
    await page.loading;
    return true;
  }

  /** Whether some row of `from..to` is not held yet (showing it needs a fetch). */
  needs(from: number, to: number): boolean {
    const [first, last] = this.pageRange(from, to);
    for (let i = first; i <= last; i++) if (this.pages[i]?.entries === null) return true;
    return false;
  }

  /**
   * Makes the rows `from..to` available (fetching their pages), and drops pages far away.
   * Resolves to whether anything held changed (a page fetched or dropped).
   */
  async ensure(from: number, to: number): Promise<boolean> {
    const before = this.pages.length;
    const [first, last] = this.pageRange(from, to);
    let changed = false;
    for (let i = first; i <= last; i++) changed = (await this.load(i)) || changed;
    // Loading may have revealed that the view wants the page after.
    const [, lastNow] = this.pageRange(from, to);
    if (lastNow > last) changed = (await this.load(lastNow)) || changed;
    return this.evict(first, Math.max(last, lastNow)) || changed || this.pages.length !== before;
  }

  private evict(first: number, last: number): boolean {
    const keepFrom = first - Math.floor(this.spare / 2);
    const keepTo = last + Math.ceil(this.spare / 2);
    let dropped = false;
    this.pages.forEach((p, i) => {
      if ((i < keepFrom || i > keepTo) && p.entries !== null && !p.loading) {
        p.entries = null;
        dropped = true;
      }
    });
    return dropped;
  }
}

export type SortKey = "name" | "size" | "modified";

export function sortEntries(entries: Entry[], key: SortKey, ascending: boolean): Entry[] {
  const dir = ascending ? 1 : -1;
  return [...entries].sort((a, b) => {
    // Folders stay above objects whatever the order.
    if (a.kind !== b.kind) return a.kind === "folder" ? -1 : 1;
    let c = 0;
    if (key === "size") c = (a.size ?? 0) - (b.size ?? 0);
    else if (key === "modified") c = (a.lastModified ?? "").localeCompare(b.lastModified ?? "");
    if (c === 0) c = a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    return c * dir;
  });
}
