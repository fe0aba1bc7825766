#!/usr/bin/env node
// Bundles the in-Pod entry (src/pod.ts) and the gc entry (src/gc.ts) into dist/pod/: tree-shaken and minified, with the object-store and NATS
// backends split into chunks loaded only when the environment asks for them (docs/operations.md, "In-pod
// footprint"). The result needs no node_modules.
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

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const outdir = join(root, "dist", "pod")

await rm(outdir, { recursive: true, force: true })
await build({
  absWorkingDir: root,
  entryPoints: { pod: "src/pod.ts", gc: "src/gc.ts" },
  // optional extras of the MongoDB driver, loaded only when a connection string asks for them
  external: mongoOptionalPeers,
  outdir,
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
  plugins: [noConfigFiles],
  // CommonJS dependencies call require() for Node's built-ins; an ES module has none of its own.
  banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' }
})
