/**
 * Failed authentications per client address in fixed windows (one minute by
 * default). The per-key rate limiter runs after authentication and cannot
 * count requests that carry no valid key: 3,000 of them all got 401, each
 * paying a key lookup. Past `max` failures in a window an address gets 429
 * before any lookup until the window ends. The counts live in this process
 * (each API replica counts its own) and are dropped whole when a window ends,
 * so memory is bounded by the addresses seen in one window, capped at
 * `maxClients`.
 */
export class FailedAuthentications {
  private counts = new Map<string, number>();
  private windowStart: number;

  /**
   * @param max failures allowed per address and window (AUTH_FAILURES_PER_MINUTE); 0 turns the limit off
   * @param windowMs default 60 000
   * @param maxClients addresses tracked per window; past it new addresses are not counted (default 100 000)
   */
  constructor(
    private readonly max: number,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
    private readonly maxClients = 100_000,
  ) {
    this.windowStart = now();
  }

  /** Seconds until `client` may try again (0: it may now). */
  retryAfter(client: string): number {
    if (this.max === 0) return 0;
    this.roll();
    if ((this.counts.get(client) ?? 0) < this.max) return 0;
    return Math.max(1, Math.ceil((this.windowStart + this.windowMs - this.now()) / 1000));
  }

  record(client: string): void {
    if (this.max === 0) return;
    this.roll();
    const n = this.counts.get(client);
    if (n === undefined && this.counts.size >= this.maxClients) return;
    this.counts.set(client, (n ?? 0) + 1);
  }

  private roll(): void {
    const t = this.now();
    if (t - this.windowStart < this.windowMs) return;
    this.counts = new Map();
    this.windowStart = t;
  }
}
