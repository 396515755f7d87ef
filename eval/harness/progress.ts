import cliProgress from 'cli-progress';

/** Reports how far a phase has come; the CLI shows a bar, tests pass a silent one. */
export interface Progress {
  start(phase: string, total: number): void;
  /** One more item done; `note` says what (shown on the bar). */
  tick(note?: string): void;
  stop(): void;
}

export const silentProgress: Progress = { start() {}, tick() {}, stop() {} };

function fmt(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * A progress bar with an ETA on a terminal; on anything else (a log file
 * under nohup) one line every `everyMs` with the same numbers, so a
 * background run can be polled with tail.
 */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr, everyMs = 30_000): Progress {
  const tty = stream.isTTY === true;
  let bar: cliProgress.SingleBar | null = null;
  let phase = '';
  let total = 0;
  let done = 0;
  let started = 0;
  let lastLine = 0;
  const line = (final: boolean): void => {
    const elapsed = (Date.now() - started) / 1000;
    const eta = done > 0 ? (elapsed / done) * (total - done) : Number.NaN;
    stream.write(
      `${phase}: ${done}/${total} (${total > 0 ? ((100 * done) / total).toFixed(1) : '100'}%) elapsed ${fmt(elapsed)}${final ? '' : ` eta ${fmt(eta)}`}\n`,
    );
  };
  return {
    start(p, t) {
      phase = p;
      total = t;
      done = 0;
      started = Date.now();
      lastLine = started;
      if (tty) {
        bar = new cliProgress.SingleBar(
          {
            format: `${p.padEnd(10)} [{bar}] {value}/{total} {percentage}% | eta {eta_formatted} | {note}`,
            stream,
            hideCursor: true,
            etaBuffer: 50,
            fps: 5,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(t, 0, { note: '' });
      } else {
        line(false);
      }
    },
    tick(note = '') {
      done++;
      if (bar) bar.update(done, { note: note.slice(0, 40) });
      else if (Date.now() - lastLine >= everyMs) {
        lastLine = Date.now();
        line(false);
      }
    },
    stop() {
      if (bar) {
        bar.stop();
        bar = null;
      } else if (total > 0) {
        line(true);
      }
    },
  };
}
