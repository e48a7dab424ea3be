#!/bin/sh
# Installs a headless-capable Chromium and the NSS tools for the InteractiveBrowserCredential
# browser test (idempotent). Prints the Chromium path on stdout; exits non-zero if it cannot be
# installed. Export it as AZID_CHROMIUM for the test:
#   export AZID_CHROMIUM="$(identity-interactive/scripts/install-chromium.sh)"
set -eu
find_chromium() {
    for c in chromium chromium-browser google-chrome-stable google-chrome; do
        if p="$(command -v "$c" 2>/dev/null)"; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    return 1
}
if ! find_chromium >/dev/null || ! command -v certutil >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
        {
            $SUDO apt-get update -q
            DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium libnss3-tools
        } >&2
    else
        echo "install-chromium.sh: no chromium and no apt-get: install Chromium by hand and set AZID_CHROMIUM" >&2
        exit 1
    fi
fi
if ! find_chromium; then
    echo "install-chromium.sh: Chromium could not be installed" >&2
    exit 1
fi
