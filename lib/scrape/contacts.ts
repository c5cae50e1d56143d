import { parseHTML } from "linkedom";
import { maxJsonDepth } from "../json";
import { cleanText, fieldCaps, shortField } from "../untrusted";

/** Where a contact detail was found: each field keeps its page and the kind of evidence. */
export interface Source {
  url: string;
  kind: "json-ld" | "mailto" | "tel" | "text" | "team";
}

export interface FoundEmail {
  address: string;
  /** A shared inbox (info@, sales@…) rather than a person's. */
  role: boolean;
  name: string | null;
  source: Source;
}

export interface FoundPhone {
  number: string;
  source: Source;
}

export interface FoundPerson {
  name: string;
  role: string | null;
  email: string | null;
  source: Source;
}

export interface FoundOrganization {
  name: string | null;
  url: string | null;
  /** The address the business itself declares (its JSON-LD `email`). */
  email?: string | null;
  /**
   * A node at the top of its JSON-LD document (the document, an element of its array or of its
   * `@graph`): the page describing its own business, not one it mentions (`worksFor`, `brand`…).
   */
  topLevel?: boolean;
  description: string | null;
  address: string | null;
  source: Source;
}

export interface PageContacts {
  emails: FoundEmail[];
  phones: FoundPhone[];
  people: FoundPerson[];
  organizations: FoundOrganization[];
}

const roleMailboxes = new Set([
  "info",
  "sales",
  "hello",
  "contact",
  "contacts",
  "support",
  "admin",
  "office",
  "team",
  "enquiries",
  "inquiries",
  "mail",
  "help",
  "orders",
  "bookings",
  "press",
  "marketing",
  "jobs",
  "careers",
  "billing",
  "accounts",
  "noreply",
  "no-reply",
  "webmaster",
  "privacy",
  "legal",
]);

const emailPattern = /[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}/gi;
// "jane [at] example [dot] com", "jane (at) example (dot) co (dot) uk", "jane at example dot com".
const obfuscatedPattern =
  /([a-z0-9._%+-]+)\s*(?:\[\s*at\s*\]|\(\s*at\s*\)|\{\s*at\s*\}|\s+at\s+)\s*([a-z0-9-]+(?:(?:\s*(?:\[\s*dot\s*\]|\(\s*dot\s*\)|\{\s*dot\s*\})\s*|\s+dot\s+|\.)[a-z0-9-]+)+)/gi;
const dotPattern = /\s*(?:\[\s*dot\s*\]|\(\s*dot\s*\)|\{\s*dot\s*\}|\s+dot\s+)\s*/gi;

const roleWords =
  /\b(founder|co-founder|owner|ceo|cto|coo|cfo|director|head|manager|lead|partner|president|chef|buyer|officer|vp|vice president|principal|engineer|designer|consultant|coordinator|specialist)\b/i;

/** schema.org Organization and LocalBusiness with the subtypes small businesses use (Bakery, Dentist…). */
const businessType =
  /^(?:[A-Za-z]*(?:Organization|Business|Store|Shop|Restaurant|Establishment|Agency|Corporation|Service)|CafeOrCoffeeShop|Bakery|BarOrPub|Brewery|Winery|Distillery|Dentist|Physician|Hotel|Motel|Hostel|HealthClub|DaySpa|BeautySalon|HairSalon|NailSalon|Florist|Optician|Pharmacy|Attorney|Notary|Plumber|Electrician|Locksmith|RoofingContractor|GeneralContractor|HVACBusiness|IceCreamShop)$/;

export function isRoleAddress(address: string): boolean {
  return roleMailboxes.has(address.split("@")[0]?.toLowerCase() ?? "");
}

