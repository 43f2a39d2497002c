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

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "install-chromium: Chromium is missing and this user ($(id -un)) can neither install packages nor sudo." >&2
  echo "install-chromium: as root run: apt-get update && apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: Chromium is missing and there is no apt-get here; install Chromium and set CHROMIUM_PATH." >&2
  exit 1
fi

echo "install-chromium: installing Debian's chromium (apt-get)…"
start=$(date +%s)
if ! "${SUDO[@]}" apt-get update -qq \
  || ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; then
  echo "install-chromium: apt-get could not install chromium (see the output above)." >&2
  exit 1
fi

CHROMIUM=/usr/bin/chromium
if ! works; then
  echo "install-chromium: chromium was installed but '$CHROMIUM --version' does not run." >&2
  exit 1
fi
echo "install-chromium: $("$CHROMIUM" --version 2>/dev/null) installed in $(( $(date +%s) - start ))s"
