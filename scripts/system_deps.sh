#!/usr/bin/env bash
# Debian packages the test suite needs: Chromium (HTML reports are checked in a real headless browser)
# and PostgreSQL 15's server binaries (the Optuna storage test starts a throwaway server).
# Idempotent: installs only what is missing, with apt-get (through sudo when not root).
# Set COMPKIT_SKIP_SYSTEM_DEPS=1 to skip; the tests needing these packages then skip themselves.
set -euo pipefail

if [ "${COMPKIT_SKIP_SYSTEM_DEPS:-0}" = "1" ]; then
    echo "system_deps: skipped (COMPKIT_SKIP_SYSTEM_DEPS=1)"
    exit 0
fi

missing=()
# The same places the tests look (tests/browser.py find_chromium, test_optimize_postgres._pg_bin).
{ [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; } \
    || command -v chromium chromium-browser google-chrome google-chrome-stable >/dev/null 2>&1 || missing+=(chromium)
{ [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/initdb" ]; } \
    || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    {
        echo "system_deps: the tests need these system packages, which are missing: ${missing[*]}"
        echo "  apt-get is not available here, so they cannot be installed automatically. Install them with"
        echo "  your system's package manager (Chromium as 'chromium' on PATH, or set CHROMIUM=/path/to/chrome;"
        echo "  the PostgreSQL server binaries initdb/pg_ctl), or set COMPKIT_SKIP_SYSTEM_DEPS=1 to skip"
        echo "  the tests that need them."
    } >&2
    exit 1
fi

SUDO=()
if [ "${EUID:-$(id -u)}" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "system_deps: need root to install ${missing[*]}, and sudo is not available." \
             "Run as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    SUDO=(sudo)
fi

echo "system_deps: installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
