import net from 'node:net';

/** A TCP proxy a test can cut: the outage of one client's server, invisible to every other test. */
export interface TcpProxy {
  /** Port on 127.0.0.1 to connect to instead of the target. */
  readonly port: number;
  /** Cuts every connection (RST) and refuses new ones, as a stopped server would. */
  stop(): Promise<void>;
  /** Takes connections again, on the same port. */
  start(): Promise<void>;
  /**
   * Holds every byte in both directions, connections kept open (and new ones accepted, then
   * held): a server that stops answering, as a broker under a resource alarm stops reading
   * the connections that publish.
   */
  pause(): void;
  /** Forwards again, what was held first. */
  resume(): void;
  /** Stops for good. */
  close(): Promise<void>;
}

/**
 * Forwards 127.0.0.1:<port> to `target`. Stopping it is a server outage for the clients
 * that use the port only: the real server (shared by tests running in parallel) stays up.
 */
export async function tcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const pairs = new Set<[client: net.Socket, upstream: net.Socket]>();
  let paused = false;
  // Unpiped and paused, a socket reads nothing more: its peer's bytes wait in the kernel buffers.
  const hold = ([client, upstream]: [net.Socket, net.Socket]): void => {
    client.unpipe(upstream).pause();
    upstream.unpipe(client).pause();
  };
  const flow = ([client, upstream]: [net.Socket, net.Socket]): void => {
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A cut connection errors on both sides; the client sees it, the proxy does not care.
    socket.on('error', () => undefined);
  };
  let server: net.Server | undefined;
  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const s = net.createServer((client) => {
        const upstream = net.connect(target.port, target.host);
        track(client);
        track(upstream);
        const pair: [net.Socket, net.Socket] = [client, upstream];
        pairs.add(pair);
        if (paused) hold(pair);
        else flow(pair);
        client.on('close', () => (upstream.destroy(), pairs.delete(pair)));
        upstream.on('close', () => (client.destroy(), pairs.delete(pair)));
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        server = s;
        resolve((s.address() as net.AddressInfo).port);
      });
    });
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    const closed = s ? new Promise<void>((resolve) => s.close(() => resolve())) : Promise.resolve();
    for (const socket of sockets) socket.resetAndDestroy();
    sockets.clear();
    await closed;
  };
  const port = await listen(0);
  return {
    port,
    stop,
    async start() {
      if (!server) await listen(port);
    },
    close: stop,
    pause() {
      paused = true;
      pairs.forEach(hold);
    },
    resume() {
      paused = false;
      pairs.forEach(flow);
    },
  };
}
