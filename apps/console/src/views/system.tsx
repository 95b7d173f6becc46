import { getJson } from '../api';
import { formatCount, formatDuration, formatMs, formatTime } from '../format';
import { usePoll } from '../hooks';
import type { SystemStatus } from '../types';
import { Loading, NeedsAdmin, Num, Page, Problem, StatusBadge, Stat, useSession, Table } from '../ui';

/** System: is everything up, is anything piling up, and how fast do orders go through. */
export function System() {
  const session = useSession();
  if (session?.role !== 'admin') return <Page title="System"><NeedsAdmin /></Page>;
  return <Overview />;
}

function Overview() {
  const status = usePoll(() => getJson<SystemStatus>('/api/admin/system'), 2000, []);
  const s = status.data;
  // The outbox names its services as text; the depths are keyed by the services with a dead-letter queue.
  const deadLetters: Partial<Record<string, number | null>> = s?.deadLetters ?? {};
  return (
    <Page title="System" lead={s ? <>As of {formatTime(s.at)}, updated every 2 s.</> : 'Every process, queue and backlog, updated every 2 s.'}>
      {status.error && !s ? (
        <Problem error={status.error} retry={() => void status.reload()} />
      ) : !s ? (
        <Loading what="the system's state" />
      ) : (
        <>
          {status.error && <Problem error={status.error} />}
          <dl class="stats figures card">
            <Stat label="Processes ready" value={`${s.processes.filter((p) => p.ready).length} / ${s.processes.length}`} />
            <Stat label="Placed, last minute" value={formatCount(s.ordersLastMinute.placed.api + s.ordersLastMinute.placed.import)} />
            <Stat label="Confirmed" value={formatCount(s.ordersLastMinute.finished.CONFIRMED)} />
            <Stat label="Rejected" value={formatCount(s.ordersLastMinute.finished.REJECTED)} />
            <Stat label="Cancelled" value={formatCount(s.ordersLastMinute.finished.CANCELLED)} />
            <Stat label={`Saga p50 · p95 · p99 (${s.saga.orders} orders, ${s.saga.windowMinutes} min)`} value={`${seconds(s.saga.p50)} · ${seconds(s.saga.p95)} · ${seconds(s.saga.p99)}`} />
          </dl>
          <div class="grid-2">
            <section aria-labelledby="processes-title">
              <h2 id="processes-title">Processes</h2>
              {s.processes.length === 0 ? (
                <p class="state state-warn">No process to ask: set SYSTEM_PROCESS_URLS of the order service (docs/operations.md, "Operator console").</p>
              ) : (
                <Table columns={['Process', 'Ready', 'Broker', { label: 'Consumers', right: true }]}>
                  {s.processes.map((p) => {
                    const consumers = Object.values(p.consumers);
                    return (
                      <tr key={p.name} data-process={p.name} class={p.ready ? '' : 'down'}>
                        <th scope="row">
                          {p.name}
                          {p.error && <div class="field-error">{p.error}</div>}
                        </th>
                        <td>
                          <StatusBadge status={p.ready ? 'READY' : 'NOT READY'} />
                        </td>
                        <td>{p.broker === null ? '—' : p.broker.connected ? 'connected' : 'away'}</td>
                        <td class="right" title={Object.entries(p.consumers).map(([q, c]) => `${q}: ${c.state}`).join('\n')}>
                          <Num>{`${consumers.filter((c) => c.active).length} / ${consumers.length}`}</Num>
                        </td>
                      </tr>
                    );
                  })}
                </Table>
              )}
              <h2>Backlogs</h2>
              <Table columns={['Service', { label: 'Outbox lag', right: true }, { label: 'Dead letters', right: true }]}>
                {s.outbox.map(({ service, lagSeconds }) => (
                  <tr key={service}>
                    <th scope="row">{service}</th>
                    <td class="right"><Num>{lagSeconds === null ? 'unknown' : formatDuration(lagSeconds)}</Num></td>
                    <td class="right">
                      <Num>{deadLetters[service] == null ? 'unknown' : <a href={`#/dead-letters/${service}`}>{formatCount(deadLetters[service])}</a>}</Num>
                    </td>
                  </tr>
                ))}
              </Table>
            </section>
            <section aria-labelledby="queues-title">
              <h2 id="queues-title">Queues</h2>
              {s.queues === null ? (
                <p class="state state-warn">The broker cannot be asked right now (it is away?); the next reading tries again.</p>
              ) : (
                <Table columns={['Queue', { label: 'Ready messages', right: true }, { label: 'Consumers', right: true }]}>
                  {s.queues.map((q) => (
                    <tr key={q.name}>
                      <th scope="row" class="mono">{q.name}</th>
                      <td class="right"><Num>{formatCount(q.messages)}</Num></td>
                      <td class="right"><Num>{formatCount(q.consumers)}</Num></td>
                    </tr>
                  ))}
                </Table>
              )}
            </section>
          </div>
        </>
      )}
    </Page>
  );
}

/** Seconds of the saga, in the unit that reads best. */
const seconds = (s: number | null): string => (s === null ? '—' : formatMs(s * 1000));