function cleanEmail(raw: string): string | null {
  const address =
    raw
      .trim()
      .replace(/^mailto:/i, "")
      .split("?")[0]
      ?.trim()
      .toLowerCase() ?? "";
  if (!/^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,24}$/.test(address)) {
    return null;
  }
  // Asset names that look like addresses (logo@2x.png) are not contacts.
  if (/\.(png|jpe?g|gif|svg|webp|css|js)$/.test(address)) {
    return null;
  }
  return address;
}

function cleanPhone(raw: string): string | null {
  let decoded = raw.replace(/^tel:/i, "");
  try {
    decoded = decodeURIComponent(decoded);
  } catch {
    // A page's malformed escape: the digits are read as written.
  }
  const number = decoded.replace(/[^\d+]/g, "");
  const digits = number.replace(/\D/g, "");
  return digits.length >= 7 && digits.length <= 15 ? number : null;
}

/** A page's own value for a field, cleaned and capped before anything stores it or a model reads it. */
function text(value: unknown, max: number = fieldCaps.company): string | null {
  return cleanText(value, max);
}

function typesOf(node: Record<string, unknown>): string[] {
  const type = node["@type"];
  return (Array.isArray(type) ? type : [type]).filter((t): t is string => typeof t === "string");
}

function addressText(value: unknown): string | null {
  if (typeof value === "string") {
    return text(value, fieldCaps.address);
  }
  if (value && typeof value === "object") {
    const parts = ["streetAddress", "addressLocality", "postalCode", "addressRegion", "addressCountry"]
      .map((key) => text((value as Record<string, unknown>)[key], fieldCaps.address))
      .filter(Boolean);
    return parts.length ? text(parts.join(", "), fieldCaps.address) : null;
  }
  return null;
}

/**
 * Every object in a JSON-LD document, through @graph, arrays and nested values, in document order;
 * with an explicit stack and no deeper than a page's real data goes, whatever the page sends.
 */
function* walk(value: unknown): Generator<Record<string, unknown>> {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [next, depth] = pending.pop() as [unknown, number];
    if (depth > maxJsonDepth || !next || typeof next !== "object") {
      continue;
    }
    const children = Array.isArray(next) ? next : Object.values(next);
    if (!Array.isArray(next)) {
      yield next as Record<string, unknown>;
    }
    for (let i = children.length - 1; i >= 0; i--) {
      pending.push([children[i], depth + 1]);
    }
  }
}

/**
 * The text of a node with a space between elements: `textContent` would run "Team" in a link into
 * "bookings@…" in the next paragraph and invent the address "teambookings@…".
 */
function textOf(node: { childNodes?: ArrayLike<unknown> } | null | undefined): string {
  const parts: string[] = [];
  const visit = (current: {
    nodeType?: number;
    nodeValue?: string | null;
    childNodes?: ArrayLike<unknown>;
  }) => {
    if (current.nodeType === 3) {
      parts.push(current.nodeValue ?? "");
      return;
    }
    for (const child of Array.from(current.childNodes ?? [])) {
      visit(child as typeof current);
    }
    parts.push(" ");
  };
  if (node) {
    visit(node);
  }
  return parts.join("");
}

/**
 * Contacts on one page, in order of trust: JSON-LD (Organization, LocalBusiness, Person,
 * ContactPoint), then mailto:/tel: links, then addresses in the visible text (obfuscations too), and
 * people on team pages (a name with a role beside it). Duplicates keep the most trusted source.
 */
