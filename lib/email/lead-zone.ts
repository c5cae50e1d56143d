/**
 * A lead's time zone and country, and where they came from, so its emails arrive in its working
 * hours. In order of trust: set by a member (`explicit`), the scraped address (a city, a US state or
 * Canadian province, a country), the phone number's country code, the country-code top-level domain
 * of its email or website, else the workspace's own zone (no country). A country that spans several
 * zones and nothing narrower is known takes the zone of its most populous city.
 *
 * The gazetteer (city-timezones: cities with population, province and IANA zone) and the phone
 * metadata (libphonenumber-js) are loaded on first use, by `loadLeadZones`, never at module load.
 */
import type { TimeZoneSource } from "../db/schema";
import { isValidTimeZone } from "../local-time";

export interface LeadZone {
  timeZone: string;
  source: TimeZoneSource;
  /** ISO 3166-1 alpha-2, when known (public holidays are skipped by it). */
  country: string | null;
}

export interface LeadFacts {
  time_zone?: string | null;
  time_zone_source?: TimeZoneSource | null;
  country?: string | null;
  location?: string | null;
  phone?: string | null;
  email?: string | null;
  website?: string | null;
}

interface City {
  city_ascii: string;
  pop: number;
  country: string;
  iso2: string;
  iso3: string;
  province: string;
  state_ansi?: string;
  timezone: string;
}

/**
 * Country-code domains that Google Search treats as generic, because they are used as such (.io,
 * .co, .me, .tv…): they say nothing of where a business is.
 * https://developers.google.com/search/docs/specialty/international/managing-multi-regional-sites
 */
const genericCcTlds = new Set([
  "ad",
  "as",
  "bz",
  "cc",
  "cd",
  "co",
  "dj",
  "fm",
  "io",
  "la",
  "me",
  "ms",
  "nu",
  "sc",
  "sr",
  "su",
  "tv",
  "tk",
  "ws",
  "ai",
  "gg",
  "ly",
  "to",
  "sh",
  "app",
]);

/** Names an address uses for a country that the gazetteer spells otherwise. */
const countryAliases: Record<string, string> = {
  usa: "US",
  us: "US",
  "united states": "US",
  america: "US",
  uk: "GB",
  "u.k.": "GB",
  "great britain": "GB",
  britain: "GB",
  england: "GB",
  scotland: "GB",
  wales: "GB",
  "northern ireland": "GB",
  holland: "NL",
  "the netherlands": "NL",
  deutschland: "DE",
  "south korea": "KR",
  korea: "KR",
  russia: "RU",
  uae: "AE",
  "czech republic": "CZ",
  czechia: "CZ",
};

/** ccTLDs whose letters are not the country's ISO code. */
const ccTldCountry: Record<string, string> = { uk: "GB" };

export interface ZoneData {
  infer(lead: LeadFacts, workspaceZone: string): LeadZone;
}

let loading: Promise<ZoneData> | undefined;

/** The inference, with its data loaded once per process. */
export function loadLeadZones(): Promise<ZoneData> {
  loading ??= (async () => {
    const [{ cityMapping }, phone, { getPublicSuffix }] = await Promise.all([
      import("city-timezones"),
      import("libphonenumber-js/min"),
      import("tldts"),
    ]);
    return zoneData(
      cityMapping as City[],
      (text) => phone.parsePhoneNumberFromString(text)?.country,
      getPublicSuffix,
    );
  })();
  return loading;
}

const norm = (text: string) =>
  text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9.' -]/g, " ")
    .replace(/\s+/g, " ")
    .trim();

