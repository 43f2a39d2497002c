#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (test/browser), unless a working one is there.
# Idempotent: if $CHROMIUM_PATH (default /usr/bin/chromium) exists and runs, it does nothing.
# Playwright's own browser download does not work on these machines (no network but the package
# registries), so the tests drive this Chromium through playwright-core with `executablePath`.
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

works() {
  [ -x "$CHROMIUM" ] && "$CHROMIUM" --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1
}

if works; then
  echo "install-chromium: $("$CHROMIUM" --version 2>/dev/null) at $CHROMIUM, nothing to do"
  exit 0
fi

if [ -n "${CHROMIUM_PATH:-}" ] && [ "$CHROMIUM_PATH" != /usr/bin/chromium ]; then
  # The tests launch $CHROMIUM_PATH too: installing Debian's package would not fix a wrong path.
  echo "install-chromium: CHROMIUM_PATH=$CHROMIUM_PATH does not exist or does not run '--version'." >&2
  echo "install-chromium: fix it, or unset CHROMIUM_PATH to use (and install) Debian's /usr/bin/chromium." >&2
  exit 1
fi

# shellcheck source=scripts/lib-apt.sh
source "$(dirname "$0")/lib-apt.sh"
apt_install install-chromium chromium || exit 1

CHROMIUM=/usr/bin/chromium
if ! works; then
  echo "install-chromium: chromium was installed but '$CHROMIUM --version' does not run." >&2
  exit 1
fi
echo "install-chromium: $("$CHROMIUM" --version 2>/dev/null) ready"
