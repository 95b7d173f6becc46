/**
 * `npm run import -- orders.csv` — uploads a CSV through the gateway with a progress bar,
 * follows the import until every order is terminal and prints the summary.
 *
 *   --gateway URL   the gateway (default $ORDERFLOW_GATEWAY or http://127.0.0.1:8080)
 *   --token JWT     an admin token (default $ORDERFLOW_TOKEN, else one signed with $JWT_SECRET
 *                   or the local development secret, as `npm run token -- --role admin` does)
 *   --errors FILE   save the rejected rows (CSV with line number and reason) to FILE
 *   --no-follow     stop once the upload is accepted
 * Exit code 0 when the import COMPLETED (or was accepted, with --no-follow), 1 otherwise.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { parseArgs } from 'node:util';
import { DEV_JWT_SECRET, signToken } from '@orderflow/http';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    gateway: { type: 'string', default: process.env.ORDERFLOW_GATEWAY ?? 'http://127.0.0.1:8080' },
    token: { type: 'string', default: process.env.ORDERFLOW_TOKEN },
    errors: { type: 'string' },
    'no-follow': { type: 'boolean', default: false },
  },
});

const tty = process.stderr.isTTY === true;
const n = (x: number): string => x.toLocaleString('en-US');
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const secs = (s: number): string => `${s.toFixed(1)} s`;

/** One status line: redrawn in place on a terminal, printed every few seconds otherwise. */
function statusLine(): { show: (text: string, force?: boolean) => void; done: () => void } {
  let last = 0;
  return {
    show(text, force = false) {
      if (tty) process.stderr.write(`\r\x1b[2K${text}`);
      else if (force || Date.now() - last > 5000) {
        last = Date.now();
        process.stderr.write(`${text}\n`);
      }
    },
    done() {
      if (tty) process.stderr.write('\n');
    },
  };
}

const bar = (fraction: number, width = 30): string => {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(Math.min(1, fraction) * 100).toFixed(0).padStart(3)}%`;
};

function send(url: URL, options: http.RequestOptions, body?: fs.ReadStream): Promise<{ status: number; text: string }> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

async function main(): Promise<number> {
  const file = positionals[0];
  if (!file || positionals.length > 1) {
    process.stderr.write('usage: npm run import -- <file.csv> [--gateway URL] [--token JWT] [--errors FILE] [--no-follow]\n');
    return 2;
  }
  const size = fs.statSync(file).size;
  const gateway = values.gateway!.replace(/\/$/, '');
  const authorization = `Bearer ${values.token ?? signToken({ sub: 'import-cli', role: 'admin' }, process.env.JWT_SECRET || DEV_JWT_SECRET, { issuer: process.env.JWT_ISSUER || undefined, audience: process.env.JWT_AUDIENCE || undefined })}`;
  const status = statusLine();

  const started = Date.now();
  let sent = 0;
  const source = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
  source.on('data', (chunk) => {
    sent += chunk.length;
    const s = (Date.now() - started) / 1000;
    status.show(`uploading  ${bar(sent / Math.max(1, size))}  ${mb(sent)} of ${mb(size)}  ${mb(sent / Math.max(s, 0.001))}/s`);
  });
  const res = await send(new URL(`${gateway}/api/imports`), { method: 'POST', headers: { authorization, 'content-type': 'text/csv', 'content-length': size } }, source);
  status.show(`uploading  ${bar(sent / Math.max(1, size))}  ${mb(sent)} of ${mb(size)}`, true);
  status.done();
  const accepted = safeJson(res.text);
  if (res.status !== 202) {
    process.stderr.write(`upload refused (${res.status}): ${accepted?.detail ?? res.text}\n`);
    return 1;
  }
  const uploadS = (Date.now() - started) / 1000;
  const { importId } = accepted as { importId: string };
  process.stdout.write(`accepted in ${secs(uploadS)}: import ${importId}, ${n(accepted.rows.read)} rows read, ${n(accepted.rows.accepted)} accepted, ${n(accepted.rows.rejected)} rejected, ${n(accepted.chunks)} chunks\n`);
  if (values['no-follow']) return 0;

  let p: any;
  for (;;) {
    const r = await send(new URL(`${gateway}/api/imports/${importId}`), { headers: { authorization } });
    p = safeJson(r.text);
    // The read side follows the upload within moments; until then the import is not known there.
    if (r.status === 200) {
      const terminal = p.orders.confirmed + p.orders.rejected + p.orders.cancelled;
      const ingest = p.chunks.published ? p.chunks.applied / Math.max(1, p.chunks.published) : 0;
      const fraction = p.state === 'COMPLETED' ? 1 : ingest * (p.orders.created > 0 ? terminal / p.orders.created : 1);
      status.show(
        `importing  ${bar(fraction)}  orders ${n(terminal)}/${n(p.orders.created)} terminal, chunks ${n(p.chunks.applied)}/${n(p.chunks.published ?? 0)}, ${n(p.rate.ordersPerSecond)} orders/s, ETA ${p.etaSeconds === null ? '?' : `${p.etaSeconds} s`}`,
      );
      if (p.state === 'COMPLETED' || p.state === 'FAILED') break;
    } else if (r.status !== 404) {
      status.done();
      process.stderr.write(`cannot read the progress (${r.status}): ${r.text}\n`);
      return 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  status.done();

  const o = p.orders;
  process.stdout.write(
    [
      `import ${importId} ${p.state}${p.failure ? `: ${p.failure}` : ''} in ${secs(p.timings.elapsedSeconds)}`,
      `  rows     ${n(p.rows.read)} read, ${n(p.rows.accepted)} accepted, ${n(p.rows.rejected)} rejected`,
      `  orders   ${n(o.created)} created, ${n(o.alreadyImported)} already imported: ${n(o.confirmed)} confirmed, ${n(o.rejected)} rejected, ${n(o.cancelled)} cancelled, ${n(o.pending)} pending`,
      `  time     upload accepted after ${secs(uploadS)}, every order terminal after ${secs(p.timings.elapsedSeconds)} (${n(Math.round(p.rows.read / Math.max(p.timings.elapsedSeconds, 0.001)))} rows/s)`,
      '',
    ].join('\n'),
  );
  if (p.rows.rejected > 0) {
    if (values.errors) {
      const errors = await send(new URL(`${gateway}/api/imports/${importId}/errors`), { headers: { authorization } });
      fs.writeFileSync(values.errors, errors.text);
      process.stdout.write(`  errors   ${n(p.rows.rejected)} rejected rows saved to ${values.errors}\n`);
    } else {
      process.stdout.write(`  errors   ${n(p.rows.rejected)} rejected rows: GET ${gateway}/api/imports/${importId}/errors (or --errors FILE)\n`);
    }
  }
  return p.state === 'COMPLETED' ? 0 : 1;
}

function safeJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`import failed: ${err.message}\n`);
    process.exit(1);
  },
);
