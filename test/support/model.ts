import { cannedReply } from "../stand-ins/canned";
import { StandInModel } from "../stand-ins/openrouter";

/** This test file's stand-in model (started by setup.ts; LLM_BASE_URL points at it). */
export const model = new StandInModel(cannedReply);
