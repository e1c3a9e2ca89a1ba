#!/usr/bin/env bash
# packaging/test-deb.sh: the package as a user gets it. Builds the .deb
# (packaging/build-deb.sh), checks its binary and lintian, installs it with
# `apt-get install ./socktrace_*.deb`, and with the build tree out of PATH
# runs /usr/bin/socktrace: --version, doctor, a recording of a workload, the
# man page, the bash completion, a setcap copy as nobody; then
# `apt-get remove --purge` and checks nothing is left; then scripts/install.sh
# into a prefix and --uninstall. Also: the commit reads "unknown" in a
# tarball and the commit in a fresh clone. Run as root. Its last line is
# "N passed, N failed". Env: DEB (use this .deb: skips the build).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
chmod 0755 "$work"
passed=0 failed=0
trap 'rm -rf "$work"' EXIT

check() { # check NAME COMMAND...: one counted check; its output only on failure
  local name=$1
  shift
  if "$@" >"$work/out" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/     /' "$work/out" | tail -n 30
  fi
}
finish() {
  echo "$passed passed, $failed failed"
  exit $((failed > 0))
}
[ "$(id -u)" = 0 ] || { echo "test-deb.sh: run as root"; failed=1; finish; }

# --- the .deb --------------------------------------------------------------
start=$SECONDS
deb=${DEB:-}
build_deb() { deb=$(bash "$repo/packaging/build-deb.sh" "$work/deb") && [ -f "$deb" ]; }
if [ -z "$deb" ]; then
  check "build-deb.sh builds socktrace_VERSION_ARCH.deb" build_deb
  echo "     (build-deb.sh: $((SECONDS - start)) s)"
fi
[ -n "$deb" ] && [ -f "$deb" ] || finish
deb=$(readlink -f "$deb")
version=$(dpkg-deb -f "$deb" Version)

depends_are_runtime_libraries() {
  local depends
  depends=$(dpkg-deb -f "$deb" Depends)
  echo "Depends: $depends"
  for library in libbpf1 libelf1 zlib1g libc6; do [[ $depends == *"$library "* ]] || return 1; done
  # Nothing else: four packages, none from a Swift toolchain.
  [ "$(tr ',' '\n' <<<"$depends" | grep -c .)" = 4 ]
}
check "Depends: is libbpf1, libelf1, zlib1g, libc6" depends_are_runtime_libraries

lintian_clean() {
  # Overrides ship in the package, with their reasons; E: and W: fail.
  lintian --fail-on error,warning --pedantic --info "$deb"
}
check "lintian: no errors or warnings (pedantic)" lintian_clean

# --- installed ---------------------------------------------------------------
# One package test at a time on this machine: others may run CI beside us.
exec 9>/tmp/socktrace-package-test.lock
flock 9
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -qq "$@"; }
dpkg -s socktrace >/dev/null 2>&1 && apt_get remove --purge socktrace >/dev/null
# The build tree out of PATH: only system directories.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cd "$work"

installs() { apt_get install "$deb" && [ "$(command -v socktrace)" = /usr/bin/socktrace ]; }
check "apt-get install ./$(basename "$deb"); socktrace is /usr/bin/socktrace" installs

only_runtime_libraries() {
  ldd /usr/bin/socktrace
  ! ldd /usr/bin/socktrace | grep -vE '^\s*(linux-vdso\.so|/lib64/ld-linux|lib(bpf|elf|z|c|m|pthread|dl|rt)\.so)' | grep -q .
}
check "ldd /usr/bin/socktrace: libbpf, libelf, zlib, libc only" only_runtime_libraries
# All of Foundation (not just FoundationEssentials) would bring ICU's data, 34 MB.
no_icu_data() { ls -l /usr/bin/socktrace && ! grep -qa 'icudt[0-9][0-9]l' /usr/bin/socktrace; }
check "no ICU data linked in (FoundationEssentials only)" no_icu_data

