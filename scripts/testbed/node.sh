# shellcheck shell=bash
# The testbed's worker node, sourced by scripts/testbed/testbed: containerd (with Debian's runc) runs the
# containers, the kubelet registers the Node $NODE_NAME and runs its Pods, kube-proxy makes Services work.
# Everything they write is under $NODE, their cgroups under $CGROUP_ROOT in each hierarchy, their network is the
# bridge $BRIDGE; `down` removes all of it. See README.md, "Testbed".

PAUSE_IMAGE=localhost/the0-testbed/pause:1
CGROUP_HIERARCHIES=(cpu cpuacct cpuset memory pids blkio devices freezer systemd unified)
# The kubelet writes these; `down` puts them back.
KUBELET_SYSCTLS=(vm/overcommit_memory kernel/panic kernel/panic_on_oops)

# Debian packages the node needs, installed when missing.
ensure_node_packages() {
  local missing=() p
  for p in runc iptables conntrack umoci; do command -v "$p" >/dev/null || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return 0
  say "testbed: installing ${missing[*]} (Debian packages)"
  { apt-get install -y "${missing[@]}" || { apt-get update && apt-get install -y "${missing[@]}"; }; } >>"$LOGS/apt.log" 2>&1 ||
    die "could not install ${missing[*]} (see $LOGS/apt.log)"
}

# The bridge of the Pod network, with the gateway address the servers listen on. Forwarding is on so that Pods
# reach each other through Services; whatever would leave the machine from the bridge is dropped.
ensure_network() {
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge ||
    die "cannot create the bridge $BRIDGE (the testbed needs root)"
  ip -4 addr show dev "$BRIDGE" | grep -q "inet $GATEWAY/" || ip addr add "$GATEWAY/16" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  mkdir -p "$STATE"
  [[ -f "$STATE/ip_forward.saved" ]] || cat /proc/sys/net/ipv4/ip_forward >"$STATE/ip_forward.saved"
  echo 1 >/proc/sys/net/ipv4/ip_forward
  if command -v iptables >/dev/null; then
    iptables -C FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP 2>/dev/null ||
      iptables -I FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP
  fi
}

remove_network() {
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  if command -v iptables >/dev/null; then
    while iptables -D FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP 2>/dev/null; do :; done
  fi
  if [[ -f "$STATE/ip_forward.saved" ]]; then
    cat "$STATE/ip_forward.saved" >/proc/sys/net/ipv4/ip_forward
    rm -f "$STATE/ip_forward.saved"
  fi
}

# The kubelet's cgroup root, made in every hierarchy (the kubelet checks it exists; cpuset needs cpus and mems).
ensure_cgroup_root() {
  local h
  for h in "${CGROUP_HIERARCHIES[@]}"; do
    if [[ -d "/sys/fs/cgroup/$h" ]]; then mkdir -p "/sys/fs/cgroup/$h/$CGROUP_ROOT"; fi
  done
  cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$CGROUP_ROOT/cpuset.cpus"
  cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$CGROUP_ROOT/cpuset.mems"
}

write_containerd_config() {
  mkdir -p "$NODE/containerd" "$NODE/cni/net.d" "$NODE/cni/ipam"
  cat >"$NODE/containerd/config.toml" <<EOF
version = 3
root = "$NODE/containerd/root"
state = "$NODE/containerd/state"
temp = "$NODE/containerd/tmp"
imports = []
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "$NODE/containerd/containerd.sock"
[ttrpc]
  address = "$NODE/containerd/containerd.sock.ttrpc"

[plugins.'io.containerd.internal.v1.opt']
  path = "$NODE/containerd/opt"
[plugins.'io.containerd.shim.v1.manager']
  socket_dir = "$NODE/containerd/s"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"

[plugins.'io.containerd.cri.v1.runtime']
  # root here has no CAP_SYS_RESOURCE: sandboxes must not ask for a lower oom_score_adj than ours
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  cdi_spec_dirs = []
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
        Root = "$NODE/containerd/runc"
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$(bindir_of_build cni)"]
    conf_dir = "$NODE/cni/net.d"
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
EOF
  cat >"$NODE/cni/net.d/10-the0.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "the0-pods",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "isDefaultGateway": true, "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local", "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$GATEWAY" }]],
        "dataDir": "$NODE/cni/ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
}

