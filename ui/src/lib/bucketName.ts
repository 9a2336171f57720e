// OSS bucket naming rules, checked as the user types (the server checks them again).
import type { MessageKey } from "./i18n";

/** The first rule `name` breaks, as a catalogue key; null when the name is valid. */
export function bucketNameProblem(name: string): MessageKey | null {
  if (name.length === 0) return "bucket.name.empty";
  if (name.length < 3 || name.length > 63) return "bucket.name.length";
  if (!/^[a-z0-9-]+$/.test(name)) return "bucket.name.chars";
  if (name.startsWith("-") || name.endsWith("-")) return "bucket.name.hyphen";
  return null;
}
