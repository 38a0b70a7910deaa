# shellcheck shell=bash disable=SC2034  # the variables here are used by the scripts that source this
# Shared helpers for scripts/run and scripts/test. Source it; do not run it.
#
# Everything here is idempotent: each `ensure_*` checks first and installs
# only what is missing, so a second run on a prepared machine costs seconds.

# Colour only for a person at a terminal: never in CI, never when NO_COLOR is set.
if [[ -t 1 && -z "${CI:-}" && -z "${NO_COLOR:-}" ]]; then
    C_BOLD=$'\e[1m' C_RED=$'\e[31m' C_GREEN=$'\e[32m' C_DIM=$'\e[2m' C_OFF=$'\e[0m'
else
    C_BOLD='' C_RED='' C_GREEN='' C_DIM='' C_OFF=''
fi

log() { printf '%s\n' "${C_DIM}[$(date -u +%H:%M:%S)]${C_OFF} $*"; }
die() {
    printf '%s\n' "${C_RED}error:${C_OFF} $*" >&2
    exit 1
}

# "12m03s" from a number of seconds.
fmt_duration() {
    local s=$1
    if ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

# Run a command as root: directly when we are root, else through sudo.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root to run: $*  (run this script as root, or install sudo)"
    fi
}

# Debian/Ubuntu packages, installed only when some are missing. apt-get update
# runs at most once per script run, and only when something must be installed.
APT_UPDATED=
ensure_apt_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    ((${#missing[@]} == 0)) && return 0
    command -v apt-get >/dev/null ||
        die "these packages are missing and this is not a Debian/Ubuntu system: ${missing[*]}"
    log "installing system packages: ${missing[*]}"
    if [[ -z $APT_UPDATED ]]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Build tools for the Rust crates. rustls is used throughout, so no OpenSSL.
BUILD_PACKAGES=(build-essential pkg-config ca-certificates git curl)

# The tray app (Tauri 2 on WebKitGTK). libappindicator3-dev does not exist on
# Debian 12: the ayatana indicator is the one that does everywhere we run.
TAURI_PACKAGES=(
    libwebkit2gtk-4.1-dev libjavascriptcoregtk-4.1-dev libsoup-3.0-dev libgtk-3-dev
    libayatana-appindicator3-dev librsvg2-dev
)

# Rust toolchain. Prefer what is there (rustup or a distro toolchain); when
# cargo is missing, take the distribution's rustup and the stable toolchain.
ensure_rust() {
    [[ -d $HOME/.cargo/bin ]] && PATH="$HOME/.cargo/bin:$PATH"
    if ! command -v cargo >/dev/null; then
        log "cargo not found: installing rustup from the distribution"
        if ensure_apt_packages rustup 2>/dev/null && command -v rustup >/dev/null; then
            rustup default stable || die "rustup could not install the stable toolchain"
        else
            die "no Rust toolchain and no 'rustup' package here (Debian 12 has none).
Install Rust with rustup (https://rustup.rs), then run this script again."
        fi
        PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null || die "cargo is still not on PATH after installing Rust"
    export PATH
}

# rustfmt and clippy, when rustup manages the toolchain.
ensure_rust_components() {
    local missing=()
    cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
    cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
    ((${#missing[@]} == 0)) && return 0
    command -v rustup >/dev/null || die "missing ${missing[*]} and no rustup to add them"
    log "adding Rust components: ${missing[*]}"
    rustup component add "${missing[@]}"
}

# Node.js and npm: the distribution's are enough for the npm tools (the MCP
# Inspector brings its own newer Node as an npm package).
ensure_node() {
    command -v node >/dev/null && command -v npm >/dev/null && return 0
    ensure_apt_packages nodejs npm
}

# A stamp file remembers the hash of an input (a lockfile, a requirements
# file) so an install step is repeated only when its input changed.
stamp_matches() { [[ -f $1 ]] && [[ $(cat "$1") == "$(sha256sum "$2" | cut -d' ' -f1)" ]]; }
stamp_write() { sha256sum "$2" | cut -d' ' -f1 >"$1"; }

# npm packages from the committed lockfile, exactly.
ensure_npm_packages() {
    ensure_node
    if stamp_matches node_modules/.lockfile-sha256 package-lock.json; then
        return 0
    fi
    log "npm ci (from package-lock.json)"
    npm ci --no-audit --no-fund
    stamp_write node_modules/.lockfile-sha256 package-lock.json
}

# Python venv in .venv with the pinned test requirements.
ensure_python_venv() {
    local req=requirements-test.txt
    if ! command -v python3 >/dev/null; then
        ensure_apt_packages python3
    fi
    # Debian splits venv (and ensurepip) out of python3 itself.
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        ensure_apt_packages python3-venv
    fi
    if [[ -x .venv/bin/python ]] && stamp_matches .venv/.requirements-sha256 "$req"; then
        return 0
    fi
    log "creating the Python venv in .venv from $req"
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
    stamp_write .venv/.requirements-sha256 "$req"
}
