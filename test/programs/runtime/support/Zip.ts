/** A small zip writer for tests: deflated entries with Unix modes, and any name at all (for traversal cases). */
import { readdirSync, readFileSync, statSync } from "node:fs"
import * as path from "node:path"
import { crc32, deflateRawSync } from "node:zlib"

export interface ZipInput {
  readonly name: string
  readonly data?: Uint8Array | string
  readonly mode?: number
  readonly directory?: boolean
}

export const makeZip = (entries: ReadonlyArray<ZipInput>): Uint8Array => {
  const locals: Array<Buffer> = []
  const centrals: Array<Buffer> = []
  let offset = 0
  for (const entry of entries) {
    const name = Buffer.from(entry.name, "utf8")
    const raw = Buffer.from(entry.data ?? "")
    const compressed = entry.directory === true ? Buffer.alloc(0) : deflateRawSync(raw)
    const method = entry.directory === true ? 0 : 8
    const crc = entry.directory === true ? 0 : crc32(raw)
    const mode = (entry.directory === true ? 0o040000 : 0o100000) | (entry.mode ?? (entry.directory ? 0o755 : 0o644))
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(0x0800, 6)
    local.writeUInt16LE(method, 8)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(compressed.length, 18)
    local.writeUInt32LE(raw.length, 22)
    local.writeUInt16LE(name.length, 26)
    locals.push(local, name, compressed)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE((3 << 8) | 20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt16LE(0x0800, 8)
    central.writeUInt16LE(method, 10)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(compressed.length, 20)
    central.writeUInt32LE(raw.length, 24)
    central.writeUInt16LE(name.length, 28)
    central.writeUInt32LE((mode << 16) >>> 0, 38)
    central.writeUInt32LE(offset, 42)
    centrals.push(central, name)
    offset += local.length + name.length + compressed.length
  }
  const centralSize = centrals.reduce((total, part) => total + part.length, 0)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(centralSize, 12)
  end.writeUInt32LE(offset, 16)
  return new Uint8Array(Buffer.concat([...locals, ...centrals, end]))
}

/** Every file under `dir` (recursively), as zip entries with their modes, names relative to `dir`. */
export const zipDirectory = (dir: string, extra: ReadonlyArray<ZipInput> = []): Uint8Array => {
  const entries: Array<ZipInput> = []
  const visit = (current: string, prefix: string) => {
    for (const name of readdirSync(current).sort()) {
      const full = path.join(current, name)
      const info = statSync(full)
      const relative = prefix === "" ? name : `${prefix}/${name}`
      if (info.isDirectory()) visit(full, relative)
      else entries.push({ name: relative, data: readFileSync(full), mode: info.mode & 0o777 })
    }
  }
  visit(dir, "")
  return makeZip([...entries, ...extra])
}
