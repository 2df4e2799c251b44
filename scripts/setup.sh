#!/usr/bin/env bash
# Sets up a Debian 12 / Ubuntu machine for dmapifs, from fresh: system packages (libfuse 3, build
# tools, Node.js when no Node >= 18 is there, test and benchmark tools), the FUSE device, the npm
# dependencies and the build (native addons + TypeScript).
#
# Idempotent: packages already installed are not touched, apt is not even updated when nothing is
# missing, and npm ci is skipped while node_modules matches package-lock.json.
#
#   sudo bash scripts/setup.sh
#
# Environment: DMAPIFS_FORCE_NPM_CI=1 reinstalls node_modules; DMAPIFS_NO_LINK=1 (or CI=true)
# skips the /usr/local/bin/dmapifs link; DMAPIFS_NO_LIBDM_INSTALL=1 skips installing the C APIs
# (header, libdm, dmapi.pc; <sys/dlm.h>, libdlm, dlm.pc) and the man pages under /usr/local;
# DMAPIFS_NO_LIBDLM_INSTALL=1 skips only the DLM's; DMAPIFS_WITH_TEST_TOOLS=0 skips the test
# suite's and the benchmarks' tools (fio, stress-ng, attr, acl, redis-server, meson, ninja-build).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: sudo bash scripts/setup.sh"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script supports Debian and Ubuntu"
export DEBIAN_FRONTEND=noninteractive

# ----------------------------------------------------------------------------- system packages
node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' 2>/dev/null
}
node_headers() {
  [ -f /usr/include/node/node_api.h ] || [ -f /usr/local/include/node/node_api.h ]
}

# fuse3 (replaces the old `fuse` package) provides /bin/fusermount3; libfuse3-dev the headers and
# the library our binding links against. fio, stress-ng, attr and acl (setfacl/getfacl) are used by
# the test suite, redis-server by a benchmark, meson and ninja-build to build the benchmarks' FUSE
# peer (libfuse's passthrough_hp, from ../shared/peers, into a scratch directory):
# DMAPIFS_WITH_TEST_TOOLS=0 leaves them out (the Vagrant box's provisioning does; scripts/test.sh
# asks for them). etcd-server, etcd-client and iproute2 are for the DLM cluster tests and benchmark
# (membership and quorum from etcd, nodes in network namespaces).
PKGS=(fuse3 libfuse3-dev pkg-config build-essential python3 util-linux kmod ca-certificates)
[ "${DMAPIFS_WITH_TEST_TOOLS:-1}" = 0 ] || PKGS+=(fio stress-ng attr acl redis-server meson ninja-build etcd-server etcd-client iproute2)
if ! node_ok; then
  PKGS+=(nodejs npm libnode-dev)
elif ! node_headers; then
  # Node is there but without headers node-gyp could use offline: Debian's (N-API is ABI-stable).
  PKGS+=(libnode-dev)
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "system packages: all present"
fi

node_ok || die "Node.js >= 18 is required (found: $(node --version 2>/dev/null || echo none)); Debian 12 and Ubuntu 24.04 ship it, elsewhere install Node 18+ first"
node_headers || die "Node.js headers not found in /usr/include/node or /usr/local/include/node (apt-get install libnode-dev)"
log "node $(node --version), npm $(npm --version)"

# ----------------------------------------------------------------------------- FUSE device
if [ ! -e /dev/fuse ]; then
  log "/dev/fuse missing: loading the fuse module"
  modprobe fuse 2>/dev/null || true
fi
[ -c /dev/fuse ] || die "/dev/fuse is not available: load the fuse kernel module (modprobe fuse); in a container, pass the device in (--device /dev/fuse --cap-add SYS_ADMIN)"
command -v fusermount3 >/dev/null 2>&1 || die "fusermount3 not found after installing fuse3"

