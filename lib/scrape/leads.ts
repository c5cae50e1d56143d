import { isIP } from "node:net";
import { sql } from "drizzle-orm";
import { getDomain } from "tldts";
import { rowsOf } from "../db/client";
import { leads } from "../db/schema";
import { serviceDb } from "../db/service";
import { fieldCaps, shortField } from "../untrusted";
import type { FoundOrganization, PageContacts, Source } from "./contacts";
import type { ScrapeRow } from "./pages";

/** A would-be lead from one site: one address, or one named person without an address. */
export interface Candidate {
  ref: string;
  site: string;
  website: string;
  name: string | null;
  role: string | null;
  email: string | null;
  emailIsRole: boolean;
  phone: string | null;
  company: string | null;
  location: string | null;
  /** The address is on a domain the site does not own (kept only when the workspace accepts those). */
  foreignDomain: boolean;
  /** Where each field was found. */
  sources: Partial<Record<"email" | "name" | "role" | "phone" | "company" | "location", Source>>;
  /** Text of the site's pages (capped), for criteria matches and the model's judgement. */
  pageText: string;
  /** What the site shows about the business itself. */
  signals: string[];
  sourceUrl: string;
}

const trust: Record<Source["kind"], number> = { "json-ld": 0, mailto: 1, team: 2, tel: 2, text: 3 };
const moreTrusted = (a: Source, b: Source) => trust[a.kind] < trust[b.kind];

function companyName(organizations: FoundOrganization[], pages: ScrapeRow[], site: string) {
  const named = organizations.find((org) => org.name);
  if (named?.name) {
    return { name: named.name, source: named.source };
  }
  const title = pages.find((page) => page.title)?.title;
  if (title) {
    // "Harbour Café | Home" → "Harbour Café"
    const name = shortField(title.split(/\s+[|–—·:-]\s+/)[0], fieldCaps.company);
    if (name) {
      return { name, source: { url: pages[0]?.final_url ?? pages[0]?.url ?? site, kind: "text" as const } };
    }
  }
  return { name: site, source: undefined };
}

/** A host's registrable domain (example.co.uk for www.shop.example.co.uk); an IP is its own. */
export function registrableDomain(host: string): string {
  const bare = host.toLowerCase().replace(/\.$/, "");
  return getDomain(bare, { allowPrivateDomains: true }) ?? bare;
}

/**
 * Which addresses a site owns: those on its own registrable domain; the address its business
 * declares at the top of its JSON-LD (a business may publish a free mailbox as its own); any found
 * on a page served from the address's own domain (that domain's contact page). A site reached by
 * an IP address has no domain of its own, so the domain its top-level business node declares
 * (`url`) stands for it. Nested nodes (`worksFor`, `brand`, a client list) are other businesses,
 * and anything else a page lists, in its text or in an injected block, is someone else's.
 */
function ownership(site: string, organizations: FoundOrganization[]) {
  const siteDomain = registrableDomain(site);
  const domains = new Set([siteDomain]);
  const addresses = new Set<string>();
  const declared = organizations.filter((org) => org.topLevel);
  const identity = declared.find((org) => org.url);
  if (identity?.url && isIP(site.replace(/^\[|\]$/g, ""))) {
    try {
      domains.add(registrableDomain(new URL(identity.url).hostname));
    } catch {
      // A declared url that is not a URL declares nothing.
    }
  }
  for (const org of declared) {
    if (org.email) {
      addresses.add(org.email);
    }
  }
  return (address: string, foundOn: string): boolean => {
    const domain = registrableDomain(address.split("@").pop() ?? "");
    let pageDomain = "";
    try {
      pageDomain = registrableDomain(new URL(foundOn).hostname);
    } catch {
      pageDomain = "";
    }
    return domains.has(domain) || addresses.has(address) || domain === pageDomain;
  };
}

/**
 * The leads a site's pages support. Every address the site owns becomes a candidate (a person's with
 * their name and role, a shared inbox with the company); one on another domain only when the
 * workspace accepts those, marked as such. Named people with a role but no address are candidates
 * too. The same address on several pages keeps its most trusted source.
 */
