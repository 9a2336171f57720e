import { describe, expect, it } from "vitest";
import type { AppSettings, KeySummary, ServerSettings } from "./api";
import { limitText, notBackedUp, offerFirstKey, parseLimit, parsePort, restartNeeded } from "./settings";
import licenses from "./licenses.json";

const server: ServerSettings = { httpPort: 0, httpsPort: 0, https: true, dataDir: null, startWithApp: true };

function settings(keyPromptDone: boolean): AppSettings {
  return {
    notifications: { conflicts: true, syncErrors: true, largeTransfers: true },
    server,
    transfers: { filesAtOnce: 3, uploadLimit: null, downloadLimit: null },
    logLevel: "info",
    startAtLogin: false,
    keyPromptDone,
  };
}

function key(name: string, backedUp: boolean): KeySummary {
  return {
    name,
    kind: "AES-256",
    fingerprint: "ab",
    created: "2026-01-01T00:00:00Z",
    default: false,
    currentVersion: 1,
    versions: 1,
    hasPublicKey: false,
    backedUp,
    lastExport: null,
  };
}

describe("settings fields", () => {
  it("reads ports: empty is a free port, junk is refused", () => {
    expect(parsePort("")).toBe(0);
    expect(parsePort(" 9000 ")).toBe(9000);
    expect(parsePort("65536")).toBeNull();
    expect(parsePort("80a")).toBeNull();
    expect(parsePort("-1")).toBeNull();
  });
  it("reads bandwidth limits in KiB/s, empty or 0 unlimited, and shows them back", () => {
    expect(parseLimit("")).toBeNull();
    expect(parseLimit("0")).toBeNull();
    expect(parseLimit("256")).toBe(262144);
    expect(parseLimit("1.5")).toBe(1536);
    expect(parseLimit("fast")).toBeUndefined();
    expect(limitText(null)).toBe("");
    expect(limitText(262144)).toBe("256");
    expect(limitText(1000)).toBe("0.98");
  });
  it("says when the server's settings wait for a restart", () => {
    expect(restartNeeded(server, server)).toBe(false);
    expect(restartNeeded({ ...server, httpPort: 9000 }, server)).toBe(true);
    expect(restartNeeded({ ...server, dataDir: "" }, server)).toBe(false);
    expect(restartNeeded({ ...server, https: false }, server)).toBe(true);
  });
});

describe("first run and backups", () => {
  it("offers a first key only on an empty keychain, until answered", () => {
    expect(offerFirstKey([], settings(false))).toBe(true);
    expect(offerFirstKey([], settings(true))).toBe(false);
    expect(offerFirstKey([key("k", false)], settings(false))).toBe(false);
    // Keys unknown (no keychain) or settings unknown: no offer.
    expect(offerFirstKey(null, settings(false))).toBe(false);
    expect(offerFirstKey([], null)).toBe(false);
  });
  it("lists the keys no backup holds", () => {
    expect(notBackedUp([key("a", true), key("b", false)]).map((k) => k.name)).toEqual(["b"]);
  });
});

describe("licences", () => {
  it("lists the Rust crates and npm packages the app ships, with a licence each", () => {
    const rust = Object.values(licenses.rust).flat();
    const npm = Object.values(licenses.npm).flat();
    expect(rust.some((c) => c.startsWith("tauri "))).toBe(true);
    expect(npm.some((c) => c.startsWith("svelte "))).toBe(true);
    expect(npm.some((c) => c.startsWith("vitest "))).toBe(false);
  });
});
