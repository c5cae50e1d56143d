import { z } from "zod";
import { type ErrorBody, type ErrorCode, errorStatus } from "./errors";
import { json } from "./handler";

/**
 * Response shapes as zod schemas, declared once: a handler answers through `reply(schema, body)`,
 * which holds the body to the schema at compile time, and the OpenAPI document (lib/openapi.ts)
 * declares the operation's response with that same schema object.
 */

/** `{ success: true, data }`, the success envelope. */
export const okEnvelope = <S extends z.ZodType>(data: S) => z.object({ success: z.literal(true), data });

const errorCodes = Object.keys(errorStatus) as [ErrorCode, ...ErrorCode[]];

/** The one error envelope (built by `errorBody` in ./errors). */
export const errorEnvelope = z
  .object({
    success: z.literal(false),
    error: z.object({
      code: z.enum(errorCodes),
      message: z.string(),
      requestId: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: "Error" });

// ErrorBody (what errorBody() returns) and the documented envelope must be the same type both ways;
// this stops compiling when one of them changes alone.
const sameEnvelope = [
  (body: ErrorBody): z.output<typeof errorEnvelope> => body,
  (body: z.output<typeof errorEnvelope>): ErrorBody => body,
];
void sameEnvelope;

/**
 * A JSON response whose body must be the schema's output type. The schema is not run: it is the
 * contract the document publishes, and the type checker is what keeps the handler to it.
 */
export function reply<S extends z.ZodType>(
  schema: S,
  body: z.output<S>,
  status = 200,
  headers: HeadersInit = {},
): Response {
  void schema;
  return json(body, status, headers);
}
