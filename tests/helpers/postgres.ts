import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import pg from 'pg';
import { PgDatabase } from '../../src/adapters/postgres/database.js';

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

/**
 * A fresh schema with `count` pools on it (two are what two processes of a deployment have), and the clean-up that
 * closes them and drops the schema.
 */
export async function schemaPools(
  count = 1,
): Promise<{ schema: TestSchema; dbs: PgDatabase[]; cleanup(): Promise<void> }> {
  const schema = await freshSchema();
  const dbs = Array.from({ length: count }, () => new PgDatabase({ url: schema.url }));
  return {
    schema,
    dbs,
    async cleanup() {
      for (const db of dbs) await db.close();
      await schema.drop();
    },
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

/** The server binaries: Debian keeps them per major version (the newest installed is used), elsewhere they are on PATH. */
function pgBin(bin: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(`${root}/${v}/bin/${bin}`))
    : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return newest ? `${root}/${newest}/bin/${bin}` : bin;
}

/**
 * A PostgreSQL cluster of the test's own (initdb in a temporary directory, on
 * a port of its own), for fault tests that stop and restart the server: the
 * machine's server is never touched. initdb refuses to run as root, so as
 * root the cluster runs as the `postgres` user.
 */
export class OwnPostgres {
  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get #data(): string {
    return `${this.dir}/data`;
  }

  async init(): Promise<void> {
    if (process.getuid?.() === 0) await run('chown', ['postgres', this.dir]);
    await this.#pg('initdb', ['-D', this.#data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  }

  /** Starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    await this.#pg('pg_ctl', [
      '-D',
      this.#data,
      '-l',
      `${this.dir}/server.log`,
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`,
      'start',
    ]);
  }

  /** `immediate` is a crash (no checkpoint; recovery replays the WAL at the next start); `fast` a clean stop. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.#pg('pg_ctl', ['-D', this.#data, '-m', mode, '-w', 'stop']);
  }

  /** For afterAll: stops the server if it runs. */
  async kill(): Promise<void> {
    await this.#pg('pg_ctl', ['-D', this.#data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
  }

  async #pg(bin: string, args: string[]): Promise<void> {
    const path = pgBin(bin);
    if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', path, ...args]);
    else await run(path, args);
  }
}

function run(cmd: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`)),
    );
  });
}
