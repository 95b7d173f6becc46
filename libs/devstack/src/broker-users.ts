/**
 * The services' own broker users on this machine's RabbitMQ, as the broker definitions declare
 * them in Kubernetes and compose: one per service, named after its app, with the permissions
 * `brokerPermissions` derives from its topology (k8s/rabbitmq/definitions.json, generated from
 * the topologies; the k8s tests keep it current). `npm start` creates or updates them as the
 * administrator it is given (guest on a fresh broker), with a fresh password on every start, and
 * runs each service with its own URL.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { BrokerPermissions } from '@orderflow/messaging';
import { DEFINITIONS_FILE } from './broker-queues';
import { MANAGEMENT_UI_PORT } from './services';

/** A service's broker user as definitions.json declares it (the password is a placeholder there). */
export interface BrokerUser {
  name: string;
  vhost: string;
  permissions: BrokerPermissions;
}

interface UserDefinitions {
  users?: Array<{ name: string }>;
  permissions?: Array<BrokerPermissions & { user: string; vhost: string }>;
}

/** The services' users and their permissions, from the broker definitions. */
export function serviceUsers(file = DEFINITIONS_FILE): BrokerUser[] {
  const defs = JSON.parse(readFileSync(file, 'utf8')) as UserDefinitions;
  return (defs.users ?? []).map((u) => {
    const p = defs.permissions?.find((x) => x.user === u.name);
    if (!p) throw new Error(`${file}: user ${u.name} has no permissions`);
    return { name: u.name, vhost: p.vhost, permissions: { configure: p.configure, write: p.write, read: p.read } };
  });
}

/** How users are created: the management HTTP API (as the administrator of the AMQP URL), or rabbitmqctl. */
export interface UserAdmin {
  putUser(name: string, password: string): Promise<void>;
  putPermissions(name: string, vhost: string, permissions: BrokerPermissions): Promise<void>;
  deleteUser(name: string): Promise<void>;
}

/** The management HTTP API on `managementUrl`, with the credentials of the administrator's AMQP URL. */
export function managementApi(adminAmqpUrl: string, managementUrl = `http://${new URL(adminAmqpUrl).hostname}:${MANAGEMENT_UI_PORT}`): UserAdmin {
  const url = new URL(adminAmqpUrl);
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(url.username || 'guest')}:${decodeURIComponent(url.password || 'guest')}`).toString('base64')}`;
  const call = async (method: string, path: string, body?: unknown): Promise<void> => {
    const res = await fetch(`${managementUrl}/api${path}`, {
      method,
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok && !(method === 'DELETE' && res.status === 404)) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  };
  return {
    putUser: (name, password) => call('PUT', `/users/${encodeURIComponent(name)}`, { password, tags: '' }),
    putPermissions: (name, vhost, p) => call('PUT', `/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}`, p),
    deleteUser: (name) => call('DELETE', `/users/${encodeURIComponent(name)}`),
  };
}

/** rabbitmqctl of this machine's node (needs access to its Erlang cookie). */
export function rabbitmqctl(): UserAdmin {
  const run = (args: string[], okIf?: RegExp): void => {
    const r = spawnSync('rabbitmqctl', ['-q', ...args], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0 && !(okIf && okIf.test(`${r.stdout}${r.stderr}`))) throw new Error(`rabbitmqctl ${args[0]}: ${(r.stderr || r.stdout || String(r.error)).trim()}`);
  };
  return {
    async putUser(name, password) {
      run(['add_user', name, password], /already exists/);
      run(['change_password', name, password]);
      run(['set_user_tags', name]);
    },
    async putPermissions(name, vhost, p) {
      run(['set_permissions', '-p', vhost, name, p.configure, p.write, p.read]);
    },
    async deleteUser(name) {
      run(['delete_user', name], /does not exist|no_such_user/);
    },
  };
}

/** `url` with another user and password. */
export function withCredentials(amqpUrl: string, user: string, password: string): string {
  const url = new URL(amqpUrl);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  return url.toString();
}

/**
 * Creates (or updates) every service's user with a fresh random password and its permissions,
 * through the first of `admins` that works; returns each app's AMQP URL (the broker of
 * `adminAmqpUrl`, with the app's user). The passwords live only in the services' environment.
 */
export async function ensureServiceUsers(o: { adminAmqpUrl: string; admins?: UserAdmin[]; users?: BrokerUser[] }): Promise<Record<string, string>> {
  const users = o.users ?? serviceUsers();
  const admins = o.admins ?? [managementApi(o.adminAmqpUrl), rabbitmqctl()];
  const failures: string[] = [];
  for (const admin of admins) {
    try {
      const urls: Record<string, string> = {};
      for (const user of users) {
        const password = randomBytes(18).toString('base64url');
        await admin.putUser(user.name, password);
        await admin.putPermissions(user.name, user.vhost, user.permissions);
        urls[user.name] = withCredentials(o.adminAmqpUrl, user.name, password);
      }
      return urls;
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  throw new Error(`cannot create the services' broker users (${failures.join('; ')})`);
}
