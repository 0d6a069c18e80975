# Shared setup for scripts/{build,dev,test,bench}: installs whatever is missing, idempotently, and
# prints what it does. Sourced, not run. Reaches only the package registries (npm, crates.io,
# Debian); see ../shared/TOOLCHAIN.md for why each step is the way it is.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="$ROOT/.tools"
export CI="${CI:-false}" WRANGLER_SEND_METRICS=false
# Host-side cargo (tests, clippy) uses the rustup toolchain when there is one.
HOST_CARGO="$(command -v cargo)"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Wraps a long step: prints what runs, and how long it took.
step() {
  local what="$1"; shift
  local t0=$SECONDS
  log "$what ..."
  "$@"
  log "$what: done in $((SECONDS - t0)) s"
}

ensure_node_deps() {
  command -v node >/dev/null || die "node is required (Debian: apt-get install nodejs npm)"
  if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    step "installing wrangler and esbuild from npm (npm ci)" npm ci --no-audit --no-fund --loglevel=error
  fi
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -f /tmp/.d1-logger-apt-updated ]; then
    step "apt-get update" apt-get update -qq
    touch /tmp/.d1-logger-apt-updated
  fi
  step "apt-get install $*" apt-get install -y -qq "$@" >/dev/null
}

# Picks how to build for wasm32, preferring what is already installed: rustup's wasm32 std, else
# Debian's rustc-web with the std sources (built by cargo, build-std); only then installs one,
# trying `rustup target add` with a short timeout (it hangs where only registries are reachable)
# before falling back to Debian's packages. Sets WASM_PATH_PREFIX and exports what cargo needs.
WASM_PATH_PREFIX=""
rustup_has_wasm_std() {
  local libdir
  libdir="$(rustc --print target-libdir --target wasm32-unknown-unknown 2>/dev/null || true)"
  [ -n "$libdir" ] && ls "$libdir"/libstd-*.rlib >/dev/null 2>&1
}
debian_has_wasm_std() { dpkg -s rustc-web cargo-web rust-web-src lld-22 >/dev/null 2>&1; }
use_debian_wasm_std() {
  WASM_PATH_PREFIX="/usr/bin:"
  export RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort
  # worker-build checks that this directory exists; build-std supplies what goes in it.
  mkdir -p "$(PATH="$WASM_PATH_PREFIX$PATH" rustc --print target-libdir --target wasm32-unknown-unknown)"
}
ensure_wasm_target() {
  if command -v rustc >/dev/null && rustup_has_wasm_std; then return 0; fi
  if debian_has_wasm_std; then use_debian_wasm_std; return 0; fi
  if command -v rustup >/dev/null; then
    log "adding the wasm32 target with rustup (60 s at most)"
    if timeout 60 rustup target add wasm32-unknown-unknown >/dev/null 2>&1 && rustup_has_wasm_std; then
      return 0
    fi
    log "rustup could not download the wasm32 target; using Debian's rustc-web with build-std"
  fi
  command -v apt-get >/dev/null || die "no wasm32 target: install it with 'rustup target add wasm32-unknown-unknown'"
  apt_install rustc-web cargo-web rust-web-src lld-22
  use_debian_wasm_std
}

locked_version() { # the version of crate $1 in Cargo.lock
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

# worker-build (same version as the worker crate) and wasm-bindgen (same as in Cargo.lock),
# built from crates.io into .tools/ so nothing is downloaded from elsewhere. The two builds run at
# once: each spends long stretches on one core (big crates, linking), so together they finish
# sooner on a fresh machine than one after the other.
ensure_build_tools() {
  local wb_version bindgen_version pids=() failed=0 t0=$SECONDS
  wb_version="$(locked_version worker)"
  bindgen_version="$(locked_version wasm-bindgen)"
  mkdir -p "$TOOLS"
  if [ "$("$TOOLS/bin/worker-build" --version 2>/dev/null)" != "$wb_version" ]; then
    log "building worker-build $wb_version from crates.io (in the background)"
    "$HOST_CARGO" install --quiet --locked --root "$TOOLS" --target-dir "$TOOLS/target-wb" \
      worker-build --version "$wb_version" >"$TOOLS/worker-build.log" 2>&1 &
    pids+=($!)
  fi
  if [ "$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | awk '{print $2}')" != "$bindgen_version" ]; then
    # Not --locked: its lock file pins a crate version the registry no longer serves.
    log "building wasm-bindgen-cli $bindgen_version from crates.io (in the background)"
    "$HOST_CARGO" install --quiet --root "$TOOLS" --target-dir "$TOOLS/target-bindgen" \
      wasm-bindgen-cli --version "$bindgen_version" >"$TOOLS/wasm-bindgen.log" 2>&1 &
    pids+=($!)
  fi
  [ ${#pids[@]} -eq 0 ] && return 0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  if [ $failed -ne 0 ]; then
    cat "$TOOLS"/worker-build.log "$TOOLS"/wasm-bindgen.log >&2 2>/dev/null
    die "building the build tools failed (logs above)"
  fi
  rm -rf "$TOOLS/target-wb" "$TOOLS/target-bindgen"
  log "build tools ready in $((SECONDS - t0)) s"
}

ensure_all() {
  ensure_node_deps
  ensure_wasm_target
  ensure_build_tools
}

wrangler() { "$ROOT/node_modules/.bin/wrangler" "$@"; }

# Builds build/index.js + wasm unless it is newer than every input.
build_worker() {
  if [ -f build/index.js ] && [ -z "$(find src Cargo.toml Cargo.lock -newer build/index.js 2>/dev/null | head -n 1)" ]; then
    return 0
  fi
  # shellcheck disable=SC2097,SC2098
  step "building the worker (cargo release build for wasm32 + wasm-bindgen + esbuild)" \
    env PATH="$WASM_PATH_PREFIX$TOOLS/bin:$PATH" \
      ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild" \
      WASM_BINDGEN_BIN="$TOOLS/bin/wasm-bindgen" \
      "$TOOLS/bin/worker-build" --release --no-opt
  touch build/index.js
}
