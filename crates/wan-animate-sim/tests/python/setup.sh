#!/usr/bin/env bash
# Creates (once) a virtual environment with the pinned official DashScope SDK and prints the
# path of its python on the last line. Used by .ci/run; safe to run again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
venv="$root/target/py-sdk-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import dashscope" >/dev/null 2>&1; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
fi
echo "$venv/bin/python"
