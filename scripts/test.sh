#!/usr/bin/env bash
# Runs every test: unit, integration (SQLite and PostgreSQL) and end-to-end
# (ffmpeg publisher, ffprobe, headless Chromium), with one release build.
# PostgreSQL is expected at 127.0.0.1:5432 (user postgres, database test);
# outside CI, tests skip its half with a message when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
# One build of every target: the end-to-end tests run the daemons' binaries,
# and building them apart from the tests would compile the shared crates
# twice (dev-dependencies change their features).
cargo build --release --workspace --all-targets --locked
cargo nextest run --release --workspace --locked "$@"
