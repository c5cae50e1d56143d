// POST /api/agents/product-manager – Product insights with title, content, tags, priority and evidence, kept in product_insights
import { productManager } from "../../lib/agents/product-manager";
import { agentRoute } from "../../lib/agents/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = agentRoute(productManager);
