/**
 * The operator's token, kept in the tab's session storage: it survives a reload, not the tab,
 * and no other tab sees it. Its claims are read for display and to show "needs admin" early;
 * the services verify it on every request, so nothing here is trusted.
 */
const KEY = 'orderflow.console.token';

export interface Session {
  token: string;
  sub: string;
  role: 'admin' | 'customer' | string;
  /** Expiry (ms since the epoch), when the token says. */
  expiresAt: number | null;
}

/** The claims of a compact JWT, or null when it is not one. */
export function readClaims(token: string): { sub: string; role: string; exp: number | null } | null {
  const part = token.split('.')[1];
  if (!part || token.split('.').length !== 3) return null;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const claims = JSON.parse(json) as { sub?: unknown; role?: unknown; exp?: unknown };
    if (typeof claims.sub !== 'string' || typeof claims.role !== 'string') return null;
    return { sub: claims.sub, role: claims.role, exp: typeof claims.exp === 'number' ? claims.exp : null };
  } catch {
    return null;
  }
}

export function sessionOf(token: string): Session | null {
  const claims = readClaims(token);
  return claims && { token, sub: claims.sub, role: claims.role, expiresAt: claims.exp === null ? null : claims.exp * 1000 };
}

export function loadSession(): Session | null {
  const token = sessionStorage.getItem(KEY);
  return token ? sessionOf(token) : null;
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, session.token);
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}
