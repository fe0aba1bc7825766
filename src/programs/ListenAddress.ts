/**
 * Where our servers listen when no interface is named: every interface, IPv6 and IPv4 alike, as Go's `:port` does
 * (docs/operations.md, "Ports and interfaces"). Given no host, Node binds `::` dual-stack where the host has IPv6
 * and falls back to `0.0.0.0` where it has none; an explicit host (`0.0.0.0`, `127.0.0.1`, `::1`...) binds only
 * there.
 */

/** The setting's value for "every interface". */
export const everyInterface = ""

/** The host to pass to `listen`: none for every interface. */
export const listenHost = (host: string): string | undefined => (host === everyInterface ? undefined : host)
