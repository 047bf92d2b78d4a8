#!/usr/bin/env bash
# Checks the README's promise on a brand-new machine: builds a new Debian 12
# root with debootstrap, copies a clean clone of HEAD into it, and runs the
# README's two commands there (scripts/quickstart.sh, then scripts/test.sh)
# with an empty pip cache and none of this machine's environment. Prints each
# command's result and wall time; exits 0 only when both succeed.
#
# Usage (as root, on Debian with debootstrap installed):
#   scripts/fresh-check.sh [--keep] [--dir DIR] [--mirror URL]
# --keep leaves the root in DIR (default /var/tmp/layerout-fresh.XXXXXX) for a
# look inside; otherwise it is removed. The commands' full output stays in
# DIR-logs/. FRESH_CHECK_COMMANDS="scripts/quickstart.sh" runs only that one. The mirror defaults to the first
# Debian archive this machine's apt sources name. Only committed work is
# checked: the clone is of HEAD. It takes long (the reference wheels are ~3 GB
# and the whole test suite runs), so it is not part of .ci/run.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
keep=0; dir=""; mirror=""
while [ $# -gt 0 ]; do
  case $1 in
    --keep) keep=1 ;;
    --dir) dir=$2; shift ;;
    --mirror) mirror=$2; shift ;;
    *) echo "usage: fresh-check.sh [--keep] [--dir DIR] [--mirror URL]" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "fresh-check: run as root (debootstrap, chroot and mount need it)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "fresh-check: needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }
if [ -z "$mirror" ]; then
  mirror=$(grep -hoE '(URIs:|deb)[[:space:]]+https?://[^[:space:]]*/debian/?([[:space:]]|$)' \
             /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
           awk '{print $2}' | head -n 1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
fi
security=${mirror%/debian}/debian-security
[ -n "$dir" ] || dir=$(mktemp -d /var/tmp/layerout-fresh.XXXXXX)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -z "$(ls -A "$dir")" ] || { echo "fresh-check: $dir is not empty" >&2; exit 2; }
logs="$dir-logs"  # outside the root, so they stay when it is removed
mkdir -p "$logs"
head=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" diff --quiet HEAD 2>/dev/null ||
  echo "fresh-check: note: uncommitted changes in $repo are not part of the check (it clones HEAD)"

mounted=()
cleanup() {
  local m
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    m=${mounted[i]}
    umount -R "$m" 2>/dev/null || umount -R -l "$m" 2>/dev/null || true
  done
  if [ $keep -eq 0 ]; then
    # never remove while anything is still mounted inside: /dev is bound from the host
    if findmnt -rn -o TARGET | grep -q "^$dir/"; then
      echo "fresh-check: something is still mounted under $dir; not removing it" >&2
    else
      rm -rf --one-file-system "$dir"
    fi
  else
    echo "fresh-check: the root is kept in $dir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fmt() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
t_all=$SECONDS
echo "fresh-check: commit $head; Debian 12 root in $dir from $mirror"
t0=$SECONDS
if ! nice debootstrap --variant=minbase bookworm "$dir" "$mirror" > "$logs/debootstrap.log" 2>&1; then
  tail -n 20 "$logs/debootstrap.log" >&2
  echo "fresh-check: debootstrap failed (log: $logs/debootstrap.log)" >&2
  exit 1
fi
echo "fresh-check: debootstrap: ok in $(fmt $((SECONDS - t0)))"
# as a freshly installed Debian 12 has them: the release, its updates, security updates
cat > "$dir/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
cp /etc/resolv.conf "$dir/etc/resolv.conf"
mount -t proc proc "$dir/proc"; mounted+=("$dir/proc")
mount -t sysfs sysfs "$dir/sys"; mounted+=("$dir/sys")
mount --rbind /dev "$dir/dev"; mount --make-rslave "$dir/dev"; mounted+=("$dir/dev")

# a clean clone: only what is committed, at exactly HEAD
git clone -q --no-hardlinks "$(git -C "$repo" rev-parse --path-format=absolute --git-common-dir)" "$dir/root/layerout"
git -C "$dir/root/layerout" checkout -q --detach "$head"

# The network's trust anchor is the one thing carried over: where HTTPS goes
# through an intercepting proxy, this machine's pip is told its CA bundle
# (PIP_CERT or pip.conf's cert), and a new machine on the same network needs
# it as well. Nothing else of this machine's pip settings comes along.
netenv=()
cert=${PIP_CERT:-$(pip3 config get global.cert 2>/dev/null || sed -n 's/^cert[[:space:]]*=[[:space:]]*//p' /etc/pip.conf 2>/dev/null | head -n 1)}
if [ -n "$cert" ] && [ -f "$cert" ]; then
  cp "$cert" "$dir/etc/ssl-network-ca.crt"
  netenv=(PIP_CERT=/etc/ssl-network-ca.crt SSL_CERT_FILE=/etc/ssl-network-ca.crt REQUESTS_CA_BUNDLE=/etc/ssl-network-ca.crt)
  echo "fresh-check: HTTPS trusts this machine's CA bundle $cert (as its pip does)"
fi

# an empty environment (no pip cache, find-links or other settings of this machine)
run_in_root() {
  nice chroot "$dir" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive "${netenv[@]}" /bin/bash -c "cd /root/layerout && $1"
}
status=0
for cmd in ${FRESH_CHECK_COMMANDS:-scripts/quickstart.sh scripts/test.sh}; do
  log="$logs/${cmd##*/}.log"
  echo "fresh-check: running $cmd (output in $log)"
  t0=$SECONDS
  if run_in_root "$cmd" > "$log" 2>&1; then rc=0; else rc=$?; fi
  echo "fresh-check: $cmd: $([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)") in $(fmt $((SECONDS - t0)))"
  echo "---- last lines of $cmd"
  tail -n 30 "$log" | sed 's/^/  /'
  echo "----"
  if [ $rc -ne 0 ]; then status=1; break; fi
done
echo "fresh-check: $([ $status -eq 0 ] && echo passed || echo FAILED) in $(fmt $((SECONDS - t_all)))"
exit $status
