#!/usr/bin/env python3
"""Dynamic provisioner of host directories for the test bed's real node (storage class
`testenv-local`), run by `scripts/testenv up nodes`.

    local-provisioner.py --kubectl PATH --kubeconfig FILE --node NAME --root DIR [--interval SECONDS]

The class binds on first use (WaitForFirstConsumer): once the scheduler has picked our node for
a pod (annotation volume.kubernetes.io/selected-node), the claim gets a directory under DIR and a
`local` PersistentVolume pre-bound to it, with node affinity to NODE. The kubelet applies the
pod's fsGroup to local volumes (unlike hostPath), so a non-root pod can write to it. Released
volumes of this provisioner are deleted with their directory (reclaim policy Delete). State comes
from `kubectl get` every INTERVAL seconds: a small, dependency-free loop for tests, not a product.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

PROVISIONER = "merchant.rezapp.com/testenv-local"
CLASS = "testenv-local"


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


class Kube:
    def __init__(self, kubectl, kubeconfig):
        self.base = [kubectl, "--kubeconfig", kubeconfig]

    def run(self, *args, stdin=None):
        out = subprocess.run([*self.base, *args], input=stdin, capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def items(self, kind):
        return json.loads(self.run("get", kind, "-A", "-o", "json"))["items"]


def wanted(pvc, node):
    meta, spec = pvc["metadata"], pvc["spec"]
    return (spec.get("storageClassName") == CLASS and not spec.get("volumeName")
            and pvc.get("status", {}).get("phase") == "Pending"
            and meta.get("annotations", {}).get("volume.kubernetes.io/selected-node") == node
            and "deletionTimestamp" not in meta)


def provision(kube, pvc, node, root):
    meta, spec = pvc["metadata"], pvc["spec"]
    uid = meta["uid"]
    path = os.path.join(root, f"{meta['namespace']}_{meta['name']}_{uid[:8]}")
    os.makedirs(path, mode=0o755, exist_ok=True)
    pv = {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{uid}", "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
                     "labels": {"app.kubernetes.io/managed-by": "merchant-testenv"}},
        "spec": {
            "capacity": {"storage": spec["resources"]["requests"]["storage"]},
            "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": CLASS,
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                         "name": meta["name"], "uid": uid},
            "local": {"path": path},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
        },
    }
    kube.run("create", "-f", "-", stdin=json.dumps(pv))
    log(f"provisioned {meta['namespace']}/{meta['name']} -> {path}")


def reclaim(kube, pv, root):
    path = pv["spec"].get("local", {}).get("path", "")
    if path.startswith(root + os.sep):
        shutil.rmtree(path, ignore_errors=True)
    kube.run("delete", "pv", pv["metadata"]["name"], "--wait=false", "--ignore-not-found")
    log(f"deleted {pv['metadata']['name']} and {path}")


def ours(pv):
    return pv["metadata"].get("annotations", {}).get("pv.kubernetes.io/provisioned-by") == PROVISIONER


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kubectl", required=True)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--node", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--interval", type=float, default=1.0)
    args = p.parse_args()
    root = os.path.abspath(args.root)
    os.makedirs(root, exist_ok=True)
    kube = Kube(args.kubectl, args.kubeconfig)
    log(f"provisioning class {CLASS} on node {args.node} under {root}")
    while True:
        try:
            for pvc in kube.items("persistentvolumeclaims"):
                if wanted(pvc, args.node):
                    provision(kube, pvc, args.node, root)
            for pv in kube.items("persistentvolumes"):
                if ours(pv) and pv.get("status", {}).get("phase") in ("Released", "Failed") \
                        and "deletionTimestamp" not in pv["metadata"]:
                    reclaim(kube, pv, root)
        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError, KeyError) as e:
            log(f"error: {e}")  # the API server may be restarting: try again next round
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
