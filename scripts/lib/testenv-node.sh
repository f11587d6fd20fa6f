# shellcheck shell=bash
# The `nodes` tier of scripts/testenv (sourced by it; uses its log/fail/start/stop/wait_for):
# one real kubelet node next to the KWOK one, so pods really run.
#
#   containerd + runc + CNI bridge (Debian packages), kubelet and kube-proxy built from the same
#   pinned tools/k8s module as the control plane, a pause image compiled here, a host-directory
#   provisioner (storage class testenv-local), and NAT rules that let pods reach the host's test
#   servers and the API server, which all listen on loopback only.
#
# Containment: pods live on the bridge $NODE_BRIDGE ($POD_CIDR). They may talk to each other, to
# Services and to the host; forwarding from the bridge to anywhere else is rejected, pods get no
# DNS server, the pod range, the KWOK fake pod range and the Service range are routed locally
# (never by the default route), and the kubelet listens on the bridge address, not on eth0.
# Everything lives under $NODE_ROOT and $NODE_RUN; `down` removes it and every rule and route it
# added. One real node per machine. Needs root. See docs/testing.md ("Real node").

NODE_ROOT=${MERCHANT_NODE_ROOT:-/var/lib/merchant-testenv}
NODE_RUN=/run/merchant-testenv
NODE_NAME=$(hostname)
NODE_BRIDGE=mstack0
POD_CIDR=10.85.0.0/24
POD_GATEWAY=10.85.0.1
POD_RANGE=10.85.0.0/16
SERVICE_RANGE=10.96.0.0/16
KWOK_POD_RANGE=10.244.0.0/16
NODE_TAINT=merchant.rezapp.com/real-node
STORAGE_CLASS=testenv-local
PAUSE_IMAGE=registry.k8s.io/pause:3.10
CONTAINERD_SOCK=$NODE_RUN/containerd.sock
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
KUBE_PROXY_HEALTHZ_PORT=10256
KUBE_PROXY_METRICS_PORT=10249
# Our iptables chains (nat: DNAT to loopback servers, SNAT for loopback-only servers; filter:
# containment of forwarded pod traffic).
CHAIN_DNAT=MSTACK-TESTENV-DNAT
CHAIN_SNAT=MSTACK-TESTENV-SNAT
CHAIN_FWD=MSTACK-TESTENV-FORWARD

node_kubectl() { "$STATE/bin/kubectl" --kubeconfig "$STATE/kubeconfig" "$@"; }
ctr_node() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# --- prerequisites ------------------------------------------------------------------------------

