#!/usr/bin/env python3
"""Embed a text file as a NUL-terminated C char array.

usage: embed.py INPUT SYMBOL OUTPUT
Used by meson.build to compile configs/default.yaml into the binary, so the
file in the repository stays the one source of truth.
"""
import sys


def main() -> int:
    src, symbol, dst = sys.argv[1], sys.argv[2], sys.argv[3]
    data = open(src, "rb").read() + b"\0"
    lines = []
    for i in range(0, len(data), 16):
        lines.append(", ".join(f"0x{b:02x}" for b in data[i:i + 16]))
    with open(dst, "w") as out:
        out.write(f"/* generated from {src.split('/')[-1]} by embed.py */\n")
        out.write(f"const char {symbol}[{len(data)}] = {{\n  ")
        out.write(",\n  ".join(lines))
        out.write("\n};\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
