/**
 * One node of the local RabbitMQ cluster (cluster.ts): its layout (names, ports, directories),
 * the files it boots from, and its VM as an OS process (launched, found by its pid file,
 * waited for until gone).
 *
 * The machine's /etc/rabbitmq/rabbitmq.conf pins the listener to 5672 and its enabled-plugins
 * file turns on the management UI on 15672, so each node gets a config file and a plugins file
 * of its own; the server runs as the `rabbitmq` user, so every directory it writes (data, logs,
 * pid file) is created for that user. See docs/operations.md, "A local broker cluster".
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ClusterNode {
  /** Erlang node name, e.g. `orderflow-1@localhost`. */
  name: string;
  /** `orderflow-1`: the node's folder under the cluster directory. */
  short: string;
  amqpPort: number;
  distPort: number;
  /** Only when the management UI is on (ORDERFLOW_CLUSTER_MANAGEMENT=1). */
  managementPort: number | undefined;
  dir: string;
  configFile: string;
  pluginsFile: string;
  mnesiaBase: string;
  logBase: string;
  pidFile: string;
  url: string;
}

export interface ClusterOptions {
  /** Default `$ORDERFLOW_CLUSTER_DIR` or `<tmpdir>/orderflow-cluster`. */
  dir?: string;
  size?: number;
  /** AMQP port of the first node; the others follow (default 5681). Dist ports are these + 20000. */
  basePort?: number;
  /** Management UI on 15681… (default: ORDERFLOW_CLUSTER_MANAGEMENT=1). */
  management?: boolean;
  say?: (line: string) => void;
}

/** Runs a RabbitMQ CLI tool; an error carries the last lines of its output. */
export function runCli(tool: string, args: string[], timeoutMs = 90_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${tool} ${args.join(' ')}: ${(stderr || stdout || err.message).trim().split('\n').slice(-6).join(' | ')}`));
      else resolve(stdout);
    });
  });
}

/** Parses a CLI's `--formatter json` output (it may be preceded by notices). */
export function parseJson<T>(stdout: string): T {
  const start = stdout.search(/[[{]/);
  if (start < 0) throw new Error(`no JSON in: ${stdout.slice(0, 200)}`);
  return JSON.parse(stdout.slice(start)) as T;
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

/** Who owns what a node writes: the `rabbitmq` user when we are root (the server switches to it). */
export interface ServerOwner {
  uid: number;
  gid: number;
}

/** The uid/gid of the `rabbitmq` user when we are root, else undefined. */
export function serverOwner(): ServerOwner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'rabbitmq'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'rabbitmq'], { encoding: 'utf8' }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/** The node layout: names, ports and directories (nothing started). */
export function clusterLayout(o: ClusterOptions = {}): { dir: string; nodes: ClusterNode[] } {
  const dir = o.dir ?? process.env.ORDERFLOW_CLUSTER_DIR ?? path.join(os.tmpdir(), 'orderflow-cluster');
  const size = o.size ?? 3;
  const basePort = o.basePort ?? 5681;
  const management = o.management ?? process.env.ORDERFLOW_CLUSTER_MANAGEMENT === '1';
  const nodes = Array.from({ length: size }, (_, i): ClusterNode => {
    const short = `orderflow-${i + 1}`;
    const nodeDir = path.join(dir, short);
    const amqpPort = basePort + i;
    return {
      name: `${short}@localhost`,
      short,
      amqpPort,
      distPort: amqpPort + 20_000,
      managementPort: management ? 15_681 + i : undefined,
      dir: nodeDir,
      configFile: path.join(nodeDir, 'rabbitmq.conf'),
      pluginsFile: path.join(nodeDir, 'enabled_plugins'),
      mnesiaBase: path.join(nodeDir, 'mnesia'),
      logBase: path.join(nodeDir, 'log'),
      pidFile: path.join(nodeDir, `${short}.pid`),
      url: `amqp://guest:guest@127.0.0.1:${amqpPort}`,
    };
  });
  return { dir, nodes };
}

/** The OS pid of a node's VM, if its pid file names a live process. */
export function nodePid(node: ClusterNode): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(node.pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  // A stale pid file whose pid now belongs to another process (Linux: the VM's environment
  // names the node; the command line does not).
  try {
    if (!fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`RABBITMQ_NODENAME=${node.name}`)) return undefined;
  } catch {
    // No /proc here, or not ours to read: trust the pid.
  }
  return pid;
}

/**
 * Writes a node's config and plugins files and creates its directories for the server's user.
 * Without `listen`, the node takes no AMQP connections (a wiped node, until it has rejoined).
 */
export function writeNodeFiles(clusterDir: string, node: ClusterNode, owner: ServerOwner | undefined, listen: boolean, peers: readonly ClusterNode[] = []): void {
  for (const d of [clusterDir, node.dir, node.mnesiaBase, node.logBase]) {
    fs.mkdirSync(d, { recursive: true });
    if (owner) fs.chownSync(d, owner.uid, owner.gid);
  }
  const config = [
    listen ? `listeners.tcp.local = 127.0.0.1:${node.amqpPort}` : 'listeners.tcp = none',
    'loopback_users = none',
    // A blank node joins these while it boots, before its listener opens (ignored once it has data).
    ...(peers.length > 0 ? ['cluster_formation.peer_discovery_backend = classic_config', ...peers.map((p, i) => `cluster_formation.classic_config.nodes.${i + 1} = ${p.name}`)] : []),
    ...(node.managementPort ? [`management.tcp.ip = 127.0.0.1`, `management.tcp.port = ${node.managementPort}`] : []),
    '',
  ].join('\n');
  fs.writeFileSync(node.configFile, config);
  fs.writeFileSync(node.pluginsFile, node.managementPort ? '[rabbitmq_management].\n' : '[].\n');
  for (const f of [node.configFile, node.pluginsFile]) if (owner) fs.chownSync(f, owner.uid, owner.gid);
}

/** Launches a node's VM (`rabbitmq-server -detached`) with its files; resolves when the launcher exits. */
export async function launchNode(node: ClusterNode): Promise<void> {
  const out = fs.openSync(path.join(node.dir, 'server-launch.log'), 'a');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('rabbitmq-server', ['-detached'], {
        cwd: node.dir,
        env: {
          ...process.env,
          RABBITMQ_NODENAME: node.name,
          RABBITMQ_NODE_PORT: String(node.amqpPort),
          RABBITMQ_DIST_PORT: String(node.distPort),
          RABBITMQ_CONFIG_FILE: node.configFile,
          RABBITMQ_ENABLED_PLUGINS_FILE: node.pluginsFile,
          RABBITMQ_MNESIA_BASE: node.mnesiaBase,
          RABBITMQ_LOG_BASE: node.logBase,
          RABBITMQ_PID_FILE: node.pidFile,
          // Three more nodes on a small machine: no scheduler spinning while idle.
          RABBITMQ_SCHEDULER_BUSY_WAIT_THRESHOLD: 'none',
        },
        // The detached VM may keep inherited pipes open: give it a file, wait for the launcher's exit.
        stdio: ['ignore', out, out],
      });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`rabbitmq-server -detached for ${node.name} exited ${code}; see ${node.logBase}`))));
    });
  } finally {
    fs.closeSync(out);
  }
}

/** Resolves once the node's VM (pid) has exited and its AMQP port is closed. */
export async function waitGone(node: ClusterNode, pid: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive && !(await portOpen(node.amqpPort))) return;
    if (Date.now() > deadline) throw new Error(`${node.name} (pid ${pid}) still alive after ${timeoutMs} ms`);
    await sleep(100);
  }
}
