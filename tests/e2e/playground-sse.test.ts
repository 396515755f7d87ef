import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SseParser, type SseEvent } from '../../playground/src/sse.js';

function parseAll(chunks: string[]): SseEvent[] {
  const p = new SseParser();
  return [...chunks.flatMap((c) => p.push(c)), ...p.end()];
}

describe('the playground’s server-sent events parser', () => {
  it('reads named events with JSON data, as the answer routes send them', () => {
    const stream =
      'event: decision\ndata: {"strategy":"rag"}\n\nevent: token\ndata: {"text":"Cap"}\n\nevent: result\ndata: {"answer":"Captain"}\n\n';
    expect(parseAll([stream])).toEqual([
      { event: 'decision', data: '{"strategy":"rag"}' },
      { event: 'token', data: '{"text":"Cap"}' },
      { event: 'result', data: '{"answer":"Captain"}' },
    ]);
  });

  it('joins multi-line data with newlines, ignores comments and unknown fields, and defaults the name to message', () => {
    expect(parseAll([': keep-alive\nretry: 100\ndata: one\ndata:two\nfoo: bar\n\n'])).toEqual([
      { event: 'message', data: 'one\ntwo' },
    ]);
  });

  it('drops an event with no data line and forgets its name', () => {
    expect(parseAll(['event: ping\n\ndata: x\n\n'])).toEqual([{ event: 'message', data: 'x' }]);
  });

  it('keeps the last event id', () => {
    expect(parseAll(['id: 7\nevent: token\ndata: a\n\n'])).toEqual([{ event: 'token', data: 'a', id: '7' }]);
  });

  it('dispatches a last event whose blank line never came', () => {
    expect(parseAll(['event: result\ndata: {"answer":"x"}'])).toEqual([{ event: 'result', data: '{"answer":"x"}' }]);
  });

  it('gives the same events however the stream is cut into chunks and whatever line endings it uses', () => {
    const events = fc.array(
      fc.record({
        event: fc.constantFrom('token', 'progress', 'result', 'error'),
        data: fc.string({ maxLength: 30 }).filter((s) => !/[\r\n]/.test(s)),
      }),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(
        events,
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.array(fc.nat(), { maxLength: 12 }),
        (evs, eol, cuts) => {
          const text = evs.map((e) => `event: ${e.event}${eol}data: ${e.data}${eol}${eol}`).join('');
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const chunks: string[] = [];
          let at = 0;
          for (const p of points) {
            chunks.push(text.slice(at, p));
            at = p;
          }
          chunks.push(text.slice(at));
          expect(parseAll(chunks)).toEqual(evs);
        },
      ),
    );
  });
});
