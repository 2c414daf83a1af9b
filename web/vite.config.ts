import { defineConfig } from 'vite';
import { resolve } from 'node:path';

// Two pages: the app (index.html) and an offline GraphiQL (graphiql.html). Output goes to
// web/dist, which the Aurora binary embeds (or serves from disk with server.web_dir).
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      // GraphiQL's dependencies carry React's "use client" directives, meaningless in a bundle.
      onwarn(warning, warn) {
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
      input: {
        index: resolve(import.meta.dirname, 'index.html'),
        graphiql: resolve(import.meta.dirname, 'graphiql.html'),
      },
    },
  },
  worker: { format: 'es' },
  server: {
    proxy: {
      '/graphql': { target: process.env.AURORA_URL ?? 'http://127.0.0.1:8080', ws: true },
    },
  },
});
