// Formatting and checks for the Keys and KMS screens.

/** The first 16 hex digits of a fingerprint, grouped by four (the full one is on hover). */
export function shortFingerprint(fp: string): string {
  const head = fp.slice(0, 16).match(/.{1,4}/g) ?? [];
  return head.join(" ") + (fp.length > 16 ? "…" : "");
}

export type Strength = "weak" | "fair" | "strong";

/**
 * A rough passphrase strength: length counts most (a backup's passphrase guards every version
 * of the key, and scrypt slows guessing only so much). Under 12 characters is weak; 12–19 fair
 * unless it mixes 3+ kinds of characters; 20+ is strong.
 */
export function passphraseStrength(p: string): Strength {
  const kinds = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(p)).length;
  const len = [...p].length;
  if (len < 12) return "weak";
  if (len >= 20 || kinds >= 3) return "strong";
  return "fair";
}

/** Days a KMS deletion waits: 7 to 366. */
export function validDeletionDays(days: number): boolean {
  return Number.isInteger(days) && days >= 7 && days <= 366;
}

/** A default file name for a key's backup. */
export function backupFileName(name: string): string {
  return `${name}.ossvault-key.age`;
}

/** Why a new key name is refused, as the keystore's rules say (`validate_name`), or null. */
export type KeyNameProblem = "empty" | "tooLong" | "start" | "chars" | "same" | "taken";

/**
 * Checks `name` as a new name for key `current` among `existing` names: 1 to 64 ASCII letters,
 * digits, `.`, `_`, `-`, starting with a letter or digit, and not a name already taken.
 */
export function keyNameProblem(name: string, current: string, existing: string[]): KeyNameProblem | null {
  if (name === "") return "empty";
  if (name.length > 64) return "tooLong";
  if (!/^[A-Za-z0-9]/.test(name)) return "start";
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return "chars";
  if (name === current) return "same";
  if (existing.includes(name)) return "taken";
  return null;
}
