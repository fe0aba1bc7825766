import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ConfigProvider, Effect, Either } from "effect"
import { afterEach, describe, expect, it, vi } from "vitest"
import { fromFiles, inCluster, load } from "../../../src/layers/live/KubeConfigLoader.ts"

/** The environment `load` reads, through the ConfigProvider. */
const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const dir = () => mkdtempSync(join(tmpdir(), "kubeconfig-"))
const b64 = (s: string) => Buffer.from(s).toString("base64")

const kubeconfig = (options: { cluster?: string; user?: string; context?: string; extra?: string } = {}) => `
apiVersion: v1
kind: Config
current-context: ctx
contexts:
  - name: ctx
    context:
${options.context ?? "      cluster: c\n      user: u\n      namespace: bots"}
clusters:
  - name: c
    cluster:
${options.cluster ?? "      server: https://10.0.0.1:6443"}
users:
  - name: u
    user:
${options.user ?? `      token: static-token`}
${options.extra ?? ""}`

const write = (folder: string, name: string, content: string) => {
  const file = join(folder, name)
  writeFileSync(file, content)
  return file
}

const failure = (run: () => unknown): string => {
  try {
    run()
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
  throw new Error("expected a failure")
}

afterEach(() => {
  vi.useRealTimers()
})

describe("KubeConfigLoader", () => {
  it("reads the current context: server, namespace, inline CA and client certificate, TLS options, token", async () => {
    const folder = dir()
    const file = write(
      folder,
      "config",
      kubeconfig({
        cluster: `      server: https://api.example:6443\n      certificate-authority-data: ${b64("CA")}\n      insecure-skip-tls-verify: true\n      tls-server-name: kubernetes`,
        user: `      client-certificate-data: ${b64("CERT")}\n      client-key-data: ${b64("KEY")}\n      token: t0k`
      })
    )
    const target = fromFiles([file])
    expect(target.server).toBe("https://api.example:6443")
    expect(target.namespace).toBe("bots")
    expect(target.tls.ca?.toString()).toBe("CA")
    expect(target.tls.cert?.toString()).toBe("CERT")
    expect(target.tls.key?.toString()).toBe("KEY")
    expect(target.tls.rejectUnauthorized).toBe(false)
    expect(target.tls.servername).toBe("kubernetes")
    expect(await target.authHeaders()).toEqual({ Authorization: "Bearer t0k" })
  })

  it("reads certificate files relative to the kubeconfig's own directory; basic auth; no namespace is default", async () => {
    const folder = dir()
    mkdirSync(join(folder, "pki"))
    write(folder, "pki/ca.crt", "CA FILE")
    write(folder, "pki/client.crt", "CERT FILE")
    write(folder, "pki/client.key", "KEY FILE")
    const file = write(
      folder,
      "config",
      kubeconfig({
        cluster: "      server: https://api:6443\n      certificate-authority: pki/ca.crt",
        user: "      client-certificate: pki/client.crt\n      client-key: pki/client.key\n      username: ann\n      password: pw",
        context: "      cluster: c\n      user: u"
      })
    )
    const target = fromFiles([file])
    expect(target.tls.ca?.toString()).toBe("CA FILE")
    expect(target.tls.cert?.toString()).toBe("CERT FILE")
    expect(target.tls.key?.toString()).toBe("KEY FILE")
    expect(target.tls.rejectUnauthorized).toBeUndefined()
    expect(target.namespace).toBe("default")
    expect(await target.authHeaders()).toEqual({ Authorization: `Basic ${b64("ann:pw")}` })
  })

  it("reads a tokenFile again once a minute, so a rotated token is used", async () => {
    vi.useFakeTimers({ toFake: ["Date"] })
    const folder = dir()
    write(folder, "token", "first\n")
    const target = fromFiles([write(folder, "config", kubeconfig({ user: "      tokenFile: token" }))])
    expect(await target.authHeaders()).toEqual({ Authorization: "Bearer first" })
    write(folder, "token", "second")
    vi.advanceTimersByTime(59_000)
    expect(await target.authHeaders()).toEqual({ Authorization: "Bearer first" })
    vi.advanceTimersByTime(1_000)
    expect(await target.authHeaders()).toEqual({ Authorization: "Bearer second" })
  })

  it("runs an exec plugin with its args and env, and runs it again only when its token has expired", async () => {
    const folder = dir()
    const runs = join(folder, "runs")
    const plugin = write(
      folder,
      "plugin.sh",
      `#!/bin/sh
echo "$1 $REGION $KUBERNETES_EXEC_INFO" >> "${runs}"
n=$(wc -l < "${runs}")
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-%s","expirationTimestamp":"%s"}}' "$n" "$EXPIRY"
`
    )
    chmodSync(plugin, 0o755)
    const user = (expiry: string) =>
      `      exec:\n        apiVersion: client.authentication.k8s.io/v1\n        command: ./plugin.sh\n        args: [get-token]\n        env:\n          - name: REGION\n            value: eu\n          - name: EXPIRY\n            value: "${expiry}"`
    const lasting = fromFiles([write(folder, "lasting", kubeconfig({ user: user("2999-01-01T00:00:00Z") }))])
    expect(await lasting.authHeaders()).toEqual({ Authorization: "Bearer tok-1" })
    expect(await lasting.authHeaders()).toEqual({ Authorization: "Bearer tok-1" })
    const [line = ""] = readFileSync(runs, "utf8").trim().split("\n")
    expect(line.startsWith("get-token eu ")).toBe(true)
    expect(JSON.parse(line.slice("get-token eu ".length))).toMatchObject({ kind: "ExecCredential" })
    const expired = fromFiles([write(folder, "expired", kubeconfig({ user: user("2000-01-01T00:00:00Z") }))])
    expect(await expired.authHeaders()).toEqual({ Authorization: "Bearer tok-2" })
    expect(await expired.authHeaders()).toEqual({ Authorization: "Bearer tok-3" })
  })

  it("a failing exec plugin fails the request's headers with its stderr", async () => {
    const folder = dir()
    const plugin = write(folder, "fail.sh", "#!/bin/sh\necho 'login required' >&2\nexit 1\n")
    chmodSync(plugin, 0o755)
    const target = fromFiles([write(folder, "config", kubeconfig({ user: `      exec:\n        command: ${plugin}` }))])
    await expect(target.authHeaders()).rejects.toThrow(/users\[u\]\.user\.exec: .*fail\.sh failed: login required/)
  })

  it("merges a KUBECONFIG list as kubectl does: the first file that names an entry wins", async () => {
    const folder = dir()
    const first = write(folder, "a", "current-context: ctx\nusers:\n  - name: u\n    user:\n      token: from-a\n")
    const second = write(folder, "b", kubeconfig({ user: "      token: from-b" }))
    const target = Either.getOrThrow(
      Effect.runSync(Effect.either(load(undefined).pipe(withEnv({ KUBECONFIG: `${first}:${second}`, HOME: folder }))))
    )
    expect(target.server).toBe("https://10.0.0.1:6443")
    expect(await target.authHeaders()).toEqual({ Authorization: "Bearer from-a" })
  })

  it("refuses what it cannot honour, naming the field", () => {
    const folder = dir()
    const cases: Array<[string, RegExp]> = [
      [
        kubeconfig({ user: "      auth-provider:\n        name: oidc" }),
        /users\[u\]\.user\.auth-provider: not supported/
      ],
      [
        kubeconfig({ cluster: "      server: https://a\n      proxy-url: http://p" }),
        /clusters\[c\]\.cluster\.proxy-url/
      ],
      [kubeconfig({ cluster: "      insecure-skip-tls-verify: true" }), /clusters\[c\]\.cluster\.server: required/],
      [kubeconfig({ context: "      cluster: missing\n      user: u" }), /clusters: no entry named "missing"/],
      [kubeconfig({ context: "      cluster: c\n      user: nobody" }), /users: no entry named "nobody"/],
      [kubeconfig().replace("current-context: ctx", ""), /current-context: not set/],
      [kubeconfig({ cluster: "      server: 42" }), /clusters\[c\]\.cluster\.server: expected a string/],
      ["clusters: [\n", /kubeconfig .*config/],
      [
        kubeconfig({ cluster: "      server: https://a\n      certificate-authority: /nowhere/ca.crt" }),
        /certificate-authority: cannot read \/nowhere\/ca\.crt/
      ]
    ]
    for (const [content, message] of cases)
      expect(failure(() => fromFiles([write(folder, "config", content)]))).toMatch(message)
  })

  it("in a Pod: the service account's token, CA and namespace, the API server from the environment", async () => {
    vi.useFakeTimers({ toFake: ["Date"] })
    const account = dir()
    write(account, "token", "sa-1")
    write(account, "ca.crt", "SA CA")
    write(account, "namespace", "the0\n")
    const target = inCluster({ KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "8443" }, account)
    expect(target.server).toBe("https://[fd00::1]:8443")
    expect(target.namespace).toBe("the0")
    expect(target.tls.ca?.toString()).toBe("SA CA")
    expect(await target.authHeaders()).toEqual({ Authorization: "Bearer sa-1" })
    write(account, "token", "sa-2")
    vi.advanceTimersByTime(60_000)
    expect(await target.authHeaders()).toEqual({ Authorization: "Bearer sa-2" })
  })

  it("chooses: an explicit path, else the service account in a Pod without KUBECONFIG, else KUBECONFIG or ~/.kube/config", () => {
    const account = dir()
    write(account, "token", "sa")
    write(account, "ca.crt", "CA")
    const folder = dir()
    const explicit = write(folder, "explicit", kubeconfig({ cluster: "      server: https://explicit" }))
    const listed = write(folder, "listed", kubeconfig({ cluster: "      server: https://listed" }))
    mkdirSync(join(folder, ".kube"))
    write(folder, ".kube/config", kubeconfig({ cluster: "      server: https://home" }))
    const server = (path: string | undefined, env: Record<string, string>) =>
      Effect.runSync(Effect.either(load(path, account).pipe(withEnv(env)))).pipe(
        Either.match({ onLeft: (e) => e.detail, onRight: (t) => t.server })
      )
    const pod = { KUBERNETES_SERVICE_HOST: "10.96.0.1", HOME: folder }
    expect(server(explicit, pod)).toBe("https://explicit")
    expect(server(undefined, pod)).toBe("https://10.96.0.1:443")
    expect(server(undefined, { ...pod, KUBECONFIG: listed })).toBe("https://listed")
    expect(server(undefined, { HOME: folder })).toBe("https://home")
    expect(server(undefined, { HOME: dir() })).toMatch(/no kubeconfig found \(~\/\.kube\/config\) and not in a Pod/)
    expect(server(undefined, { HOME: folder, KUBECONFIG: "/nowhere" })).toMatch(/KUBECONFIG=\/nowhere/)
  })
})
