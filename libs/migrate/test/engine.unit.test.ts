import { callInChild } from './support/child';

describe('wasm schema engine', () => {
  test('its version() equals the engine commit prisma pins (@prisma/engines-version), so an upgrade cannot drift silently', async () => {
    const { enginesVersion } = require('@prisma/engines-version') as { enginesVersion: string };
    await expect(callInChild('engineVersion')).resolves.toBe(enginesVersion);
  });
});
