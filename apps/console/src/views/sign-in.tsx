import { useState } from 'preact/hooks';
import { ApiError, send } from '../api';
import { sessionOf, type Session } from '../session';

/**
 * Sign-in: paste a bearer token (checked against the gateway before it is kept), or in local
 * development mint an admin token through `POST /api/dev/token`, which only `npm start`'s
 * order service serves (DEV_TOKENS=1); elsewhere that route answers 404 and the button says so.
 */
export function SignIn(props: { reason: string | null; onSignedIn: (session: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [devUnavailable, setDevUnavailable] = useState(false);

  /** A token is kept once a service accepted it (any token may read the catalog). */
  async function accept(raw: string): Promise<void> {
    const session = sessionOf(raw.trim().replace(/^Bearer\s+/i, ''));
    if (!session) {
      setError('That is not a token: paste the whole JWT (three parts separated by dots).');
      return;
    }
    try {
      await send('GET', '/api/inventory?limit=1', { anonymous: true, headers: { Authorization: `Bearer ${session.token}` } });
      props.onSignedIn(session);
    } catch (err) {
      const e = err as ApiError;
      setError(e.status === 401 ? `The services refused this token: ${e.message}` : `Could not check the token: ${e.message}`);
    }
  }

  async function submit(e: Event): Promise<void> {
    e.preventDefault();
    setBusy(true);
    setError(null);
    await accept(token);
    setBusy(false);
  }

  async function devToken(): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      const minted = (await (await send('POST', '/api/dev/token', { anonymous: true, body: { role: 'admin' } })).json()) as { token: string };
      await accept(minted.token);
    } catch (err) {
      const e = err as ApiError;
      if (e.status === 404) setDevUnavailable(true);
      else setError(`Could not mint a development token: ${e.message}`);
    }
    setBusy(false);
  }

  return (
    <main id="main" class="sign-in">
      <h1>Orderflow console</h1>
      <p class="lead">Orders, imports, dead letters, stock and the system, for operators.</p>
      {props.reason && (
        <p class="state state-warn" role="alert">
          {props.reason}
        </p>
      )}
      <form onSubmit={(e) => void submit(e)} class="card">
        <label for="token">Bearer token</label>
        <textarea
          id="token"
          name="token"
          rows={4}
          spellcheck={false}
          autocomplete="off"
          value={token}
          onInput={(e) => setToken((e.target as HTMLTextAreaElement).value)}
          aria-describedby="token-help"
          required
        />
        <p id="token-help" class="help">
          An admin token from your identity provider, or locally <code>npm run token -- --sub ops --role admin</code>. It stays in this tab only.
        </p>
        {error && (
          <p class="field-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
      <div class="card dev">
        <h2>Local development</h2>
        {devUnavailable ? (
          <p role="status" data-state="dev-unavailable">
            Not available here: this system does not mint development tokens (only <code>npm start</code> does). Paste a token instead.
          </p>
        ) : (
          <>
            <p class="help">
              With <code>npm start</code>, the order service mints a local admin token. Deployments have no such route.
            </p>
            <button type="button" onClick={() => void devToken()} disabled={busy}>
              Sign in as a local admin
            </button>
          </>
        )}
      </div>
    </main>
  );
}
