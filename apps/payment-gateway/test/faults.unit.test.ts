import { disruptionOf, Switchboard, type Behaviour } from '../src/faults';

const serving: Behaviour = { outage: null, latencyMs: 0, failureRate: 0 };

describe('what the simulator does to a request', () => {
  it('serves every request while no outage is on and the failure rate is 0', () => {
    for (const random of [0, 0.5, 0.999]) expect(disruptionOf(serving, random)).toEqual({ kind: 'none' });
  });

  it('answers 503 to every request while the outage switch is on, and hangs them in timeout mode', () => {
    for (const random of [0, 0.999]) {
      expect(disruptionOf({ ...serving, outage: 'unavailable' }, random)).toEqual({ kind: 'unavailable', why: 'outage' });
      expect(disruptionOf({ ...serving, outage: 'timeout', failureRate: 1 }, random)).toEqual({ kind: 'hang' });
    }
  });

  it('fails about the failure rate of requests, transiently', () => {
    const behaviour = { ...serving, failureRate: 0.2 };
    const outcomes = Array.from({ length: 1000 }, (_, i) => disruptionOf(behaviour, i / 1000).kind);
    expect(outcomes.filter((k) => k === 'unavailable')).toHaveLength(200);
    expect(disruptionOf(behaviour, 0.1)).toEqual({ kind: 'unavailable', why: 'transient failure' });
  });
});

describe('the switchboard', () => {
  it('a request hanging in a timeout outage is released when the outage is switched off', async () => {
    const board = new Switchboard({ ...serving, outage: 'timeout' });
    let released = false;
    const waiting = board.outageOver(new AbortController().signal).then(() => (released = true));
    await new Promise((r) => setTimeout(r, 20));
    board.set({ latencyMs: 5 });
    await new Promise((r) => setTimeout(r, 20));
    expect(released).toBe(false);
    board.set({ outage: null });
    await waiting;
    expect(released).toBe(true);
    expect(board.behaviour).toEqual({ outage: null, latencyMs: 5, failureRate: 0 });
  });

  it('a hanging request whose caller gave up stops waiting', async () => {
    const board = new Switchboard({ ...serving, outage: 'timeout' });
    const gone = new AbortController();
    const waiting = board.outageOver(gone.signal);
    gone.abort();
    await waiting;
    expect(board.behaviour.outage).toBe('timeout');
  });
});
