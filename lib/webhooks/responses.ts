import { z } from "zod";
import { okEnvelope } from "../http/responses";
import { callbackOutcome } from "../queue";

/** /webhook/scrape (and QStash callbacks on /webhook/task): what became of the callback. */
export const callbackAnswer = okEnvelope(z.object({ outcome: callbackOutcome })).meta({
  id: "CallbackAnswer",
});

/**
 * /webhook/task: a callback's outcome, or a task event's: applied, ignored, a duplicate, or
 * `refused` (the queued task's input failed its agent's schema, so the task failed for good).
 */
export const taskWebhookAnswer = okEnvelope(
  z.union([
    z.object({ outcome: callbackOutcome }),
    z.object({
      outcome: z.literal("refused"),
      error: z.object({ code: z.string(), message: z.string() }),
    }),
  ]),
).meta({ id: "TaskWebhookAnswer" });

/** /webhook/email and /webhook/calendar: Google's pushes are applied, ignored, or duplicates. */
export const pushAnswer = okEnvelope(
  z.object({ outcome: z.enum(["processed", "ignored", "duplicate"]) }),
).meta({
  id: "PushAnswer",
});
