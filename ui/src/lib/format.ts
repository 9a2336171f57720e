// Numbers and dates as people read them: binary units with one decimal, speeds per second,
// dates in the locale's order (year-month-day in Chinese), relative for the recent past.
import type { Locale } from "./i18n";

const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/** 1536 → "1.5 KiB"; bytes below 1 KiB are counted ("512 B", "512 字节"). */
export function formatSize(bytes: number, locale: Locale): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "—";
  if (bytes < 1024) return locale === "zh-CN" ? `${bytes} 字节` : `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  // 1023.96 KiB rounds to "1024.0 KiB": show it as the next unit instead.
  if (Number(value.toFixed(1)) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** Bytes per second: "1.5 MiB/s", "1.5 MiB/秒". */
export function formatSpeed(bytesPerSec: number, locale: Locale): string {
  return `${formatSize(bytesPerSec, locale)}${locale === "zh-CN" ? "/秒" : "/s"}`;
}

/** Seconds left: "45 s", "3 min 5 s", "2 h 10 min"; "45秒", "3分5秒", "2小时10分". */
export function formatDuration(secs: number, locale: Locale): string {
  const s = Math.max(0, Math.round(secs));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const zh = locale === "zh-CN";
  if (h > 0) return zh ? `${h}小时${m}分` : `${h} h ${m} min`;
  if (m > 0) return zh ? `${m}分${r}秒` : `${m} min ${r} s`;
  return zh ? `${r}秒` : `${r} s`;
}

// Intl formatters are costly to make (a list row would make one per row and frame): one per
// locale and time zone, made on first use.
const dateFormats = new Map<string, Intl.DateTimeFormat>();
const relativeFormats = new Map<string, Intl.RelativeTimeFormat>();
const numberFormats = new Map<string, Intl.NumberFormat>();

function memo<F>(cache: Map<string, F>, key: string, make: () => F): F {
  let f = cache.get(key);
  if (f === undefined) {
    f = make();
    cache.set(key, f);
  }
  return f;
}

/** A date and time in the locale's own order: "Dec 2, 2026, 04:35" / "2026年12月2日 04:35". */
export function formatDate(value: string | number | Date, locale: Locale, timeZone?: string): string {
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return "—";
  const format = memo(dateFormats, `${locale}|${timeZone ?? ""}`, () =>
    new Intl.DateTimeFormat(locale, {
      year: "numeric",
      month: locale === "zh-CN" ? "long" : "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
      timeZone,
    }),
  );
  return format.format(d);
}

/** Within the last day, relative ("3 min ago", "3分钟前"); older, the date. */
export function formatWhen(
  value: string | number | Date,
  locale: Locale,
  now: number = Date.now(),
  timeZone?: string,
): string {
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return "—";
  const secs = Math.round((d.getTime() - now) / 1000);
  if (Math.abs(secs) >= 86400) return formatDate(d, locale, timeZone);
  const rtf = memo(relativeFormats, locale, () => new Intl.RelativeTimeFormat(locale, { numeric: "auto" }));
  if (Math.abs(secs) < 60) return rtf.format(secs, "second");
  if (Math.abs(secs) < 3600) return rtf.format(Math.round(secs / 60), "minute");
  return rtf.format(Math.round(secs / 3600), "hour");
}

/** A count of items with the locale's counter: "3 objects" is the catalogue's; here 1,234. */
export function formatCount(n: number, locale: Locale): string {
  return memo(numberFormats, locale, () => new Intl.NumberFormat(locale)).format(n);
}

/** Progress in percent with no decimal, "—" when the total is unknown. */
export function percent(done: number, total: number | null): number | null {
  if (total === null || total <= 0) return total === 0 ? 100 : null;
  return Math.min(100, Math.floor((done / total) * 100));
}
