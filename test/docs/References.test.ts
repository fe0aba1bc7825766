/**
 * Every reference in the repository resolves inside it: no file cites a document the project does not hold (a
 * numbered section of an outside spec or design, or a path outside the working tree), and every
 * `docs/<file>.md, "<Section>"` reference names a document of `docs/` and a heading it has.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..", "..")
const scannedDirectories = ["src", "test", "bench", "scripts", "bin", "deploy", "docs"]

const filesUnder = (directory: string): ReadonlyArray<string> =>
  readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name)
    if (entry.isDirectory()) return filesUnder(path)
    return entry.isFile() ? [path] : []
  })

const topLevelMarkdown = readdirSync(root)
  .filter((name) => name.endsWith(".md") && statSync(join(root, name)).isFile())
  .map((name) => join(root, name))

const scanned: ReadonlyArray<{ readonly file: string; readonly text: string }> = [
  ...scannedDirectories.flatMap((directory) => filesUnder(join(root, directory))),
  ...topLevelMarkdown
]
  .map((path) => ({ file: relative(root, path), text: readFileSync(path, "utf8") }))
  .filter(({ text }) => !text.includes("\u0000"))

/** Citations of documents that are not part of the project; the patterns are spelt so that they do not match here. */
const outsideCitations: ReadonlyArray<RegExp> = [
  /\u00a7\s?\d/, // a numbered section sign followed by a number, whatever document it names
  /DESIGN\.md/,
  /the0-(controller|runtime)-spec/,
  /\/work\//,
  /\.\.\/shared\//
]

/** A file's lines with the comment markers of continuation lines removed, so that a wrapped reference reads whole. */
const unwrapped = (text: string): string => text.replace(/\n[ \t]*(\*(?!\/)|\/\/|#)?[ \t]*/g, " ")

const docReference = /docs\/([\w-]+\.md),? ((?:"[^"]+"(?:,? (?:and )?)?)+)/g

const headingsOf = (markdown: string): ReadonlySet<string> =>
  new Set(
    markdown
      .split("\n")
      .filter((line) => /^#{1,6} /.test(line))
      .map((line) => line.replace(/^#{1,6} /, "").trim())
  )

describe("references", () => {
  it("cite no document outside the repository", () => {
    const offending = scanned.flatMap(({ file, text }) =>
      text
        .split("\n")
        .flatMap((line, index) =>
          outsideCitations.some((pattern) => pattern.test(line)) ? [`${file}:${index + 1}: ${line.trim()}`] : []
        )
    )
    expect(offending).toEqual([])
  })

  it("name sections that exist in docs/", () => {
    const unresolved = scanned.flatMap(({ file, text }) =>
      [...unwrapped(text).matchAll(docReference)].flatMap(([reference, document, sections]) => {
        const path = join(root, "docs", document as string)
        if (!existsSync(path)) return [`${file}: ${reference} (no such document)`]
        const headings = headingsOf(readFileSync(path, "utf8"))
        return [...(sections as string).matchAll(/"([^"]+)"/g)]
          .map(([, section]) => section as string)
          .filter((section) => !headings.has(section))
          .map((section) => `${file}: docs/${document} has no section "${section}"`)
      })
    )
    expect(unresolved).toEqual([])
  })

  it("find the references it checks", () => {
    const count = scanned.reduce((sum, { text }) => sum + [...unwrapped(text).matchAll(docReference)].length, 0)
    expect(count).toBeGreaterThan(50)
  })
})
