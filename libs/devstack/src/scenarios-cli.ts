/**
 * `npm run scenarios [-- --orders 50 --gateway http://127.0.0.1:8080]`: runs the classic
 * scenarios (scenarios.ts) through the gateway of a running system (`npm start`).
 *
 *   --gateway URL   the gateway (default $GATEWAY_URL or http://127.0.0.1:8080)
 *   --orders N      orders of the payment-failure batch, 1–150 (default 50)
 *   --timeout S     longest wait for one scenario's outcome, in seconds (default 60)
 * Tokens are minted as `npm run token` does: HS256 with $JWT_SECRET or the local development
 * secret, `iss`/`aud` from $JWT_ISSUER/$JWT_AUDIENCE or their defaults.
 * Exit code 0 when every scenario ended as expected, 1 when one did not, 2 when they could not run.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER, DEV_JWT_SECRET, signToken, type Role } from '@orderflow/http';
import { gatewayCall, runScenarios } from './scenarios';

// The notification history answers at most 500 per query, and each order of the batch sends 3.
const MAX_ORDERS = 150;

const { values } = parseArgs({
  options: {
    gateway: { type: 'string', default: process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080' },
    orders: { type: 'string', default: '50' },
    timeout: { type: 'string', default: '60' },
  },
});

const token = (sub: string, role: Role): string =>
  signToken({ sub, role }, process.env.JWT_SECRET || DEV_JWT_SECRET, {
    ttl: '1h',
    issuer: process.env.JWT_ISSUER || DEFAULT_JWT_ISSUER,
    audience: process.env.JWT_AUDIENCE || DEFAULT_JWT_AUDIENCE,
  });

async function main(): Promise<number> {
  const orders = Number(values.orders);
  const timeoutS = Number(values.timeout);
  if (!Number.isInteger(orders) || orders < 1 || orders > MAX_ORDERS) throw new Error(`--orders must be an integer from 1 to ${MAX_ORDERS}`);
  if (!(timeoutS > 0)) throw new Error('--timeout must be a positive number of seconds');
  const gateway = values.gateway;
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`Orderflow scenarios through ${gateway}`);
  const results = await runScenarios({
    call: gatewayCall(gateway),
    adminToken: token('scenarios', 'admin'),
    customerToken: (customerId) => token(customerId, 'customer'),
    orders,
    runId: `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`,
    say,
    timeoutMs: timeoutS * 1000,
  });
  const failed = results.filter((r) => !r.ok);
  say('');
  say(failed.length === 0 ? `all ${results.length} scenarios ended as expected` : `${failed.length} of ${results.length} scenarios did not end as expected`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    const reason = (err.cause as Error | undefined)?.message ?? err.message;
    process.stderr.write(`scenarios could not run: ${reason}\n(is the system running? npm start)\n`);
    process.exitCode = 2;
  },
);
