#!/usr/bin/env python3
"""Write configs/scenarios/eth-crash.csv: synthetic crash scenarios for replay.

Two scenarios, one row every 10 minutes over 24 hours, prices in USD of the
risky assets of configs/example.yaml (ETH, WBTC, wstETH), starting at that
file's prices:

  two-stage   a March-2020-like crash: ETH -35% between 2h and 6h, a partial
              rebound, then a second leg to -55% between 10h and 12h; WBTC
              follows at 0.8x the log move, wstETH tracks ETH with a small
              discount that widens in the second leg.
  flash       a single -40% hour at 3h, recovering half of it by 8h.

Deterministic (fixed seed, stdlib only): run again and the file is the same.
Usage: scripts/make_crash_scenarios.py [OUT.csv]
"""
import math
import random
import sys

STEP = 600  # seconds between rows
HORIZON = 24 * 3600
START = {"ETH": 3000.0, "WBTC": 60000.0, "wstETH": 3500.0}


def ramp(t, t0, t1):
    """0 before t0, 1 after t1, linear in between."""
    if t <= t0:
        return 0.0
    if t >= t1:
        return 1.0
    return (t - t0) / (t1 - t0)


def two_stage(t):
    h = t / 3600.0
    first = math.log(0.65) * ramp(h, 2, 6)
    rebound = math.log(1.12) * ramp(h, 6, 9)
    second = math.log(0.45 / (0.65 * 1.12)) * ramp(h, 10, 12)
    return first + rebound + second, 0.02 * ramp(h, 10, 12)


def flash(t):
    h = t / 3600.0
    drop = math.log(0.60) * ramp(h, 3, 4)
    recover = -0.5 * math.log(0.60) * ramp(h, 4, 8)
    return drop + recover, 0.01 * ramp(h, 3, 4)


def rows(name, shape, rng):
    noise = 0.0
    for t in range(0, HORIZON + 1, STEP):
        move, discount = shape(t)
        if t > 0:
            noise = 0.9 * noise + rng.gauss(0.0, 0.004)
        eth = START["ETH"] * math.exp(move + noise)
        wbtc = START["WBTC"] * math.exp(0.8 * (move + noise))
        wsteth = START["wstETH"] * math.exp(move + noise) * (1.0 - discount)
        if t == 0:
            eth, wbtc, wsteth = START["ETH"], START["WBTC"], START["wstETH"]
        yield f"{name},{t},{eth:.2f},{wbtc:.2f},{wsteth:.2f}"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "configs/scenarios/eth-crash.csv"
    rng = random.Random(2020)
    lines = [
        "# Synthetic crash scenarios for `simulation.replay` (docs/config.md).",
        "# Written by scripts/make_crash_scenarios.py (do not edit by hand).",
        "scenario,time,ETH,WBTC,wstETH",
    ]
    for name, shape in (("two-stage", two_stage), ("flash", flash)):
        lines.extend(rows(name, shape, rng))
    with open(out, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
