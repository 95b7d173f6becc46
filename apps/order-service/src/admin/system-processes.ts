import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import { READY_OUTBOX_LAG } from '@orderflow/service';

// What the order service asks the other processes for GET /api/admin/system, over HTTP on their
// own ports (the gateway does not route /ready): each one's readiness answer, with its service's
// outbox lag asked for in it — one request per process. Nothing else of theirs is reachable
// from here.

/** A process of the system: `order-service`, `order-service-bulk`, …, `import-worker`. */
export interface ProcessEndpoint {
  name: string;
  /** Its own port, e.g. `http://order-service-bulk:8086` (no trailing slash). */
  url: string;
}

/**
 * SYSTEM_PROCESS_URLS: `name=url` pairs, comma-separated, e.g.
 * `order-service=http://order-service:8081,order-service-bulk=http://order-service-bulk:8086`.
 * A bad entry is named by its position.
 */
export const processUrls = () =>
  z
    .string()
    .default('')
    .transform((value, ctx): ProcessEndpoint[] => {
      const entries = value.split(',').map((s) => s.trim()).filter(Boolean);
      const processes: ProcessEndpoint[] = [];
      entries.forEach((entry, i) => {
        const [, name, url] = /^([a-z][a-z0-9-]*)=(.+)$/.exec(entry) ?? [];
        let ok = false;
        try {
          ok = url !== undefined && /^https?:$/.test(new URL(url).protocol);
        } catch {
          ok = false;
        }
        if (!name || !ok) ctx.addIssue({ code: 'custom', message: `entry ${i + 1} of ${entries.length} is not <process name>=<http(s) URL>` });
        else if (processes.some((p) => p.name === name)) ctx.addIssue({ code: 'custom', message: `${name} is listed twice` });
        else processes.push({ name, url: url!.replace(/\/+$/, '') });
      });
      return processes;
    });

/** The service a process belongs to, by the names of the topologies and of `/api/dead-letters/<service>`. */
export const serviceOf = (processName: string): string => processName.replace(/-bulk$/, '').replace(/-service$/, '');
export const laneOf = (processName: string): 'bulk' | 'interactive' => (processName.endsWith('-bulk') ? 'bulk' : 'interactive');

export interface ProcessReadiness {
  ready: boolean;
  /** Why it is not ready, or why it could not be asked; null when ready. */
  error: string | null;
  broker: { connected: boolean } | null;
  consumers: Record<string, { active: boolean; state: string }>;
  /**
   * Its service's outbox lag (`messaging_outbox_lag_seconds`, read from the service's database:
   * the order service cannot read another service's database); null when it could not tell.
   */
  outboxLagSeconds: number | null;
}

const readyAnswer = z.object({
  status: z.string(),
  checks: z.record(z.string(), z.boolean()).optional(),
  broker: z.object({ connected: z.boolean() }).optional(),
  consumers: z.record(z.string(), z.object({ active: z.boolean(), state: z.string() })).optional(),
  [READY_OUTBOX_LAG]: z.number().nullable().optional(),
});

/**
 * Connections to the processes kept between readings while the System view polls (closed before
 * the processes' servers would close them: a second before their `Keep-Alive` timeout, at most
 * 60 s). Node's own client rather than fetch: a reading asks every process, and fetch cost the
 * order service several times the CPU per request.
 */
const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: 60_000 }),
  'https:': new https.Agent({ keepAlive: true, timeout: 60_000 }),
};

class NoAnswer extends Error {}

/** GET `url` and its status and JSON body (null when not JSON); rejects with `NoAnswer` when it has not all come in `timeoutMs`. */
function getJson(url: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const { protocol } = new URL(url);
    const client = protocol === 'https:' ? https : http;
    const fail = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    const req = client.get(url, { agent: agents[protocol as keyof typeof agents] }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        let body: unknown = null;
        try {
          body = JSON.parse(text);
        } catch {
          body = null;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    const timer = setTimeout(() => {
      reject(new NoAnswer(`no answer in ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    req.on('error', fail);
  });
}

/** One process's `/ready`, with its outbox lag: 200 is ready; a 503 says which check failed; no answer in `timeoutMs` is not ready. */
export async function probeReady(p: ProcessEndpoint, timeoutMs: number): Promise<ProcessReadiness> {
  try {
    const res = await getJson(`${p.url}/ready?include=${READY_OUTBOX_LAG}`, timeoutMs);
    const parsed = readyAnswer.safeParse(res.body);
    const body = parsed.success ? parsed.data : undefined;
    const failed = Object.entries(body?.checks ?? {}).filter(([, ok]) => !ok).map(([name]) => name);
    const consumers = Object.fromEntries(Object.entries(body?.consumers ?? {}).map(([queue, c]) => [queue, { active: c.active, state: c.state }]));
    const lag = body?.[READY_OUTBOX_LAG];
    return {
      ready: res.status === 200,
      error: res.status === 200 ? null : failed.length > 0 ? `not ready: ${failed.join(', ')}` : `not ready (HTTP ${res.status})`,
      broker: body?.broker ? { connected: body.broker.connected } : null,
      consumers,
      outboxLagSeconds: typeof lag === 'number' && lag >= 0 ? lag : null,
    };
  } catch (err) {
    const error = err instanceof NoAnswer ? err.message : `unreachable (${(err as Error).message})`;
    return { ready: false, error, broker: null, consumers: {}, outboxLagSeconds: null };
  }
}
