import { useEffect, useState } from 'preact/hooks';
import { getJson, postJson } from '../api';
import { formatCount, formatTime } from '../format';
import { navigate, usePoll } from '../hooks';
import { DEAD_LETTER_SERVICES, type Answer, type DeadLetterList, type Parked, type SystemStatus } from '../types';
import { act, Empty, Loading, NeedsAdmin, Notice, Num, Page, Problem, useConfirm, useSession, Table } from '../ui';

type Service = (typeof DEAD_LETTER_SERVICES)[number];
type Filter = { parkedId: string } | { parkedIds: string[] } | { errorCode: string };

/** How often the open service's list is read again: each reading walks its whole queue. */
const LIST_EVERY_MS = 30_000;
/** How often the tabs' depths are read again: a cached reading of the broker's counts, no walk. */
const DEPTHS_EVERY_MS = 10_000;

/** What the dead-letters view reads of `GET /api/admin/system`: each service's depth (null: unknown). */
type Depths = Pick<SystemStatus, 'deadLetters'>;

/**
 * Dead letters: each service's parked messages grouped by error code, with counts; one opened
 * shows its headers, error and body; replay or discard one, a selection or a whole group.
 * Listing walks the whole queue (docs/contract.md), so only the open service is listed, gently
 * (while the page is visible), after each action and when the page is shown again; the other
 * tabs' depths come from the system summary, which counts without walking.
 */
export function DeadLetters(props: { service?: string; parkedId?: string }) {
  const session = useSession();
  const service = (DEAD_LETTER_SERVICES as readonly string[]).includes(props.service ?? '') ? (props.service as Service) : 'order';
  if (session?.role !== 'admin') return <Page title="Dead letters"><NeedsAdmin /></Page>;
  return <Letters service={service} parkedId={props.parkedId} />;
}

function Letters(props: { service: Service; parkedId?: string }) {
  const depths = usePoll(() => getJson<Depths>('/api/admin/system'), DEPTHS_EVERY_MS, []);
  // The open service's own list is fresher than the summary: its tab shows the list's depth.
  const [listed, setListed] = useState<{ service: Service; depth: number } | null>(null);
  const depthOf = (s: Service): number | null | undefined => (listed?.service === s ? listed.depth : depths.data ? (depths.data.deadLetters[s] ?? null) : depths.error ? null : undefined);
  return (
    <Page title="Dead letters" lead="Messages a service could not handle, parked until an operator replays or discards them.">
      <nav class="tabs" aria-label="Services">
        {DEAD_LETTER_SERVICES.map((s) => {
          const depth = depthOf(s);
          return (
            <a href={`#/dead-letters/${s}`} aria-current={s === props.service ? 'page' : undefined} key={s}>
              {s} <Num class="count">{depth === undefined ? '…' : depth === null ? '?' : formatCount(depth)}</Num>
            </a>
          );
        })}
      </nav>
      <ServiceLetters key={props.service} service={props.service} parkedId={props.parkedId} onListed={(depth) => setListed({ service: props.service, depth })} onChanged={() => void depths.reload()} />
    </Page>
  );
}