function zoneData(
  cities: City[],
  phoneCountry: (phone: string) => string | undefined,
  publicSuffix: (host: string) => string | null,
): ZoneData {
  const byPopulation = [...cities].sort((a, b) => b.pop - a.pop);
  const cityIndex = new Map<string, City[]>();
  const provinceIndex = new Map<string, City[]>();
  const countryIndex = new Map<string, string>();
  const topCity = new Map<string, City>();
  for (const city of byPopulation) {
    const push = (index: Map<string, City[]>, key: string) => {
      const list = index.get(key);
      list ? list.push(city) : index.set(key, [city]);
    };
    push(cityIndex, norm(city.city_ascii));
    if (city.province) {
      push(provinceIndex, norm(city.province));
    }
    if (city.state_ansi) {
      push(provinceIndex, city.state_ansi.toLowerCase());
    }
    countryIndex.set(norm(city.country), city.iso2);
    countryIndex.set(city.iso3.toLowerCase(), city.iso2);
    if (!topCity.has(city.iso2)) {
      topCity.set(city.iso2, city);
    }
  }
  for (const [alias, iso2] of Object.entries(countryAliases)) {
    countryIndex.set(alias, iso2);
  }

  const countryZone = (iso2: string) => topCity.get(iso2)?.timezone;

  function fromAddress(location: string): { timeZone: string; country: string } | undefined {
    const parts = location
      .split(/[,;\n|/]| - /)
      .map((part) => norm(part.replace(/\b\d[\d -]*\b/g, " ")))
      .filter(Boolean);
    let country: string | undefined;
    let province: City[] | undefined;
    for (const part of [...parts].reverse()) {
      country ??= countryIndex.get(part);
      // "TX 78701" or "Ontario": a state or province (and its country).
      const words = part.split(" ");
      province ??= provinceIndex.get(part) ?? provinceIndex.get(words[0] ?? "");
    }
    if (!country && province?.[0] && parts.length > 1) {
      country = province[0].iso2;
    }
    for (const part of parts) {
      const match = (cityIndex.get(part) ?? []).find(
        (city) =>
          (!country || city.iso2 === country) &&
          (!province || province.some((p) => p.province === city.province)),
      );
      if (match) {
        return { timeZone: match.timezone, country: match.iso2 };
      }
    }
    const inProvince = province?.find((city) => !country || city.iso2 === country);
    if (inProvince) {
      return { timeZone: inProvince.timezone, country: inProvince.iso2 };
    }
    const zone = country ? countryZone(country) : undefined;
    return zone && country ? { timeZone: zone, country } : undefined;
  }

  function fromDomain(lead: LeadFacts): string | undefined {
    for (const host of [lead.email?.split("@")[1], hostOf(lead.website)]) {
      const suffix = host ? publicSuffix(host) : null;
      const tld = suffix?.split(".").at(-1)?.toLowerCase();
      if (tld && tld.length === 2 && !genericCcTlds.has(tld)) {
        const iso2 = ccTldCountry[tld] ?? tld.toUpperCase();
        if (topCity.has(iso2)) {
          return iso2;
        }
      }
    }
    return undefined;
  }

  return {
    infer(lead, workspaceZone) {
      if (lead.time_zone && lead.time_zone_source === "explicit" && isValidTimeZone(lead.time_zone)) {
        return { timeZone: lead.time_zone, source: "explicit", country: lead.country ?? null };
      }
      const address = lead.location ? fromAddress(lead.location) : undefined;
      if (address) {
        return { ...address, source: "address" };
      }
      const byPhone = lead.phone ? phoneCountry(lead.phone) : undefined;
      const phoneZone = byPhone ? countryZone(byPhone) : undefined;
      if (byPhone && phoneZone) {
        return { timeZone: phoneZone, source: "phone", country: byPhone };
      }
      const byDomain = fromDomain(lead);
      const domainZone = byDomain ? countryZone(byDomain) : undefined;
      if (byDomain && domainZone) {
        return { timeZone: domainZone, source: "domain", country: byDomain };
      }
      return { timeZone: workspaceZone, source: "workspace", country: null };
    },
  };
}

function hostOf(website: string | null | undefined): string | undefined {
  if (!website) {
    return undefined;
  }
  try {
    return new URL(/^https?:\/\//i.test(website) ? website : `https://${website}`).hostname;
  } catch {
    return undefined;
  }
}
