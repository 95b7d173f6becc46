import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { bearer, waitFor } from '@orderflow/testkit';
import { cancellation, paymentServiceUnderTest, reservation, type PaymentServiceUnderTest } from './support';

/** Per `kind/outcome`, the value of a payments counter in Prometheus text. */
function byKind(text: string, name: string): Record<string, number> {
  const values: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}\\{(.*)\\} (\\S+)$`).exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    values[`${labels.kind}/${labels.outcome}`] = Number(m[2]);
  }
  return values;
}

describe('the payment service counts charges and refunds once they commit (real PostgreSQL and RabbitMQ, the gateway simulator)', () => {
  let sut: PaymentServiceUnderTest;

  beforeAll(async () => {
    sut = await paymentServiceUnderTest();
  });
  afterAll(() => sut.stop());

  const paymentsOf = async (orderId: string) => (await request(sut.service.app).get(`/api/payments?orderId=${orderId}`).set('Authorization', bearer('ops', 'admin'))).body.items as Array<{ type: string; status: string }>;
  const metrics = async () => {
    const text = (await request(sut.service.app).get('/metrics')).text;
    return { counts: byKind(text, 'orderflow_payments_total'), amounts: byKind(text, 'orderflow_payments_amount_total') };
  };

  it('a flaky card (two rolled-back attempts), a declined card, a charge delivered twice and a refund count once each, with their amounts', async () => {
    expect(await metrics()).toEqual({
      counts: { 'charge/succeeded': 0, 'charge/failed': 0, 'refund/succeeded': 0, 'refund/failed': 0 },
      amounts: { 'charge/succeeded': 0, 'charge/failed': 0, 'refund/succeeded': 0, 'refund/failed': 0 },
    });
    const [flaky, declined, twice] = [randomUUID(), randomUUID(), randomUUID()];
    const again = reservation(twice, 'pm_card_ok', 5.25);
    await sut.send(reservation(flaky, 'pm_card_flaky', 20), reservation(declined, 'pm_card_declined', 12.5), again, again);
    await waitFor(async () => (await paymentsOf(flaky)).some((p) => p.status === 'SUCCEEDED'), 'the flaky charge, on its third delivery');
    await sut.send(cancellation(twice, 5.25));
    await waitFor(async () => (await paymentsOf(twice)).some((p) => p.type === 'REFUND'), 'the refund');
    await waitFor(async () => (await paymentsOf(declined)).some((p) => p.status === 'FAILED'), 'the declined charge');
    expect(await metrics()).toEqual({
      counts: { 'charge/succeeded': 2, 'charge/failed': 1, 'refund/succeeded': 1, 'refund/failed': 0 },
      amounts: { 'charge/succeeded': 25.25, 'charge/failed': 12.5, 'refund/succeeded': 5.25, 'refund/failed': 0 },
    });
  });
});
