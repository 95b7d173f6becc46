/**
 * The console's only way to the system: the public `/api/*` routes behind the gateway, with
 * the operator's bearer token. Answers that are not 2xx become an {@link ApiError} carrying the
 * problem document's `code` and `detail` (docs/contract.md); a 401 also ends the session.
 */
import type { Answer } from './types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  /** The token is valid but not an admin's. */
  get forbidden(): boolean {
    return this.status === 403;
  }
}

let token: string | null = null;
let onUnauthorized: (detail: string) => void = () => undefined;

/** Set by the app: the token to send, and what a 401 does (back to sign-in). */
export function configureApi(options: { token: string | null; onUnauthorized: (detail: string) => void }): void {
  token = options.token;
  onUnauthorized = options.onUnauthorized;
}

async function problemOf(res: Response): Promise<ApiError> {
  let code = `HTTP.${res.status}`;
  let detail = res.statusText || `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { code?: string; detail?: string; title?: string };
    code = body.code ?? code;
    detail = body.detail ?? body.title ?? detail;
  } catch {
    // Not a problem document (e.g. the gateway could not answer): keep the status line.
  }
  return new ApiError(res.status, code, detail);
}

/** Builds the query string from the defined values only. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Sends a request with the session's token; answers the response of a 2xx, throws an ApiError otherwise. */
export async function send(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; anonymous?: boolean } = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
  if (token && !options.anonymous) headers.Authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  } catch {
    throw new ApiError(0, 'NETWORK', 'the gateway did not answer: is the system running?');
  }
  if (res.ok) return res;
  const error = await problemOf(res);
  if (res.status === 401 && !options.anonymous) onUnauthorized(error.message);
  throw error;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await send('GET', path)).json() as Promise<T>;
}

export async function postJson<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
  return (await send('POST', path, { body, headers })).json() as Promise<T>;
}

export type UploadAnswer = Answer<'uploadImport', 202>;

/**
 * Uploads a CSV file to `POST /api/imports` with XMLHttpRequest, whose upload events report
 * the bytes sent (fetch has none): `onProgress` gets the share sent, 0…1.
 */
export function uploadCsv(file: Blob, onProgress: (sent: number) => void): Promise<UploadAnswer> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/imports');
    xhr.setRequestHeader('Content-Type', 'text/csv');
    xhr.setRequestHeader('Accept', 'application/json');
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'the upload was interrupted: the gateway did not answer'));
    xhr.onload = () => {
      let body: { code?: string; detail?: string; importId?: string } = {};
      try {
        body = JSON.parse(xhr.responseText) as typeof body;
      } catch {
        // keep the status
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(body as UploadAnswer);
        return;
      }
      const error = new ApiError(xhr.status, body.code ?? `HTTP.${xhr.status}`, body.detail ?? `upload failed (HTTP ${xhr.status})`);
      if (xhr.status === 401) onUnauthorized(error.message);
      reject(error);
    };
    xhr.send(file);
  });
}

/** Downloads a route's answer as a file (the route needs the token, so a plain link would not do). */
export async function download(path: string, filename: string): Promise<void> {
  const blob = await (await send('GET', path, { headers: { Accept: 'text/csv' } })).blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
