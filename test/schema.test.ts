import { readFileSync } from "node:fs";
import { join } from "node:path";
import { getTableColumns, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { applyMigrations, listMigrations } from "../dev/db/migrate";
import { getEngine, rowsOf } from "../lib/db/client";
import { serviceTables, tenancyTables, userTables, workspaceReadTables } from "../lib/db/schema";
import { serviceDb } from "../lib/db/service";

/**
 * The checks Supabase's database advisors (splinter) make on the security and performance of a
 * schema, as catalog queries against the migrated database, plus the drift check between the SQL
 * migrations and the typed table definitions.
 */
async function query<T>(text: string): Promise<T[]> {
  return rowsOf<T>(await (await serviceDb()).execute(sql.raw(text)));
}

describe("migrations", () => {
  it("are all recorded, and applying them again changes nothing", async () => {
    const recorded = await query<{ version: string }>(
      "select version from supabase_migrations.schema_migrations order by 1",
    );
    expect(recorded.map((r) => r.version)).toEqual(listMigrations().map((m) => m.version));
    expect(await applyMigrations(await getEngine())).toEqual([]);
  });
});

describe("Supabase advisor lints", () => {
  it("rls_disabled_in_public: every public table has RLS enabled", async () => {
    const rows = await query<{ relname: string }>(
      "select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r' and not c.relrowsecurity",
    );
    expect(rows).toEqual([]);
  });

  it("auth_rls_initplan: policies call auth functions through (select …), evaluated once per statement", async () => {
    const rows = await query<{ policyname: string; expr: string }>(`
      select policyname, coalesce(qual, '') || ' ' || coalesce(with_check, '') as expr
      from pg_policies where schemaname = 'public'`);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      const bare = row.expr.replace(/\(\s*select auth\.\w+\(\)( as \w+)?\)/gi, "");
      expect(bare, row.policyname).not.toMatch(/auth\.\w+\(\)|current_setting\(/i);
    }
  });

  it("multiple_permissive_policies: at most one permissive policy per table, role and action", async () => {
    const rows = await query<{ tablename: string }>(`
      select tablename, r.role, cmd, count(*)
      from pg_policies, unnest(roles) as r(role)
      where schemaname = 'public' and permissive = 'PERMISSIVE'
      group by 1, 2, 3 having count(*) > 1`);
    expect(rows).toEqual([]);
  });

  it("function_search_path_mutable: our functions pin search_path", async () => {
    const rows = await query<{ proname: string }>(`
      select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname in ('public', 'private')
        and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
        and not coalesce(p.proconfig::text, '') like '%search_path=%'`);
    expect(rows).toEqual([]);
  });

  it("unindexed_foreign_keys: every foreign key is the leading columns of an index", async () => {
    const rows = await query<{ conname: string }>(`
      select c.conname from pg_constraint c
      join pg_namespace n on n.oid = c.connamespace
      where c.contype = 'f' and n.nspname = 'public'
        and not exists (
          select 1 from pg_index i
          where i.indrelid = c.conrelid
            and (i.indkey::int2[])[0:array_length(c.conkey, 1) - 1] = c.conkey
        )`);
    expect(rows).toEqual([]);
  });

  it("duplicate_index: no two identical indexes on a table", async () => {
    const rows = await query<{ indexes: string }>(`
      select string_agg(indexrelid::regclass::text, ', ') as indexes
      from pg_index i join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public'
      group by indrelid, indkey::text, coalesce(indexprs::text, ''), coalesce(indpred::text, ''), indclass::text
      having count(*) > 1`);
    expect(rows).toEqual([]);
  });

  it("extension_in_public: no extension is installed in public", async () => {
    const rows = await query<{ extname: string }>(
      "select extname from pg_extension e join pg_namespace n on n.oid = e.extnamespace where n.nspname = 'public'",
    );
    expect(rows).toEqual([]);
  });

  it("security_definer_view and auth_users_exposed: no public view at all", async () => {
    const rows = await query<{ relname: string }>(
      "select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind in ('v', 'm')",
    );
    expect(rows).toEqual([]);
  });

  it("no API role can TRUNCATE (which skips RLS); service-only tables grant the API roles nothing", async () => {
    const truncate = await query<{ table_name: string }>(`
      select table_name from information_schema.role_table_grants
      where table_schema = 'public' and grantee in ('anon', 'authenticated') and privilege_type in ('TRUNCATE', 'REFERENCES', 'TRIGGER')`);
    expect(truncate).toEqual([]);
    const service = await query<{ table_name: string }>(`
      select table_name from information_schema.role_table_grants
      where table_schema = 'public' and grantee in ('anon', 'authenticated')
        and table_name in (${Object.keys(serviceTables)
          .map((t) => `'${t}'`)
          .join(", ")})`);
    expect(service).toEqual([]);
  });

  it("0029/0028 security definer functions: none in the exposed schema (public) is executable by API roles", async () => {
    const rows = await query<{ proname: string }>(`
      select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = 'public' and p.prosecdef
        and (has_function_privilege('authenticated', p.oid, 'EXECUTE') or has_function_privilege('anon', p.oid, 'EXECUTE'))`);
    expect(rows).toEqual([]);
  });

  it("rls_references_user_metadata: no policy reads the user-editable metadata of a session", async () => {
    const rows = await query<{ policyname: string }>(`
      select policyname from pg_policies
      where schemaname = 'public' and (coalesce(qual, '') || coalesce(with_check, '')) ~* 'user_metadata'`);
    expect(rows).toEqual([]);
  });

  it("rls_policy_always_true: no policy lets every row through", async () => {
    const rows = await query<{ policyname: string }>(`
      select policyname from pg_policies
      where schemaname = 'public' and (btrim(coalesce(qual, '')) = 'true' or btrim(coalesce(with_check, '')) = 'true')`);
    expect(rows).toEqual([]);
  });

  it("no_primary_key: every public table has one", async () => {
    const rows = await query<{ relname: string }>(`
      select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind = 'r'
        and not exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary)`);
    expect(rows).toEqual([]);
  });

  it("policy_exists_rls_disabled and rls_enabled_no_policy: policies only on RLS tables; each table the browser reads has one per command it may use", async () => {
    const orphan = await query<{ tablename: string }>(`
      select p.tablename from pg_policies p join pg_class c on c.relname = p.tablename
      join pg_namespace n on n.oid = c.relnamespace and n.nspname = p.schemaname
      where p.schemaname = 'public' and not c.relrowsecurity`);
    expect(orphan).toEqual([]);
    const granted = await query<{ table_name: string; privilege_type: string }>(`
      select distinct table_name, privilege_type from information_schema.role_table_grants
      where table_schema = 'public' and grantee = 'authenticated'
      union
      select distinct table_name, privilege_type from information_schema.column_privileges
      where table_schema = 'public' and grantee = 'authenticated'`);
    const policies = await query<{ tablename: string; cmd: string }>(
      "select tablename, cmd from pg_policies where schemaname = 'public'",
    );
    for (const grant of granted) {
      expect(
        policies.some(
          (policy) => policy.tablename === grant.table_name && policy.cmd === grant.privilege_type,
        ),
        `${grant.table_name} ${grant.privilege_type}`,
      ).toBe(true);
    }
  });

  it("realtime: exactly the user-owned tables are published", async () => {
    const rows = await query<{ tablename: string }>(
      "select tablename from pg_publication_tables where pubname = 'supabase_realtime' order by 1",
    );
    expect(rows.map((r) => r.tablename)).toEqual(Object.keys(userTables).sort());
  });
});

describe("Supabase Auth configuration (supabase/config.toml)", () => {
  it("issues sessions only for confirmed addresses, and no anonymous sign-ins", () => {
    const toml = readFileSync(join(import.meta.dirname, "..", "supabase", "config.toml"), "utf8");
    const email = toml.split("[auth.email]")[1]?.split(/^\[/m)[0] ?? "";
    expect(email).toMatch(/^enable_confirmations = true$/m);
    expect(toml).not.toMatch(/^enable_anonymous_sign_ins = true$/m);
  });
});

describe("typed table definitions", () => {
  it.each(Object.entries({ ...userTables, ...tenancyTables, ...workspaceReadTables, ...serviceTables }))(
    "%s matches the migrated table",
    async (name, table) => {
      const columns = await query<{ column_name: string; is_nullable: string }>(
        `select column_name, is_nullable from information_schema.columns where table_schema = 'public' and table_name = '${name}' order by 1`,
      );
      const typed = Object.values(getTableColumns(table))
        .map((column) => ({ column_name: column.name, is_nullable: column.notNull ? "NO" : "YES" }))
        .sort((a, b) => a.column_name.localeCompare(b.column_name));
      expect(typed).toEqual(columns);
    },
  );
});
