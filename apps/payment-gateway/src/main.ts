import { loadConfig } from '@orderflow/config';
import { errorMessage } from '@orderflow/errors';
import { createLogger } from '@orderflow/logging';
import { gatewayConfigSchema } from './config';
import { buildGateway } from './gateway';

/**
 * The payment gateway simulator: a stand-in for the card payment provider the payment service
 * calls over HTTP (docs/payment-gateway.md). Not one of our services: no broker, no events,
 * not behind Nginx; its ledger survives its restarts.
 */
const config = loadConfig(gatewayConfigSchema);
const logger = createLogger({ service: 'payment-gateway', level: config.LOG_LEVEL });
const gateway = buildGateway(config, { logger });

async function main(): Promise<void> {
  await gateway.start();
  const server = await new Promise<ReturnType<typeof gateway.app.listen>>((resolve, reject) => {
    const s = gateway.app.listen(config.PORT, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  // Longer than the payment service's keep-alive idle time: the caller closes idle connections, not us mid-request.
  server.keepAliveTimeout = 65_000;
  logger.info('listening', { port: config.PORT, behaviour: gateway.switchboard.behaviour });
  const shutdown = (signal: string): void => {
    logger.info('shutting down', { signal });
    server.close();
    // Requests hanging in a `timeout` outage would hold the close for ever.
    server.closeAllConnections();
    void gateway.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  logger.error('cannot start', { err: errorMessage(err) });
  process.exit(1);
});
