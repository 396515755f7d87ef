import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

const ADMIN = 'admin-secret-for-cors-tests-0123456789';
const preflight = (s: TestServer, origin: string) =>
  fetch(`${s.url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,authorization',
    },
  });

describe('CORS', () => {
  let s: TestServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it('is off by default: no CORS headers, and preflights are not answered', async () => {
    s = await startServer();
    const r = await fetch(`${s.url}/v1/models`, { headers: { origin: 'https://chat.example.com' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
    const p = await preflight(s, 'https://chat.example.com');
    expect(p.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('allows the configured origins only, preflights included, before API-key checks', async () => {
    s = await startServer({
      CORS_ORIGINS: 'https://chat.example.com, http://localhost:8080',
      AUTH: 'on',
      ADMIN_API_KEY: ADMIN,
    });
    const p = await preflight(s, 'https://chat.example.com');
    expect(p.status).toBe(204);
    expect(p.headers.get('access-control-allow-origin')).toBe('https://chat.example.com');
    expect(p.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    const other = await preflight(s, 'https://evil.example.org');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();

    const r = await fetch(`${s.url}/v1/models`, {
      headers: { origin: 'http://localhost:8080', authorization: `Bearer ${ADMIN}` },
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('access-control-allow-origin')).toBe('http://localhost:8080');
    expect(r.headers.get('access-control-expose-headers')).toMatch(/x-request-id/);
  });
});
