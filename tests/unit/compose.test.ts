import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CONFIG_SPEC, loadConfig } from '../../src/config.js';
import { ROOT } from '../helpers/paths.js';

interface Service {
  image?: string;
  build?: string;
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const app = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);

describe('docker-compose.yml: services that share nothing but PostgreSQL, Redis and Qdrant', () => {
  it('runs two API replicas and the workers, none of them with a volume', () => {
    expect(app.map(([name]) => name).sort()).toEqual(['api', 'worker']);
    for (const [name, s] of app) {
      expect(s.volumes ?? [], name).toEqual([]);
      expect(s.deploy?.replicas ?? 1, name).toBeGreaterThanOrEqual(2);
    }
  });

  it('has PostgreSQL with a health check that the API and the workers wait for, beside Redis and Qdrant', () => {
    expect(compose.services.postgres?.image).toMatch(/^postgres:/);
    expect(compose.services.postgres?.healthcheck?.test.join(' ')).toContain('pg_isready');
    for (const [name, s] of app) {
      expect(s.depends_on, name).toMatchObject({
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
        qdrant: { condition: 'service_healthy' },
      });
    }
  });

  it('gives the API and the workers settings the service accepts, with every store on a shared service', () => {
    for (const [name, s] of app) {
      const env = Object.fromEntries(
        Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v).replace(/\$\{(\w+)[^}]*\}/g, 'x')]),
      );
      for (const key of Object.keys(env)) expect(CONFIG_SPEC, `${name}: ${key}`).toHaveProperty(key);
      const cfg = loadConfig(env, { dotenvPath: null });
      expect(cfg.DATABASE_URL, name).toMatch(/^postgres:\/\/.*@postgres:5432\//);
      expect(cfg.REDIS_URL, name).toBe('redis://redis:6379');
      expect(cfg.VECTOR_STORE, name).toBe('qdrant');
    }
  });
});