node_prerequisites() {
  mkdir -p "$LOGS"
  [ "$(id -u)" = 0 ] || fail node "the nodes tier needs root (containerd, network namespaces, iptables)"
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v gcc >/dev/null || missing+=(gcc libc6-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (Debian packages)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$LOGS/apt-node.log" 2>&1 \
      || fail apt-node "apt-get install ${missing[*]} failed"
  fi
  # Kernel features the node needs, named so a missing one is obvious.
  [ -d /proc/sys/net/bridge ] || fail node "kernel: no bridge netfilter (/proc/sys/net/bridge missing; modprobe br_netfilter)"
  grep -qw overlay /proc/filesystems || fail node "kernel: no overlay filesystem (modprobe overlay)"
  [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || fail node "no memory cgroup mounted under /sys/fs/cgroup"
  local port
  for port in $KUBELET_PORT $KUBELET_HEALTHZ_PORT $KUBE_PROXY_HEALTHZ_PORT $KUBE_PROXY_METRICS_PORT; do
    if ! is_running kubelet && ss -Hltn "sport = :$port" | grep -q .; then
      fail node "port $port is already in use (another kubelet or kube-proxy on this machine?): $(ss -Hltnp "sport = :$port" | head -n1)"
    fi
  done
}

# The sandbox image, compiled here (nothing can be pulled), cached by the hash of its sources.
build_pause() {
  local key dir
  key=$(cat "$ROOT/scripts/lib/pause.c" "$ROOT/scripts/lib/ociimage.py" | sha256sum | cut -c1-12)
  dir=$TOOLS/pause-$key
  PAUSE_TAR=$dir/pause.tar
  [ -f "$PAUSE_TAR" ] && return 0
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  gcc -static -O2 -o "$dir.tmp/pause" "$ROOT/scripts/lib/pause.c" >"$LOGS/pause-build.log" 2>&1 || fail pause-build "gcc -static failed"
  python3 "$ROOT/scripts/lib/ociimage.py" --ref "$PAUSE_IMAGE" --out "$dir.tmp/pause.tar" --file "$dir.tmp/pause:pause" \
    --entrypoint /pause --user 65535:65535 --minimal >>"$LOGS/pause-build.log" 2>&1 || fail pause-build "packing the pause image failed"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
}

# Node identity: a client certificate from the test CA that the Node authorizer accepts.
node_credentials() {
  local pki=$DATA/pki
  [ -f "$pki/node.crt" ] || (
    cd "$pki"
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:nodes/CN=system:node:$NODE_NAME" -keyout node.key -out node.csr
    openssl x509 -req -in node.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client.ext -out node.crt
  ) >>"$LOGS/pki.log" 2>&1 || fail pki "node certificate"
  write_config "$NODE_ROOT/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: "$pki/ca.crt"}}]
users: [{name: node, user: {client-certificate: "$pki/node.crt", client-key: "$pki/node.key"}}]
contexts: [{name: local, context: {cluster: local, user: node}}]
current-context: local
EOF
}

# --- network ------------------------------------------------------------------------------------

# sysctl_set NAME VALUE: set it, remembering the value we found so `down` can put it back.
sysctl_set() {
  local saved=$STATE/node-sysctls old
  old=$(sysctl -n "$1")
  grep -q "^$1 " "$saved" 2>/dev/null || echo "$1 $old" >>"$saved"
  sysctl -qw "$1=$2"
}

node_network() {
  sysctl_set net.ipv4.ip_forward 1
  sysctl_set net.bridge.bridge-nf-call-iptables 1
  sysctl_set net.ipv4.conf.all.route_localnet 1 # DNAT from the bridge to loopback servers
  if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$NODE_BRIDGE" type bridge
  fi
  ip addr replace "$POD_GATEWAY/${POD_CIDR#*/}" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  # A packet for an address with no rule must stay here: pod and KWOK ranges are unreachable (the
  # bridge's connected /24 is more specific for live pods); the Service range goes to the bridge,
  # because an unreachable route would fail connect() on the host before kube-proxy's DNAT.
  ip route replace unreachable "$POD_RANGE"
  ip route replace unreachable "$KWOK_POD_RANGE"
  ip route replace "$SERVICE_RANGE" dev "$NODE_BRIDGE"

  iptables -t nat -N "$CHAIN_DNAT" 2>/dev/null || iptables -t nat -F "$CHAIN_DNAT"
  iptables -t nat -N "$CHAIN_SNAT" 2>/dev/null || iptables -t nat -F "$CHAIN_SNAT"
  iptables -N "$CHAIN_FWD" 2>/dev/null || iptables -F "$CHAIN_FWD"
  local port
  for port in "$MONGO_PORT" "$REDIS_PORT" "$S3_PORT" "$SMTP_PORT" "$FERRETDB_PORT" "$PROMETHEUS_PORT"; do
    iptables -t nat -A "$CHAIN_DNAT" -i "$NODE_BRIDGE" -d "$POD_GATEWAY" -p tcp --dport "$port" \
      -j DNAT --to-destination "127.0.0.1:$port"
  done
  # In-cluster clients (the operator pod) reach the API server through the kubernetes Service.
  iptables -t nat -A "$CHAIN_DNAT" -i "$NODE_BRIDGE" -d 10.96.0.1 -p tcp --dport 443 \
    -j DNAT --to-destination "127.0.0.1:$APISERVER_PORT"
  # Loopback servers (Redis in protected mode) accept only loopback sources.
  iptables -t nat -A "$CHAIN_SNAT" -d 127.0.0.1/32 ! -s 127.0.0.0/8 -m conntrack --ctstate DNAT \
    -j SNAT --to-source 127.0.0.1
  iptables -A "$CHAIN_FWD" -i "$NODE_BRIDGE" ! -o "$NODE_BRIDGE" -j REJECT --reject-with icmp-net-prohibited
  iptables -C FORWARD -j "$CHAIN_FWD" 2>/dev/null || iptables -I FORWARD 1 -j "$CHAIN_FWD"
  iptables -t nat -C INPUT -j "$CHAIN_SNAT" 2>/dev/null || iptables -t nat -I INPUT 1 -j "$CHAIN_SNAT"
  node_dnat_first
}

# Our DNAT jump must come before kube-proxy's KUBE-SERVICES (which would send 10.96.0.1 to the
# API server's advertised, non-listening address): (re)insert it at the top.
node_dnat_first() {
  while iptables -t nat -D PREROUTING -j "$CHAIN_DNAT" 2>/dev/null; do :; done
  iptables -t nat -I PREROUTING 1 -j "$CHAIN_DNAT"
}

# --- configuration files -------------------------------------------------------------------------

# write_config FILE < content: replace FILE only when the content differs. kube-proxy exits when
# its configuration file is rewritten, so a second `up` must leave unchanged files alone.
write_config() {
  local new; new=$(cat)
  [ -f "$1" ] && [ "$(cat "$1")" = "$new" ] && return 0
  printf '%s\n' "$new" >"$1"
}

node_configs() {
  mkdir -p "$NODE_ROOT/cni/net.d" "$NODE_ROOT/volumes" "$NODE_ROOT/pod-logs" "$NODE_RUN"
  echo 'nameserver 127.0.0.1' | write_config "$NODE_ROOT/resolv.conf" # no DNS server that leaves the pod
  write_config "$NODE_ROOT/containerd.toml" <<EOF
version = 2
root = "$NODE_ROOT/containerd"
state = "$NODE_RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_ROOT/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # No CAP_SYS_RESOURCE here: without this every sandbox fails on a negative oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$NODE_RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_ROOT/cni/net.d"
EOF
  write_config "$NODE_ROOT/cni/net.d/10-merchant-testenv.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "merchant-testenv",
  "plugins": [
    {"type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$NODE_ROOT/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  write_config "$NODE_ROOT/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false            # 1.36 refuses cgroup v1 unless told
cgroupDriver: cgroupfs         # no systemd here
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
address: $POD_GATEWAY          # the bridge address: never on the machine's own interface
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$DATA/pki/ca.crt"}
authorization: {mode: Webhook}
registerWithTaints: [{key: $NODE_TAINT, value: "true", effect: NoSchedule}]
failSwapOn: false
resolvConf: "$NODE_ROOT/resolv.conf"
podLogsDir: "$NODE_ROOT/pod-logs"
localStorageCapacityIsolation: false   # cadvisor cannot stat this machine's root block device
evictionHard: {memory.available: "100Mi"}
imageGCHighThresholdPercent: 100       # images are imported, never pulled: never collect them
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
  write_config "$NODE_ROOT/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: "$STATE/kubeconfig"}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_RANGE
nodePortAddresses: ["127.0.0.1/32", "$POD_GATEWAY/32"]
healthzBindAddress: 127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$KUBE_PROXY_METRICS_PORT
conntrack: {maxPerCore: 0}     # do not try to resize the conntrack table
EOF
}

# --- up -----------------------------------------------------------------------------------------

node_is_ready() {
  [ "$(node_kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

kube_proxy_synced() {
  curl -sf "http://127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT/healthz" && iptables -t nat -S PREROUTING | grep -q KUBE-SERVICES
}

# Import every OCI archive `scripts/image` built (and the pause image).
node_import_images() {
  local tar
  for tar in "$PAUSE_TAR" "$ROOT"/target/images/*.tar; do
    [ -f "$tar" ] || continue
    ctr_node images import "$tar" >>"$LOGS/images.log" 2>&1 || fail images "ctr images import $tar"
  done
}

up_nodes() {
  node_prerequisites
  # Leftovers of a node that was killed without `down` (mounts, containers, rules): start clean.
  is_running kubelet || node_cleanup
  build_pause
  local k8s=$TOOLS/k8s-$K8S_VERSION
  mkdir -p "$NODE_ROOT" "$NODE_RUN"
  node_credentials
  node_configs
  node_network

  if ! is_running containerd && [ -S "$CONTAINERD_SOCK" ]; then rm -f "$CONTAINERD_SOCK" "$CONTAINERD_SOCK.ttrpc"; fi
  start containerd containerd --config "$NODE_ROOT/containerd.toml"
  wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version
  node_import_images

  start kubelet "$k8s/kubelet" --config="$NODE_ROOT/kubelet.yaml" --kubeconfig="$NODE_ROOT/kubelet.kubeconfig" \
    --root-dir="$NODE_ROOT/kubelet" --hostname-override="$NODE_NAME" --node-ip="$POD_GATEWAY" \
    --node-labels="$NODE_TAINT=true" --v=1
  wait_for kubelet 60 node_is_ready
  start kube-proxy "$k8s/kube-proxy" --config="$NODE_ROOT/kube-proxy.yaml" --v=1
  wait_for kube-proxy 60 kube_proxy_synced
  node_dnat_first

  node_kubectl apply -f - >/dev/null <<EOF || fail apiserver "could not create storage class $STORAGE_CLASS"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: $STORAGE_CLASS}
provisioner: merchant.rezapp.com/testenv-local
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
EOF
  start provisioner python3 "$ROOT/scripts/lib/local-provisioner.py" --kubectl "$STATE/bin/kubectl" --kubeconfig "$STATE/kubeconfig" \
    --node "$NODE_NAME" --root "$NODE_ROOT/volumes"
  log "nodes tier ready: node $NODE_NAME (taint $NODE_TAINT=true:NoSchedule), pods on $POD_CIDR, storage class $STORAGE_CLASS"
}

# --- down ---------------------------------------------------------------------------------------

# Before the processes stop: let the kubelet tear the pods down (unmount volumes, release IPs).
node_drain() {
  is_running kubelet || return 0
  node_kubectl delete pods -A --field-selector "spec.nodeName=$NODE_NAME" --grace-period=5 --wait=false >/dev/null 2>&1 || true
  local deadline=$((SECONDS + 45))
  while [ "$SECONDS" -lt "$deadline" ] && [ -n "$(node_kubectl get pods -A --field-selector "spec.nodeName=$NODE_NAME" -o name 2>/dev/null)" ]; do
    sleep 0.5
  done
  node_kubectl delete node "$NODE_NAME" --wait=false >/dev/null 2>&1 || true
}

# `down nodes`: only this tier, Prometheus included (the control plane and the servers keep
# running).
down_nodes() {
  node_drain
  local name
  for name in prometheus prometheus-targets provisioner kube-proxy kubelet containerd; do stop "$name"; done
  node_cleanup
}

# After the processes stop: containers, mounts, files, rules, routes and sysctls we added.
node_cleanup() {
  [ -d "$NODE_ROOT" ] || [ -d "$NODE_RUN" ] || ip link show "$NODE_BRIDGE" >/dev/null 2>&1 || return 0
  local id
  if [ -d "$NODE_RUN/runc/k8s.io" ]; then
    for id in $(runc --root "$NODE_RUN/runc/k8s.io" list -q 2>/dev/null); do
      runc --root "$NODE_RUN/runc/k8s.io" delete --force "$id" >/dev/null 2>&1 || true
    done
  fi
  pkill -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null || true
  awk -v a="$NODE_ROOT" -v b="$NODE_RUN" '$2 ~ "^"a || $2 ~ "^"b {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  # Network namespaces of pods whose sandbox the kubelet did not get to remove.
  for id in /var/run/netns/cni-*; do [ -e "$id" ] && { umount "$id" 2>/dev/null; rm -f "$id"; }; done
  rm -rf "$NODE_ROOT" "$NODE_RUN"

  local k8s=$TOOLS/k8s-$K8S_VERSION
  [ -x "$k8s/kube-proxy" ] && "$k8s/kube-proxy" --cleanup >/dev/null 2>&1 || true
  local ipt chain table
  for ipt in iptables ip6tables; do
    # The kubelet's own chains stay after it stops (kube-proxy --cleanup removes only its own).
    $ipt -D INPUT -j KUBE-FIREWALL 2>/dev/null || true
    $ipt -D OUTPUT -j KUBE-FIREWALL 2>/dev/null || true
    for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY; do $ipt -F "$chain" 2>/dev/null && $ipt -X "$chain" 2>/dev/null; done
    for table in nat mangle; do
      for chain in KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT KUBE-PROXY-CANARY; do
        $ipt -t "$table" -F "$chain" 2>/dev/null && $ipt -t "$table" -X "$chain" 2>/dev/null
      done
    done
    $ipt -F KUBE-PROXY-CANARY 2>/dev/null && $ipt -X KUBE-PROXY-CANARY 2>/dev/null
  done
  while iptables -t nat -D PREROUTING -j "$CHAIN_DNAT" 2>/dev/null; do :; done
  while iptables -t nat -D INPUT -j "$CHAIN_SNAT" 2>/dev/null; do :; done
  while iptables -D FORWARD -j "$CHAIN_FWD" 2>/dev/null; do :; done
  iptables -t nat -F "$CHAIN_DNAT" 2>/dev/null && iptables -t nat -X "$CHAIN_DNAT"
  iptables -t nat -F "$CHAIN_SNAT" 2>/dev/null && iptables -t nat -X "$CHAIN_SNAT"
  iptables -F "$CHAIN_FWD" 2>/dev/null && iptables -X "$CHAIN_FWD"
  conntrack -D -s "$POD_RANGE" >/dev/null 2>&1 || true

  ip route del "$SERVICE_RANGE" dev "$NODE_BRIDGE" 2>/dev/null || true
  ip route del unreachable "$POD_RANGE" 2>/dev/null || true
  ip route del unreachable "$KWOK_POD_RANGE" 2>/dev/null || true
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  # Cgroups the kubelet created (empty once the containers are gone).
  find /sys/fs/cgroup/*/kubepods* -depth -type d -exec rmdir {} \; 2>/dev/null || true
  if [ -f "$STATE/node-sysctls" ]; then
    local name value
    while read -r name value; do sysctl -qw "$name=$value" || true; done <"$STATE/node-sysctls"
    rm -f "$STATE/node-sysctls"
  fi
  log "nodes tier cleaned up (mounts, $NODE_ROOT, $NODE_RUN, bridge, routes, iptables chains, sysctls)"
}
