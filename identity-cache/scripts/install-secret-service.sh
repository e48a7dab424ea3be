#!/bin/sh
# Installs a D-Bus session bus and a Secret Service (GNOME Keyring) for the persistent-cache
# tests of identity-cache and identity-interactive (idempotent; Debian/Ubuntu, run as root or
# with sudo). Progress goes to stderr; on success the LAST line on stdout is the absolute path of
# `dbus-run-session`. Exits non-zero when it cannot install. Export it for the tests:
#   export AZID_SECRET_SERVICE="$(identity-cache/scripts/install-secret-service.sh | tail -n 1)"
set -eu
have_all() {
    command -v dbus-run-session >/dev/null 2>&1 && command -v gnome-keyring-daemon >/dev/null 2>&1
}
if ! have_all; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-secret-service.sh: no dbus-run-session/gnome-keyring-daemon and no apt-get: install dbus and gnome-keyring by hand" >&2
        exit 1
    fi
    SUDO=""
    if [ "$(id -u)" != "0" ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
            echo "install-secret-service.sh: not root and no sudo: cannot install dbus and gnome-keyring" >&2
            exit 1
        fi
    fi
    echo "install-secret-service.sh: installing dbus and gnome-keyring" >&2
    {
        $SUDO apt-get update -q
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends dbus dbus-daemon gnome-keyring
    } >&2
fi
if ! have_all; then
    echo "install-secret-service.sh: dbus-run-session or gnome-keyring-daemon is still missing" >&2
    exit 1
fi
command -v dbus-run-session
