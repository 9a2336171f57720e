// The two catalogues and the current language: follows the OS until the user picks one.
import { derived, writable, get } from "svelte/store";
import { en, type MessageKey } from "../locales/en";
import { zhCN } from "../locales/zh-CN";

export type Locale = "en" | "zh-CN";
export const LOCALES: readonly Locale[] = ["en", "zh-CN"];
export const catalogues: Record<Locale, Record<MessageKey, string>> = { en, "zh-CN": zhCN };

const STORAGE_KEY = "ossvault.locale";

/** The OS language as one of ours: Chinese of any region is zh-CN, anything else English. */
export function localeFrom(languages: readonly string[]): Locale {
  for (const l of languages) {
    if (l.toLowerCase().startsWith("zh")) return "zh-CN";
    if (l.toLowerCase().startsWith("en")) return "en";
  }
  return "en";
}

function initial(): Locale {
  const g = globalThis as { localStorage?: Storage; navigator?: Navigator };
  const saved = g.localStorage?.getItem(STORAGE_KEY);
  if (saved === "en" || saved === "zh-CN") return saved;
  return localeFrom(g.navigator?.languages ?? []);
}

export const locale = writable<Locale>(initial());

export function setLocale(l: Locale): void {
  locale.set(l);
  (globalThis as { localStorage?: Storage }).localStorage?.setItem(STORAGE_KEY, l);
}

/** Placeholders: `{name}`, or `{name|one|other}` for a count, where the form the language's
 * plural rules pick is used and `#` in it stands for the number (`{count|# item|# items}`). */
const PLACEHOLDER = /\{(\w+)(?:\|([^|}]*)\|([^}]*))?\}/g;

/** `{name}` placeholders replaced by `vars`; unknown ones stay visible. */
export function translate(
  l: Locale,
  key: MessageKey,
  vars: Record<string, string | number> = {},
): string {
  const text = catalogues[l][key] ?? en[key];
  return text.replace(
    PLACEHOLDER,
    (m, name: string, one: string | undefined, other: string | undefined) => {
      if (!(name in vars)) return m;
      const value = vars[name];
      if (one === undefined || other === undefined) return String(value);
      const form = new Intl.PluralRules(l).select(Number(value)) === "one" ? one : other;
      return form.replace("#", String(value));
    },
  );
}

export const t = derived(
  locale,
  (l) =>
    (key: MessageKey, vars?: Record<string, string | number>): string =>
      translate(l, key, vars),
);

/** The current translation function, outside components. */
export function tr(key: MessageKey, vars?: Record<string, string | number>): string {
  return translate(get(locale), key, vars);
}

export type { MessageKey };
