// POST /api/agents/engineer – Code generation and debugging: an answer with fenced, language-tagged blocks, JS/TS/JSON checked to parse
import { engineer } from "../../lib/agents/engineer";
import { agentRoute } from "../../lib/agents/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = agentRoute(engineer);
