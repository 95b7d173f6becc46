import net from 'node:net';
import express from 'express';
import { listen } from '../src/service';

describe('a service binding its HTTP port', () => {
  it('is told when the port is taken, instead of running on without one', async () => {
    const squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', () => r()));
    const port = (squatter.address() as net.AddressInfo).port;
    try {
      await expect(listen(express(), port)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      squatter.close();
    }
  });

  it('gets the listening server when the port is free', async () => {
    const server = await listen(express(), 0);
    expect(server.listening).toBe(true);
    await new Promise((r) => server.close(r));
  });
});
