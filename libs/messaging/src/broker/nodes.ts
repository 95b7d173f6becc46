/** `host:port` of a broker URL: what logs show of a node (never its credentials). */
export function nodeAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === 'amqps:' ? '5671' : '5672')}`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * The order in which nodes are tried: shuffled once, so that the processes of a fleet spread
 * over the nodes, then round-robin, so that after losing its node a process tries the others
 * before coming back to it.
 */
export class NodeRotation {
  private readonly order: string[];
  private next = 0;

  constructor(urls: readonly string[], random: () => number = Math.random) {
    if (urls.length === 0) throw new Error('no broker URL given');
    this.order = [...urls];
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [this.order[i], this.order[j]] = [this.order[j]!, this.order[i]!];
    }
  }

  get size(): number {
    return this.order.length;
  }

  /** The next node to try. */
  take(): string {
    const url = this.order[this.next % this.order.length]!;
    this.next = (this.next + 1) % this.order.length;
    return url;
  }
}

/**
 * Exponential backoff with jitter (each delay between 0.8 and 1.2 times its base, so a fleet
 * does not retry in step), capped: the delay after the `round`-th round of refusals (1-based).
 */
export function backoffDelay(round: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(maxMs / 1.2, initialMs * 2 ** Math.max(0, round - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}
