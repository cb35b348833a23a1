import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Each file starts real server processes; two cores run two files at a time well.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ["default", ["json", { outputFile: ".vitest-report.json" }]]
  }
})