ctr_() { "$(bindir_of_build containerd)/ctr" --address "$NODE/containerd/containerd.sock" --namespace k8s.io "$@"; }

# An OCI image archive of the pause binary (one layer, uid 65535), made with umoci; its one tag is $2.
build_pause_image() {
  local out="$1" tag="$2" work rc=0
  work="$(mktemp -d)"
  umoci init --layout "$work/layout" &&
    umoci new --image "$work/layout:$tag" &&
    umoci unpack --image "$work/layout:$tag" "$work/bundle" &&
    cp "$(bindir_of_build pause)/pause" "$work/bundle/rootfs/pause" &&
    umoci repack --image "$work/layout:$tag" "$work/bundle" &&
    umoci config --image "$work/layout:$tag" --config.entrypoint /pause --config.user 65535:65535 &&
    tar -C "$work/layout" -cf "$out" . || rc=1
  rm -rf "$work"
  return $rc
}

# Imports an OCI archive whose one tag is the tag of $2, as the image $2 (NAME:TAG). The listing may not show an
# image the instant its import returns (seen once in CI: the pause image imported, then not listed, so the runtime
# image was never imported), so it is asked again for up to 5 s.
import_image() {
  local archive="$1" ref="$2" try
  ctr_ images import --base-name "${ref%:*}" "$archive" >>"$LOGS/containerd.log" 2>&1 || return 1
  for try in 1 2 3 4 5 6 7 8 9 10; do
    has_image "$ref" && return 0
    sleep 0.5
  done
  return 1
}

has_image() { ctr_ images ls -q 2>/dev/null | grep -qx "$1"; }

