-- The in-process queue's jobs (src/ports/job-store.ts) for deployments with DATABASE_URL and no Redis: every API
-- process reads every job, and each run belongs to one of them. `seq` is the order jobs were accepted in; times
-- the queue passes (run_at, lease_until) are epoch ms.
CREATE TABLE jobs (
  seq bigserial PRIMARY KEY,
  id text COLLATE "C" NOT NULL UNIQUE,
  name text COLLATE "C" NOT NULL,
  data text NOT NULL,
  state text NOT NULL CHECK (state IN ('waiting', 'active', 'completed', 'failed', 'delayed')),
  attempts integer NOT NULL,
  max_attempts integer NOT NULL,
  progress double precision NOT NULL,
  result text,
  error text,
  created_at text COLLATE "C" NOT NULL,
  finished_at text COLLATE "C",
  run_at bigint NOT NULL,
  owner text,
  lease_until bigint
);
CREATE INDEX jobs_due ON jobs (name, state, run_at, seq);
CREATE INDEX jobs_finished ON jobs (finished_at, seq) WHERE finished_at IS NOT NULL;
