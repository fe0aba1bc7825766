import * as LiveKubeApi from "../../../src/layers/live/LiveKubeApi.ts"
import { kubeApiContract } from "../../contracts/KubeApiContract.ts"

if (process.env.KUBECONFIG === undefined)
  throw new Error('KUBECONFIG is not set: run `eval "$(scripts/testbed/testbed env)"` first (the testbed must be up)')

kubeApiContract(
  "live (testbed kube-apiserver)",
  LiveKubeApi.layer({ qps: 50, burst: 100 }),
  process.env.THE0_TESTBED_NAMESPACE ?? "the0"
)
