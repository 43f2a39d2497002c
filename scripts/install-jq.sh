#!/usr/bin/env bash
# The README's quick tour (and the test that runs it, test/e2e/docs-runnable.test.ts) reads JSON
# with jq. Installs Debian's jq unless one is on the PATH. Idempotent.
set -euo pipefail
if command -v jq >/dev/null 2>&1; then
  exit 0
fi
# shellcheck source=scripts/lib-apt.sh
source "$(dirname "$0")/lib-apt.sh"
apt_install install-jq jq
