"""Calls the built plugin ({{name}}.wasm, from ./build.sh) through plugbox,
as a host would. Needs `plugbox` on PATH (or PLUGBOX=/path/to/plugbox).
Run with `python3 -m unittest`."""

import os
import subprocess
import unittest
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PLUGIN = "{{name}}.wasm"


def plugbox(*args: str) -> str:
    if not (PROJECT / PLUGIN).exists():
        raise AssertionError(f"{PLUGIN} is missing: run ./build.sh first")
    exe = os.environ.get("PLUGBOX", "plugbox")
    done = subprocess.run([exe, *args], cwd=PROJECT, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"plugbox {' '.join(args)} failed: {done.stderr}")
    return done.stdout


class PluginTest(unittest.TestCase):
    def test_handle_greets_its_input(self):
        self.assertEqual(plugbox("call", PLUGIN, "handle", '"world"'), '{"ok":"hello, world"}\n')

    def test_empty_input_is_an_error(self):
        self.assertEqual(plugbox("call", PLUGIN, "handle", '""'), '{"err":"nobody to greet"}\n')

    def test_greeting_comes_from_the_manifest_config(self):
        out = plugbox("call", "--manifest", "plugbox.toml", "{{name}}", "handle", '"world"')
        self.assertEqual(out, '{"ok":"hey, world"}\n')


if __name__ == "__main__":
    unittest.main()
