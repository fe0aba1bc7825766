/**
 * A container process's lifeline to `dev` (docs/operations.md, "Dev mode processes"): the container's command runs
 * through `/bin/sh`, which first starts a watcher in the container's process group and then `exec`s the command
 * (same pid, the lifeline's descriptor closed for it). The watcher blocks reading descriptor 3, one end of a pipe
 * whose other end only `dev` holds; it reads end-of-file when `dev` closes it or dies, whatever the signal
 * (`kill -9` included, the kernel closes it), and then kills the container's processes: every member of its process
 * group and every descendant of one (found with `pgrep`: the runtime starts a bot in a process group of its own),
 * then the group, itself included. The watcher ignores SIGTERM, so a graceful stop (SIGTERM to the group) leaves it
 * watching until the container has exited.
 */
import type { Command } from "./PodEnvironment.ts"

/** The descriptor the watcher reads: the fourth entry of the spawn's `stdio`. */
export const lifelineFd = 3

// `$$` is the container's first process, the group's leader; the group outlives it while the watcher is in it, so
// its id is never another group's; `self` is the watcher's own pid, which it kills last (with the group)
const watcher =
  `( ( trap '' TERM INT HUP; read -r _ <&${lifelineFd}; self=$(exec sh -c 'echo "$PPID"'); tree=; ` +
  `walk() { for p in "$@"; do [ "$p" = "$self" ] || { tree="$tree $p"; walk $(pgrep -P "$p"); }; done; }; ` +
  `walk $(pgrep -g "$$"); kill -s KILL $tree; kill -s KILL 0 ) </dev/null >/dev/null 2>&1 & ); ` +
  `exec "$0" "$@" ${lifelineFd}<&-`

/** `command` run behind the lifeline watcher (spawn it detached, with a pipe as `stdio[lifelineFd]`). */
export const withLifeline = (command: Command): Command => ({
  file: "/bin/sh",
  args: ["-c", watcher, command.file, ...command.args],
  cwd: command.cwd
})
