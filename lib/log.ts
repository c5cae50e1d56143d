import pino from "pino";
import { logLevel } from "./config";

// Read directly, with the config's own schema: the logger must exist before the configuration is
// validated, so that a bad configuration can be logged.
const level = logLevel.safeParse(process.env.LOG_LEVEL);

/** JSON lines; secrets and credentials never reach the log. */
export const log = pino({
  level: level.success ? level.data : process.env.NODE_ENV === "test" ? "silent" : "info",
  base: undefined,
  redact: {
    paths: [
      "authorization",
      "*.authorization",
      "headers.authorization",
      "headers.cookie",
      "*.token",
      "*.password",
      "*.secret",
      "*.apiKey",
      "*.signature",
      'headers["upstash-signature"]',
      'headers["webhook-signature"]',
    ],
    censor: "[redacted]",
  },
});

export type Logger = pino.Logger;
