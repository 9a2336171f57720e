// Light, dark, or the OS's choice; applied as data-theme on <html> (tokens.css holds both).
import { writable } from "svelte/store";

export type ThemeChoice = "system" | "light" | "dark";
const STORAGE_KEY = "ossvault.theme";

function initial(): ThemeChoice {
  const saved = (globalThis as { localStorage?: Storage }).localStorage?.getItem(STORAGE_KEY);
  return saved === "light" || saved === "dark" ? saved : "system";
}

export const theme = writable<ThemeChoice>(initial());

/** The theme to show for a choice, given whether the OS prefers dark. */
export function resolveTheme(choice: ThemeChoice, osPrefersDark: boolean): "light" | "dark" {
  if (choice === "system") return osPrefersDark ? "dark" : "light";
  return choice;
}

export function setTheme(choice: ThemeChoice): void {
  theme.set(choice);
  (globalThis as { localStorage?: Storage }).localStorage?.setItem(STORAGE_KEY, choice);
}

/** Keeps <html data-theme> in step with the choice and the OS. */
export function applyTheme(): () => void {
  const media = window.matchMedia("(prefers-color-scheme: dark)");
  let choice: ThemeChoice = "system";
  const apply = () => {
    document.documentElement.dataset.theme = resolveTheme(choice, media.matches);
  };
  const unsubscribe = theme.subscribe((c) => {
    choice = c;
    apply();
  });
  media.addEventListener("change", apply);
  return () => {
    unsubscribe();
    media.removeEventListener("change", apply);
  };
}
