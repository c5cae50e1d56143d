import { z } from "zod";
import { raiseAlert } from "../alerts";
import { ApiError, toApiError } from "../http/errors";
import { modelConfigured } from "../llm/client";
import { noModelCall } from "../llm/complete";
import type { Logger } from "../log";
import { staticUrlProblem } from "../scrape/address-guard";
import { allowedHosts } from "../scrape/allow";
import { checkEmails, mxLookup } from "../scrape/email-check";
import { publishSiteJob, type SiteJob } from "../scrape/jobs";
import { type Candidate, candidatesFromSite, type ScoredLead, upsertLeads } from "../scrape/leads";
import { pagesByKey } from "../scrape/pages";
import { combineScore, ruleScore } from "../scrape/score";
import { siteOf } from "../scrape/url";
import { type SiteStates, sitesOf } from "../tasks/metadata";
import { completeTask, startFanOut, type TaskRow } from "../tasks/store";
import { workspaceRow } from "../workspaces/access";
import { agentRequest, askModel, type FanOutAgent, taskInput } from "./runtime";

const maxSites = 20;
export const maxPagesPerSite = 10;

const words = z.array(z.string().trim().min(1).max(120)).max(25);

/** The ideal-customer profile leads are scored against. */
export const criteriaSchema = z
  .object({
    industries: words.optional(),
    roles: words.optional(),
    locations: words.optional(),
    keywords: words.optional(),
    company_size: z
      .object({ min: z.int().min(1).optional(), max: z.int().min(1).optional() })
      .optional()
      .describe("Employees"),
  })
  .meta({ description: "The ideal-customer profile: industries, roles, locations, company size, keywords" });

const webUrl = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .superRefine((url, ctx) => {
    const problem = staticUrlProblem(url, allowedHosts());
    if (problem) {
      ctx.addIssue({ code: "custom", message: `not a public web page: ${problem}` });
    }
  })
  .describe("A public http(s) page to start from");

export const leadgenRequest = agentRequest.extend({
  prompt: z.string().trim().min(1).max(8000).default("Find the decision-makers on these sites."),
  target_urls: z.array(webUrl).min(1).max(maxSites),
  criteria: criteriaSchema.default({}),
  max_pages_per_site: z
    .int()
    .min(1)
    .max(maxPagesPerSite)
    .default(3)
    .describe("Pages read per site, the start page and contact, team and about pages"),
});
export type LeadgenRequest = z.infer<typeof leadgenRequest>;

/** The target URLs grouped by site: one scrape job per site, its URLs as start pages. */
export function groupBySite(urls: string[]): Map<string, string[]> {
  const sites = new Map<string, string[]>();
  for (const url of urls) {
    const site = siteOf(url);
    const list = sites.get(site) ?? [];
    if (!list.includes(url) && list.length < 10) {
      list.push(url);
    }
    sites.set(site, list);
  }
  return sites;
}

const judgementSchema = z.object({
  judgements: z.array(
    z.object({
      ref: z.string().describe("The candidate's ref, exactly as given"),
      points: z.number().describe("0 to 20: how well this contact fits the ideal-customer profile"),
      reason: z.string().describe("One sentence, citing facts from the context only"),
    }),
  ),
  summary: z.string().describe("Two or three sentences for the user about these leads"),
});

const system = `You are Alex, the lead-generation specialist of a small business's AI team.
You judge contacts found on real websites against the user's ideal-customer profile. Use only the
facts in the context (names, roles, company, location, page excerpts); never invent a fact. Give each
candidate 0–20 points with a one-sentence reason. Reply with JSON only, matching the schema.`;

/** Why the model's judgement is missing when no model is configured; the rules' score stands. */
export const noModelNote =
  "no model is configured (OPENROUTER_API_KEY or LLM_BASE_URL), so the leads are scored by the rules only";

interface Judgement {
  byRef: Map<string, { points: number; reason: string }>;
  summary: string;
  usage: ReturnType<typeof noModelCall>;
  /** Set when the model was wanted but could not judge: why. */
  unavailable?: string;
}

/**
 * The model's judgement of the candidates against the criteria: optional enrichment on top of the
 * rule score. Without a model configured, or when it is refused or down, the leads keep their rule
 * score and say why the judgement is missing.
 */
