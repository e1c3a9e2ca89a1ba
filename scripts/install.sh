#!/usr/bin/env bash
# install.sh [--prefix DIR] [--destdir DIR] [--binary FILE] [--uninstall]
# Installs socktrace built from this source tree, the same files the .deb
# ships, under a prefix (default /usr/local):
#   PREFIX/bin/socktrace                          stripped, self-contained
#   PREFIX/share/man/man8/socktrace.8.gz          generated (packaging/man)
#   PREFIX/share/bash-completion/completions/socktrace
#   PREFIX/share/zsh/site-functions/_socktrace    (/usr: zsh/vendor-completions)
#   PREFIX/share/fish/vendor_completions.d/socktrace.fish
#   PREFIX/share/doc/socktrace/{README.md,schema.md,schema.json}
#   PREFIX/share/doc/socktrace/docs/*.md, images/*.png   what README links to
#   PREFIX/lib/systemd/system/socktrace.service   if packaging/socktrace.service exists
# --destdir stages them under DIR (packaging/build-deb.sh does, with
# --prefix /usr); --uninstall removes exactly these files; --binary installs
# that binary instead of building one (scripts/build-release.sh).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
prefix=/usr/local destdir="" binary="" uninstall=false
while (($#)); do
  case $1 in
  --prefix) prefix=${2:?--prefix needs a directory}; shift ;;
  --destdir) destdir=${2:?--destdir needs a directory}; shift ;;
  --binary) binary=${2:?--binary needs a file}; shift ;;
  --uninstall) uninstall=true ;;
  -h | --help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $prefix == /* ]] || { echo "install.sh: --prefix must be an absolute path: $prefix" >&2; exit 2; }
prefix=${prefix%/}
root=$destdir$prefix

zsh_dir=share/zsh/site-functions
[ "$prefix" = /usr ] && zsh_dir=share/zsh/vendor-completions # Debian's place for packages
files=(
  bin/socktrace
  share/man/man8/socktrace.8.gz
  share/bash-completion/completions/socktrace
  "$zsh_dir/_socktrace"
  share/fish/vendor_completions.d/socktrace.fish
  share/doc/socktrace/README.md
  share/doc/socktrace/schema.md
  share/doc/socktrace/schema.json
  lib/systemd/system/socktrace.service
)
# README's links: docs/*.md, docs/schema.json and the pictures, as in the tree.
for doc in "$repo"/docs/*.md "$repo"/docs/schema.json "$repo"/docs/images/*.png "$repo"/docs/images/README.md; do
  [ -e "$doc" ] && files+=("share/doc/socktrace/${doc#"$repo"/}")
done

if $uninstall; then
  for file in "${files[@]}"; do
    if [ -e "$root/$file" ]; then rm -f "$root/$file" && echo "removed $root/$file"; fi
  done
  rmdir "$root/share/doc/socktrace/docs/images" "$root/share/doc/socktrace/docs" \
    "$root/share/doc/socktrace" 2>/dev/null || true
  exit 0
fi

if [ -z "$binary" ]; then
  bash "$repo/scripts/setup.sh" --run --build --package
  binary=$(bash "$repo/scripts/build-release.sh")
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The man page: the command line from the binary itself, then the hand-written part.
"$binary" --experimental-dump-help >"$work/help.json"
version=$("$binary" --version | cut -d' ' -f1)
# The date of the commit it was built from (reproducible), else today.
date=$(git -C "$repo" log -1 --format=%cs 2>/dev/null || date -u +%F)
python3 "$repo/packaging/man/socktrace-man.py" "$work/help.json" "$repo/packaging/man/extra.man" \
  "$version" "$date" >"$work/socktrace.8"
gzip -9n <"$work/socktrace.8" >"$work/socktrace.8.gz"
for shell in bash zsh fish; do
  "$binary" --generate-completion-script "$shell" >"$work/completion.$shell"
done
# Sourced, never run: no #! line (lintian: bash-completion-with-hashbang).
# swift-argument-parser completes only subcommand names at the top level, but
# `socktrace --attach …` is the default subcommand (record): offer its options
# and values there too.
awk '
  NR == 1 && /^#!/ { next }
  /^_socktrace\(\) \{/ { top = 1 }
  top && /^}/ { top = 0 }
  { print }
  top && /COMPREPLY\+=\(\$\(compgen -W / {
    print "        ((COMP_CWORD > 1)) && COMPREPLY=() # past the first word: record'"'"'s alone"
    print "        unparsed_words=(\"${COMP_WORDS[@]:1:${COMP_CWORD}}\")"
    print "        _socktrace_record"
  }' "$work/completion.bash" >"$work/completion.bash.new"
grep -q '^        _socktrace_record$' "$work/completion.bash.new" || {
  echo "install.sh: the bash completion's layout changed: cannot add the default subcommand's options" >&2
  exit 1
}
mv "$work/completion.bash.new" "$work/completion.bash"

put() { # put MODE SOURCE TARGET-RELATIVE-TO-PREFIX
  install -D -m "$1" "$2" "$root/$3"
}
install -d "$root/bin"
# Stripped as dh_strip does: the symbol tables go, the build id stays.
strip --remove-section=.comment --remove-section=.note -o "$work/socktrace" "$binary"
put 0755 "$work/socktrace" bin/socktrace
put 0644 "$work/socktrace.8.gz" share/man/man8/socktrace.8.gz
put 0644 "$work/completion.bash" share/bash-completion/completions/socktrace
put 0644 "$work/completion.zsh" "$zsh_dir/_socktrace"
put 0644 "$work/completion.fish" share/fish/vendor_completions.d/socktrace.fish
put 0644 "$repo/README.md" share/doc/socktrace/README.md
put 0644 "$repo/docs/schema.md" share/doc/socktrace/schema.md
put 0644 "$repo/docs/schema.json" share/doc/socktrace/schema.json
for file in "${files[@]}"; do
  case $file in share/doc/socktrace/docs/*) put 0644 "$repo/${file#share/doc/socktrace/}" "$file" ;; esac
done
if [ -f "$repo/packaging/socktrace.service" ]; then
  # The unit names the binary where this prefix puts it.
  sed "s|/usr/bin/socktrace|$prefix/bin/socktrace|g" "$repo/packaging/socktrace.service" >"$work/socktrace.service"
  put 0644 "$work/socktrace.service" lib/systemd/system/socktrace.service
fi
echo "install.sh: installed socktrace $version under $root" >&2
