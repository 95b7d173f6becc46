import { Counter, Registry } from 'prom-client';
import { metricSet } from '../src';

const counter = (r: Registry | undefined) => new Counter({ name: 'things_total', help: 'Things', registers: r ? [r] : [] });

describe('one metric set per registry', () => {
  it('is made once per registry and key, and separately for another registry; without a registry, each caller gets one nobody serves', async () => {
    const [a, b] = [new Registry(), new Registry()];
    const first = metricSet(a, 'things', counter);
    expect(metricSet(a, 'things', counter)).toBe(first);
    first.inc();
    metricSet(b, 'things', counter).inc(2);
    expect(await a.getSingleMetricAsString('things_total')).toMatch(/things_total 1$/);
    expect(await b.getSingleMetricAsString('things_total')).toMatch(/things_total 2$/);
    expect(metricSet(undefined, 'things', counter)).not.toBe(metricSet(undefined, 'things', counter));
  });
});
