import { sql } from "drizzle-orm";
import { serviceDb } from "../../lib/db/service";

/**
 * `count` rows in each of the five queried tables for one user. Every third row shares its
 * created_at with the next, so pagination must break ties by id.
 */
export async function seedQueryRows(userId: string, count: number): Promise<void> {
  const db = await serviceDb();
  const at = sql`now() - make_interval(secs => (g / 3) * 60)`;
  await db.execute(sql`
    insert into public.agent_tasks (user_id, agent_name, status, input, created_at)
    select ${userId}, (array['product-manager','engineer','finance-manager'])[1 + g % 3],
           (array['completed','failed','queued'])[1 + g % 3], jsonb_build_object('prompt', 'task ' || g), ${at}
    from generate_series(1, ${count}) g`);
  await db.execute(sql`
    insert into public.leads (user_id, name, email, company, score, status, created_at)
    select ${userId}, 'Lead ' || g, 'lead' || g || '-' || left(${userId}::text, 8) || '@example.test', 'Co ' || g,
           (g * 7) % 101, (array['new','contacted','replied'])[1 + g % 3], ${at}
    from generate_series(1, ${count}) g`);
  await db.execute(sql`
    insert into public.product_insights (user_id, title, tags, priority, created_at)
    select ${userId}, 'Insight ' || g, case when g % 2 = 0 then array['pricing'] else array['retention','ux'] end,
           (array['low','medium','high'])[1 + g % 3], ${at}
    from generate_series(1, ${count}) g`);
  await db.execute(sql`
    insert into public.campaigns (user_id, name, channel, status, created_at)
    select ${userId}, 'Campaign ' || g, (array['email','linkedin'])[1 + g % 2], (array['draft','active'])[1 + g % 2], ${at}
    from generate_series(1, ${count}) g`);
  await db.execute(sql`
    insert into public.alerts (user_id, type, severity, message, read, created_at)
    select ${userId}, 'task.completed', (array['info','warning'])[1 + g % 2], 'Alert ' || g, g % 2 = 0, ${at}
    from generate_series(1, ${count}) g`);
}
