/**
 * Who may talk to a server that listens on the developer's machine (`dev`'s admin API and QueryServer): a request
 * whose `Host` is not the address the server is bound to (or `localhost`), with the server's port, is refused, and so
 * is one with an `Origin` that is not such an address. That defeats DNS rebinding (a page of `evil.example` whose
 * name now resolves to 127.0.0.1 still sends `Host: evil.example`) and cross-site requests from a browser (which
 * always send `Origin` on a cross-origin POST). See README.md, "Dev mode".
 */
import { networkInterfaces } from "node:os"

/** The names a request may give in `Host` (lower case, with the port): `host:port` forms. */
export type AllowedHosts = ReadonlySet<string>

const wildcards = new Set(["", "0.0.0.0", "::", "[::]"])

const withPort = (host: string, port: number): string =>
  `${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`.toLowerCase()

/**
 * `localhost` and the bound address, with the port; for a wildcard bind (every interface), the loopback addresses
 * and every address of this machine's interfaces.
 */
export const allowedHosts = (boundHost: string, port: number): AllowedHosts => {
  const names = new Set([withPort("localhost", port)])
  if (!wildcards.has(boundHost)) names.add(withPort(boundHost, port))
  else {
    names.add(withPort("127.0.0.1", port))
    names.add(withPort("::1", port))
    for (const addresses of Object.values(networkInterfaces()))
      for (const address of addresses ?? []) names.add(withPort(address.address, port))
  }
  return names
}

/**
 * Why a request with these `Host` and `Origin` headers is not for this server, or `undefined` when it is. A port
 * left out of `Host` is the scheme's default (80), which never matches a server on another port.
 */
export const hostProblem = (
  allowed: AllowedHosts,
  host: string | undefined,
  origin: string | undefined
): string | undefined => {
  if (host === undefined || host === "") return "no Host header"
  const given = host.toLowerCase()
  if (!allowed.has(given.includes(":") && !given.endsWith("]") ? given : `${given}:80`))
    return `Host ${host} is not this server`
  if (origin === undefined) return undefined
  let originHost: string
  try {
    const url = new URL(origin)
    if (url.protocol !== "http:") return `Origin ${origin} is not this server`
    originHost = `${url.hostname}:${url.port === "" ? "80" : url.port}`.toLowerCase()
  } catch {
    return `Origin ${origin} is not this server`
  }
  return allowed.has(originHost) ? undefined : `Origin ${origin} is not this server`
}
