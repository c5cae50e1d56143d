/**
 * Phoenix channel frames as Supabase Realtime speaks them over `/realtime/v1/websocket`.
 *
 * - vsn 1.0.0: every frame is a JSON object `{ join_ref, ref, topic, event, payload }`.
 * - vsn 2.0.0 (realtime-js's default): text frames are JSON arrays
 *   `[join_ref, ref, topic, event, payload]`; a user broadcast travels as a binary frame instead:
 *   kind 3 ("user broadcast push", client → server) and kind 4 ("user broadcast", server → client),
 *   each a one-byte kind, one-byte lengths, the strings, then the user payload (JSON or raw bytes).
 *
 * A frame this module cannot read throws a `ProtocolError`; the socket layer decides what to do.
 */

export type Vsn = "1.0.0" | "2.0.0";

export interface Frame {
  joinRef: string | null;
  ref: string | null;
  topic: string;
  event: string;
  payload: unknown;
  /** Set for a binary user broadcast push (vsn 2.0.0), whose payload is not JSON-framed. */
  broadcast?: BroadcastPayload;
}

/** A user broadcast's content: JSON, or raw bytes (realtime-js sends an ArrayBuffer payload as is). */
export type BroadcastBody = { encoding: "json"; value: unknown } | { encoding: "binary"; bytes: Buffer };

/** The payload of a decoded `broadcast` frame, whichever framing it came in. */
export interface BroadcastPayload {
  type: "broadcast";
  event: string;
  body: BroadcastBody;
  meta?: Record<string, unknown>;
}

export class ProtocolError extends Error {}

const USER_BROADCAST_PUSH = 3;
const USER_BROADCAST = 4;
const BINARY_ENCODING = 0;
const JSON_ENCODING = 1;

/** Phoenix's default when the client names no version is 1.0.0; anything else is refused. */
export function parseVsn(value: string | null): Vsn | undefined {
  if (value === null || value === "1.0.0") {
    return "1.0.0";
  }
  return value === "2.0.0" ? "2.0.0" : undefined;
}

function optionalRef(value: unknown, name: string): string | null {
  if (value === null || value === undefined) {
    return null;
  }
  if (typeof value !== "string") {
    throw new ProtocolError(`${name} must be a string or null`);
  }
  return value;
}

function requiredString(value: unknown, name: string): string {
  if (typeof value !== "string") {
    throw new ProtocolError(`${name} must be a string`);
  }
  return value;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ProtocolError("frame is not JSON");
  }
}

/** Reads one WebSocket message from a client. */
export function decodeFrame(vsn: Vsn, data: Buffer, isBinary: boolean): Frame {
  if (isBinary) {
    if (vsn !== "2.0.0") {
      throw new ProtocolError("binary frames need vsn 2.0.0");
    }
    return decodeUserBroadcastPush(data);
  }
  const parsed = parseJson(data.toString("utf8"));
  if (vsn === "2.0.0") {
    if (!Array.isArray(parsed) || parsed.length < 5) {
      throw new ProtocolError("a vsn 2.0.0 frame is [join_ref, ref, topic, event, payload]");
    }
    const [joinRef, ref, topic, event, payload] = parsed as unknown[];
    return {
      joinRef: optionalRef(joinRef, "join_ref"),
      ref: optionalRef(ref, "ref"),
      topic: requiredString(topic, "topic"),
      event: requiredString(event, "event"),
      payload,
    };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ProtocolError("a vsn 1.0.0 frame is an object { join_ref, ref, topic, event, payload }");
  }
  const object = parsed as Record<string, unknown>;
  return {
    joinRef: optionalRef(object.join_ref, "join_ref"),
    ref: optionalRef(object.ref, "ref"),
    topic: requiredString(object.topic, "topic"),
    event: requiredString(object.event, "event"),
    payload: object.payload,
  };
}

