import postgres from "postgres";
import { describe, expect, inject, it } from "vitest";
import { benchDatabase, ForeignDatabaseError } from "../bench/database";

/**
 * `npm run bench` never writes into a database it did not create: given a server it makes its own
 * database and drops it; where it may not create one, it refuses a database that has tables. On the
 * embedded run (no server) it asks for none.
 */
const adminUrl = inject("pgAdminUrl");

describe("the bench's database", () => {
  it("is one it creates on DATABASE_URL's server and drops afterwards, or none without a server", async () => {
    if (!adminUrl) {
      const none = await benchDatabase(undefined);
      expect(none).toMatchObject({ url: undefined, created: false });
      return;
    }
    const own = await benchDatabase(adminUrl);
    expect(own.created).toBe(true);
    const name = new URL(own.url ?? "").pathname.slice(1);
    expect(name).toMatch(/^aat_bench_[0-9a-f]{12}$/);
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    try {
      const exists = async () =>
        (await admin`select 1 from pg_database where datname = ${name}`).length === 1;
      expect(await exists()).toBe(true);
      await own.drop();
      expect(await exists()).toBe(false);
    } finally {
      await admin.end();
    }
  });

  it("refuses a database with tables when it may not create its own", async () => {
    if (!adminUrl) {
      // Nothing to refuse: without a server the bench makes embedded databases of its own.
      expect((await benchDatabase(undefined)).created).toBe(false);
      return;
    }
    // A role without CREATEDB, pointed at this file's own database (which has the migrated tables).
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    const role = "aat_bench_no_createdb";
    try {
      await admin.unsafe(
        `do $$ begin if not exists (select 1 from pg_roles where rolname = '${role}') then create role ${role} login nocreatedb; end if; end $$`,
      );
      const target = new URL(process.env.DATABASE_URL ?? "");
      target.username = role;
      target.password = "";
      await expect(benchDatabase(target.toString())).rejects.toBeInstanceOf(ForeignDatabaseError);
      await expect(benchDatabase(target.toString())).rejects.toThrow(/tables: refusing to write into it/);
    } finally {
      await admin.end();
    }
  });
});
