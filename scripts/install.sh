#!/usr/bin/env bash
# Installs StreamStage as systemd services on a Debian/Ubuntu machine:
# binaries in /usr/local/bin, the config in /etc/streamstage/stage.toml (kept
# if it exists), the units in /etc/systemd/system, man pages and bash
# completion; then enables and starts streamstage.target. The units run as
# one dynamic user (DynamicUser=yes: nothing to create) that owns
# /var/lib/streamstage, which systemd creates (StateDirectory=).
#
#   sudo scripts/install.sh                 build if needed, install, start
#   scripts/install.sh --root DIR --no-start   stage the files under DIR
#
# Options:
#   --root DIR      install under DIR instead of / (for packaging and tests)
#   --bin-dir DIR   where the built binaries are (default: target/release)
#   --config FILE   config to install when none exists (default:
#                   configs/production.toml)
#   --no-start      do not reload systemd or start anything
set -euo pipefail
cd "$(dirname "$0")/.."

root=""
bin_dir="target/release"
config="configs/production.toml"
start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    --bin-dir) bin_dir="${2:?--bin-dir needs a directory}"; shift 2 ;;
    --config) config="${2:?--config needs a file}"; shift 2 ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "install: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf 'install: %s\n' "$*" >&2; }
bins=(stagectl ingestd packagerd chatd billingd)

if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
  say "run as root (sudo), or stage the files with --root DIR --no-start"
  exit 1
fi

missing=0
for b in "${bins[@]}"; do [ -x "$bin_dir/$b" ] || missing=1; done
if [ $missing = 1 ]; then
  if [ "$bin_dir" = "target/release" ] && command -v cargo >/dev/null; then
    say "building the release binaries (scripts/setup.sh installs what the build needs)"
    scripts/setup.sh
    cargo build --release --bins --locked
  else
    say "binaries missing in $bin_dir (build with: cargo build --release --bins)"
    exit 1
  fi
fi

# The config is checked before anything is installed.
"$bin_dir/stagectl" config check "$config" >/dev/null

install -d -m 0755 "$root/usr/local/bin" "$root/etc/systemd/system" \
  "$root/usr/local/share/man/man1" "$root/usr/share/bash-completion/completions"
for b in "${bins[@]}"; do
  install -m 0755 "$bin_dir/$b" "$root/usr/local/bin/$b"
done
install -d -m 0755 "$root/etc/streamstage"
if [ -e "$root/etc/streamstage/stage.toml" ]; then
  say "keeping the existing /etc/streamstage/stage.toml"
  "$bin_dir/stagectl" config check "$root/etc/streamstage/stage.toml" >/dev/null
else
  install -m 0644 "$config" "$root/etc/streamstage/stage.toml"
fi
install -m 0644 systemd/*.service systemd/*.target "$root/etc/systemd/system/"
"$bin_dir/stagectl" man --out "$root/usr/local/share/man/man1" >/dev/null
"$bin_dir/stagectl" completions bash >"$root/usr/share/bash-completion/completions/stagectl"
say "installed under ${root:-/}"

if [ $start = 0 ]; then
  exit 0
fi
systemctl daemon-reload
systemctl enable --now streamstage.target
# stagectl reads the admin token from the data dir the units own.
for _ in $(seq 1 50); do
  if stagectl --config /etc/streamstage/stage.toml status >/dev/null 2>&1; then
    stagectl --config /etc/streamstage/stage.toml status
    cat >&2 <<'EOF'

install: StreamStage is running under systemd (streamstage.target).
  sudo stagectl --config /etc/streamstage/stage.toml channel create mychannel
  sudo stagectl --config /etc/streamstage/stage.toml dash
  stagectl logs [daemon]        journald's logs of the units
  stagectl doctor               ports, FFmpeg libraries, database, disk, clock
EOF
    exit 0
  fi
  sleep 0.2
done
say "the daemons did not all answer within 10 s; see: journalctl -u 'streamstage-*'"
stagectl --config /etc/streamstage/stage.toml status || true
exit 1
