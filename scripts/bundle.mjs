#!/usr/bin/env node
// Bundles the entries that run in production on their own, tree-shaken and minified (docs/operations.md, "In-pod
// footprint" and "Controller footprint"):
// - dist/pod/: the in-Pod entry (src/pod.ts) and the gc entry (src/gc.ts), with the object-store and NATS backends
//   split into chunks loaded only when the environment asks for them. The result needs no node_modules.
// - dist/controller/: the controller manager's entry (src/controller.ts).
import { rm } from "node:fs/promises"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

/**
 * @effect/cli can read option values from YAML and TOML files; the in-Pod commands declare no such option, so those
 * two parsers (150 KB, a tenth of the bundle) are replaced by a module that says so if it is ever reached.
 */
const noConfigFiles = {
  name: "no-config-files",
  setup(build) {
    build.onResolve({ filter: /^(yaml|toml)$/ }, (args) => ({ path: args.path, namespace: "no-config-files" }))
    build.onLoad({ filter: /.*/, namespace: "no-config-files" }, (args) => ({
      contents: `const unsupported = () => { throw new Error("${args.path} option files are not supported by the in-Pod commands") }
export const parse = unsupported
export default { parse: unsupported }`,
      loader: "js"
    }))
  }
}

const mongoOptionalPeers = [
  "@aws-sdk/credential-providers",
  "@mongodb-js/zstd",
  "gcp-metadata",
  "kerberos",
  "mongodb-client-encryption",
  "snappy",
  "socks",
  "aws4"
]

/**
 * @effect/platform-node's HTTP server module imports its undici-based HTTP client (for test layers), and with it all
 * of undici (half a megabyte, evaluated at start). The controller makes no request through it, so undici is
 * replaced by a module that says so if it is ever reached.
 */
const noUndici = {
  name: "no-undici",
  setup(build) {
    build.onResolve({ filter: /^undici$/ }, (args) => ({ path: args.path, namespace: "no-undici" }))
    build.onLoad({ filter: /.*/, namespace: "no-undici" }, () => ({
      contents: `export default new Proxy({}, { get: (_, name) => { throw new Error("undici is not in the controller's bundle (" + String(name) + ")") } })`,
      loader: "js"
    }))
  }
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..")

const common = {
  absWorkingDir: root,
  // optional extras of the MongoDB driver, loaded only when a connection string asks for them
  external: mongoOptionalPeers,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
  // CommonJS dependencies call require() for Node's built-ins; an ES module has none of its own.
  banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' }
}

const bundles = [
  { entryPoints: { pod: "src/pod.ts", gc: "src/gc.ts" }, outdir: join(root, "dist", "pod"), plugins: [noConfigFiles] },
  { entryPoints: { controller: "src/controller.ts" }, outdir: join(root, "dist", "controller"), plugins: [noUndici] }
]
for (const { outdir } of bundles) await rm(outdir, { recursive: true, force: true })
await Promise.all(bundles.map((bundle) => build({ ...common, ...bundle })))