async function judge(
  task: TaskRow,
  input: LeadgenRequest,
  candidates: Candidate[],
  log: Logger,
): Promise<Judgement> {
  if (candidates.length === 0) {
    return { byRef: new Map(), summary: "", usage: noModelCall() };
  }
  if (!modelConfigured()) {
    return { byRef: new Map(), summary: "", usage: noModelCall(), unavailable: noModelNote };
  }
  const sites = new Map<string, string>();
  for (const candidate of candidates) {
    if (!sites.has(candidate.site)) {
      sites.set(candidate.site, candidate.pageText.replace(/\s+/g, " ").slice(0, 700));
    }
  }
  try {
    const { data, usage } = await askModel({
      agent: "leadgen-scraper",
      workspaceId: task.workspace_id,
      userId: task.user_id,
      system,
      context: {
        criteria: input.criteria,
        sites: [...sites.entries()].map(([site, excerpt]) => ({ site, excerpt })),
        candidates: candidates.slice(0, 60).map((c) => ({
          ref: c.ref,
          site: c.site,
          company: c.company ?? "",
          name: c.name ?? "",
          role: c.role ?? "",
          mailbox: c.email ? (c.emailIsRole ? "shared" : "personal") : "none",
          location: c.location ?? "",
        })),
      },
      prompt: input.prompt,
      schema: judgementSchema,
      schemaName: "lead_judgements",
      temperature: 0.2,
      maxTokens: 3000,
    });
    const byRef = new Map(data.judgements.map((j) => [j.ref, { points: j.points, reason: j.reason }]));
    return { byRef, summary: data.summary, usage };
  } catch (thrown) {
    const error = toApiError(thrown);
    if (
      error.code === "budget_exceeded" ||
      error.code === "upstream_error" ||
      error.code === "llm_not_configured"
    ) {
      // The rule-based score still stands; the lead says why the judgement is missing.
      log.warn({ code: error.code }, "lead judgement unavailable");
      return { byRef: new Map(), summary: "", usage: noModelCall(), unavailable: error.message };
    }
    throw error;
  }
}

/** Publishes one scrape job per site; the task stays processing until they have all reported. */
async function start({ task, input }: { task: TaskRow; input: LeadgenRequest }): Promise<void> {
  const grouped = groupBySite(input.target_urls);
  const sites: SiteStates = {};
  for (const [site, urls] of grouped) {
    sites[site] = { status: "pending", start_urls: urls };
  }
  await startFanOut(task, sites);
  try {
    for (const [site, urls] of grouped) {
      const job: SiteJob = {
        task_id: task.id,
        user_id: task.user_id,
        site,
        start_urls: urls,
        max_pages: input.max_pages_per_site,
        deferrals: 0,
      };
      await publishSiteJob(job);
    }
  } catch (error) {
    throw new ApiError("service_unavailable", "The background queue is unavailable", {
      cause: error,
      headers: { "retry-after": "10" },
    });
  }
}

