// POST /api/agents/leadgen-scraper – Crawls the given sites politely in headless Chromium, extracts contacts, scores leads against the ideal-customer profile (202; results through Realtime)
import { leadgenScraper } from "../../lib/agents/leadgen";
import { agentRoute } from "../../lib/agents/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = agentRoute(leadgenScraper);
