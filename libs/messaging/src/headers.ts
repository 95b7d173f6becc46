/** Message headers the retry and dead-letter machinery reads and writes. */
export const H = {
  attempt: 'x-attempt',
  originalExchange: 'x-original-exchange',
  originalRoutingKey: 'x-original-routing-key',
  originalQueue: 'x-original-queue',
  lastError: 'x-last-error',
  parkedId: 'x-parked-id',
  parkedAt: 'x-parked-at',
  parkReason: 'x-park-reason',
  error: 'x-error',
  errorCode: 'x-error-code',
  attempts: 'x-attempts',
  replayedAt: 'x-replayed-at',
} as const;

export type Headers = Record<string, unknown>;

export function attemptOf(headers: Headers | undefined): number {
  const n = Number(headers?.[H.attempt] ?? 1);
  return Number.isInteger(n) && n > 0 ? n : 1;
}