/** Every site has reported: contacts → checked, scored, judged → leads; the task completes. */
async function finish(task: TaskRow, log: Logger): Promise<void> {
  // The member and the workspace from the row, as at admission; an input the schema refuses now
  // (say, a target no longer allowed) fails the task for good as `invalid_input`, not as a 500 retried.
  const input = taskInput({ input: leadgenRequest }, task);
  const sites = sitesOf(task.metadata);
  const candidates: Candidate[] = [];
  const foreignDropped: string[] = [];
  const { accept_foreign_contacts: acceptForeign } = await workspaceRow(task.workspace_id);
  for (const [site, state] of Object.entries(sites)) {
    if (state.status !== "completed" || !state.pages?.length) {
      continue;
    }
    const pages = await pagesByKey(state.pages);
    const website = new URL(state.start_urls[0] ?? `https://${site}`).origin;
    const found = candidatesFromSite(site, website, pages, { acceptForeign });
    candidates.push(...found.candidates);
    foreignDropped.push(...found.foreignDropped);
  }

  const checks = await checkEmails(
    candidates.flatMap((c) => (c.email ? [c.email] : [])),
    mxLookup(),
  );
  const checkOf = new Map(checks.map((check) => [check.address, check]));
  const judged = await judge(task, input, candidates, log);

  const scored: ScoredLead[] = candidates
    .filter((c) => !c.email || checkOf.get(c.email)?.syntax !== false)
    .map((candidate) => {
      const check = candidate.email ? checkOf.get(candidate.email) : undefined;
      const rules = ruleScore(
        {
          name: candidate.name,
          email: candidate.email,
          emailMx: check?.mx ?? null,
          emailIsRole: candidate.emailIsRole,
          phone: candidate.phone,
          role: candidate.role,
          industry: null,
          location: candidate.location,
          pageText: candidate.pageText,
          signals: candidate.signals,
        },
        input.criteria,
      );
      const judgement = judged.byRef.get(candidate.ref) ?? {
        points: 0,
        reason: judged.unavailable
          ? `model judgement unavailable (${judged.unavailable})`
          : "not judged by the model",
      };
      const { score, factors } = combineScore(rules, judgement);
      return {
        candidate,
        score,
        reasons: factors,
        emailCheck: check ? { syntax: check.syntax, mx: check.mx } : null,
      };
    })
    .sort((a, b) => b.score - a.score);

  const written = await upsertLeads(task, scored);
  const siteList = Object.entries(sites);
  const read = siteList.filter(([, state]) => state.status === "completed").length;
  const failed = siteList.filter(([, state]) => state.status === "failed");
  const added = written.filter((lead) => lead.inserted).length;
  const top = scored
    .slice(0, 3)
    .map(
      (lead) =>
        `${lead.candidate.name ?? lead.candidate.email ?? "?"} (${lead.candidate.company ?? lead.candidate.site}, ${lead.score})`,
    );
  const response = [
    `Found ${written.length} lead${written.length === 1 ? "" : "s"} (${added} new, ${written.length - added} updated) from ${read} of ${siteList.length} site${siteList.length === 1 ? "" : "s"}.`,
    top.length ? `Best: ${top.join("; ")}.` : "",
    failed.length
      ? `Not read: ${failed.map(([site, state]) => `${site} (${state.reason ?? "failed"})`).join("; ")}.`
      : "",
    foreignDropped.length
      ? `Left out ${foreignDropped.length} address${foreignDropped.length === 1 ? "" : "es"} on other domains than the site's (the workspace does not accept those).`
      : "",
    judged.unavailable ? `The model did not judge these leads: ${judged.unavailable}.` : "",
    judged.summary,
  ]
    .filter(Boolean)
    .join(" ");

  await completeTask(task.id, {
    output: {
      response,
      leads: written.map((lead) => ({
        id: lead.id,
        name: lead.name,
        email: lead.email,
        score: lead.score,
        new: lead.inserted,
      })),
      sites: siteList.map(([site, state]) => ({
        site,
        status: state.status,
        pages: state.pages?.length ?? 0,
        reason: state.reason ?? null,
        not_read: state.not_read ?? [],
        refused_requests: state.refused ?? {},
      })),
      foreign_addresses_left_out: foreignDropped,
      // Whether the model's judgement is part of the scores; when it is not, why.
      model_judgement: {
        used: candidates.length > 0 && !judged.unavailable,
        note: judged.unavailable ?? (candidates.length === 0 ? "no contacts to judge" : null),
      },
    },
    usage: judged.usage,
    metadata: { progress: 100, progress_message: "done" },
  });
  await raiseAlert({
    workspaceId: task.workspace_id,
    userId: task.user_id,
    taskId: task.id,
    type: "leads.found",
    severity: failed.length === siteList.length ? "warning" : "info",
    title: `${written.length} lead${written.length === 1 ? "" : "s"} from ${read} site${read === 1 ? "" : "s"}`,
    message: response,
    metadata: { leads: written.length, new: added, sites: siteList.length, failed_sites: failed.length },
  });
}

export const leadgenScraper: FanOutAgent<LeadgenRequest> = {
  kind: "fan-out",
  name: "leadgen-scraper",
  summary:
    "Crawls the given sites politely in headless Chromium, extracts contacts with their sources, and scores them against the ideal-customer profile; 202, results in leads and alerts",
  input: leadgenRequest,
  start,
  finish,
};
