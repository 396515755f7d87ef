import { randomUUID } from 'node:crypto';
import pg from 'pg';

/** The machine's PostgreSQL server (CI starts it: .ci/run). Tests only ever create and drop schemas of their own on it. */
export const PG_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database URL whose connections use `schema` (created if missing) for every unqualified name. */
export function schemaUrl(schema: string, base = PG_SERVER_URL): string {
  const u = new URL(base);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

export interface TestSchema {
  schema: string;
  /** DATABASE_URL for adapters and child processes: the test's own schema on the shared server. */
  url: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

/** A fresh, empty schema on the server at `base`, so each test has a database of its own. */
export async function freshSchema(base = PG_SERVER_URL): Promise<TestSchema> {
  const schema = `t_${randomUUID().replace(/-/g, '')}`;
  await admin(base, `CREATE SCHEMA ${schema}`);
  return {
    schema,
    url: schemaUrl(schema, base),
    drop: () => admin(base, `DROP SCHEMA IF EXISTS ${schema} CASCADE`),
  };
}

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
