import { describe, expect, it } from "vitest";
import { backupFileName, keyNameProblem, passphraseStrength, shortFingerprint, validDeletionDays } from "./keys";

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

describe("key names", () => {
  const existing = ["docs", "other"];
  it("accepts what the keystore accepts", () => {
    for (const ok of ["a", "prod-2024", "team.backup_key", "K9", "x".repeat(64)]) {
      expect(keyNameProblem(ok, "docs", existing)).toBeNull();
    }
  });
  it("names what is wrong", () => {
    expect(keyNameProblem("", "docs", existing)).toBe("empty");
    expect(keyNameProblem("x".repeat(65), "docs", existing)).toBe("tooLong");
    expect(keyNameProblem("-x", "docs", existing)).toBe("start");
    expect(keyNameProblem(".hidden", "docs", existing)).toBe("start");
    expect(keyNameProblem("a/b", "docs", existing)).toBe("chars");
    expect(keyNameProblem("a@v1", "docs", existing)).toBe("chars");
    expect(keyNameProblem("sp ace", "docs", existing)).toBe("chars");
    expect(keyNameProblem("é", "docs", existing)).toBe("start");
    expect(keyNameProblem("aé", "docs", existing)).toBe("chars");
    expect(keyNameProblem("docs", "docs", existing)).toBe("same");
    expect(keyNameProblem("other", "docs", existing)).toBe("taken");
  });
});
