import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, openSqlite, type Migration } from '../../src/adapters/sqlite/database.js';

const dirs: string[] = [];
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'air-sqlite-'));
  dirs.push(dir);
  return join(dir, 'test.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const migrations: Migration[] = [
  { version: 1, name: 'one', sql: 'CREATE TABLE a (x INTEGER)' },
  { version: 2, name: 'two', sql: 'CREATE TABLE b (y INTEGER)' },
];

describe('openSqlite', () => {
  it('opens in WAL mode and applies each migration once, also when opened again', () => {
    const file = tempFile();
    const db = openSqlite(file, { migrations });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual([1, 2]);
    db.close();
    const again = openSqlite(file, { migrations });
    expect(migrate(again, migrations)).toEqual([]);
    again.close();
  });

  it('rolls back a failing migration whole and applies it when fixed', () => {
    const file = tempFile();
    const bad: Migration[] = [
      migrations[0] as Migration,
      { version: 2, name: 'bad', sql: 'CREATE TABLE b (y INTEGER); CREATE TABLE b (z INTEGER)' },
    ];
    expect(() => openSqlite(file, { migrations: bad })).toThrow(/already exists/);
    const db = openSqlite(file, { migrations });
    expect(db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual([1, 2]);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").pluck().get()).toBe('b');
    db.close();
  });

  it('finds the repository migrations numbered and unique', async () => {
    const { loadMigrations } = await import('../../src/adapters/sqlite/database.js');
    const versions = loadMigrations().map((m) => m.version);
    expect(new Set(versions).size).toBe(versions.length);
  });
});
