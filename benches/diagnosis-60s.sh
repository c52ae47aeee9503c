#!/usr/bin/env bash
# Diagnosis at AWS's 60-second metric resolution (about 4 minutes): two functions behind a
# REST API, Lambda throttling of one of them in phase `a`, a table throttle in phase `b`,
# minute-long phases so every metric period straddles a phase boundary. Prints the
# per-phase throttle counts next to the sandbox's ground truth and fails when a finding
# lands in the wrong phase, names the wrong resource or a count is off by more than 5 %.
# Usage: benches/diagnosis-60s.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/stormwatch-ci-target}"
cargo test --locked --test e2e -- --ignored --nocapture \
  diagnosis::sixty_second_periods_keep_findings_in_their_phases_and_counts_exact
