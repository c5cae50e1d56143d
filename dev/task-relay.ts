import type { SqlEngine } from "../lib/db/client";

interface NotifiedEvent {
  headers: Record<string, string>;
  body: string;
}

/**
 * Where pg_net is absent (locally), the task-event trigger notifies `task_events` instead of posting;
 * this relays each notification, headers and body byte for byte, to the webhook endpoint, as pg_net
 * would. A few retries cover the endpoint being briefly busy.
 */
export async function startTaskRelay(
  engine: SqlEngine,
  targetUrl: string,
  onError: (error: unknown) => void = (error) => console.error("task relay:", error),
): Promise<() => Promise<void>> {
  const inflight = new Set<Promise<void>>();
  const relay = async (payload: string) => {
    const event = JSON.parse(payload) as NotifiedEvent;
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        const response = await fetch(targetUrl, { method: "POST", headers: event.headers, body: event.body });
        if (response.status < 500 && response.status !== 409) {
          return;
        }
      } catch (error) {
        if (attempt === 3) {
          throw error;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
    }
  };
  const unlisten = await engine.listen("task_events", (payload) => {
    const run = relay(payload)
      .catch(onError)
      .finally(() => inflight.delete(run));
    inflight.add(run);
  });
  return async () => {
    await unlisten();
    await Promise.allSettled([...inflight]);
  };
}

/** Stores the webhook secret and URL where the trigger looks when there is no Vault (locally). */
export async function configureTaskEvents(engine: SqlEngine, secret: string, url: string): Promise<void> {
  const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;
  await engine.exec(
    `insert into private.settings (key, value) values ('task_webhook_secret', ${quote(secret)}), ('task_webhook_url', ${quote(url)})
     on conflict (key) do update set value = excluded.value`,
  );
}
