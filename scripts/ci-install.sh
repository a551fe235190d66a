#!/usr/bin/env bash
# Install what the browser and Node.js client tests need on a Debian machine:
# Debian's Chromium, the npm packages of tests/js, and the Python test extra,
# which brings Playwright. Playwright's own browser download is never used.
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
check_node
install_js_packages
install_python_test_extra
