/**
 * What each service says about its events, read from the apps themselves: every
 * `apps/<app>/src/topology.ts` exports `topology(prefix, retryDelaysMs)` (the queues it
 * consumes and their bindings) and `PUBLISHES` (the contracts it sends). Apps are found on
 * disk, so a new app with a topology is in the document without an edit here.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { contracts, type EventContract } from '@orderflow/events';
import type { ServiceTopology, Topology } from '@orderflow/messaging';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Orders by code point: the generated file must not depend on the machine's locale. */
export const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export interface ServiceEvents {
  /** The directory under apps/. */
  app: string;
  /** Built with the production prefix ('') and the default retry ladder: the names a broker shows. */
  topology: Topology;
  publishes: readonly EventContract[];
}

/** Apps that declare a topology, sorted. */
export function topologyApps(root = REPO_ROOT): string[] {
  return readdirSync(path.join(root, 'apps'))
    .filter((app) => existsSync(path.join(root, 'apps', app, 'src', 'topology.ts')))
    .sort(byText);
}

/** Every service's topology and published contracts, sorted by service name. */
export function serviceEvents(root = REPO_ROOT): ServiceEvents[] {
  return topologyApps(root)
    .map((app) => {
      const file = path.join(root, 'apps', app, 'src', 'topology.ts');
      // Loaded by path, not imported, so that the list of apps is the directory's.
      const mod = require(file) as { topology?: ServiceTopology; PUBLISHES?: readonly EventContract[] };
      if (typeof mod.topology !== 'function' || !Array.isArray(mod.PUBLISHES)) {
        throw new Error(`apps/${app}/src/topology.ts must export topology(prefix, retryDelaysMs) and PUBLISHES (the contracts the service sends)`);
      }
      return { app, topology: mod.topology(''), publishes: mod.PUBLISHES };
    })
    .sort((a, b) => byText(a.topology.service, b.topology.service));
}

/** `order.created.v1`: a contract's id in the document (message, schema). */
export const messageId = (c: EventContract): string => `${c.type}.v${c.version}`;

/**
 * Every contract once, sorted by id: libs/events' list and whatever a topology names (a
 * contract a service uses but the list forgot still gets documented). Two different contracts
 * with one type and version would be two truths for one message: refused.
 */
export function allContracts(services: readonly ServiceEvents[]): EventContract[] {
  const byId = new Map<string, EventContract>();
  const used = services.flatMap((s) => [...s.publishes, ...s.topology.queues.flatMap((q) => q.contracts)]);
  for (const c of [...contracts, ...used]) {
    const known = byId.get(messageId(c));
    if (known && known !== c) throw new Error(`two contracts are ${messageId(c)}: one type and version must be one contract`);
    byId.set(messageId(c), c);
  }
  return [...byId.values()].sort((a, b) => byText(messageId(a), messageId(b)));
}
