import type { Duration } from "effect"
import * as ManifestSettings from "../manifests/ManifestSettings.ts"
import type { MinioCredentials } from "../manifests/MinioSecret.ts"
import * as LeaderElection from "./LeaderElection.ts"

/** What the controller manager is told at start; every field has a flag and an env var in the CLI. */
export interface ControllerSettings {
  readonly manifest: ManifestSettings.ManifestSettings
  /** the0's `--reconcile-interval`: the periodic full resync, the safety net behind events and watches. */
  readonly resyncInterval: Duration.DurationInput
  readonly workers: number
  /** Events of different bots applied at once by ingest (each bot's are applied in order whatever this is). */
  readonly ingestConcurrency: number
  /**
   * Template-only changes (a new runtime image...) and the replacement of Pods made by the0's controller recreate
   * at most this many Pods at a time.
   */
  readonly rollLimit: number
  /** Operator override: let a resync delete more than max(10, 50 %) of the managed objects. */
  readonly allowMassDelete: boolean
  /** A watch silent for this long (no event, no bookmark) is restarted from a fresh list. */
  readonly watchdog: Duration.DurationInput
  /** When set, the leader keeps the credentials Secret named in `manifest.minioSecret` holding these. */
  readonly ownedMinioCredentials?: MinioCredentials
  readonly leaderElection: Omit<LeaderElection.LeaderElectionSettings, "namespace">
}

export const defaults: ControllerSettings = {
  manifest: ManifestSettings.defaults,
  resyncInterval: "30 seconds",
  workers: 16,
  ingestConcurrency: 32,
  rollLimit: 10,
  allowMassDelete: false,
  watchdog: "90 seconds",
  leaderElection: { ...LeaderElection.defaults, identity: "the0-runtime" }
}
