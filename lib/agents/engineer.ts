import { z } from "zod";
import { checkCodeBlocks } from "./code-blocks";
import { type AgentDefinition, agentRequest, askModel, recentTasksOf } from "./runtime";

const answerSchema = z.object({
  response: z
    .string()
    .describe("The answer in Markdown; every piece of code in a fenced block tagged with its language"),
  language: z.string().nullable().describe("The main programming language of the answer"),
});

const system = `You are Kevin, the engineer of a small business's AI team. You write and debug code.
Explain briefly, then give complete, runnable code. Every code block is fenced with three backticks
and tagged with its language (\`\`\`ts, \`\`\`python, \`\`\`json…). Reply with JSON only, matching the schema.`;

export const engineer: AgentDefinition = {
  name: "engineer",
  summary:
    "Code generation and debugging: an answer with fenced, language-tagged blocks, JS/TS/JSON checked to parse",
  input: agentRequest,
  async run({ user, workspace, input }) {
    const memory = await recentTasksOf({ user, workspace }, "engineer", 3);
    const { data, usage, encoded } = await askModel({
      agent: "engineer",
      workspaceId: workspace.id,
      userId: user.id,
      schema: answerSchema,
      schemaName: "engineer_answer",
      temperature: 0.3,
      maxTokens: 3000,
      system,
      context: {
        earlier_conversations: memory,
        ...(input.context ? { from_user: input.context } : {}),
      },
      prompt: input.language ? `Using ${input.language}: ${input.prompt}` : input.prompt,
    });
    const codeBlocks = await checkCodeBlocks(data.response);
    return {
      result: {
        response: data.response,
        language: input.language ?? data.language,
        code_blocks: codeBlocks,
        all_code_parses: codeBlocks.every((block) => block.check !== "error"),
      },
      usage,
      context: encoded,
    };
  },
};