/** Kind 3: kind, then lengths of join_ref, ref, topic, user event, metadata, then the encoding byte. */
function decodeUserBroadcastPush(data: Buffer): Frame {
  const headerLength = 7;
  if (data.length < headerLength || data[0] !== USER_BROADCAST_PUSH) {
    throw new ProtocolError("unknown binary frame kind");
  }
  const [joinRefLength, refLength, topicLength, eventLength, metaLength, encoding] = [...data.subarray(1, 7)];
  let offset = headerLength;
  const take = (length: number | undefined): Buffer => {
    if (length === undefined || offset + length > data.length) {
      throw new ProtocolError("binary frame is shorter than its header says");
    }
    const part = data.subarray(offset, offset + length);
    offset += length;
    return part;
  };
  const joinRef = take(joinRefLength).toString("utf8");
  const ref = take(refLength).toString("utf8");
  const topic = take(topicLength).toString("utf8");
  const event = take(eventLength).toString("utf8");
  const metaText = take(metaLength).toString("utf8");
  const rest = Buffer.from(data.subarray(offset));
  let body: BroadcastBody;
  if (encoding === JSON_ENCODING) {
    body = { encoding: "json", value: parseJson(rest.toString("utf8")) };
  } else if (encoding === BINARY_ENCODING) {
    body = { encoding: "binary", bytes: rest };
  } else {
    throw new ProtocolError("unknown payload encoding");
  }
  const payload: BroadcastPayload = { type: "broadcast", event, body };
  if (metaText) {
    const meta = parseJson(metaText);
    if (typeof meta === "object" && meta !== null && !Array.isArray(meta)) {
      payload.meta = meta as Record<string, unknown>;
    }
  }
  return {
    joinRef: joinRef || null,
    ref: ref || null,
    topic,
    event: "broadcast",
    payload: {},
    broadcast: payload,
  };
}

/** A JSON-framed broadcast payload (`{ type, event, payload }`) in the shape binary frames decode to. */
export function broadcastFromJson(payload: unknown): BroadcastPayload | undefined {
  if (typeof payload !== "object" || payload === null) {
    return undefined;
  }
  const object = payload as Record<string, unknown>;
  if (typeof object.event !== "string") {
    return undefined;
  }
  return { type: "broadcast", event: object.event, body: { encoding: "json", value: object.payload ?? {} } };
}

/** One server message as a text frame. */
export function encodeFrame(vsn: Vsn, frame: Frame): string {
  if (vsn === "2.0.0") {
    return JSON.stringify([frame.joinRef, frame.ref, frame.topic, frame.event, frame.payload]);
  }
  return JSON.stringify({
    join_ref: frame.joinRef,
    ref: frame.ref,
    topic: frame.topic,
    event: frame.event,
    payload: frame.payload,
  });
}

/**
 * A user broadcast to a subscriber: with vsn 2.0.0 the binary kind 4 frame hosted Realtime sends
 * (the only user-broadcast framing realtime-js decodes there), with 1.0.0 a JSON message whose
 * payload is `{ type: "broadcast", event, payload }`. Raw bytes cannot travel in 1.0.0 JSON.
 */
export function encodeBroadcast(
  vsn: Vsn,
  topic: string,
  broadcast: BroadcastPayload,
): { data: string | Buffer; binary: boolean } | undefined {
  if (vsn === "1.0.0") {
    if (broadcast.body.encoding !== "json") {
      return undefined;
    }
    const payload: Record<string, unknown> = {
      type: "broadcast",
      event: broadcast.event,
      payload: broadcast.body.value,
    };
    if (broadcast.meta) {
      payload.meta = broadcast.meta;
    }
    return {
      data: encodeFrame(vsn, { joinRef: null, ref: null, topic, event: "broadcast", payload }),
      binary: false,
    };
  }
  const topicBytes = Buffer.from(topic, "utf8");
  const eventBytes = Buffer.from(broadcast.event, "utf8");
  const metaBytes = Buffer.from(broadcast.meta ? JSON.stringify(broadcast.meta) : "", "utf8");
  if (topicBytes.length > 255 || eventBytes.length > 255 || metaBytes.length > 255) {
    return undefined;
  }
  const body =
    broadcast.body.encoding === "json"
      ? Buffer.from(JSON.stringify(broadcast.body.value), "utf8")
      : broadcast.body.bytes;
  const header = Buffer.from([
    USER_BROADCAST,
    topicBytes.length,
    eventBytes.length,
    metaBytes.length,
    broadcast.body.encoding === "json" ? JSON_ENCODING : BINARY_ENCODING,
  ]);
  return { data: Buffer.concat([header, topicBytes, eventBytes, metaBytes, body]), binary: true };
}
