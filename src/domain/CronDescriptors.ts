/** The descriptors a Kubernetes CronJob accepts, and the 5-field expressions they stand for. */
const kubernetesDescriptors: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *"
}

/** The 5-field expression of a descriptor, or undefined when `text` is not one. */
export const kubernetesDescriptor = (text: string): string | undefined =>
  Object.hasOwn(kubernetesDescriptors, text) ? kubernetesDescriptors[text] : undefined
