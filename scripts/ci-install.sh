#!/usr/bin/env bash
# Install what the browser, Node.js client and operations tests need on a
# Debian machine: Debian's Chromium, nginx, pgBackRest and Prometheus (for
# promtool), the npm packages of tests/js, and the Python test extra, which
# brings Playwright. Playwright's own browser download is never used.
#
# Usage: scripts/ci-install.sh   (as root when Chromium is missing)
# Safe to run again: each step is skipped when its result is already there.
# PYTHON selects the interpreter whose environment gets the test extra
# (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
MIN_NODE_MAJOR=20

install_chromium() {
  if command -v chromium >/dev/null; then
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "Chromium is missing: run this script as root, or apt-get install chromium" >&2
    return 1
  fi
  echo "installing Chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

# The operations tests run nginx, pgbackrest and promtool themselves, on
# loopback ports of their own. A policy-rc.d that exits 101 keeps the
# packages' maintainer scripts from starting nginx on port 80 or a Prometheus
# server on port 9090 while they install.
install_ops_tools() {
  local missing=()
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
  command -v pgbackrest >/dev/null || missing+=(pgbackrest)
  command -v promtool >/dev/null || missing+=(prometheus)
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "${missing[*]} missing: run this script as root, or apt-get install them" >&2
    return 1
  fi
  echo "installing ${missing[*]}"
  local policy=/usr/sbin/policy-rc.d created_policy=""
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=yes
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  if [[ -n $created_policy ]]; then
    rm -f "$policy"
  fi
}

check_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "node or npm is missing: install Node.js $MIN_NODE_MAJOR or newer" >&2
    return 1
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if ((major < MIN_NODE_MAJOR)); then
    echo "Node.js $(node --version) is too old:" \
      "graphql-ws needs $MIN_NODE_MAJOR or newer" >&2
    return 1
  fi
}

# npm ci replaces node_modules as a whole, so it runs only when the lockfile
# differs from the one the last install used.
install_js_packages() {
  local stamp=tests/js/node_modules/.installed-from-package-lock.json
  if cmp -s tests/js/package-lock.json "$stamp"; then
    return 0
  fi
  echo "installing tests/js npm packages"
  (cd tests/js && npm ci --no-audit --no-fund --silent)
  cp tests/js/package-lock.json "$stamp"
}

install_python_test_extra() {
  if "$PYTHON" -c 'import playwright.async_api' 2>/dev/null; then
    return 0
  fi
  echo "installing the Python test extra"
  "$PYTHON" -m pip install -q -e '.[test]'
  if ! "$PYTHON" -c 'import playwright.async_api'; then
    echo "playwright is still missing: add it to the test extra in pyproject.toml" >&2
    return 1
  fi
}

install_chromium
install_ops_tools
check_node
install_js_packages
install_python_test_extra