# ----------------------------------------------------------------------------- npm and build
cd "$ROOT"
stamp=node_modules/.dmapifs-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1) $(node --version)"
if [ "${DMAPIFS_FORCE_NPM_CI:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "node_modules matches package-lock.json"
else
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

log "npm run build"
npm run --silent build

# ----------------------------------------------------------------------------- the C API
# libdm (built above by build-native.js) with <dmapi.h> and dmapi.pc under /usr/local, so that
# `cc prog.c $(pkg-config --cflags --libs dmapi)` and plain `cc prog.c -ldm` work; then the C
# examples (examples/c: hsm, dmdump) against the installed library.
if [ "${DMAPIFS_NO_LIBDM_INSTALL:-0}" != 1 ]; then
  make -s -C "$ROOT/native/libdm" install PREFIX=/usr/local
  ldconfig
  log "libdm installed: /usr/local/include/dmapi.h (also as /usr/local/include/xfs/dmapi.h), /usr/local/lib/libdm.so.1, /usr/local/lib/pkgconfig/dmapi.pc"
  smoke="$(mktemp -d)"
  printf '#include <dmapi.h>\nint main(void){ dm_fsid_t f = 1; void *h; size_t l; return dm_make_fshandle(&f, &h, &l) || l != 8; }\n' > "$smoke/t.c"
  # shellcheck disable=SC2046
  cc "$smoke/t.c" -o "$smoke/t" $(pkg-config --cflags --libs dmapi) && "$smoke/t" || { rm -rf "$smoke"; die "a program built with pkg-config dmapi does not run"; }
  cc "$smoke/t.c" -o "$smoke/t2" -ldm && "$smoke/t2" || { rm -rf "$smoke"; die "a program built with -ldm does not run"; }
  cc -I/usr/local/include/xfs "$smoke/t.c" -o "$smoke/t3" -ldm && "$smoke/t3" || { rm -rf "$smoke"; die "a program built with -I/usr/local/include/xfs does not run"; }
  rm -rf "$smoke"
fi

# libdlm (the TruCluster DLM API) with <sys/dlm.h> and dlm.pc under /usr/local. Its library is
# libdlm-dmapifs.so.1: a name of its own, so Debian's unrelated libdlm (the Linux DLM, libdlm.so.3,
# <libdlm.h>, libdlm.pc) is never shadowed. `pkg-config --libs dlm` gives -L/usr/local/lib/dmapifs
# -ldlm; plain `-ldlm` next to the system's libraries is installed only while Debian's libdlm-dev
# does not own that name (docs/dlm-c-api.md).
if [ "${DMAPIFS_NO_LIBDM_INSTALL:-0}" != 1 ] && [ "${DMAPIFS_NO_LIBDLM_INSTALL:-0}" != 1 ]; then
  plain=1
  if ls /usr/lib/*/libdlm.so /usr/lib/libdlm.so >/dev/null 2>&1; then
    plain=0
    # an earlier install of ours, made before libdlm-dev came: give the name back
    for f in /usr/local/lib/libdlm.so /usr/local/lib/libdlm.a; do
      case "$(readlink "$f" 2>/dev/null)" in libdlm-dmapifs.*) rm -f "$f" ;; esac
    done
    log "Debian's libdlm-dev is installed: plain -ldlm stays the Linux DLM's; use \$(pkg-config --libs dlm)"
  fi
  make -s -C "$ROOT/native/libdlm" install PREFIX=/usr/local PLAIN="$plain"
  ldconfig
  log "libdlm installed: /usr/local/include/sys/dlm.h, /usr/local/lib/libdlm-dmapifs.so.1 (+ .a), /usr/local/lib/pkgconfig/dlm.pc"
  smoke="$(mktemp -d)"
  printf '#include <sys/dlm.h>\n#include <string.h>\nint main(void){ return strncmp(dlm_sperrno(DLM_NOTQUEUED), "DLM_NOTQUEUED", 13) != 0; }\n' > "$smoke/t.c"
  # shellcheck disable=SC2046
  cc "$smoke/t.c" -o "$smoke/t" $(pkg-config --cflags --libs dlm) && "$smoke/t" || { rm -rf "$smoke"; die "a program built with pkg-config dlm does not run"; }
  if [ "$plain" = 1 ]; then
    cc "$smoke/t.c" -o "$smoke/t2" -ldlm && "$smoke/t2" || { rm -rf "$smoke"; die "a program built with -ldlm does not run"; }
  fi
  rm -rf "$smoke"
fi

if [ "${DMAPIFS_NO_LIBDM_INSTALL:-0}" != 1 ]; then
  dlm_flags=()
  if pkg-config --exists dlm 2>/dev/null; then dlm_flags=(DLM_CFLAGS="$(pkg-config --cflags dlm)" DLM_LIBS="$(pkg-config --libs dlm)"); fi
  make -s -C "$ROOT/examples/c" DMAPI_CFLAGS="$(pkg-config --cflags dmapi)" DMAPI_LIBS="$(pkg-config --libs dmapi)" "${dlm_flags[@]}"
  log "C examples built: examples/c/build/hsm, dmdump, api_ex_master, api_ex_client, dlm"
  # The man pages dmapifs(8) and dmapi(3), from docs/man/*.md.
  node "$ROOT/scripts/build-docs.js" --only man
  install -D -m 0644 "$ROOT/dist/man/dmapifs.8" /usr/local/share/man/man8/dmapifs.8
  install -D -m 0644 "$ROOT/dist/man/dmapi.3" /usr/local/share/man/man3/dmapi.3
  log "man pages installed: man 8 dmapifs, man 3 dmapi"
fi

# ----------------------------------------------------------------------------- the command
if [ "${CI:-}" != true ] && [ "${DMAPIFS_NO_LINK:-0}" != 1 ]; then
  ln -sfn "$ROOT/bin/dmapifs" /usr/local/bin/dmapifs
  log "dmapifs linked at /usr/local/bin/dmapifs"
fi
log "done: $(node "$ROOT/bin/dmapifs" --version | sed 's/^/dmapifs /')"
