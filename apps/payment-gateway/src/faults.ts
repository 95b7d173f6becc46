import { EventEmitter, once } from 'node:events';

/**
 * How the simulated gateway misbehaves, changeable while it runs (the admin endpoints), so that
 * tests and operators can show what the payment service does when its gateway is slow, flaky
 * or down. Kept in memory: a restarted simulator starts from its configuration again.
 */

/** `unavailable`: every API request is answered 503 at once. `timeout`: no answer at all until the outage ends. */
export type OutageMode = 'unavailable' | 'timeout';

/** The operations of the API, as the metrics and the latency switch name them. */
export const OPERATIONS = ['charge', 'refund', 'void', 'lookup'] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface Behaviour {
  /** Switched on by an operator (PUT /admin/outage); null when the gateway serves. */
  outage: OutageMode | null;
  /** Added to every API answer, after the work is done: a late answer, not a later charge. */
  latencyMs: number;
  /** The operations `latencyMs` delays; absent: all of them. */
  latencyOperations?: Operation[];
  /** Probability in [0, 1] that an API request is answered 503 without being processed. */
  failureRate: number;
}

/** What happens to one API request. */
export type Disruption =
  | { kind: 'none' }
  | { kind: 'unavailable'; why: 'outage' | 'transient failure' }
  | { kind: 'hang' };

/** How much later than its work an answer to `operation` comes under `behaviour`. */
export function latencyOf(behaviour: Behaviour, operation: Operation): number {
  return !behaviour.latencyOperations || behaviour.latencyOperations.includes(operation) ? behaviour.latencyMs : 0;
}

/** The fate of a request under `behaviour`; `random` in [0, 1) decides a transient failure. */
export function disruptionOf(behaviour: Behaviour, random: number): Disruption {
  if (behaviour.outage === 'timeout') return { kind: 'hang' };
  if (behaviour.outage === 'unavailable') return { kind: 'unavailable', why: 'outage' };
  if (random < behaviour.failureRate) return { kind: 'unavailable', why: 'transient failure' };
  return { kind: 'none' };
}

/** The behaviour now, and a way to wait for the end of an outage. */
export class Switchboard {
  private current: Behaviour;
  private readonly changes = new EventEmitter();

  constructor(initial: Behaviour) {
    this.current = { ...initial };
    // Every request hanging in a `timeout` outage waits for the change.
    this.changes.setMaxListeners(0);
  }

  get behaviour(): Behaviour {
    return { ...this.current };
  }

  set(change: Partial<Behaviour>): Behaviour {
    this.current = { ...this.current, ...change };
    this.changes.emit('change');
    return this.behaviour;
  }

  /** Resolves once no `timeout` outage is on any more, or `signal` aborts (the client went away). */
  async outageOver(signal: AbortSignal): Promise<void> {
    while (this.current.outage === 'timeout' && !signal.aborted) {
      await once(this.changes, 'change', { signal }).catch(() => undefined);
    }
  }
}
