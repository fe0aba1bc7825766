import * as MemoryKubeApi from "../../../src/layers/memory/MemoryKubeApi.ts"
import { kubeApiContract } from "../../contracts/KubeApiContract.ts"

kubeApiContract("memory", MemoryKubeApi.layer())
