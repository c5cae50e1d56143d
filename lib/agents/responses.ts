import { z } from "zod";
import { okEnvelope } from "../http/responses";
import { taskSummary } from "../tasks/store";

/** What an agent answers (`result.response` is the text answer; each agent adds its own fields). */
export const agentResult = z.object({ response: z.string() }).catchall(z.unknown());
export type AgentResult = z.output<typeof agentResult>;

/** 200: the task and the agent's result, run in the request. */
export const taskCompleted = okEnvelope(z.object({ task: taskSummary, result: agentResult })).meta({
  id: "TaskCompleted",
});

/** 202: the task, queued or processing in the background. */
export const taskAccepted = okEnvelope(z.object({ task: taskSummary })).meta({ id: "TaskAccepted" });
