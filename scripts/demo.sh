#!/usr/bin/env bash
# The main job: set up, start a dmapifs node and a small HSM (examples/hsm.ts) holding its MOUNT
# disposition, mount a DMAPI-enabled demo filesystem (the HSM gets MOUNT, takes the filesystem's
# dispositions and lets the mount go on, as on GPFS), show the mount working (status, listing, a
# read and a write through it, the backing inode numbers), then have the HSM migrate a file to an
# archive directory and recall it when `head` reads it, printing each event as it happens; unmount
# and stop the node. Run as root:
#
#   sudo bash scripts/demo.sh
#
# DMAPIFS_DEMO_DIR=/path chooses where the demo's backing directory and mount point go (default: a
# fresh directory under /var/tmp, removed at the end); DMAPIFS_DEMO_KEEP=1 leaves it mounted.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root: sudo bash scripts/demo.sh" >&2; exit 1; }

bash "$ROOT/scripts/setup.sh"

dmapifs() { node "$ROOT/bin/dmapifs" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

NODE=demo
DEMO="${DMAPIFS_DEMO_DIR:-$(mktemp -d /var/tmp/dmapifs-demo.XXXXXX)}"
BACKING="$DEMO/backing"
MNT="$DEMO/mnt"
mkdir -p "$BACKING" "$MNT"

cleanup() {
  local rc=$?
  if [ "${DMAPIFS_DEMO_KEEP:-0}" = 1 ] && [ $rc -eq 0 ]; then return; fi
  if grep -q " $MNT fuse" /proc/mounts 2>/dev/null; then dmapifs umount --lazy "$MNT" >/dev/null 2>&1 || umount -l "$MNT" || true; fi
  dmapifs node stop --node "$NODE" >/dev/null 2>&1 || true
  if [ -z "${DMAPIFS_DEMO_DIR:-}" ] && ! grep -q " $MNT " /proc/mounts; then rm -rf "$DEMO"; fi
  [ $rc -eq 0 ] || echo "demo: FAILED (exit $rc)" >&2
}
trap cleanup EXIT

step "a backing directory with a few files: $BACKING"
printf 'Hello from the backing directory.\n' > "$BACKING/hello.txt"
mkdir -p "$BACKING/docs"
printf 'dmapifs passes every operation through to the backing directory.\n' > "$BACKING/docs/about.txt"
seq 1 10000 > "$BACKING/docs/numbers.txt"
ln -s docs/about.txt "$BACKING/about-link"
show ls -la "$BACKING"

step "start node '$NODE' and the HSM (examples/hsm.ts): it holds the node's MOUNT disposition"
ARCHIVE="$DEMO/archive"
mkdir -p "$ARCHIVE"
HSM=(node "$ROOT/dist/examples/hsm.js")
show dmapifs node start --node "$NODE"
"${HSM[@]}" serve --node "$NODE" --archive "$ARCHIVE" > >(tee "$DEMO/hsm.log") &
HSM_PID=$!
stop_hsm() { kill "$HSM_PID" 2>/dev/null || true; wait "$HSM_PID" 2>/dev/null || true; }
trap 'stop_hsm; cleanup' EXIT
for _ in $(seq 100); do grep -q 'waiting for events' "$DEMO/hsm.log" 2>/dev/null && break; kill -0 "$HSM_PID" 2>/dev/null || exit 1; sleep 0.1; done
grep -q 'waiting for events' "$DEMO/hsm.log" || { echo "demo: the HSM did not start" >&2; exit 1; }

step "mount it at $MNT with the DMAPI enabled: MOUNT goes to the HSM, which answers"
show dmapifs mount --node "$NODE" --dmapi "$BACKING" "$MNT"

step "status"
show dmapifs status
show grep " $MNT " /proc/mounts

step "the mount (quota reports user.quota, group.quota, fileset.quota appear in its root)"
show ls -la "$MNT"
show ls -la "$MNT/docs"

step "read through the mount"
show cat "$MNT/hello.txt"
show cat "$MNT/about-link"
printf '$ wc -l %s\n' "$MNT/docs/numbers.txt"; wc -l < "$MNT/docs/numbers.txt"

step "write through the mount, read it back from the backing directory"
printf '$ echo "written through dmapifs" > %s\n' "$MNT/from-mount.txt"
echo "written through dmapifs at $(date -u +%FT%TZ)" > "$MNT/from-mount.txt"
show cat "$BACKING/from-mount.txt"
printf '$ echo "appended" >> %s\n' "$MNT/hello.txt"
echo "appended through the mount" >> "$MNT/hello.txt"
show cat "$BACKING/hello.txt"
cmp -s "$MNT/hello.txt" "$BACKING/hello.txt" || { echo "demo: contents differ" >&2; exit 1; }

step "inode numbers seen through the mount are the backing ones"
printf '%-28s %12s %12s\n' FILE "BACKING INO" "MOUNT INO"
for f in . hello.txt docs docs/about.txt docs/numbers.txt about-link from-mount.txt; do
  b=$(stat -c %i "$BACKING/$f"); m=$(stat -c %i "$MNT/$f")
  printf '%-28s %12s %12s %s\n' "$f" "$b" "$m" "$([ "$b" = "$m" ] && echo same || echo DIFFERENT)"
  [ "$b" = "$m" ] || { echo "demo: inode of $f differs" >&2; exit 1; }
done
show stat "$MNT/hello.txt"

step "HSM: migrate a file, read it back"
seq -f 'line %g of a file that will live on tape' 1 2000 > "$MNT/report.txt"
SUM=$(md5sum < "$MNT/report.txt")
printf '$ ls -ls %s   # blocks before migration
' "$BACKING/report.txt"; ls -ls "$BACKING/report.txt"
show "${HSM[@]}" migrate --node "$NODE" --archive "$ARCHIVE" "$MNT/report.txt"
printf '$ ls -ls %s   # the data is gone from the backing file, the size stays
' "$BACKING/report.txt"; ls -ls "$BACKING/report.txt"
printf '$ head -3 %s   # blocks until the HSM has recalled the data
' "$MNT/report.txt"
head -3 "$MNT/report.txt"
[ "$(md5sum < "$MNT/report.txt")" = "$SUM" ] || { echo "demo: recalled data differs" >&2; exit 1; }
echo "(md5 of the recalled file matches the original)"
printf '$ ls -ls %s   # resident again
' "$BACKING/report.txt"; ls -ls "$BACKING/report.txt"
show "${HSM[@]}" migrate --node "$NODE" --archive "$ARCHIVE" "$MNT/report.txt"
printf '$ rm %s   # DESTROY: the HSM deletes the archive copy
' "$MNT/report.txt"; rm "$MNT/report.txt"
sleep 0.5
show ls "$ARCHIVE"
stop_hsm
trap cleanup EXIT

if [ "${DMAPIFS_DEMO_KEEP:-0}" = 1 ]; then
  step "left mounted (DMAPIFS_DEMO_KEEP=1): dmapifs umount $MNT; dmapifs node stop --node $NODE"
  exit 0
fi

step "unmount and stop the node"
show dmapifs umount "$MNT"
show dmapifs node stop --node "$NODE"
show dmapifs status
grep -q " $MNT " /proc/mounts && { echo "demo: $MNT still mounted" >&2; exit 1; }
printf '\ndemo: OK\n'
