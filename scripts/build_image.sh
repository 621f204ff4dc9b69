#!/usr/bin/env bash
# Build the aiguilleur image from the Containerfile with Debian's buildah, then smoke-test it.
#
#   scripts/build_image.sh                 base image (if missing), image, smoke test
#   scripts/build_image.sh --rebuild-base  make the base image again (new Debian point release, security fixes)
#   scripts/build_image.sh --save          also write out/aiguilleur-<version>.tar (docker-archive, `podman load`)
#
# No image registry is reachable here, so the base image is made from Debian packages: debootstrap puts a minimal
# bookworm (Python 3.11, python3-venv, ca-certificates, the X11/GL libraries SUMO links) into .cache/image/rootfs,
# which becomes the only layer of
# localhost/aiguilleur-base:bookworm (`buildah from scratch` + the rootfs as a tar). The image is then built from
# the Containerfile on that base, and the smoke test runs `aiguilleur --help` and `aiguilleur settings` inside it
# as its own unprivileged user.
#
# buildah runs with the vfs storage driver and chroot isolation (no fuse-overlayfs, no user namespaces needed),
# its storage kept in .cache/containers so that nothing lands in the machine's /var/lib/containers. With vfs each
# layer is a full copy of the file system, so the build keeps no intermediate layers (no --layers): a rebuild
# starts over, with the package downloads in a cache mount.
# Environment: IMAGE (default localhost/aiguilleur), VERSION (default: pyproject's version), DEBIAN_MIRROR,
# BUILD_CA_BUNDLE: a PEM bundle that pip and uv trust while the build downloads packages, for networks that
# inspect TLS with their own CA (default: $SSL_CERT_FILE when set); passed as a build secret, in no layer.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
version=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)}
image=${IMAGE:-localhost/aiguilleur}
base=localhost/aiguilleur-base:bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$root/.cache/image
base_packages=python3,python3-venv,ca-certificates,libx11-6,libxext6,libxrender1,libgl1,libatomic1
rebuild_base=0
save=0
for arg in "$@"; do
  case $arg in
    --rebuild-base) rebuild_base=1 ;;
    --save) save=1 ;;
    *) echo "usage: $0 [--rebuild-base] [--save]" >&2; exit 2 ;;
  esac
done

say() { printf 'image: %s\n' "$*" >&2; }

for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { say "$tool not found: apt-get install buildah debootstrap"; exit 1; }
done
[[ $(id -u) == 0 ]] || { say "debootstrap and buildah's chroot isolation need root here"; exit 1; }

bh() {
  buildah --storage-driver vfs --root "$root/.cache/containers/storage" \
    --runroot "$root/.cache/containers/run" "$@"
}
export BUILDAH_ISOLATION=chroot

make_base() {
  local rootfs=$work/rootfs
  say "debootstrap: minimal Debian bookworm from $mirror into $rootfs"
  rm -rf "$rootfs"
  mkdir -p "$work"
  # SUMO's wheels (the twin) link X11, Xext, Xrender, GL and libatomic even for the headless sumo and libsumo;
  # libgl1 brings Mesa with it (about 170 MB, never used without a display) since Debian has no GL stub.
  debootstrap --variant=minbase --include="$base_packages" bookworm "$rootfs" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  # What an image does not need: package caches and lists, manuals, translations. The licences
  # (usr/share/doc/*/copyright) stay.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/man \
    "$rootfs"/usr/share/info "$rootfs"/var/log/* "$rootfs"/tmp/*
  find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} +
  find "$rootfs"/usr/share/doc -type f ! -name copyright -delete
  chroot "$rootfs" dpkg-query -W -f '${Package} ${Version}\n' >"$work/base-packages.txt"
  tar -C "$rootfs" --numeric-owner -cf "$work/rootfs.tar" .
  local ctr
  ctr=$(bh from scratch)
  bh add "$ctr" "$work/rootfs.tar" /
  bh config --env LANG=C.UTF-8 --cmd /bin/bash \
    --label org.opencontainers.image.title=aiguilleur-base \
    --label "org.opencontainers.image.description=Debian bookworm minbase and $base_packages" \
    --label "org.aiguilleur.base-packages=$base_packages" \
    --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$ctr"
  bh commit --rm "$ctr" "$base" >/dev/null
  rm -f "$work/rootfs.tar"
  say "base image $base: $(wc -l <"$work/base-packages.txt") Debian packages (list: $work/base-packages.txt)"
}

t0=$(date +%s)
# Made again when asked, when missing, or when the wanted packages changed since it was made.
if [[ $rebuild_base == 1 ]] || ! bh inspect --type image --format '{{index .OCIv1.Config.Labels "org.aiguilleur.base-packages"}}' \
    "$base" 2>/dev/null | grep -qx "$base_packages"; then
  make_base
fi
t1=$(date +%s)

say "building $image:$version from the Containerfile"
ca=${BUILD_CA_BUNDLE:-${SSL_CERT_FILE:-}}
secret=()
if [[ -n $ca ]]; then
  say "trusting $ca during the build (BUILD_CA_BUNDLE)"
  secret=(--secret "id=build-ca,src=$ca")
fi
# A failed step must not leave its working containers (gigabytes each with vfs) in the storage, which only
# this script uses.
bh bud "${secret[@]}" --build-arg "BASE=$base" --build-arg "VERSION=$version" -f Containerfile \
  -t "$image:$version" . || { bh rm --all >/dev/null 2>&1; say "build failed"; exit 1; }
bh rmi --prune >/dev/null 2>&1 || true  # the previous build's image, now untagged
t2=$(date +%s)

# Smoke test: the console script on PATH, as the unprivileged user, with the image's own settings.
ctr=$(bh from "$image:$version")
trap 'bh rm "$ctr" >/dev/null 2>&1 || true' EXIT
uid=$(bh run "$ctr" -- id -u)
[[ $uid == 10001 ]] || { say "smoke test: runs as uid $uid, expected 10001"; exit 1; }
bh run "$ctr" -- aiguilleur --help >/dev/null
settings=$(bh run "$ctr" -- aiguilleur settings)
grep -q '"network_file": "/app/data/demo/lyon-villeurbanne.osm.gz"' <<<"$settings" || {
  say "smoke test: aiguilleur settings does not point at the demo data:"; echo "$settings" >&2; exit 1; }
bh run "$ctr" -- python -c 'import aiguilleur.worker, api.app, libsumo, ortools, osmium; print("imports ok")' \
  >/dev/null
bh run "$ctr" -- sumo --version >/dev/null  # the twin's simulator runs headless
say "smoke test passed: aiguilleur --help, aiguilleur settings (demo data found), imports, sumo, uid 10001"

size=$(bh images --format '{{.Size}}' "$image:$version" | head -n 1)
say "built $image:$version: $size; base $((t1 - t0)) s, image $((t2 - t1)) s"
if [[ $save == 1 ]]; then
  mkdir -p out
  rm -f "out/aiguilleur-$version.tar"
  bh push "$image:$version" "docker-archive:out/aiguilleur-$version.tar:aiguilleur:$version"
  say "wrote out/aiguilleur-$version.tar ($(du -h "out/aiguilleur-$version.tar" | cut -f1)): podman load -i it"
fi
