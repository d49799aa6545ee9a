import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  plugins: [react()],
  // The page uses @agent-chat/client from its source, as the workspace links it.
  resolve: { conditions: ['agent-chat-source', 'module', 'browser', 'development|production'] },
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // Maps for debugging and error reports, not referenced by the bundles nor published (public/.assetsignore).
    sourcemap: 'hidden',
    // Streamdown's chunk is large but lazy; the initial bundle is measured by bench/web-budget.ts.
    chunkSizeWarningLimit: 600,
    // The API reference is a page of its own (reference.html), so its JS never loads with the chat.
    rollupOptions: { input: { index: `${root}/index.html`, reference: `${root}/reference.html` } },
  },
  server: {
    // `vite --config web/vite.config.ts` beside `npm start`: the API stays on the Worker.
    proxy: { '/api': { target: process.env.API_ORIGIN ?? 'http://127.0.0.1:8787', ws: true } },
  },
});
