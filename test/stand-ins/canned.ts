import { decode } from "@toon-format/toon";
import type { RecordedRequest, Reply } from "./openrouter";

/** The data of the context message (TOON or JSON), as an agent sent it. */
function contextOf(request: RecordedRequest): Record<string, unknown> {
  const message = request.body.messages.find(
    (m) => m.role === "system" && String(m.content).startsWith("Context about this business"),
  );
  // The data sits between two identical fence lines after the instruction line.
  const lines = String(message?.content ?? "").split("\n");
  const text = lines.slice(2, -1).join("\n");
  try {
    return JSON.parse(text);
  } catch {
    return decode(text) as Record<string, unknown>;
  }
}

const emptyFigures = {
  monthly_revenue: null,
  monthly_costs: null,
  cash_on_hand: null,
  monthly_growth_rate_percent: null,
  customers: null,
  cac: null,
  arpu_monthly: null,
  gross_margin_percent: null,
  monthly_churn_percent: null,
  cost_breakdown: [],
};

/** A valid answer for each agent's response schema, built from the question it was asked. */
export function cannedReply(request: RecordedRequest): Reply {
  const name = request.body.response_format?.json_schema?.name;
  const question = request.body.messages.at(-1)?.content ?? "";
  switch (name) {
    case "product_insights":
      return {
        content: {
          response: `Here is what stands out for: ${question.slice(0, 80)}`,
          insights: [
            {
              title: "Wholesale customers reorder every three weeks",
              content: "A reminder two days before the usual reorder date would cut stock-outs.",
              tags: ["retention", "wholesale"],
              priority: "high",
              evidence: ["Reorders cluster 18–24 days apart"],
            },
            {
              title: "Self-serve ordering portal",
              content: "Phone orders take six hours a week; a portal frees that time.",
              tags: ["operations"],
              priority: "medium",
              evidence: ["Six hours a week of phone orders"],
            },
          ],
        },
      };
    case "finance_analysis":
      return {
        content: {
          figures: emptyFigures,
          stated: {
            monthly_net_burn: null,
            runway_months: null,
            ltv: null,
            ltv_to_cac: null,
            payback_months: null,
            revenue_in_12_months: null,
          },
          response: "No figures were given, so there is nothing to compute yet.",
          recommendations: ["Share monthly revenue, costs and cash"],
          risks: [],
        },
      };
    case "marketing_campaigns":
      return {
        content: {
          response: "Two campaigns: one by email to cafe owners, one on LinkedIn for office managers.",
          campaigns: [
            {
              name: "Cafe owners spring launch",
              channel: "Email",
              audience: "Owners of independent cafes",
              message: "Fresh roasts weekly, no minimum order",
              schedule: { start_date: "2026-12-01", cadence: "weekly", duration_weeks: 6 },
              kpis: [{ metric: "reply rate", target: "8%" }],
            },
            {
              name: "Office coffee upgrade",
              channel: "LinkedIn",
              audience: "Office managers at 20–200 person companies",
              message: "Better coffee, one invoice a month",
              schedule: { start_date: null, cadence: "twice a week", duration_weeks: 4 },
              kpis: [{ metric: "demo requests", target: "10" }],
            },
          ],
        },
      };
    case "engineer_answer":
      return {
        content: {
          response:
            'Use a function:\n\n```ts\nexport function add(a: number, b: number): number {\n  return a + b;\n}\n```\n\nand the config:\n\n```json\n{ "strict": true }\n```\n',
          language: "typescript",
        },
      };
    case "lead_judgements": {
      // Judges like a careful model would: only from the roles it was given.
      const candidates = (contextOf(request).candidates ?? []) as { ref: string; role: string }[];
      return {
        content: {
          judgements: candidates.map((candidate) =>
            /founder|purchas/i.test(candidate.role)
              ? {
                  ref: candidate.ref,
                  points: 16,
                  reason: `${candidate.role} decides what the business buys.`,
                }
              : { ref: candidate.ref, points: 4, reason: "A shared inbox or an unrelated role." },
          ),
          summary: "The founders and buyers are the people to talk to first.",
        },
      };
    }
    case "call_script": {
      // Cites the sources it was given, plus one that does not exist (the agent must drop it).
      const refs = ((contextOf(request).sources ?? []) as { ref: string }[]).map((source) => source.ref);
      const pick = (prefix: string) => refs.filter((ref) => ref.startsWith(prefix)).slice(0, 2);
      return {
        content: {
          opening: { text: "Thanks for making the time today.", sources: pick("lead.") },
          discovery_questions: [
            { question: "How do you source your coffee today?", sources: pick("email.") },
            { question: "What would a better supplier change for you?", sources: ["lead.revenue"] },
          ],
          value_proposition: { text: "Weekly deliveries of fresh roasts.", sources: pick("insight.") },
          objection_handling: [
            {
              objection: "We are happy with our supplier",
              response: "Try one bag, no contract.",
              sources: pick("lead."),
            },
          ],
          next_steps: [{ text: "Send a sample and book a tasting.", sources: [] }],
          response: "Open warmly, ask about sourcing, offer a sample.",
        },
      };
    }
    case "reply_classification": {
      const text = question.toLowerCase();
      const kind = text.includes("out of office")
        ? "out_of_office"
        : text.includes("stop emailing") || text.includes("unsubscribe")
          ? "unsubscribe"
          : text.includes("not interested")
            ? "not_interested"
            : "interested";
      return {
        content: {
          kind,
          return_date: kind === "out_of_office" ? (/(\d{4}-\d{2}-\d{2})/.exec(text)?.[1] ?? null) : null,
          summary: `The lead's reply reads as ${kind.replace("_", " ")}.`,
        },
      };
    }
    case "outbound_emails": {
      // Writes from the lead data only, and lists what it used, as the prompt asks.
      const leads = (contextOf(request).leads ?? []) as {
        ref: string;
        name: string;
        company: string;
        role: string;
      }[];
      return {
        content: {
          emails: leads.map((lead) => ({
            lead_ref: lead.ref,
            subject: `Fresh coffee for ${lead.company}`,
            body_text: `Hi ${lead.name || "there"},\n\nAs ${lead.role || "the person behind"} ${lead.company}, would weekly deliveries of freshly roasted beans help?\n\nSam`,
            body_html: `<p>Hi ${lead.name || "there"},</p><p>As ${lead.role || "the person behind"} ${lead.company}, would weekly deliveries of freshly roasted beans help?</p><p>Sam</p>`,
            facts_used: [lead.company, lead.role].filter(Boolean),
          })),
          response: "Short first emails, one idea each.",
        },
      };
    }
    default:
      return { content: { response: "ok" } };
  }
}