function ServiceLetters(props: { service: Service; parkedId?: string; onListed: (depth: number) => void; onChanged: () => void }) {
  const base = `/api/dead-letters/${props.service}`;
  const list = usePoll(() => getJson<DeadLetterList>(base), LIST_EVERY_MS, [base]);
  const listedDepth = list.data?.depth;
  useEffect(() => {
    if (listedDepth !== undefined) props.onListed(listedDepth);
  }, [listedDepth]);
  useEffect(() => {
    // Polls are skipped while the page is hidden: shown again, it reads at once.
    const shown = (): void => {
      if (!document.hidden) void list.reload();
    };
    document.addEventListener('visibilitychange', shown);
    return () => document.removeEventListener('visibilitychange', shown);
  }, [list.reload]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [notice, setNotice] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [dialog, ask] = useConfirm();

  async function apply(action: 'replay' | 'discard', filter: Filter, what: string): Promise<void> {
    if (action === 'discard' && !(await ask({ title: `Discard ${what}?`, body: 'Discarded messages are deleted for good.', confirm: 'Discard', danger: true }))) return;
    await act(async () => {
      const answer = await postJson<Partial<Answer<'replayDeadLetters'> & Answer<'discardDeadLetters'>>>(`${base}/${action}`, filter);
      setSelected(new Set());
      if ('parkedId' in filter) navigate(`/dead-letters/${props.service}`);
      props.onChanged();
      await list.reload();
      return action === 'replay' ? `${formatCount(answer.replayed ?? 0)} replayed to the queue they failed in.` : `${formatCount(answer.discarded ?? 0)} discarded.`;
    }, setNotice);
  }
  const toggle = (id: string): void => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };

  if (list.error && !list.data) return <Problem error={list.error} retry={() => void list.reload()} />;
  if (!list.data) return <Loading what={`${props.service}'s dead letters`} />;
  const { depth, items } = list.data;
  // The API groups by code and reason; an action filters by code, so the console groups by code.
  const codes = [...new Set(items.map((m) => m.errorCode))].map((code) => ({ code, messages: items.filter((m) => m.errorCode === code) }));
  const selection = [...selected].filter((id) => items.some((m) => m.parkedId === id));

  return (
    <div>
      {dialog}
      <Notice notice={notice} />
      {props.parkedId && <Opened base={base} parkedId={props.parkedId} onAction={(a, id) => void apply(a, { parkedId: id }, 'this message')} />}
      {depth === 0 ? (
        <Empty title={`Nothing parked in ${props.service}`}>
          <p>When a handler fails for good, or a message is invalid, it lands here with its error.</p>
        </Empty>
      ) : (
        <>
          <div class="row toolbar">
            <span>
              <Num>{formatCount(depth)}</Num> parked · <Num>{formatCount(selection.length)}</Num> selected
            </span>
            <button type="button" disabled={selection.length === 0} onClick={() => void apply('replay', { parkedIds: selection }, `${selection.length} selected`)}>
              Replay selected
            </button>
            <button type="button" class="danger" disabled={selection.length === 0} onClick={() => void apply('discard', { parkedIds: selection }, `${selection.length} selected messages`)}>
              Discard selected…
            </button>
          </div>
          {codes.map((g) => (
            <section class="card group" key={g.code} aria-label={`Error code ${g.code}`} data-error-code={g.code}>
              <header class="row">
                <h2>
                  <code>{g.code}</code> <Num class="count" >{formatCount(g.messages.length)}</Num>
                </h2>
                <span class="muted">{[...new Set(g.messages.map((m) => m.reason))].join(', ')}</span>
                <span class="spacer" />
                <button type="button" onClick={() => void apply('replay', { errorCode: g.code }, `every ${g.code}`)}>
                  Replay group
                </button>
                <button type="button" class="danger" onClick={() => void apply('discard', { errorCode: g.code }, `every message with ${g.code}`)}>
                  Discard group…
                </button>
              </header>
              <p class="sample">{g.messages[0]?.error}</p>
              <Table columns={[{ label: 'Select', hidden: true }, 'Parked', 'Event', 'Queue', { label: 'Attempts', right: true }]}>
                {g.messages.map((m) => (
                  <tr key={m.parkedId}>
                    <td>
                      <input type="checkbox" aria-label={`Select message ${m.parkedId}`} checked={selected.has(m.parkedId)} onChange={() => toggle(m.parkedId)} />
                    </td>
                    <td>
                      <a href={`#/dead-letters/${props.service}/${m.parkedId}`}>{formatTime(m.parkedAt)}</a>
                    </td>
                    <td class="mono">{m.eventType ?? '(not an event)'}</td>
                    <td class="mono">{m.originalQueue}</td>
                    <td class="right"><Num>{m.attempts}</Num></td>
                  </tr>
                ))}
              </Table>
            </section>
          ))}
          {items.length < depth && <p class="muted">Showing the first {formatCount(items.length)} of {formatCount(depth)}; a group's buttons act on all of its messages.</p>}
        </>
      )}
    </div>
  );
}

/** One parked message: its headers, error and body. */
function Opened(props: { base: string; parkedId: string; onAction: (action: 'replay' | 'discard', id: string) => void }) {
  const one = usePoll(() => getJson<Parked>(`${props.base}/${props.parkedId}`), 0, [props.base, props.parkedId]);
  return (
    <section class="card opened" aria-labelledby="opened-title">
      <header class="row">
        <h2 id="opened-title">Parked message</h2>
        <span class="spacer" />
        <button type="button" onClick={() => props.onAction('replay', props.parkedId)} disabled={!one.data}>
          Replay
        </button>
        <button type="button" class="danger" onClick={() => props.onAction('discard', props.parkedId)} disabled={!one.data}>
          Discard…
        </button>
        <a class="button" href={`#/dead-letters/${props.base.split('/').pop()}`}>
          Close
        </a>
      </header>
      {one.error ? (
        <Problem error={one.error} />
      ) : !one.data ? (
        <Loading what="the message" />
      ) : (
        <>
          <dl class="facts">
            {(['parkedId', 'parkedAt', 'reason', 'errorCode', 'attempts', 'originalQueue', 'originalExchange', 'originalRoutingKey', 'eventId', 'eventType'] as const).map((k) => (
              <>
                <dt>{k}</dt>
                <dd class="mono">{String(one.data![k] ?? '—')}</dd>
              </>
            ))}
          </dl>
          <h3>Error</h3>
          <pre class="error">{one.data.error}</pre>
          <h3>Body</h3>
          <pre tabIndex={0}>{typeof one.data.body === 'string' ? one.data.body : JSON.stringify(one.data.body, null, 2)}</pre>
        </>
      )}
    </section>
  );
}
