import { useEffect, useRef, useState } from 'preact/hooks';
import { configureApi } from './api';
import { navigate, useRoute } from './hooks';
import { clearSession, loadSession, saveSession, type Session } from './session';
import { SessionContext } from './ui';
import { DeadLetters } from './views/dead-letters';
import { Imports } from './views/imports';
import { OrderView } from './views/order';
import { Orders } from './views/orders';
import { SignIn } from './views/sign-in';
import { Stock } from './views/stock';
import { System } from './views/system';

const VIEWS = [
  { path: 'orders', label: 'Orders' },
  { path: 'imports', label: 'Imports' },
  { path: 'dead-letters', label: 'Dead letters' },
  { path: 'stock', label: 'Stock' },
  { path: 'system', label: 'System' },
] as const;

/** The shell: sign-in until there is a token, then the navigation and the view the hash names. */
export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [reason, setReason] = useState<string | null>(null);
  const route = useRoute();

  const signOut = (why: string | null): void => {
    clearSession();
    configureApi({ token: null, onUnauthorized: () => undefined });
    setReason(why);
    setSession(null);
  };
  // Set during render, not in an effect: the first requests of the views go out with the token.
  configureApi({ token: session?.token ?? null, onUnauthorized: (detail) => signOut(`Signed out: the services refused the token (${detail}). Sign in again.`) });

  // After a navigation the new view's title gets the focus, so a screen reader announces it (not
  // on the first page: there the keyboard starts at the top, with the skip link).
  const navigated = useRef(false);
  useEffect(() => {
    if (navigated.current) document.getElementById('page-title')?.focus({ preventScroll: true });
    navigated.current = true;
    document.title = `${VIEWS.find((v) => v.path === route[0])?.label ?? 'Sign in'} · Orderflow console`;
  }, [route.join('/')]);

  if (!session) {
    return (
      <SignIn
        reason={reason}
        onSignedIn={(s) => {
          saveSession(s);
          setReason(null);
          setSession(s);
          if (!route[0]) navigate('/orders');
        }}
      />
    );
  }

  const [view = 'orders', id, sub] = route;
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to the content
      </a>
      <header class="top">
        <a class="brand" href="#/orders">
          Orderflow <span>console</span>
        </a>
        <nav aria-label="Views">
          <ul>
            {VIEWS.map((v) => (
              <li key={v.path}>
                <a href={`#/${v.path}`} aria-current={view === v.path ? 'page' : undefined}>
                  {v.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>
            {session.sub} <span class={`role role-${session.role}`}>{session.role}</span>
          </span>
          <button type="button" onClick={() => signOut(null)}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {view === 'orders' && !id && <Orders />}
        {view === 'orders' && id && <OrderView key={id} id={id} />}
        {view === 'imports' && <Imports id={id} />}
        {view === 'dead-letters' && <DeadLetters service={id} parkedId={sub} />}
        {view === 'stock' && <Stock />}
        {view === 'system' && <System />}
        {!VIEWS.some((v) => v.path === view) && (
          <p class="state state-warn">
            No view here. <a href="#/orders">Go to the orders</a>.
          </p>
        )}
      </main>
    </SessionContext.Provider>
  );
}
