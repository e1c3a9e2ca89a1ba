#!/usr/bin/env bash
# build-image.sh [--binary PATH] [--out DIR]: the OCI image of the release
# binary, built here without pulling anything.
#
# The root file system is the self-contained release binary, stripped
# (scripts/build-release.sh: the Swift runtime and Foundation linked in) and
# exactly the shared libraries `ldd` says it loads (libbpf, libelf, zlib,
# libc and their own closure) with the dynamic loader, copied from this
# machine (Debian 12's packages), plus empty mount points. No shell, no
# package manager. It is imported with `podman import` as
# localhost/socktrace:VERSION (VERSION from `socktrace --version`) and saved
# as an OCI archive, DIR/socktrace-VERSION.oci.tar (default DIR:
# .build/image). Entrypoint `socktrace serve`; the default arguments serve
# metrics on :9464 (give your own: `podman run … IMAGE --otlp URL -o FILE`).
# How to run it: docs/deploy.md. Prints the image reference on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=
out=.build/image
while (($#)); do
  case $1 in
  --binary) binary=$2 && shift 2 ;;
  --out) out=$2 && shift 2 ;;
  *) echo "build-image: unknown option $1 (use --binary PATH, --out DIR)" >&2 && exit 2 ;;
  esac
done
command -v podman >/dev/null || { echo "build-image: podman is not installed (scripts/setup.sh --test)" >&2; exit 1; }
[ -n "$binary" ] || binary=$(bash scripts/build-release.sh)
[ -x "$binary" ] || { echo "build-image: no binary at $binary" >&2; exit 1; }

# "0.1.0 (commit 0123456789ab)" -> 0.1.0
version=$("$binary" --version | awk '{print $1}')
commit=$("$binary" --version | sed -n 's/.*(commit \(.*\))/\1/p')
[[ $version =~ ^[0-9A-Za-z._+-]+$ ]] || { echo "build-image: cannot read the version of $binary" >&2; exit 1; }
image=localhost/socktrace:$version

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin"
# Stripped as scripts/install.sh and the .deb strip it: the symbol tables go.
strip --remove-section=.comment --remove-section=.note -o "$root/usr/bin/socktrace" "$binary"
chmod 0755 "$root/usr/bin/socktrace"

# The binary's shared-library closure and the loader: every absolute path ldd names.
libraries=$(ldd "$binary" | grep -oE '/[^ ]+' | grep -v '^/usr/bin/socktrace$' || true)
[ -n "$libraries" ] || { echo "build-image: ldd named no libraries for $binary" >&2; exit 1; }
for library in $libraries; do
  [ -e "$library" ] || { echo "build-image: $library (from ldd) is missing" >&2; exit 1; }
  mkdir -p "$root$(dirname "$library")"
  cp -L "$library" "$root$library"
done
# Debian's /lib, /lib64 are the merged /usr's: keep the paths ldd printed, and
# the loader at the path the ELF header names.
interpreter=$(readelf -l "$binary" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
if [ -n "$interpreter" ] && [ ! -e "$root$interpreter" ]; then
  mkdir -p "$root$(dirname "$interpreter")"
  cp -L "$interpreter" "$root$interpreter"
fi

# Mount points (tracefs, the cgroup hierarchy, bpffs come from the host; /proc
# is the container's own, the host's with --pid=host / hostPID), /tmp for
# libbpf, and the log directory for -o.
mkdir -p "$root"/{proc,sys,dev,tmp,etc,var/log/socktrace}
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/:/usr/bin/socktrace\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"

tarball=$(mktemp --suffix=.tar)
trap 'rm -rf "$root" "$tarball"' EXIT
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$root" -cf "$tarball" .

previous=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
podman import --quiet \
  --change 'ENTRYPOINT ["/usr/bin/socktrace", "serve"]' \
  --change 'CMD ["--metrics", "0.0.0.0:9464"]' \
  --change 'EXPOSE 9464/tcp' \
  --change 'WORKDIR /' \
  --change "LABEL org.opencontainers.image.title=socktrace" \
  --change "LABEL org.opencontainers.image.version=$version" \
  --change "LABEL org.opencontainers.image.revision=$commit" \
  --change "LABEL org.opencontainers.image.description=eBPF socket-creation tracer (run with the privileges in docs/deploy.md)" \
  --message "socktrace $version (commit $commit): the release binary and its ldd closure" \
  "$tarball" "$image" >/dev/null

# A rebuild leaves the previous image untagged: remove it (unless a container uses it).
current=$(podman image inspect --format '{{.Id}}' "$image")
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  podman rmi "$previous" >/dev/null 2>&1 || true
fi

mkdir -p "$out"
archive="$out/socktrace-$version.oci.tar"
rm -f "$archive"
podman save --quiet --format oci-archive -o "$archive" "$image" >/dev/null

size=$(podman image inspect --format '{{.Size}}' "$image")
echo "build-image: $image: $((size / 1024)) KiB ($(wc -c <"$tarball" | awk '{printf "%d", $1 / 1024}') KiB root file system:" \
  "socktrace, $(echo "$libraries" | xargs -n1 basename | tr '\n' ' ')); OCI archive $archive" \
  "($(($(wc -c <"$archive") / 1024)) KiB)" >&2
echo "$image"
