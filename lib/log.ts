import pino from "pino";

/** JSON lines; secrets and credentials never reach the log. */
export const log = pino({
  level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === "test" ? "silent" : "info"),
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
