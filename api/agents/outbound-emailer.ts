// POST /api/agents/outbound-emailer – Personalised emails per lead as drafts (facts listed and checked); mode send or event_ids queues them through Gmail, paced, with one-click unsubscribe
import { outboundEmailer } from "../../lib/agents/outbound-emailer";
import { agentRoute } from "../../lib/agents/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = agentRoute(outboundEmailer);
