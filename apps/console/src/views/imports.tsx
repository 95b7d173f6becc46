import { useRef, useState } from 'preact/hooks';
import { ApiError, download, getJson, uploadCsv } from '../api';
import { formatCount, formatDuration, formatTime, shortId } from '../format';
import { navigate, usePoll } from '../hooks';
import type { Answer, ImportProgress } from '../types';
import { act, Empty, Loading, Notice, Num, Page, Problem, StatusBadge, useSession, NeedsAdmin, Stat, Table } from '../ui';

const FINISHED = new Set(['COMPLETED', 'FAILED']);
const HEADER = 'orderRef,customerId,productId,quantity,unitPrice,paymentMethod';

/**
 * Imports: upload a CSV (drop it or pick it) with the bytes sent on a progress bar, then the
 * import's live progress (rows, orders by outcome, rate, ETA) and its rejected rows as a file;
 * below, the recent imports.
 */
export function Imports(props: { id?: string }) {
  const session = useSession();
  if (session?.role !== 'admin') return <Page title="Imports"><NeedsAdmin /></Page>;
  return (
    <Page title="Imports" lead={<>CSV files of orders, one line per row: <code>{HEADER}</code></>}>
      <Upload />
      {props.id && <Progress id={props.id} />}
      <Recent current={props.id} />
    </Page>
  );
}

function Upload() {
  const input = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  // The last upload stays on the bar once it is over: what was sent, and whether it was taken.
  const [sending, setSending] = useState<{ name: string; share: number; over: 'accepted' | 'failed' | null } | null>(null);
  const [notice, setNotice] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  async function upload(file: File | undefined): Promise<void> {
    if (!file || (sending && !sending.over)) return;
    setSending({ name: file.name, share: 0, over: null });
    let share = 0;
    const ok = await act(async () => {
      const answer = await uploadCsv(file, (sent) => setSending({ name: file.name, share: (share = sent), over: null }));
      navigate(`/imports/${answer.importId}`);
      return `${file.name} accepted: ${formatCount(answer.rows.accepted)} rows to import, ${formatCount(answer.rows.rejected)} rejected.`;
    }, setNotice);
    setSending({ name: file.name, share, over: ok ? 'accepted' : 'failed' });
    if (input.current) input.current.value = '';
  }

  return (
    <div
      class={`dropzone card ${dragging ? 'dragging' : ''}`}
      data-testid="dropzone"
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        void upload(e.dataTransfer?.files[0]);
      }}
    >
      <p>
        <strong>Drop a CSV file here</strong> or
      </p>
      <label class="button" for="csv-file">
        Choose a file…
      </label>
      <input id="csv-file" ref={input} type="file" accept=".csv,text/csv" class="sr-only" onChange={(e) => void upload((e.target as HTMLInputElement).files?.[0])} />
      <div class="upload-progress">
        <label for="upload-bar">
          {!sending ? 'No upload yet' : sending.over === 'accepted' ? `Uploaded ${sending.name}` : sending.over === 'failed' ? `Upload of ${sending.name} failed` : `Uploading ${sending.name}…`}
        </label>
        <progress id="upload-bar" max={1} value={sending?.share ?? 0} />
        <Num class="percent">{sending ? `${Math.round(sending.share * 100)} %` : ''}</Num>
      </div>
      <Notice notice={notice} />
    </div>
  );
}

function Progress(props: { id: string }) {
  const [finished, setFinished] = useState(false);
  const progress = usePoll(
    async () => {
      try {
        const p = await getJson<ImportProgress>(`/api/imports/${encodeURIComponent(props.id)}`);
        setFinished(FINISHED.has(p.state));
        return p;
      } catch (err) {
        // The read side follows the worker through events: right after the upload it may not know the import yet.
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }
    },
    finished ? 0 : 1000,
    [props.id],
  );
  const [notice, setNotice] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const p = progress.data;

  return (
    <section class="card import" aria-labelledby="import-title" data-testid="import-progress">
      <h2 id="import-title">
        Import {shortId(props.id)} {p && <StatusBadge status={p.state} />}
      </h2>
      {progress.error ? (
        <Problem error={progress.error} retry={() => void progress.reload()} />
      ) : !p ? (
        <Loading what="the import's progress" />
      ) : (
        <>
          {p.failure && <p class="state state-error">{p.failure}</p>}
          <progress class="wide" max={Math.max(1, p.orders.created)} value={p.orders.created - p.orders.pending} aria-label="Orders settled" />
          <dl class="stats">
            <Stat label="Rows read" value={formatCount(p.rows.read)} />
            <Stat label="Rows accepted" value={formatCount(p.rows.accepted)} />
            <Stat label="Rows rejected" value={formatCount(p.rows.rejected)} testid="rows-rejected" />
            <Stat label="Orders created" value={formatCount(p.orders.created)} />
            <Stat label="Pending" value={formatCount(p.orders.pending)} />
            <Stat label="Confirmed" value={formatCount(p.orders.confirmed)} />
            <Stat label="Rejected" value={formatCount(p.orders.rejected)} />
            <Stat label="Cancelled" value={formatCount(p.orders.cancelled)} />
            <Stat label="Imported before" value={formatCount(p.orders.alreadyImported)} />
            <Stat label="Rows per second" value={formatCount(p.rate.rowsPerSecond)} />
            <Stat label="Orders per second" value={formatCount(p.rate.ordersPerSecond)} />
            <Stat label="Elapsed" value={formatDuration(p.timings.elapsedSeconds)} />
            <Stat label="ETA" value={p.state === 'COMPLETED' ? 'done' : formatDuration(p.etaSeconds)} />
          </dl>
          <div class="row">
            <button
              type="button"
              disabled={p.rows.rejected === 0}
              onClick={() => void act(async () => (await download(`/api/imports/${p.importId}/errors`, `rejected-${p.importId}.csv`), 'Rejected rows downloaded.'), setNotice)}
            >
              Download rejected rows ({formatCount(p.rows.rejected)})
            </button>
          </div>
          <Notice notice={notice} />
        </>
      )}
    </section>
  );
}

function Recent(props: { current?: string }) {
  const list = usePoll(() => getJson<Answer<'listImports'>>('/api/imports?limit=20'), 5000, []);
  return (
    <section aria-labelledby="recent-title">
      <h2 id="recent-title">Recent imports</h2>
      {list.error ? (
        <Problem error={list.error} retry={() => void list.reload()} />
      ) : !list.data ? (
        <Loading what="recent imports" />
      ) : list.data.items.length === 0 ? (
        <Empty title="No imports yet">
          <p>Upload a CSV above, or from a terminal: <code>npm run import -- orders.csv</code>.</p>
        </Empty>
      ) : (
        <Table columns={['Import', 'State', 'Started', { label: 'Rows', right: true }, { label: 'Rejected rows', right: true }, { label: 'Orders', right: true }, { label: 'Confirmed', right: true }]}>
          {list.data.items.map((i) => (
            <tr key={i.importId} aria-current={i.importId === props.current ? 'true' : undefined}>
              <td>
                <a href={`#/imports/${i.importId}`} class="mono">
                  {shortId(i.importId)}
                </a>
              </td>
              <td>
                <StatusBadge status={i.state} />
              </td>
              <td>{formatTime(i.timings.startedAt)}</td>
              <td class="right"><Num>{formatCount(i.rows.read)}</Num></td>
              <td class="right"><Num>{formatCount(i.rows.rejected)}</Num></td>
              <td class="right"><Num>{formatCount(i.orders.created)}</Num></td>
              <td class="right"><Num>{formatCount(i.orders.confirmed)}</Num></td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}
