import { describe, expect, it } from "vitest";
import { backupFileName, passphraseStrength, shortFingerprint, validDeletionDays } from "./keys";

describe("keys formatting", () => {
  it("shortens a fingerprint to 16 grouped digits", () => {
    expect(shortFingerprint("0123456789abcdef0123456789abcdef")).toBe("0123 4567 89ab cdef…");
    expect(shortFingerprint("0123")).toBe("0123");
    expect(shortFingerprint("")).toBe("");
  });

  it("rates passphrases by length first", () => {
    expect(passphraseStrength("")).toBe("weak");
    expect(passphraseStrength("Abc1!xyz")).toBe("weak");
    expect(passphraseStrength("abcdefghijklm")).toBe("fair");
    expect(passphraseStrength("abcdefghijK1m")).toBe("strong");
    expect(passphraseStrength("correct horse battery staple")).toBe("strong");
    // Characters, not UTF-16 units: 11 CJK characters stay weak.
    expect(passphraseStrength("密钥密钥密钥密钥密钥密")).toBe("weak");
  });

  it("accepts 7 to 366 days for a KMS deletion", () => {
    expect(validDeletionDays(7)).toBe(true);
    expect(validDeletionDays(366)).toBe(true);
    expect(validDeletionDays(6)).toBe(false);
    expect(validDeletionDays(367)).toBe(false);
    expect(validDeletionDays(7.5)).toBe(false);
  });

  it("names a backup after its key", () => {
    expect(backupFileName("photos")).toBe("photos.ossvault-key.age");
  });
});