expected_commit=$(sh "$repo/Plugins/BuildInfo/commit.sh" "$repo")
version_names_commit() {
  local said
  said=$(socktrace --version)
  echo "socktrace --version: $said (expected ${version%-*} (commit $expected_commit))"
  [ "$said" = "${version%-*} (commit $expected_commit)" ]
}
check "socktrace --version: version and the commit built from" version_names_commit

doctor_runs() { socktrace doctor && socktrace doctor | grep -q '^privileges:  ok'; }
check "socktrace doctor" doctor_runs

gcc -O2 -static -pthread -o "$work/workload" "$repo/Tests/Workload/workload.c" || failed=$((failed + 1))
chmod 0755 "$work/workload"
# check_recording FILE REPORT: the workload's own report against the records.
check_recording() {
  python3 - "$1" "$2" "$expected_commit" <<'EOF'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
truth = [json.loads(line) for line in open(sys.argv[2]) if line.startswith("{")]
assert records[0]["event"] == "start" and records[0]["commit"] == sys.argv[3], records[0]
assert records[-1]["event"] == "end" and records[-1]["lost"] == 0, records[-1]
pid = truth[0]["pid"]
births = [r for r in records if r["event"] in ("socket", "socketpair") and r["pid"] == pid]
assert len(births) == len(truth), (births, truth)
for birth, said in zip(births, truth):
    # The workload reports libc's -1 for a failure; the record the kernel's -errno.
    assert birth["errno"] == said["errno"], (birth, said)
    if said["ret"] >= 0:
        assert birth["ret"] == said["ret"] and birth["inode"] == str(said["inode"]), (birth, said)
    else:
        assert birth["ret"] == -said["errno"] and birth["inode"] is None, (birth, said)
print(f"{len(births)} births of pid {pid} match the workload's report")
EOF
}
records_workload() {
  socktrace --json -o "$work/run.jsonl" -- "$work/workload" inet-stream socketpair bad-family >"$work/truth" &&
    check_recording "$work/run.jsonl" "$work/truth"
}
check "/usr/bin/socktrace records a workload (every birth, inode, errno)" records_workload

man_page_renders() {
  local page=/usr/share/man/man8/socktrace.8.gz
  LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" >"$work/man.txt" 2>"$work/man.err"
  cat "$work/man.err"
  [ ! -s "$work/man.err" ] && grep -q '^PRIVILEGES' "$work/man.txt" && grep -q 'CAP_DAC_READ_SEARCH' "$work/man.txt" &&
    grep -q -- '--attach attach' "$work/man.txt" && grep -q '^RECORDS' "$work/man.txt" && [ "$(man -w socktrace)" = "$page" ]
}
check "man -l socktrace.8.gz: renders without warnings; man -w finds it" man_page_renders

