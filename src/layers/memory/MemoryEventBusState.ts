/**
 * The state of the in-memory EventBus and the pure steps on it: subject matching (NATS rules), routing a published
 * message to subscribers and streams, and handing out a durable consumer's next message. `MemoryEventBus` runs
 * these atomically in a Ref.
 */
import { Chunk, type Queue } from "effect"
import { type ConnectionState, EventBusError, type Message } from "../../services/EventBus.ts"

export const tokens = (subject: string): ReadonlyArray<string> => subject.split(".")

/** Tokens are non-empty and without whitespace; `*` and `>` are wildcards only as whole tokens, `>` only last. */
export const validSubject = (subject: string, wildcards: boolean): boolean =>
  tokens(subject).every(
    (token, i, all) =>
      token.length > 0 &&
      !/\s/.test(token) &&
      (wildcards ? token !== ">" || i === all.length - 1 : token !== "*" && token !== ">")
  )

/** Stream and durable names, as NATS accepts them. */
export const validName = (name: string): boolean => /^[^.*>\s/\\]+$/.test(name)

export const matches = (pattern: ReadonlyArray<string>, subject: ReadonlyArray<string>): boolean => {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]
    if (p === ">") return subject.length > i
    const s = subject[i]
    if (s === undefined || (p !== "*" && p !== s)) return false
  }
  return pattern.length === subject.length
}

/** Whether some subject matches both patterns. */
export const overlaps = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]
    const y = b[i]
    if (x === ">" || y === ">") return true
    if (x !== "*" && y !== "*" && x !== y) return false
  }
  return a.length === b.length
}

export interface Subscriber {
  readonly id: number
  readonly pattern: ReadonlyArray<string>
  readonly queue: string | undefined
  readonly inbox: Queue.Queue<Message>
}

export interface Stored extends Message {
  readonly sequence: number
}

export interface StreamState {
  readonly subjects: ReadonlyArray<string>
  /** Kept for `streamInfo`; messages are never expired here. */
  readonly maxAgeMillis: number
  /** The message with sequence n is at index n - 1. */
  readonly log: Chunk.Chunk<Stored>
}

/** A delivered, unacked message: it is delivered again once `due` has passed. */
export interface Pending {
  readonly deliveries: number
  readonly due: number
}

export interface Durable {
  readonly stream: string
  readonly filter: ReadonlyArray<ReadonlyArray<string>>
  readonly ackWaitMillis: number
  /** The last stream sequence handed out (or skipped by the filter). */
  readonly cursor: number
  readonly pending: ReadonlyMap<number, Pending>
}

export interface State {
  readonly connection: ConnectionState
  readonly nextId: number
  readonly subscribers: ReadonlyArray<Subscriber>
  readonly streams: ReadonlyMap<string, StreamState>
  /** By `<stream>.<durable>` (names cannot contain `.`). */
  readonly durables: ReadonlyMap<string, Durable>
}

export type Claim =
  | { readonly _tag: "Deliver"; readonly message: Stored; readonly deliveries: number }
  | { readonly _tag: "Wait"; readonly due: number | undefined }

export const error = (operation: string, detail: string): EventBusError => new EventBusError({ operation, detail })

export const offline = (s: State, operation: string): EventBusError | undefined =>
  s.connection === "connected" ? undefined : error(operation, `not connected (${s.connection})`)

export const withDurable = (s: State, key: string, durable: Durable): State => ({
  ...s,
  durables: new Map(s.durables).set(key, durable)
})

/** Routes a message to core subscribers (when `core`) and appends it to the streams that capture its subject. */
export const route = (
  s: State,
  message: Message,
  core: boolean,
  pick: (members: number) => number
): readonly [ReadonlyArray<Subscriber>, State, boolean] => {
  const subject = tokens(message.subject)
  const targets: Array<Subscriber> = []
  const groups = new Map<string, Array<Subscriber>>()
  for (const sub of core ? s.subscribers : []) {
    if (!matches(sub.pattern, subject)) continue
    if (sub.queue === undefined) targets.push(sub)
    else groups.set(sub.queue, [...(groups.get(sub.queue) ?? []), sub])
  }
  for (const members of groups.values()) {
    const chosen = members[pick(members.length)]
    if (chosen !== undefined) targets.push(chosen)
  }
  const streams = new Map(s.streams)
  let stored = false
  for (const [name, stream] of s.streams) {
    if (!stream.subjects.some((p) => matches(tokens(p), subject))) continue
    const entry: Stored = { ...message, sequence: Chunk.size(stream.log) + 1 }
    streams.set(name, { ...stream, log: Chunk.append(stream.log, entry) })
    stored = true
  }
  return [targets, { ...s, streams }, stored]
}

/** Where a durable stands: its ack floor and how many messages for it are not delivered yet. */
export const consumerPosition = (s: State, durable: Durable): { ackFloor: number; pending: number } => {
  const log = s.streams.get(durable.stream)?.log ?? Chunk.empty<Stored>()
  const unacked = [...durable.pending.keys()]
  let pending = 0
  for (let sequence = durable.cursor + 1; sequence <= Chunk.size(log); sequence++) {
    const subject = tokens(Chunk.unsafeGet(log, sequence - 1).subject)
    if (durable.filter.length === 0 || durable.filter.some((f) => matches(f, subject))) pending++
  }
  return { ackFloor: unacked.length === 0 ? durable.cursor : Math.min(...unacked) - 1, pending }
}

/** Hands the durable's next message to a caller: the oldest due redelivery first, then the next new message. */
export const claim = (s: State, key: string, now: number): readonly [Claim, State] => {
  const durable = s.durables.get(key)
  const log = durable === undefined ? undefined : s.streams.get(durable.stream)?.log
  if (durable === undefined || log === undefined || s.connection !== "connected") {
    return [{ _tag: "Wait", due: undefined }, s]
  }
  let ready: readonly [number, Pending] | undefined
  let due: number | undefined
  for (const [sequence, pending] of durable.pending) {
    if (pending.due <= now) {
      if (ready === undefined || sequence < ready[0]) ready = [sequence, pending]
    } else if (due === undefined || pending.due < due) due = pending.due
  }
  const deliver = (sequence: number, deliveries: number, cursor: number): readonly [Claim, State] => {
    const pending = new Map(durable.pending).set(sequence, { deliveries, due: now + durable.ackWaitMillis })
    const message = Chunk.unsafeGet(log, sequence - 1)
    return [{ _tag: "Deliver", message, deliveries }, withDurable(s, key, { ...durable, cursor, pending })]
  }
  if (ready !== undefined) return deliver(ready[0], ready[1].deliveries + 1, durable.cursor)
  for (let sequence = durable.cursor + 1; sequence <= Chunk.size(log); sequence++) {
    const subject = tokens(Chunk.unsafeGet(log, sequence - 1).subject)
    if (durable.filter.length === 0 || durable.filter.some((f) => matches(f, subject))) {
      return deliver(sequence, 1, sequence)
    }
  }
  return [{ _tag: "Wait", due }, withDurable(s, key, { ...durable, cursor: Chunk.size(log) })]
}

export const initial: State = {
  connection: "connected",
  nextId: 0,
  subscribers: [],
  streams: new Map(),
  durables: new Map()
}
