import type { ChannelModel, ConfirmChannel, GetMessage } from 'amqplib';
import { isPreconditionFailed, onOwnChannel, type QueueDeclaration } from './topology';

/** What `migrateQueue` did to one queue. */
export interface QueueMigration {
  queue: string;
  /** `declared`: it was already as declared (or did not exist and was created); `migrated`: re-created with its messages. */
  outcome: 'declared' | 'migrated';
  /** Messages moved back into the re-created queue. */
  moved: number;
}

export interface MigrateOptions {
  /** Progress lines for an operator. */
  log?: (line: string) => void;
  /** Messages taken per confirm window while moving. Default 500. */
  window?: number;
}

/** The quorum queue that holds a queue's messages while it is re-created (left behind by a crash, found again by a re-run). */
export const holdingQueueOf = (queue: string): string => `${queue}.migrating`;


/** Whether the queue exists as `declaration` says (created when missing): false when it exists otherwise. */
async function isAsDeclared(conn: ChannelModel, declaration: QueueDeclaration): Promise<boolean> {
  try {
    await onOwnChannel(conn, (ch) => ch.assertQueue(declaration.name, { durable: true, arguments: declaration.arguments }));
    return true;
  } catch (err) {
    if (isPreconditionFailed(err)) return false;
    throw err;
  }
}

/**
 * The declaration of a quorum queue by the versions before dead-lettering went through the
 * service's direct exchange (it used the default exchange), or undefined for a queue that
 * dead-letters nothing (unchanged).
 */
function beforeDirectExchange(declaration: QueueDeclaration): QueueDeclaration | undefined {
  if (!('x-dead-letter-exchange' in declaration.arguments)) return undefined;
  return { ...declaration, arguments: { ...declaration.arguments, 'x-dead-letter-exchange': '' } };
}

async function exists(conn: ChannelModel, queue: string): Promise<boolean> {
  try {
    await onOwnChannel(conn, (ch) => ch.checkQueue(queue));
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code === 404) return false;
    throw err;
  }
}

async function consumersOn(conn: ChannelModel, queue: string): Promise<number> {
  return (await onOwnChannel(conn, (ch) => ch.checkQueue(queue))).consumerCount;
}

/**
 * Moves every message ready in `from` to `to`, in windows: each message is published
 * (mandatory, persistent as it was, same properties and headers) and the window acked only
 * once the broker confirmed every copy. A crash in between leaves the originals in `from`
 * (and perhaps a copy in `to`: a duplicate, which the consumers' inbox drops). Returns how many.
 */
async function move(conn: ChannelModel, from: string, to: string, window: number): Promise<number> {
  const ch: ConfirmChannel = await conn.createConfirmChannel();
  let returned: string | undefined;
  ch.on('return', (msg: GetMessage) => {
    returned ??= `${msg.fields.routingKey}: ${(msg.fields as { replyText?: string }).replyText ?? 'returned'}`;
  });
  let failure: unknown;
  ch.on('error', (err: unknown) => {
    failure ??= err;
  });
  let moved = 0;
  try {
    for (;;) {
      let last: GetMessage | undefined;
      let taken = 0;
      while (taken < window) {
        const msg = await ch.get(from, { noAck: false });
        if (!msg) break;
        // userId must match the connection's user, so it is not carried over; our messages have none.
        const { userId: _userId, ...properties } = msg.properties as GetMessage['properties'] & { userId?: unknown };
        // The broker's count of this queue's deliveries is no part of the message.
        const { 'x-delivery-count': _count, ...headers } = (msg.properties.headers ?? {}) as Record<string, unknown>;
        ch.publish('', to, msg.content, { ...(properties as object), headers, mandatory: true });
        last = msg;
        taken++;
      }
      if (!last) break;
      await ch.waitForConfirms();
      if (returned !== undefined) throw new Error(`moving ${from} to ${to}: the broker returned a copy (${returned}); nothing of this window was removed from ${from}`);
      ch.ack(last, true);
      moved += taken;
      if (taken < window) break;
    }
  } catch (err) {
    throw failure ?? err;
  } finally {
    // Closing returns whatever was taken and not acked to `from`.
    await ch.close().catch(() => undefined);
  }
  return moved;
}

/**
 * Re-creates one queue as `declaration` says, keeping its messages — how a classic queue of an
 * earlier version becomes the quorum queue of the same name (RabbitMQ cannot change a queue's
 * type in place), and how the quorum queues of a version that dead-lettered through the default
 * exchange get their service's direct exchange (a queue's arguments cannot change either). Its
 * messages are moved, with confirms, into a holding quorum queue (`<queue>.migrating`, bound
 * like the queue meanwhile so that publishes are not lost), the queue is deleted (only if
 * unused and empty) and declared anew with its bindings, and the
 * messages are moved back, again with confirms; then the holding queue is deleted.
 *
 * Idempotent and safe to re-run after a crash at any point: a queue that is as declared and has
 * no holding queue is left alone; a holding queue found is emptied into the queue. A crash
 * mid-move can leave a message in both places: a duplicate, dropped by the consumer's inbox.
 * Consumers must be stopped: a queue with consumers is refused before anything is changed.
 */
