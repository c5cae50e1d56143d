// POST /api/agents/finance-manager – Budget table, runway and unit economics, every derivable number computed and checked in code
import { financeManager } from "../../lib/agents/finance-manager";
import { agentRoute } from "../../lib/agents/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = agentRoute(financeManager);
