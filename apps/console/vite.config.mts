import { gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

/** The console's JavaScript, gzipped, may not exceed this (issue 20): a build over it fails. */
export const JS_BUDGET_GZIP_BYTES = 300_000;

/** Fails the build when the emitted JavaScript, gzipped, is over budget; prints the size. */
function javascriptBudget(): Plugin {
  return {
    name: 'orderflow-javascript-budget',
    apply: 'build',
    generateBundle(_options, bundle) {
      let gzipped = 0;
      for (const file of Object.values(bundle)) if (file.type === 'chunk') gzipped += gzipSync(file.code, { level: 9 }).length;
      const line = `console JavaScript: ${(gzipped / 1000).toFixed(1)} kB gzipped (budget ${JS_BUDGET_GZIP_BYTES / 1000} kB)`;
      if (gzipped > JS_BUDGET_GZIP_BYTES) this.error(line);
      this.info(line);
    },
  };
}

/** `npm run dev -w apps/console`: the app with live reload, its API calls sent to npm start's gateway. */
const gateway = process.env.ORDERFLOW_GATEWAY ?? 'http://127.0.0.1:8080';

// Served by the gateway under /console/ (npm start, compose and Kubernetes alike); routes are
// in the URL's hash, so every view is the one index.html and Nginx needs no fallback rule.
export default defineConfig({
  base: '/console/',
  plugins: [javascriptBudget()],
  server: { proxy: { '/api': gateway } },
  preview: { proxy: { '/api': gateway } },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false, reportCompressedSize: true },
});
