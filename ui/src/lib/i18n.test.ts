import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { en } from "../locales/en";
import { zhCN } from "../locales/zh-CN";
import { localeFrom, translate } from "./i18n";

const SRC = fileURLToPath(new URL("..", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "locales" ? [] : sources(path);
    return /\.(svelte|ts)$/.test(name) && !name.endsWith(".test.ts") ? [path] : [];
  });
}

describe("catalogues", () => {
  const enKeys = Object.keys(en).sort();
  const zhKeys = Object.keys(zhCN).sort();

  it("have the same keys", () => {
    expect(zhKeys.filter((k) => !(k in en))).toEqual([]);
    expect(enKeys.filter((k) => !(k in zhCN))).toEqual([]);
  });

  it("have no empty message, and the same placeholders in both languages", () => {
    for (const key of enKeys) {
      const a = en[key as keyof typeof en];
      const b = zhCN[key as keyof typeof en];
      expect(a.trim(), key).not.toBe("");
      expect(b.trim(), key).not.toBe("");
      const vars = (s: string) =>
        [...s.matchAll(/\{(\w+)(?:\|[^}]*)?\}/g)].map((m) => m[1]).sort();
      expect(vars(b), key).toEqual(vars(a));
    }
  });

  it("every key is used by the code, as a literal", () => {
    const code = sources(SRC)
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const unused = enKeys.filter((k) => !code.includes(`"${k}"`));
    expect(unused).toEqual([]);
  });

  it("Chinese text is Chinese (no English sentence left untranslated)", () => {
    // Messages that are identical in both are only names and codes.
    const same = enKeys.filter((k) => en[k as keyof typeof en] === zhCN[k as keyof typeof en]);
    expect(same.sort()).toEqual(["connections.accessKeyId", "settings.version"]);
  });
});

describe("language choice", () => {
  it("follows the OS language", () => {
    expect(localeFrom(["zh-TW", "en"])).toBe("zh-CN");
    expect(localeFrom(["en-GB"])).toBe("en");
    expect(localeFrom(["fr-FR"])).toBe("en");
    expect(localeFrom([])).toBe("en");
  });
  it("fills placeholders and leaves unknown ones visible", () => {
    expect(translate("en", "buckets.created", { name: "photos" })).toBe("Bucket photos created");
    expect(translate("zh-CN", "buckets.created", { name: "photos" })).toBe("已创建存储空间 photos");
    expect(translate("en", "buckets.created")).toBe("Bucket {name} created");
  });
  it("picks the plural form the language's rules ask for", () => {
    expect(translate("en", "browser.itemCount", { count: 1 })).toBe("1 item");
    expect(translate("en", "browser.itemCount", { count: 0 })).toBe("0 items");
    expect(translate("en", "browser.uploadStarted", { count: 3 })).toBe("3 uploads started");
    expect(translate("zh-CN", "browser.itemCount", { count: 1 })).toBe("共 1 项");
  });
  it("English never falls back to an (s) plural", () => {
    const lazy = Object.entries(en).filter(([, text]) => text.includes("(s)"));
    expect(lazy).toEqual([]);
  });
});
