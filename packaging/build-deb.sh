#!/usr/bin/env bash
# packaging/build-deb.sh [OUTDIR] [--binary FILE]
# Builds OUTDIR/socktrace_VERSION_ARCH.deb (default OUTDIR: .build/deb) with
# dpkg-deb, no debhelper: the files scripts/install.sh puts under /usr, plus
# /usr/share/doc/socktrace/{copyright,changelog.Debian.gz} and the control
# file from packaging/debian/. Depends: is computed by dpkg-shlibdeps from
# the binary's own ELF needs (libbpf1, libelf1, zlib1g, libc6: nothing from
# the Swift toolchain). Prints the .deb's path.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/.build/deb binary=""
while (($#)); do
  case $1 in
  --binary) binary=${2:?--binary needs a file}; shift ;;
  -*) echo "build-deb.sh: unknown option $1" >&2; exit 2 ;;
  *) out=$1 ;;
  esac
  shift
done
bash "$repo/scripts/setup.sh" --run --build --package
[ -n "$binary" ] || binary=$(bash "$repo/scripts/build-release.sh")

upstream=$("$binary" --version | cut -d' ' -f1)
version=$upstream-1 # the Debian revision: packaging/debian/changelog's
grep -q "^socktrace ($version)" "$repo/packaging/debian/changelog" || {
  echo "build-deb.sh: packaging/debian/changelog has no entry for $version" >&2
  exit 1
}
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/root
bash "$repo/scripts/install.sh" --prefix /usr --destdir "$stage" --binary "$binary" 2>/dev/null
doc=$stage/usr/share/doc/socktrace
install -m 0644 "$repo/packaging/debian/copyright" "$doc/copyright"
gzip -9n <"$repo/packaging/debian/changelog" >"$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"
install -D -m 0644 "$repo/packaging/debian/lintian-overrides" "$stage/usr/share/lintian/overrides/socktrace"

# Depends: from the binary's DT_NEEDED, as Debian's shlibs files name them.
mkdir -p "$work/src/debian"
printf 'Source: socktrace\n\nPackage: socktrace\nArchitecture: any\n' >"$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O -e"$stage/usr/bin/socktrace" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "build-deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size=$(du -sk --apparent-size "$stage/usr" | cut -f1)
mkdir -p "$stage/DEBIAN"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
  "$repo/packaging/debian/control.in" >"$stage/DEBIAN/control"
(cd "$stage" && find usr -type f -printf '%P\0' | sort -z | xargs -0 -I{} md5sum "usr/{}") >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
find "$stage" -type d -exec chmod 0755 {} +

mkdir -p "$out"
deb=$out/socktrace_${version}_$arch.deb
# Files owned by root whoever builds; the mtimes of the commit, for reproducibility.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
find "$stage" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
