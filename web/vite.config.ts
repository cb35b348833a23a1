import { defineConfig } from "vite"

// No React plugin: esbuild compiles JSX on its own, and fast refresh is not
// worth a Babel pipeline in the build. `npm run dev:web` proxies the API.
export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  esbuild: { jsx: "automatic" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      // react-router marks its modules "use client" for server components, which a plain SPA bundle ignores.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning)
      }
    }
  },
  server: {
    proxy: {
      "/api": "http://localhost:8080",
      "/hls": "http://localhost:8080",
      "/rpc": "http://localhost:8080",
      "/ws": { target: "ws://localhost:8080", ws: true }
    }
  }
})
