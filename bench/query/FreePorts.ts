import { createServer } from "node:net"

/** `count` distinct free ports (all held open at once, so none is handed out twice). */
export const freePorts = async (count: number): Promise<Array<number>> => {
  const servers = Array.from({ length: count }, () => createServer())
  const ports = await Promise.all(
    servers.map(
      (s) =>
        new Promise<number>((resolve, reject) => {
          s.once("error", reject)
          s.listen(0, "127.0.0.1", () => {
            const address = s.address()
            resolve(typeof address === "object" && address !== null ? address.port : 0)
          })
        })
    )
  )
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}