bash_completes() {
  # bash-completion's own loader finds the file by the command's name.
  bash --norc --noprofile -c '
    source /usr/share/bash-completion/bash_completion
    __load_completion socktrace || exit 1
    fn=$(complete -p socktrace | sed -n "s/.*-F \([^ ]*\) .*/\1/p")
    comp() {
      COMP_LINE=$1 COMP_POINT=${#1}
      read -ra COMP_WORDS <<<"$1"
      [[ $1 == *" " ]] && COMP_WORDS+=("")
      COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMPREPLY=()
      "$fn" socktrace "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
      echo "$1 -> ${COMPREPLY[*]}"
      [ "${COMPREPLY[*]}" = "$2" ]
    }
    comp "socktrace --at" --attach &&
      comp "socktrace --attach tr" tracepoint &&
      comp "socktrace doc" doctor &&
      comp "socktrace timeline --for" --format'
}
check "bash completion: socktrace --at -> --attach (and values, subcommands)" bash_completes
completions_in_place() {
  [ -s /usr/share/zsh/vendor-completions/_socktrace ] && [ -s /usr/share/fish/vendor_completions.d/socktrace.fish ] &&
    grep -q '^#compdef socktrace' /usr/share/zsh/vendor-completions/_socktrace &&
    grep -q "^complete -c 'socktrace'" /usr/share/fish/vendor_completions.d/socktrace.fish
}
check "zsh and fish completions in their vendor directories" completions_in_place

nobody_with_capabilities() {
  cp /usr/bin/socktrace "$work/socktrace-caps"
  setcap cap_bpf,cap_perfmon,cap_dac_read_search+ep "$work/socktrace-caps"
  mkdir -p /sys/kernel/tracing
  [ -d /sys/kernel/tracing/events ] || mount -t tracefs tracefs /sys/kernel/tracing
  chmod 1777 "$work"
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all -- \
    "$work/socktrace-caps" --json -o "$work/caps.jsonl" -- "$work/workload" inet-stream socketpair >"$work/caps.truth" &&
    check_recording "$work/caps.jsonl" "$work/caps.truth" &&
    python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; assert all(x["uid"]==65534 for x in r if x["event"]=="socket")' "$work/caps.jsonl"
}
check "setcap cap_bpf,cap_perfmon,cap_dac_read_search copy records as nobody" nobody_with_capabilities
nobody_without_one() {
  setcap cap_bpf,cap_dac_read_search+ep "$work/socktrace-caps"
  ! setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all -- "$work/socktrace-caps" -d 1 -o /dev/null 2>"$work/err"
  cat "$work/err"
  grep -q 'CAP_PERFMON (' "$work/err" && [ "$(wc -l <"$work/err")" = 1 ]
}
check "without CAP_PERFMON: one line naming it" nobody_without_one

removes_cleanly() {
  dpkg -L socktrace | sort >"$work/files"
  apt_get remove --purge socktrace || return 1
  ! dpkg -s socktrace 2>/dev/null | grep -q '^Status: install' || return 1
  local left=0
  while read -r path; do
    [ -f "$path" ] && { echo "left behind: $path"; left=1; }
  done <"$work/files"
  [ ! -e /usr/share/doc/socktrace ] && ((left == 0))
}
check "apt-get remove --purge socktrace leaves nothing" removes_cleanly
exec 9>&-

# --- from source, into a prefix ---------------------------------------------
binary=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/socktrace >"$work/socktrace.bin" && echo "$work/socktrace.bin")
chmod 0755 "$binary"
installs_into_prefix() {
  bash "$repo/scripts/install.sh" --prefix "$work/prefix" --binary "$binary" &&
    "$work/prefix/bin/socktrace" --version &&
    [ -s "$work/prefix/share/man/man8/socktrace.8.gz" ] &&
    [ -s "$work/prefix/share/bash-completion/completions/socktrace" ] &&
    [ -s "$work/prefix/share/zsh/site-functions/_socktrace" ] &&
    [ -s "$work/prefix/share/doc/socktrace/schema.json" ] &&
    bash "$repo/scripts/install.sh" --prefix "$work/prefix" --uninstall &&
    [ -z "$(find "$work/prefix" -type f)" ]
}
check "install.sh --prefix DIR, then --uninstall removes every file" installs_into_prefix

# --- the commit in a fresh clone, and in a tarball ---------------------------
commit_in_clone_and_tarball() {
  git clone -q "$repo" "$work/clone" 2>/dev/null || git -c safe.directory='*' clone -q "$repo" "$work/clone"
  local head
  head=$(git -C "$repo" rev-parse --short=12 HEAD)
  echo "clone: $(sh "$work/clone/Plugins/BuildInfo/commit.sh" "$work/clone") (HEAD $head)"
  [ "$(sh "$work/clone/Plugins/BuildInfo/commit.sh" "$work/clone")" = "$head" ] || return 1
  mkdir "$work/tarball"
  git -C "$repo" archive HEAD | tar -x -C "$work/tarball"
  echo "tarball: $(sh "$work/tarball/Plugins/BuildInfo/commit.sh" "$work/tarball")"
  [ "$(sh "$work/tarball/Plugins/BuildInfo/commit.sh" "$work/tarball")" = unknown ]
}
check "commit.sh: HEAD in a fresh clone, unknown in a tarball without .git" commit_in_clone_and_tarball

echo "     (package checks: $((SECONDS - start)) s)"
finish
