/**
 * `the0-runtime status --output json` (docs/operations.md, "`the0-runtime status`"): the report, or one bot's
 * story, as the scripts read it: every field, indented by two spaces.
 */
import type { BotStory } from "./BotStory.ts"
import type { StatusReport } from "./StatusReport.ts"

export const renderJson = (shown: StatusReport | BotStory): string => JSON.stringify(shown, null, 2)
