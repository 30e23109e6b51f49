#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (seconds, default 60 each),
# starting from the committed corpora. Needs nightly Rust and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
# Findings land in crates/edusync-fuzz/artifacts/<target>/. New inputs go to
# crates/edusync-fuzz/target/corpus/<target>/ (not committed); the committed
# seeds in corpus/<target>/ are read, never written.
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
for target in envelope record bundle statement handshake sheet audit; do
    echo "== $target ($seconds s)"
    mkdir -p "crates/edusync-fuzz/target/corpus/$target"
    cargo +nightly fuzz run --fuzz-dir crates/edusync-fuzz "$target" \
        "crates/edusync-fuzz/target/corpus/$target" "crates/edusync-fuzz/corpus/$target" \
        -- -max_total_time="$seconds" -rss_limit_mb=4096
done
