import { getConfig } from "../config";

/** `SCRAPE_ALLOW_HOSTS` as a set: the tests' fixture sites. The config refuses it in production. */
export function allowedHosts(): Set<string> {
  return new Set(
    (getConfig().SCRAPE_ALLOW_HOSTS ?? "")
      .split(",")
      .map((entry) => entry.trim().toLowerCase())
      .filter(Boolean),
  );
}
