import type { JobStore } from '../../ports/job-store.js';
import type { StoreDeps } from '../connections.js';
import { PostgresJobStore } from '../postgres/job-store.js';
import type { Registry } from '../registry.js';
import { SqliteJobStore } from '../sqlite/job-store.js';

/** The in-process queue's job tables by database; one line per adapter. */
export const jobStores: Registry<'embedded' | 'postgres', StoreDeps, JobStore> = Object.freeze({
  embedded: ({ connections }) => new SqliteJobStore({ db: connections.sqlite() }),
  postgres: ({ connections }) => new PostgresJobStore({ db: connections.postgres() }),
});
