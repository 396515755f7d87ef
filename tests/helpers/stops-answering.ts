import type { CompletionRequest, CompletionResult } from '../../src/ports/llm.js';
import { ForwardingLlm, ScriptedLlm } from './llm.js';

/**
 * A reader that answers its first `answered` calls and then never replies:
 * each later call waits until its signal fires (a shutdown) and rejects with
 * `stopWith` of it (by default the bare abort reason, as an aborted fetch
 * does). `reached` resolves when the first held call arrives.
 */
export class StopsAnswering extends ForwardingLlm<ScriptedLlm> {
  private arrived!: () => void;
  readonly reached = new Promise<void>((r) => (this.arrived = r));
  held = 0;
  constructor(
    private readonly answered: number,
    private readonly stopWith: (signal: AbortSignal) => unknown = (s) => s.reason,
  ) {
    super(new ScriptedLlm(32_768));
  }
  override complete(req: CompletionRequest): Promise<CompletionResult> {
    if (this.inner.requests.length < this.answered) return this.inner.complete(req);
    this.held++;
    this.arrived();
    return new Promise((_, reject) => {
      const signal = req.signal!;
      const stop = (): void => reject(this.stopWith(signal));
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
    });
  }
}