export function candidatesFromSite(
  site: string,
  website: string,
  pages: ScrapeRow[],
  options: { acceptForeign?: boolean } = {},
): { candidates: Candidate[]; foreignDropped: string[] } {
  const read = pages.filter((page) => page.status === "completed");
  const all: PageContacts = { emails: [], phones: [], people: [], organizations: [] };
  for (const page of read) {
    const contacts = page.contacts as Partial<PageContacts>;
    all.emails.push(...(contacts.emails ?? []));
    all.phones.push(...(contacts.phones ?? []));
    all.people.push(...(contacts.people ?? []));
    all.organizations.push(...(contacts.organizations ?? []));
  }
  const company = companyName(all.organizations, read, site);
  const located = all.organizations.find((org) => org.address);
  const phone = [...all.phones].sort((a, b) => trust[a.source.kind] - trust[b.source.kind])[0];
  const pageText = read
    .map((page) => `${page.title ?? ""}\n${page.content_markdown ?? ""}`)
    .join("\n\n")
    .slice(0, 20_000);

  const signals = [
    ...(all.organizations.length ? ["structured business data (JSON-LD)"] : []),
    ...(all.phones.length ? ["a published phone number"] : []),
    ...(all.people.filter((person) => person.role).length >= 2
      ? [`a team page naming ${all.people.filter((person) => person.role).length} people`]
      : []),
  ];
  const base = (sourceUrl: string) => ({
    site,
    signals,
    website,
    company: company.name,
    location: located?.address ?? null,
    pageText,
    sourceUrl,
  });
  const baseSources = {
    ...(company.source ? { company: company.source } : {}),
    ...(located ? { location: located.source } : {}),
  };

  const owns = ownership(site, all.organizations);
  const foreignDropped = new Set<string>();
  const byEmail = new Map<string, Candidate>();
  for (const found of all.emails) {
    const foreignDomain = !owns(found.address, found.source.url);
    if (foreignDomain && !options.acceptForeign) {
      foreignDropped.add(found.address);
      continue;
    }
    const person = all.people.find((p) => p.email === found.address);
    const name = found.name ?? person?.name ?? null;
    const existing = byEmail.get(found.address);
    if (existing && !moreTrusted(found.source, existing.sources.email as Source)) {
      continue;
    }
    byEmail.set(found.address, {
      ref: `${site}#${found.address}`,
      ...base(found.source.url),
      name,
      role: person?.role ?? null,
      email: found.address,
      emailIsRole: found.role,
      foreignDomain,
      phone: found.role ? (phone?.number ?? null) : null,
      sources: {
        ...baseSources,
        email: found.source,
        ...(name && person ? { name: person.source } : name ? { name: found.source } : {}),
        ...(person?.role ? { role: person.source } : {}),
        ...(found.role && phone ? { phone: phone.source } : {}),
      },
    });
  }

  const byPerson = new Map<string, Candidate>();
  for (const person of all.people) {
    const key = person.name.toLowerCase();
    if (person.email || !person.role || byPerson.has(key)) {
      continue;
    }
    if ([...byEmail.values()].some((candidate) => candidate.name?.toLowerCase() === key)) {
      continue;
    }
    byPerson.set(key, {
      ref: `${site}#person:${key}`,
      ...base(person.source.url),
      name: person.name,
      role: person.role,
      email: null,
      emailIsRole: false,
      foreignDomain: false,
      phone: phone?.number ?? null,
      sources: {
        ...baseSources,
        name: person.source,
        role: person.source,
        ...(phone ? { phone: phone.source } : {}),
      },
    });
  }
  return { candidates: [...byEmail.values(), ...byPerson.values()], foreignDropped: [...foreignDropped] };
}

export interface ScoredLead {
  candidate: Candidate;
  score: number;
  reasons: unknown[];
  emailCheck: { syntax: boolean; mx: boolean | null } | null;
}

/**
 * Writes a task's leads into its workspace: an address already known there (any case) or a person
 * already found on that site updates the lead instead of adding one (the member who found it first
 * keeps it); the status of an existing lead (contacted, replied…) is kept, fields found before are
 * not erased, and the history records the rescore.
 */
export async function upsertLeads(
  task: { id: string; user_id: string; workspace_id: string },
  scored: ScoredLead[],
) {
  const taskId = task.id;
  const db = await serviceDb();
  const written: {
    id: string;
    email: string | null;
    name: string | null;
    score: number;
    inserted: boolean;
  }[] = [];
  for (const lead of scored) {
    const c = lead.candidate;
    const leadKey = c.email ? null : `person:${c.site}:${(c.name ?? "").toLowerCase()}`;
    const metadata = {
      sources: c.sources,
      site: c.site,
      email_check: lead.emailCheck,
      email_is_role: c.emailIsRole,
      foreign_domain: c.foreignDomain,
      task_id: taskId,
    };
    const history = [{ at: new Date().toISOString(), event: "found", task_id: taskId, score: lead.score }];
    const conflict = c.email
      ? sql`(workspace_id, lower(email)) where email is not null`
      : sql`(workspace_id, lead_key) where email is null and lead_key is not null`;
    const rows = await db.execute(sql`
      insert into ${leads} (workspace_id, user_id, task_id, name, email, phone, company, role, website,
        location, source_url, score, score_reasons, status, history, metadata, lead_key)
      values (${task.workspace_id}, ${task.user_id}, ${taskId}, ${c.name}, ${c.email}, ${c.phone}, ${c.company}, ${c.role},
        ${c.website}, ${c.location}, ${c.sourceUrl}, ${lead.score}, ${JSON.stringify(lead.reasons)}::jsonb,
        'new', ${JSON.stringify(history)}::jsonb, ${JSON.stringify(metadata)}::jsonb, ${leadKey})
      on conflict ${conflict} do update set
        task_id = excluded.task_id,
        name = coalesce(excluded.name, leads.name),
        phone = coalesce(excluded.phone, leads.phone),
        company = coalesce(excluded.company, leads.company),
        role = coalesce(excluded.role, leads.role),
        website = coalesce(excluded.website, leads.website),
        location = coalesce(excluded.location, leads.location),
        source_url = excluded.source_url,
        score = excluded.score,
        score_reasons = excluded.score_reasons,
        history = leads.history || excluded.history,
        -- Owned evidence wins: an address any site owns is not foreign, whatever another lists.
        metadata = leads.metadata || excluded.metadata || jsonb_build_object('foreign_domain',
          coalesce((leads.metadata ->> 'foreign_domain')::boolean, true)
          and coalesce((excluded.metadata ->> 'foreign_domain')::boolean, false))
      returning id, email, name, score, (xmax = 0) as inserted
    `);
    const [row] = rowsOf<{
      id: string;
      email: string | null;
      name: string | null;
      score: number;
      inserted: boolean;
    }>(rows);
    if (row) {
      written.push(row);
    }
  }
  return written;
}
