#!/usr/bin/env python3
"""Write a single-layer OCI image-layout tar without a container engine.

    ociimage.py --ref localhost/merchant-api:dev --out target/images/merchant-api.tar \
        --file BIN:usr/local/bin/app --libs-of BIN --entrypoint /usr/local/bin/app \
        --user 65532:65532 --port 5001 --label k=v [--config-out FILE]

The layer is an uncompressed tar (so its diff_id is its digest) with every entry owned by root,
mtime 0 and sorted, so the same inputs give the same digests. Runtime files mirror the
Dockerfile's distroless/static base: the binary (and any shared libraries `ldd` lists: none for
the crt-static binaries scripts/image builds), CA certificates,
/etc/passwd and /etc/group with the nonroot user 65532, /home/nonroot and a 1777 /tmp.
`ctr -n k8s.io images import` (containerd 1.6) accepts the result; the ref must be fully
normalized (localhost/NAME:TAG or docker.io/...), or the kubelet cannot find the image.
"""

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

PASSWD = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
GROUP = "root:x:0:\nnonroot:x:65532:\n"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def shared_libraries(binary):
    """Absolute paths of the shared objects `ldd` resolves for BINARY (empty when static)."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if out.returncode != 0 or "not a dynamic executable" in out.stdout + out.stderr:
        return []
    libs = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if "=>" in parts:
            target = parts[parts.index("=>") + 1]
            if target.startswith("/"):
                libs.append(target)
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])  # the loader, e.g. /lib64/ld-linux-x86-64.so.2
    return sorted(set(libs))


class Layer:
    """A reproducible tar: explicit parent directories, root-owned, mtime 0."""

    def __init__(self):
        self.entries = {}  # path -> (TarInfo, bytes or None)

    def directory(self, path, mode=0o755, uid=0, gid=0):
        path = path.strip("/")
        parent = os.path.dirname(path)
        if parent:
            self.directory(parent)
        if path in self.entries:
            return
        info = tarfile.TarInfo(path)
        info.type, info.mode, info.uid, info.gid, info.mtime = tarfile.DIRTYPE, mode, uid, gid, 0
        self.entries[path] = (info, None)

    def file(self, path, data, mode=0o644):
        path = path.strip("/")
        self.directory(os.path.dirname(path))
        info = tarfile.TarInfo(path)
        info.size, info.mode, info.mtime = len(data), mode, 0
        self.entries[path] = (info, data)

    def host_file(self, src, dest, mode=None):
        with open(src, "rb") as f:  # follows symlinks: the real bytes under the asked-for path
            data = f.read()
        self.file(dest, data, mode if mode is not None else (os.stat(src).st_mode & 0o777))

    def bytes(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.entries):
                info, data = self.entries[path]
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return buf.getvalue()


def blob(blobs, data, media_type):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def image_config(args, layer_digest):
    config = {"Entrypoint": args.entrypoint, "Env": [f"PATH={PATH}", f"SSL_CERT_FILE={CA_BUNDLE}"],
              "WorkingDir": "/", "User": args.user}
    if args.port:
        config["ExposedPorts"] = {f"{p}/tcp": {} for p in args.port}
    if args.label:
        config["Labels"] = dict(kv.split("=", 1) for kv in args.label)
    if args.healthcheck:
        # What `docker build` records for HEALTHCHECK --interval=10s --timeout=5s
        # --start-period=30s --retries=3 CMD [...] (durations in nanoseconds).
        config["Healthcheck"] = {"Test": ["CMD", *args.healthcheck], "Interval": 10 * 10**9,
                                 "Timeout": 5 * 10**9, "StartPeriod": 30 * 10**9, "Retries": 3}
    return {"architecture": "amd64", "os": "linux", "config": config,
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", required=True, help="fully normalized image reference")
    p.add_argument("--out", required=True)
    p.add_argument("--file", action="append", default=[], help="SRC:DEST (DEST relative to /)")
    p.add_argument("--libs-of", action="append", default=[], help="add the shared libraries of this binary")
    p.add_argument("--entrypoint", nargs="+", required=True)
    p.add_argument("--user", default="65532:65532")
    p.add_argument("--port", action="append", type=int, default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--healthcheck", nargs="+", help="exec-form health check command")
    p.add_argument("--config-out", help="also write the image config JSON here")
    p.add_argument("--minimal", action="store_true", help="no /etc, CA bundle or /tmp (pause image)")
    args = p.parse_args()

    layer = Layer()
    for spec in args.file:
        src, dest = spec.split(":", 1)
        layer.host_file(src, dest)
    for binary in args.libs_of:
        for lib in shared_libraries(binary):
            layer.host_file(lib, lib)
    if not args.minimal:
        layer.file("etc/passwd", PASSWD.encode())
        layer.file("etc/group", GROUP.encode())
        if os.path.exists(CA_BUNDLE):
            layer.host_file(CA_BUNDLE, CA_BUNDLE, 0o644)
        layer.directory("home/nonroot", 0o700, 65532, 65532)
        layer.directory("tmp", 0o1777)

    blobs = {}
    layer_bytes = layer.bytes()
    layer_desc = blob(blobs, layer_bytes, "application/vnd.oci.image.layer.v1.tar")
    config = image_config(args, layer_desc["digest"])
    config_desc = blob(blobs, canonical(config), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer_desc]}
    manifest_desc = blob(blobs, canonical(manifest), "application/vnd.oci.image.manifest.v1+json")
    tag = args.ref.rsplit(":", 1)[1] if ":" in args.ref.rsplit("/", 1)[-1] else "latest"
    manifest_desc["annotations"] = {"io.containerd.image.name": args.ref,
                                    "org.opencontainers.image.ref.name": tag}
    manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [manifest_desc]}

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
        add("oci-layout", canonical({"imageLayoutVersion": "1.0.0"}))
        add("index.json", canonical(index))
        for digest in sorted(blobs):
            add("blobs/sha256/" + digest.split(":", 1)[1], blobs[digest])
    os.replace(tmp, args.out)
    if args.config_out:
        with open(args.config_out, "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")
    print(f"{args.ref}: {args.out} (layer {len(layer_bytes) / 1e6:.1f} MB, manifest {manifest_desc['digest']})")


if __name__ == "__main__":
    sys.exit(main())
