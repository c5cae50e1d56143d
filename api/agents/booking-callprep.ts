// POST /api/agents/booking-callprep – Books the meeting in Google Calendar (free/busy checked, lead invited) and writes a call script grounded in the lead, its email thread and product insights
import { bookingCallprep } from "../../lib/agents/booking-callprep";
import { agentRoute } from "../../lib/agents/route";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = agentRoute(bookingCallprep);
