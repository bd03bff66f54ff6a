#!/usr/bin/env bash
# Sets up and runs StreamStage on this machine: installs what is missing,
# builds the release binaries and starts `stagectl up` (all daemons, SQLite and
# local storage under ./stage-data, a demo channel on first run).
# Extra arguments go to `stagectl up` (e.g. --public).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --bins
exec target/release/stagectl up "$@"
