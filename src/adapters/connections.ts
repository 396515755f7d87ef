import { join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { PgDatabase } from './postgres/database.js';
import { openSqlite, SQLITE_FILE } from './sqlite/database.js';

/**
 * The process's database connections, shared by the adapters that use them:
 * each is opened by the first adapter that asks for it, once, so a process
 * opens only what its configured adapters need. Closed after every adapter.
 */
export interface Connections {
  /** DATA_DIR's SQLite database (`adaptive-reader.db`), opened and migrated on first use. */
  sqlite(): Database.Database;
  /** The PostgreSQL pool at DATABASE_URL (migrated before its first query); CONFIG_INVALID without DATABASE_URL. */
  postgres(): PgDatabase;
  /** The connections opened so far; null for one not opened. */
  readonly opened: { readonly sqlite: Database.Database | null; readonly postgres: PgDatabase | null };
  /** Closes what was opened (SQLite, then the pool). Idempotent. */
  close(): Promise<void>;
}

export function openConnections(config: Config): Connections {
  const opened: { sqlite: Database.Database | null; postgres: PgDatabase | null } = { sqlite: null, postgres: null };
  let closing: Promise<void> | null = null;
  return {
    opened,
    sqlite() {
      opened.sqlite ??= openSqlite(join(resolve(config.DATA_DIR), SQLITE_FILE));
      return opened.sqlite;
    },
    postgres() {
      if (!config.DATABASE_URL) throw new AppError('CONFIG_INVALID', ['the PostgreSQL stores need DATABASE_URL']);
      opened.postgres ??= new PgDatabase({
        url: config.DATABASE_URL,
        poolSize: config.DATABASE_POOL_SIZE,
        timeoutMs: config.DATABASE_TIMEOUT_MS,
      });
      return opened.postgres;
    },
    close() {
      closing ??= (async () => {
        try {
          opened.sqlite?.close();
        } finally {
          await opened.postgres?.close();
        }
      })();
      return closing;
    },
  };
}

/** What a store is built from: its settings and the process's connections. */
export interface StoreDeps {
  config: Config;
  connections: Connections;
}