export async function migrateQueue(conn: ChannelModel, declaration: QueueDeclaration, options: MigrateOptions = {}): Promise<QueueMigration> {
  const { name, bindings } = declaration;
  const window = options.window ?? 500;
  const log = options.log ?? (() => undefined);
  const holding = holdingQueueOf(name);
  const asDeclared = await isAsDeclared(conn, declaration);
  if (asDeclared && !(await exists(conn, holding))) return { queue: name, outcome: 'declared', moved: 0 };

  if (!asDeclared) {
    const consumers = await consumersOn(conn, name);
    if (consumers > 0) {
      throw new Error(`queue ${name} has ${consumers} consumer(s): stop the services that consume it, then run the migration again (nothing was changed)`);
    }
    const earlier = beforeDirectExchange(declaration);
    // A quorum queue already (the broker refuses conditional deletes of those, see below).
    const quorum = earlier !== undefined && (await isAsDeclared(conn, earlier));
    await onOwnChannel(conn, (ch) => ch.assertQueue(holding, { durable: true, arguments: { 'x-queue-type': 'quorum' } }));
    let held = await move(conn, name, holding, window);
    // From here on what is published for the queue also lands in the holding queue.
    await onOwnChannel(conn, async (ch) => {
      for (const b of bindings) await ch.bindQueue(holding, b.exchange, b.routingKey);
    });
    for (let tries = 1; ; tries++) {
      held += await move(conn, name, holding, window);
      if (quorum) {
        // A quorum queue refuses if-unused/if-empty deletes (NOT_IMPLEMENTED, which closes the
        // connection): checked, then deleted. What the exchanges route to it meanwhile also
        // lands in the holding queue (bound alike), and the services are stopped.
        const { messageCount, consumerCount } = await onOwnChannel(conn, (ch) => ch.checkQueue(name));
        if (consumerCount > 0) throw new Error(`queue ${name} got ${consumerCount} consumer(s) during its migration: stop them and run it again (its messages wait in ${holding})`);
        if (messageCount > 0 && tries < 20) continue;
        if (messageCount > 0) throw new Error(`${name} keeps receiving messages; run the migration again (nothing is lost)`);
        await onOwnChannel(conn, (ch) => ch.deleteQueue(name));
        break;
      }
      try {
        // Only a classic queue takes these conditions; the broker checks them atomically, so a
        // message that arrives after the move is not deleted with it.
        await onOwnChannel(conn, (ch) => ch.deleteQueue(name, { ifUnused: true, ifEmpty: true }));
        break;
      } catch (err) {
        // A message arrived after the move, or a consumer attached: move again, or stop.
        if (!isPreconditionFailed(err) || tries >= 20) throw err;
        const consumers = await consumersOn(conn, name);
        if (consumers > 0) throw new Error(`queue ${name} got ${consumers} consumer(s) during its migration: stop them and run it again (its messages wait in ${holding})`);
      }
    }
    log(`${name}: ${held} message(s) held in ${holding}; queue deleted`);
    if (!(await isAsDeclared(conn, declaration))) throw new Error(`queue ${name} could not be declared as a quorum queue after its deletion`);
  }

  // The queue is as declared; its messages (if any) wait in the holding queue.
  let moved = await move(conn, holding, name, window);
  await onOwnChannel(conn, async (ch) => {
    for (const b of bindings) await ch.bindQueue(name, b.exchange, b.routingKey);
    for (const b of bindings) await ch.unbindQueue(holding, b.exchange, b.routingKey);
  });
  // Unbound now, so nothing routes into the holding queue any more. (Quorum queues refuse
  // if-empty deletes with NOT_IMPLEMENTED, which would close the connection: check, then delete.)
  for (let tries = 1; ; tries++) {
    moved += await move(conn, holding, name, window);
    const { messageCount } = await onOwnChannel(conn, (ch) => ch.checkQueue(holding));
    if (messageCount === 0) break;
    if (tries >= 20) throw new Error(`${holding} keeps receiving messages; run the migration again (nothing is lost)`);
  }
  await onOwnChannel(conn, (ch) => ch.deleteQueue(holding));
  log(`${name}: ${asDeclared ? 'found its holding queue; ' : ''}re-created as declared, ${moved} message(s) moved back`);
  return { queue: name, outcome: 'migrated', moved };
}

/**
 * Migrates queues in a safe order: first those that dead-letter on a TTL (retry queues: once
 * quorum, they dead-letter at least once and wait for a work queue being re-created instead of
 * dropping the message), then queues that dead-letter nothing, then the rest.
 */
export async function migrateQueues(conn: ChannelModel, declarations: readonly QueueDeclaration[], options: MigrateOptions = {}): Promise<QueueMigration[]> {
  const rank = (d: QueueDeclaration): number => ('x-message-ttl' in d.arguments ? 0 : 'x-dead-letter-exchange' in d.arguments ? 2 : 1);
  const ordered = [...declarations].sort((a, b) => rank(a) - rank(b));
  const results: QueueMigration[] = [];
  for (const declaration of ordered) results.push(await migrateQueue(conn, declaration, options));
  return results;
}
