import type { ComponentChildren } from 'preact';
import { useContext, useRef, useState } from 'preact/hooks';
import { createContext } from 'preact';
import { ApiError } from './api';
import type { Session } from './session';

/** The signed-in operator, for the views that need the name or the role. */
export const SessionContext = createContext<Session | null>(null);
export const useSession = (): Session | null => useContext(SessionContext);

export function Page(props: { title: string; lead?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="page" aria-labelledby="page-title">
      <header class="page-head">
        <div>
          <h1 id="page-title" tabIndex={-1}>
            {props.title}
          </h1>
          {props.lead && <p class="lead">{props.lead}</p>}
        </div>
        {props.actions && <div class="page-actions">{props.actions}</div>}
      </header>
      {props.children}
    </section>
  );
}

/** A number that may change while it is read: tabular digits in a box that does not resize. */
export const Num = (props: { children: ComponentChildren; class?: string }) => <span class={`num ${props.class ?? ''}`}>{props.children}</span>;

/** A labelled figure of a <dl> that updates in place; `testid` lets the browser tests read it. */
export const Stat = (props: { label: string; value: string; testid?: string }) => (
  <div>
    <dt>{props.label}</dt>
    <dd>
      <Num>
        <span data-testid={props.testid}>{props.value}</span>
      </Num>
    </dd>
  </div>
);

/** A column's heading: right-aligned over figures; hidden (read by screen readers only) over a column of controls. */
export type Column = string | { label: string; right?: boolean; hidden?: boolean };

/** A table in its scrolling box, under its column headings; its rows are the children. */
export function Table(props: { columns: Column[]; caption?: string; class?: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap">
      <table class={props.class}>
        {props.caption && <caption class="sr-only">{props.caption}</caption>}
        <thead>
          <tr>
            {props.columns.map((column, i) => {
              const c = typeof column === 'string' ? { label: column } : column;
              return (
                <th scope="col" class={c.right ? 'right' : undefined} key={i}>
                  {c.hidden ? <span class="sr-only">{c.label}</span> : c.label}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

export function StatusBadge(props: { status: string }) {
  return <span class={`badge badge-${props.status.toLowerCase().replace(/[^a-z]+/g, '-')}`}>{props.status}</span>;
}

/** What an admin view shows to a token that is not an admin's (the services answered 403, or the token says so). */
export function NeedsAdmin() {
  const session = useSession();
  return (
    <div class="state state-warn" role="alert" data-state="needs-admin">
      <h2>This view needs an admin token</h2>
      <p>
        You are signed in as <strong>{session?.sub ?? 'someone'}</strong> with the role <strong>{session?.role ?? 'unknown'}</strong>. Stock, imports, dead
        letters and the system are for operators.
      </p>
      <p>
        Sign out and sign in with an admin token, e.g. one printed by <code>npm run token -- --sub ops --role admin</code>.
      </p>
    </div>
  );
}

/** An error with what to do about it; a 403 is the "needs admin" state. */
export function Problem(props: { error: Error; retry?: () => void }) {
  const e = props.error;
  if (e instanceof ApiError && e.forbidden) return <NeedsAdmin />;
  const hint =
    e instanceof ApiError && e.status === 0
      ? 'Check that the system runs (npm start) and that this page is served by its gateway, then retry.'
      : e instanceof ApiError && e.status >= 500
        ? 'A service behind the gateway is not answering; the System view shows which. Retry in a moment.'
        : e instanceof ApiError && e.status === 429
          ? 'The gateway limits requests per client: wait a few seconds and retry.'
          : 'Retry; if it keeps failing, the request id in the service logs tells why.';
  return (
    <div class="state state-error" role="alert">
      <h2>Could not load this</h2>
      <p>
        {e.message}
        {e instanceof ApiError && e.code && !e.code.startsWith('HTTP.') ? <code class="code"> {e.code}</code> : null}
      </p>
      <p>{hint}</p>
      {props.retry && (
        <button type="button" onClick={props.retry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Empty(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="state state-empty">
      <h2>{props.title}</h2>
      {props.children}
    </div>
  );
}

export const Loading = (props: { what: string }) => (
  <p class="state state-loading" aria-busy="true">
    Loading {props.what}…
  </p>
);

/** One line saying what an action did (or why it failed), read out by screen readers. */
export function Notice(props: { notice: { kind: 'ok' | 'error'; text: string } | null }) {
  return (
    <p class={`notice ${props.notice ? `notice-${props.notice.kind}` : ''}`} role="status" aria-live="polite">
      {props.notice?.text ?? ''}
    </p>
  );
}

/**
 * A confirmation in a modal `<dialog>` (focus moves into it and stays there; Escape cancels).
 * `ask` resolves true when the operator confirms.
 */
export function useConfirm(): [ComponentChildren, (question: { title: string; body: string; confirm: string; danger?: boolean }) => Promise<boolean>] {
  const ref = useRef<HTMLDialogElement>(null);
  const [question, setQuestion] = useState<{ title: string; body: string; confirm: string; danger?: boolean } | null>(null);
  const resolver = useRef<(yes: boolean) => void>(() => undefined);
  const close = (yes: boolean): void => {
    ref.current?.close();
    resolver.current(yes);
  };
  const dialog = (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title" onCancel={() => resolver.current(false)}>
      <form method="dialog" onSubmit={(e) => e.preventDefault()}>
        <h2 id="confirm-title">{question?.title}</h2>
        <p>{question?.body}</p>
        <div class="row">
          <button type="button" onClick={() => close(false)} autofocus>
            Keep it
          </button>
          <button type="button" class={question?.danger ? 'danger' : 'primary'} onClick={() => close(true)}>
            {question?.confirm}
          </button>
        </div>
      </form>
    </dialog>
  );
  const ask = (q: { title: string; body: string; confirm: string; danger?: boolean }): Promise<boolean> =>
    new Promise((resolve) => {
      resolver.current = resolve;
      setQuestion(q);
      // After the render that fills the dialog in.
      setTimeout(() => ref.current?.showModal(), 0);
    });
  return [dialog, ask];
}

/** Runs an action, turning its outcome into a notice; returns whether it succeeded. */
export async function act(run: () => Promise<string>, setNotice: (n: { kind: 'ok' | 'error'; text: string }) => void): Promise<boolean> {
  try {
    setNotice({ kind: 'ok', text: await run() });
    return true;
  } catch (err) {
    const e = err as Error;
    setNotice({ kind: 'error', text: e instanceof ApiError && e.forbidden ? 'Refused: this needs an admin token.' : `Failed: ${e.message}` });
    return false;
  }
}
