// OSS's storage classes as people read them; a class not listed here is shown as it comes.
import type { MessageKey } from "../locales/en";

const NAMES: Record<string, { full: MessageKey; short: MessageKey }> = {
  Standard: { full: "storageClass.standard", short: "storageClass.short.standard" },
  IA: { full: "storageClass.ia", short: "storageClass.short.ia" },
  Archive: { full: "storageClass.archive", short: "storageClass.short.archive" },
  ColdArchive: { full: "storageClass.coldArchive", short: "storageClass.short.coldArchive" },
  DeepColdArchive: { full: "storageClass.deepColdArchive", short: "storageClass.short.deepColdArchive" },
};

/** The classes whose objects must be restored before they can be read. */
export const ARCHIVED_CLASSES = ["Archive", "ColdArchive", "DeepColdArchive"];

/** The message key naming `storageClass` (`short`: for a list column), or null if unknown. */
export function storageClassKey(storageClass: string, short = false): MessageKey | null {
  const names = NAMES[storageClass];
  return names ? (short ? names.short : names.full) : null;
}
