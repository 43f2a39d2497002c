# Sourced by the install-* scripts: install Debian packages as root or with passwordless sudo.
# apt_install <label> <package>...   returns non-zero (with a message) when it cannot.
apt_install() {
  local label=$1; shift
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "$label: missing, and this user ($(id -un)) can neither install packages nor sudo." >&2
      echo "$label: as root run: apt-get update && apt-get install -y --no-install-recommends $*" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$label: missing, and there is no apt-get here; install $* yourself." >&2
    return 1
  fi
  echo "$label: installing $* (apt-get)…"
  local start; start=$(date +%s)
  if ! "${sudo[@]}" apt-get update -qq \
    || ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; then
    echo "$label: apt-get could not install $* (see the output above)." >&2
    return 1
  fi
  echo "$label: installed in $(( $(date +%s) - start ))s"
}
