#!/usr/bin/env python3
"""Pod discovery for the test bed's Prometheus (a file_sd target file), run by
`scripts/testenv up nodes`.

    pod-targets.py --kubectl PATH --kubeconfig FILE --node NAME --out FILE [--interval SECONDS]

Debian's Prometheus is built without Kubernetes service discovery (removed for the size of the
client library, NEWS.Debian 1.5.0), so this loop does the part of `kubernetes_sd_configs`
(role: pod) the test bed needs. Every INTERVAL seconds it lists the running pods on NODE and
writes, for each container port named `metrics`, the target podIP:port with the labels
namespace, pod, instance_name (pod label app.kubernetes.io/instance) and revision (pod label
merchant.rezapp.com/revision). KWOK's pods are left out: nothing answers on their addresses.
The file is replaced atomically, and only when it changes; Prometheus watches it.
"""

import argparse
import json
import os
import subprocess
import sys
import time

PORT_NAME = "metrics"
LABELS = {  # target label: pod label
    "instance_name": "app.kubernetes.io/instance",
    "revision": "merchant.rezapp.com/revision",
}


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def running_pods(kubectl, kubeconfig, node):
    out = subprocess.run(
        [kubectl, "--kubeconfig", kubeconfig, "get", "pods", "-A", "-o", "json",
         "--field-selector", f"spec.nodeName={node},status.phase=Running"],
        capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"kubectl get pods: {out.stderr.strip()}")
    return json.loads(out.stdout)["items"]


def targets(pods):
    groups = []
    for pod in pods:
        meta, ip = pod["metadata"], pod.get("status", {}).get("podIP")
        if not ip:
            continue
        labels = {"namespace": meta["namespace"], "pod": meta["name"]}
        pod_labels = meta.get("labels", {})
        labels.update({k: pod_labels[v] for k, v in LABELS.items() if v in pod_labels})
        for container in pod["spec"].get("containers", []):
            for port in container.get("ports", []):
                if port.get("name") == PORT_NAME and port.get("protocol", "TCP") == "TCP":
                    groups.append({"targets": [f"{ip}:{port['containerPort']}"], "labels": labels})
    return sorted(groups, key=lambda g: g["targets"])


def write_if_changed(path, content):
    try:
        with open(path) as f:
            if f.read() == content:
                return False
    except FileNotFoundError:
        pass
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.replace(tmp, path)  # Prometheus never reads a half-written file
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kubectl", required=True)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--node", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--interval", type=float, default=2.0)
    args = p.parse_args()
    # An empty list first, so Prometheus can start before the API server answers.
    write_if_changed(args.out, "[]\n")
    log(f"writing the `{PORT_NAME}` ports of running pods on {args.node} to {args.out}")
    while True:
        try:
            found = targets(running_pods(args.kubectl, args.kubeconfig, args.node))
            if write_if_changed(args.out, json.dumps(found, indent=1) + "\n"):
                log(f"{len(found)} target(s): {', '.join(g['targets'][0] for g in found) or '-'}")
        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError, KeyError) as e:
            log(f"error: {e}")  # the API server may be restarting: try again next round
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