export function extractContacts(html: string, pageUrl: string): PageContacts {
  const { document } = parseHTML(html);
  const emails = new Map<string, FoundEmail>();
  const phones = new Map<string, FoundPhone>();
  const people = new Map<string, FoundPerson>();
  const organizations: FoundOrganization[] = [];
  const at = (kind: Source["kind"]): Source => ({ url: pageUrl, kind });

  const addEmail = (raw: string, kind: Source["kind"], name: string | null = null) => {
    const address = cleanEmail(raw);
    if (address && !emails.has(address)) {
      emails.set(address, { address, role: isRoleAddress(address), name, source: at(kind) });
    }
  };
  const addPhone = (raw: string, kind: Source["kind"]) => {
    const number = cleanPhone(raw);
    if (number && !phones.has(number)) {
      phones.set(number, { number, source: at(kind) });
    }
  };
  const addPerson = (name: string, role: string | null, email: string | null, kind: Source["kind"]) => {
    const key = name.toLowerCase();
    if (!people.has(key) && name.length <= 80 && name.split(/\s+/).length <= 5) {
      people.set(key, { name, role, email, source: at(kind) });
    }
  };

  for (const script of document.querySelectorAll('script[type="application/ld+json"]')) {
    let data: unknown;
    try {
      data = JSON.parse(script.textContent ?? "");
    } catch {
      continue;
    }
    const roots = new Set<unknown>(
      Array.isArray(data)
        ? data
        : data && typeof data === "object"
          ? [
              data,
              ...(Array.isArray((data as { "@graph"?: unknown })["@graph"])
                ? (data as { "@graph": unknown[] })["@graph"]
                : []),
            ]
          : [],
    );
    for (const node of walk(data)) {
      const types = typesOf(node);
      const email = text(node.email, 320);
      const phone = text(node.telephone, 40);
      if (types.includes("Person")) {
        const name = shortField(node.name, fieldCaps.name);
        if (name) {
          addPerson(
            name,
            shortField(node.jobTitle, fieldCaps.role),
            email ? cleanEmail(email) : null,
            "json-ld",
          );
        }
        if (email) {
          addEmail(email, "json-ld", name);
        }
      } else if (email) {
        addEmail(email, "json-ld");
      }
      if (phone) {
        addPhone(phone, "json-ld");
      }
      if (types.some((type) => businessType.test(type))) {
        organizations.push({
          name: shortField(node.name, fieldCaps.company),
          url: text(node.url, fieldCaps.url),
          email: email ? cleanEmail(email) : null,
          topLevel: roots.has(node),
          description: text(node.description, fieldCaps.description),
          address: addressText(node.address),
          source: at("json-ld"),
        });
      }
    }
  }

  for (const link of document.querySelectorAll("a[href]")) {
    const href = link.getAttribute("href") ?? "";
    if (/^mailto:/i.test(href)) {
      addEmail(href, "mailto");
    } else if (/^tel:/i.test(href)) {
      addPhone(href, "tel");
    }
  }

  for (const hidden of document.querySelectorAll("script, style, noscript, template")) {
    hidden.remove();
  }
  const visible = textOf(document.body).replace(/\s+/g, " ");
  for (const match of visible.matchAll(obfuscatedPattern)) {
    addEmail(`${match[1]}@${(match[2] ?? "").replace(dotPattern, ".")}`, "text");
  }
  for (const match of visible.matchAll(emailPattern)) {
    addEmail(match[0], "text");
  }

  // Team cards: a short name in a heading or <strong>, a role in the element right after it.
  for (const heading of document.querySelectorAll("h2, h3, h4, h5, strong, b, .name")) {
    const name = shortField(heading.textContent, fieldCaps.name) ?? "";
    if (!/^[A-Z][\p{L}'’-]+(?: [A-Z][\p{L}'’.-]+){1,3}$/u.test(name)) {
      continue;
    }
    const next = heading.nextElementSibling;
    const role = shortField(next?.textContent, fieldCaps.role) ?? "";
    if (role && roleWords.test(role)) {
      const card = heading.parentElement;
      const mail = card?.querySelector('a[href^="mailto:"]')?.getAttribute("href");
      addPerson(name, role, mail ? cleanEmail(mail) : null, "team");
    }
  }

  for (const person of people.values()) {
    if (person.email && emails.get(person.email)?.name === null) {
      const found = emails.get(person.email);
      if (found) {
        found.name = person.name;
      }
    }
  }

  return {
    emails: [...emails.values()],
    phones: [...phones.values()],
    people: [...people.values()],
    organizations,
  };
}
