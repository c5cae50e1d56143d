// POST /api/agents/marketing-strategist – Campaigns per channel with audience, message, schedule and KPIs, kept in campaigns as drafts
import { marketingStrategist } from "../../lib/agents/marketing-strategist";
import { agentRoute } from "../../lib/agents/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = agentRoute(marketingStrategist);
