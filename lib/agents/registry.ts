import type { AgentName } from "../db/schema";
import type { Agent, AgentDefinition } from "./runtime";

/** Agent definitions by name, loaded on demand so a function only loads the agents it runs. */
const loaders: Partial<Record<AgentName, () => Promise<Agent>>> = {
  "product-manager": async () => (await import("./product-manager")).productManager as AgentDefinition,
  "finance-manager": async () => (await import("./finance-manager")).financeManager as AgentDefinition,
  "marketing-strategist": async () =>
    (await import("./marketing-strategist")).marketingStrategist as AgentDefinition,
  engineer: async () => (await import("./engineer")).engineer as AgentDefinition,
  "leadgen-scraper": async () => (await import("./leadgen")).leadgenScraper as Agent,
  "outbound-emailer": async () => (await import("./outbound-emailer")).outboundEmailer as AgentDefinition,
  "booking-callprep": async () => (await import("./booking-callprep")).bookingCallprep as AgentDefinition,
};

/**
 * Agents that run without a model: lead generation crawls and scores by its rules, and the model's
 * judgement is enrichment it does without (it says so in its result). Every other agent's answer is
 * the model's, so without one it is refused (503 `llm_not_configured`) at admission.
 */
export const modelOptional: ReadonlySet<AgentName> = new Set<AgentName>(["leadgen-scraper"]);

export function hasAgent(name: string): name is AgentName {
  return name in loaders;
}

export async function loadAgent(name: AgentName): Promise<Agent> {
  const load = loaders[name];
  if (!load) {
    throw new Error(`no agent ${name} in this deployment`);
  }
  return load();
}

export const titles: Record<AgentName, string> = {
  "product-manager": "Product Manager",
  "finance-manager": "Finance Manager",
  "marketing-strategist": "Marketing Strategist",
  "leadgen-scraper": "Lead Gen Scraper",
  "outbound-emailer": "Outbound Emailer",
  "booking-callprep": "Booking / Call Prep",
  engineer: "Engineer",
};
