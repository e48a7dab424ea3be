#!/usr/bin/env bash
# Installs the real Azure CLI into a Python virtual environment for the interop tests of
# identity-dev-tools (tests/real_az.rs). Idempotent: a second run reuses the environment.
# Prints the path of `az` on its last line; everything else goes to stderr.
set -euo pipefail
version="${AZURE_CLI_VERSION:-2.91.0}"
dir="${AZID_TOOLS_DIR:-$HOME/.cache/azure-identity-rs/tools}/azure-cli-$version"
if [ -x "$dir/bin/az" ] && "$dir/bin/python" -c "import azure.cli.core" 2>/dev/null; then
    echo "$dir/bin/az"
    exit 0
fi
python=$(command -v python3)
echo "installing azure-cli $version into $dir (about a minute, 730 MB)" >&2
rm -rf "$dir"
"$python" -m venv "$dir" >&2
"$dir/bin/pip" install --quiet --disable-pip-version-check "azure-cli==$version" >&2
"$dir/bin/python" -c "import azure.cli.core" >&2
echo "$dir/bin/az"
