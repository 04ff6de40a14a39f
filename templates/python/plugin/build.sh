#!/bin/sh
# Builds {{name}}.wasm, a component of the plugbox:plugin world, from app.py.
set -eu
cd "$(dirname "$0")"
componentize-py -d wit -w plugin componentize app -o {{name}}.wasm
