// Before any test file runs: every schema's test template database exists and is migrated
// (`orderflow_tpl_<service>`, `orderflow_test_<lib>`), exactly as `npm start` migrates the real
// ones; test files clone them. Runs the CLI in a child process because the wasm schema
// engine is an ES module that jest's module sandbox cannot load.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const admin = process.env.PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const url = (name) => admin.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
const SERVICES = ['order', 'inventory', 'payment', 'notification', 'import-worker'];

module.exports = async () => {
  const env = { ...process.env };
  for (const s of SERVICES) env[`${s.toUpperCase().replace(/-/g, '_')}_DATABASE_URL`] = url(`orderflow_tpl_${s.replace(/-/g, '_')}`);
  execFileSync(path.join(__dirname, 'node_modules/.bin/tsx'), [path.join(__dirname, 'libs/migrate/src/cli.ts'), 'deploy'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
};