# The images the node runs without a registry: the pause image, and every archive in $CACHE/images (the runtime
# image that scripts/images builds), each named by the reference in the .ref file beside it.
import_images() {
  local archive ref
  if ! has_image "$PAUSE_IMAGE"; then
    build_pause_image "$NODE/pause.tar" "${PAUSE_IMAGE##*:}" >>"$LOGS/containerd.log" 2>&1 &&
      import_image "$NODE/pause.tar" "$PAUSE_IMAGE" || {
      say "containerd: building or importing the pause image failed (see $LOGS/containerd.log)"
      return 1
    }
    ctr_ images label "$PAUSE_IMAGE" io.cri-containerd.pinned=pinned >/dev/null 2>&1
  fi
  for archive in "$CACHE"/images/*.tar; do
    [[ -f "$archive" && -f "${archive%.tar}.ref" ]] || continue
    ref="$(cat "${archive%.tar}.ref")"
    has_image "$ref" && continue
    import_image "$archive" "$ref" || {
      say "containerd: importing $archive as $ref failed (see $LOGS/containerd.log)"
      return 1
    }
  done
}

# The kubelet's identity is a client certificate in system:nodes; the API server runs RBAC alone (no Node
# authorizer), so the group gets the system:node role, and the API server's kubelet client may read logs and exec.
ensure_node_rbac() {
  local body code
  for body in \
    '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"the0-testbed:nodes"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"system:node"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"system:nodes"}]}' \
    '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"the0-testbed:apiserver-kubelet-client"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"system:kubelet-api-admin"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"the0-testbed-apiserver-kubelet-client"}]}'; do
    code="$(kcurl -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data "$body" \
      "https://$GATEWAY:$APISERVER_PORT/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" 2>/dev/null)" || true
    [[ "$code" == 201 || "$code" == 409 ]] || {
      say "kubelet: creating its ClusterRoleBinding answered $code"
      return 1
    }
  done
}

save_sysctls() {
  [[ -f "$STATE/sysctl.saved" ]] && return 0
  local k
  for k in "${KUBELET_SYSCTLS[@]}"; do echo "$k $(cat "/proc/sys/$k")"; done >"$STATE/sysctl.saved"
}

restore_sysctls() {
  [[ -f "$STATE/sysctl.saved" ]] || return 0
  local k v
  while read -r k v; do echo "$v" >"/proc/sys/$k"; done <"$STATE/sysctl.saved"
  rm -f "$STATE/sysctl.saved"
}

write_kubelet_config() {
  mkdir -p "$NODE/kubelet" "$NODE/pod-logs"
  cat >"$NODE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
containerRuntimeEndpoint: unix://$NODE/containerd/containerd.sock
address: $GATEWAY
port: 10250
readOnlyPort: 0
healthzBindAddress: $HOST
healthzPort: $KUBELET_HEALTH_PORT
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $PKI/ca.crt }
authorization: { mode: Webhook }
staticPodPath: ""
failSwapOn: false
resolvConf: ""
oomScoreAdj: 0
maxOpenFiles: $(ulimit -Hn)
imageGCHighThresholdPercent: 100
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
  imagefs.available: "0%"
  imagefs.inodesFree: "0%"
mergeDefaultEvictionSettings: false
podLogsDir: $NODE/pod-logs
volumePluginDir: $NODE/kubelet-plugins
serializeImagePulls: false
EOF
}

# Prints the node's Ready condition ("Ready", "NotReady: <reason> <message>" or "not registered"); exit 0 if Ready.
node_status() {
  kcurl "https://$GATEWAY:$APISERVER_PORT/api/v1/nodes/$NODE_NAME" 2>/dev/null | python3 -c '
import json, sys
try:
    node = json.load(sys.stdin)
except Exception:
    print("not registered"); sys.exit(1)
ready = [c for c in node.get("status", {}).get("conditions", []) if c.get("type") == "Ready"]
if not ready:
    print("not registered"); sys.exit(1)
c = ready[0]
print("Ready" if c.get("status") == "True" else "NotReady: " + c.get("reason", "") + " " + c.get("message", ""))
sys.exit(0 if c.get("status") == "True" else 1)'
}

node_ready() { node_status >/dev/null 2>&1; }

write_kube_proxy_config() {
  cat >"$NODE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: $PKI/kube-proxy.kubeconfig }
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: $GATEWAY
healthzBindAddress: $HOST:$KUBE_PROXY_HEALTH_PORT
metricsBindAddress: $HOST:10249
oomScoreAdj: 0
iptables: { minSyncPeriod: 1s, localhostNodePorts: false }
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
}

# After the node's processes have stopped: kill what still runs in its cgroups (containers) and its shims, unmount
# what the kubelet and containerd mounted, remove the cgroups and kube-proxy's rules, restore the kernel settings.
cleanup_node() {
  local h pids i proxy
  pkill -KILL -f "containerd-shim-runc-v2 .*$NODE/containerd" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pids="$(find "/sys/fs/cgroup/memory/$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)"
    [[ -z "$pids" ]] && break
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  if [[ -d "$NODE" ]]; then
    findmnt -rn -o TARGET | grep "^$NODE" | sort -r | xargs -r umount -l 2>/dev/null || true
  fi
  for h in "${CGROUP_HIERARCHIES[@]}"; do
    if [[ -d "/sys/fs/cgroup/$h/$CGROUP_ROOT" ]]; then
      find "/sys/fs/cgroup/$h/$CGROUP_ROOT" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    fi
  done
  proxy="$(bindir_of_build kubernetes)/kube-proxy"
  if [[ -x "$proxy" ]] && command -v iptables >/dev/null; then "$proxy" --cleanup >/dev/null 2>&1 || true; fi
  restore_sysctls
}
