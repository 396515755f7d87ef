import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_SPEC, authEnabled, loadConfig, renderEnvExample } from '../../src/config.js';
import { adaptiveKSettings } from '../../src/container.js';
import { ADAPTIVE_K_DEFAULTS } from '../../src/core/retrieval/adaptive-k.js';
import { DEFAULTS } from '../../src/core/retrieval/defaults.js';
import { AppError } from '../../src/errors.js';

const bare = (env: Record<string, string> = {}) => loadConfig(env, { dotenvPath: null });

describe('config', () => {
  it('gives every setting its documented default when the environment is empty', () => {
    const cfg = bare();
    for (const [name, spec] of Object.entries(CONFIG_SPEC)) expect(cfg[name as keyof typeof cfg]).toBe(spec.default);
  });

  it('is frozen so nothing can change it after start', () => {
    const cfg = bare();
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(() => {
      (cfg as { PORT: number }).PORT = 1;
    }).toThrow();
  });

  it('parses numbers and rejects values that are not numbers, out of range or not a choice', () => {
    expect(bare({ PORT: '8080' }).PORT).toBe(8080);
    const bad: Array<Record<string, string>> = [
      { PORT: 'eighty' },
      { PORT: '70000' },
      { CHUNK_TOKENS: '12.5' },
      { EMBEDDER: 'word2vec' },
      { ADAPTIVE_K_B: '-0.1' },
      { ADAPTIVE_K_BUFFER_MAX_SHARE: '1.5' },
    ];
    for (const env of bad) {
      const err = (() => {
        try {
          bare(env);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('CONFIG_INVALID');
      expect((err as AppError).message).toContain(Object.keys(env)[0]);
    }
  });

  it('rejects contradictory settings with a message naming them', () => {
    expect(() => bare({ CHUNK_TOKENS: '100', CHUNK_OVERLAP_TOKENS: '100' })).toThrow(/CHUNK_OVERLAP_TOKENS/);
    expect(() => bare({ ADAPTIVE_K_A: '0.6', ADAPTIVE_K_B: '0.5' })).toThrow(/ADAPTIVE_K_A \+ ADAPTIVE_K_B/);
    expect(() => bare({ VECTOR_STORE: 'qdrant' })).toThrow(/QDRANT_URL/);
    expect(() => bare({ LLM_PROVIDER: 'openai' })).toThrow(/LLM_BASE_URL/);
  });

  it('names the settings a chosen adapter cannot work without, and accepts it once they are set', () => {
    const cases: Array<[Record<string, string>, string, Record<string, string>]> = [
      [{ VECTOR_STORE: 'qdrant' }, 'VECTOR_STORE=qdrant needs QDRANT_URL', { QDRANT_URL: 'http://q:6333' }],
      [{ VECTOR_STORE: 'postgres' }, 'VECTOR_STORE=postgres needs DATABASE_URL', { DATABASE_URL: 'postgres://db/x' }],
      [{ EMBEDDER: 'openai' }, 'EMBEDDER=openai needs EMBEDDER_URL', { EMBEDDER_URL: 'http://e/v1' }],
      [{ EMBEDDER: 'transformers' }, 'EMBEDDER=transformers needs EMBEDDER_MODEL', { EMBEDDER_MODEL: 'bge' }],
      [
        { LLM_PROVIDER: 'openai', LLM_MODEL: 'm' },
        'LLM_PROVIDER=openai needs LLM_BASE_URL and LLM_MODEL',
        { LLM_BASE_URL: 'http://l/v1' },
      ],
      [{ LLM_PROVIDER: 'llama-cpp' }, 'LLM_PROVIDER=llama-cpp needs LLAMA_MODEL_PATH', { LLAMA_MODEL_PATH: '/m.gguf' }],
    ];
    for (const [choice, message, needed] of cases) {
      expect(() => bare(choice)).toThrow(message);
      expect(() => bare({ ...choice, ...needed, AUTH: 'off' })).not.toThrow();
    }
  });

  it('turns auth on when Redis is configured, unless told otherwise, and then needs an admin key', () => {
    expect(authEnabled(bare())).toBe(false);
    expect(() => bare({ REDIS_URL: 'redis://127.0.0.1:6379' })).toThrow(/ADMIN_API_KEY/);
    expect(authEnabled(bare({ REDIS_URL: 'redis://127.0.0.1:6379', ADMIN_API_KEY: 'k' }))).toBe(true);
    expect(authEnabled(bare({ REDIS_URL: 'redis://127.0.0.1:6379', AUTH: 'off' }))).toBe(false);
  });

  it('reads a .env file for what the environment lacks, the environment winning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const path = join(dir, '.env');
    writeFileSync(path, 'PORT=4100\nLOG_LEVEL=debug\n');
    const cfg = loadConfig({ LOG_LEVEL: 'warn' }, { dotenvPath: path });
    expect(cfg.PORT).toBe(4100);
    expect(cfg.LOG_LEVEL).toBe('warn');
  });

  it('selects with the configured token buffer and its cap share', () => {
    expect(adaptiveKSettings(bare())).toMatchObject({ bufferTokens: 4000, bufferMaxShare: 0.2 });
    expect(adaptiveKSettings(bare({ ADAPTIVE_K_BUFFER_MAX_SHARE: '1' })).bufferMaxShare).toBe(1);
    expect(DEFAULTS.adaptiveK.bufferMaxShare).toBe(CONFIG_SPEC.ADAPTIVE_K_BUFFER_MAX_SHARE.default);
    expect(DEFAULTS.adaptiveK.bufferTokens).toBe(CONFIG_SPEC.ADAPTIVE_K_BUFFER_TOKENS.default);
  });

  it("defaults to core's Adaptive-k settings and score: the published a, b and chunk buffer with the measured token buffer", () => {
    const { minRelativeGap: _unset, ...service } = DEFAULTS.adaptiveK;
    expect(adaptiveKSettings(bare())).toEqual({ kind: 'adaptive-k', ...service });
    expect(bare().RETRIEVAL_SCORE).toBe(DEFAULTS.score);
    expect(DEFAULTS.adaptiveK).toMatchObject({
      a: ADAPTIVE_K_DEFAULTS.a,
      b: ADAPTIVE_K_DEFAULTS.b,
      buffer: ADAPTIVE_K_DEFAULTS.buffer,
    });
  });

  it('documents every setting in .env.example exactly as the code defines it', () => {
    const committed = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    expect(committed).toBe(renderEnvExample());
    for (const name of Object.keys(CONFIG_SPEC)) expect(committed).toMatch(new RegExp(`^${name}=`, 'm'));
  });
});
