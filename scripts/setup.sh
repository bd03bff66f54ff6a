#!/usr/bin/env bash
# Installs (or checks) what StreamStage needs on Debian/Ubuntu:
#   build: Rust (cargo), a C toolchain, pkg-config, clang + libclang, OpenSSL
#          headers (packagerd's optional HTTPS), FFmpeg's -dev packages
#          (packagerd's in-process ABR transcoding, ffmpeg-next)
#   run:   FFmpeg's shared libraries (come with the -dev packages; SQLite is
#          built in)
#   tests: ffmpeg/ffprobe (publisher and checker), Chromium, Node.js + npm
#          packages (hls.js for the player page, playwright-core for tests),
#          systemd-analyze (unit checks), cargo-nextest
# Run as root (or with sudo available) to install; otherwise it lists what is
# missing and how to get it.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--tests" ] && want_tests=1

say() { printf 'setup: %s\n' "$*" >&2; }

# command → Debian package that provides it
need=(pkg-config:pkg-config clang:clang node:nodejs npm:npm)
[ $want_tests = 1 ] && need+=(ffmpeg:ffmpeg ffprobe:ffmpeg chromium:chromium systemd-analyze:systemd tmux:tmux curl:curl openssl:openssl)

missing=()
for pair in "${need[@]}"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 && continue
  [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
done

# OpenSSL headers and library (no command to look for).
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
# FFmpeg's libraries and headers (packagerd transcodes in-process with
# ffmpeg-next) and libclang (its bindings are generated at build time).
for lib in libavcodec libavformat libavfilter libavdevice libswscale libswresample; do
  pkg-config --exists "$lib" 2>/dev/null || missing+=("$lib-dev")
done
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || missing+=(libclang-dev)

if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
    if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
      say "installing Debian packages: ${missing[*]}"
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      say "missing packages: ${missing[*]}"
      say "install them with: sudo apt-get install ${missing[*]}"
      exit 1
    fi
  else
    say "missing: ${missing[*]} (this script knows apt-get only; install them with your package manager)"
    exit 1
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  say "cargo not found: install Rust from your distribution or rustup (rust 1.95 or newer)"
  exit 1
fi

if [ $want_tests = 1 ] && ! command -v cargo-nextest >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# hls.js (player page) and playwright-core (browser tests), pinned by package-lock.json.
if [ ! -d node_modules/hls.js ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "ok"
