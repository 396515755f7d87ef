import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

/** The embedded mode's one database file, under DATA_DIR. */
export const SQLITE_FILE = 'adaptive-reader.db';

/** How long a write waits for another process's transaction before SQLITE_BUSY. */
export const SQLITE_BUSY_TIMEOUT_MS = 5000;

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** `NNN-name.sql` files of the migrations folder, in version order. Versions are unique and never reused. */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .filter((f) => /^\d+-[\w-]+\.sql$/.test(f))
    .map((f) => {
      const [, num, name] = /^(\d+)-([\w-]+)\.sql$/.exec(f) as RegExpExecArray;
      return { version: Number(num), name: name as string, sql: readFileSync(join(dir, f), 'utf8') };
    })
    .sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]?.version === migrations[i - 1]?.version)
      throw new Error(`two SQLite migrations share version ${migrations[i]?.version}`);
  }
  return migrations;
}

/**
 * Applies the migrations the database has not seen, each in its own
 * transaction. BEGIN IMMEDIATE takes the write lock first, so two processes
 * starting on one DATA_DIR at once apply each migration exactly once: the
 * second waits (busy timeout), then finds it recorded.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = loadMigrations()): number[] {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  const applied: number[] = [];
  const has = db.prepare<[number], { version: number }>('SELECT version FROM schema_migrations WHERE version = ?');
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of migrations) {
    const apply = db.transaction(() => {
      if (has.get(m.version)) return false;
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
      return true;
    });
    if (apply.immediate()) applied.push(m.version);
  }
  return applied;
}

export interface OpenSqliteOptions {
  /** Migrations to apply instead of the repository's (tests). */
  migrations?: readonly Migration[];
  readonly?: boolean;
}

/**
 * Opens (creating it if missing) the database file with the settings every
 * connection of the service uses: WAL, so readers never wait for the writer
 * and several processes can share the file; a busy timeout, so a writer waits
 * for another process's transaction instead of failing; synchronous=NORMAL,
 * which in WAL mode loses no committed transaction on a process crash (only,
 * at worst, the last ones on a power loss); foreign keys on.
 */
export function openSqlite(file: string, opts: OpenSqliteOptions = {}): Database.Database {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file, { readonly: opts.readonly ?? false, timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    if (!opts.readonly) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    if (!opts.readonly) migrate(db, opts.migrations);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
