// Before any test file runs: every schema's database (services and test templates) exists and
// is migrated, exactly as `npm start` does it. Runs the CLI in a child process because the
// wasm schema engine is an ES module that jest's module sandbox cannot load.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = async () => {
  execFileSync(path.join(__dirname, 'node_modules/.bin/tsx'), [path.join(__dirname, 'libs/migrate/src/cli.ts'), 'deploy'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
};
