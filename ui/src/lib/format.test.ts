import { describe, expect, it } from "vitest";
import { formatDate, formatDuration, formatSize, formatSpeed, formatWhen, percent } from "./format";

describe("formatSize", () => {
  it("uses binary units with one decimal", () => {
    expect(formatSize(0, "en")).toBe("0 B");
    expect(formatSize(1023, "en")).toBe("1023 B");
    expect(formatSize(1024, "en")).toBe("1.0 KiB");
    expect(formatSize(1536, "en")).toBe("1.5 KiB");
    expect(formatSize(1.5 * 1024 * 1024, "en")).toBe("1.5 MiB");
    expect(formatSize(10 * 1024 ** 3, "en")).toBe("10.0 GiB");
    expect(formatSize(3 * 1024 ** 4, "en")).toBe("3.0 TiB");
  });
  it("never shows 1024.0 of a unit", () => {
    expect(formatSize(1024 * 1024 - 1, "en")).toBe("1.0 MiB");
  });
  it("counts bytes in Chinese with the Chinese unit", () => {
    expect(formatSize(512, "zh-CN")).toBe("512 字节");
    expect(formatSize(2048, "zh-CN")).toBe("2.0 KiB");
  });
  it("refuses nonsense", () => {
    expect(formatSize(-1, "en")).toBe("—");
    expect(formatSize(Number.NaN, "en")).toBe("—");
  });
});

describe("speeds and durations", () => {
  it("per second in each language", () => {
    expect(formatSpeed(3 * 1024 * 1024, "en")).toBe("3.0 MiB/s");
    expect(formatSpeed(3 * 1024 * 1024, "zh-CN")).toBe("3.0 MiB/秒");
  });
  it("durations in words", () => {
    expect(formatDuration(45, "en")).toBe("45 s");
    expect(formatDuration(185, "en")).toBe("3 min 5 s");
    expect(formatDuration(7800, "en")).toBe("2 h 10 min");
    expect(formatDuration(185, "zh-CN")).toBe("3分5秒");
    expect(formatDuration(7800, "zh-CN")).toBe("2小时10分");
  });
  it("percent", () => {
    expect(percent(50, 200)).toBe(25);
    expect(percent(0, 0)).toBe(100);
    expect(percent(10, null)).toBeNull();
    expect(percent(300, 200)).toBe(100);
  });
});

describe("dates", () => {
  const when = "2026-12-02T04:35:00Z";
  it("English: month name, day, year", () => {
    const s = formatDate(when, "en", "UTC");
    expect(s).toContain("Dec");
    expect(s).toContain("2026");
    expect(s).toContain("04:35");
  });
  it("Chinese: year, month, day in that order", () => {
    const s = formatDate(when, "zh-CN", "UTC");
    expect(s).toMatch(/2026年12月2日/);
    expect(s).toContain("04:35");
  });
  it("recent times are relative", () => {
    const now = Date.parse(when);
    expect(formatWhen(now - 3 * 60_000, "en", now)).toBe("3 minutes ago");
    expect(formatWhen(now - 3 * 60_000, "zh-CN", now)).toBe("3分钟前");
    expect(formatWhen(now - 2 * 86_400_000, "zh-CN", now, "UTC")).toMatch(/2026年11月30日/);
  });
  it("an invalid date is a dash", () => {
    expect(formatDate("not a date", "en")).toBe("—");
  });
});
