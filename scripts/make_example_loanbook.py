#!/usr/bin/env python3
"""Write configs/loanbooks/example.csv: a 300-account example loan book.

Python 3 standard library only and deterministic (fixed seed, our own
Box-Muller), so re-running it reproduces the committed file byte for byte.

    python3 scripts/make_example_loanbook.py [OUTPUT.csv]

The book uses the default assets (configs/default.yaml) at their initial
prices and liquidation thresholds; docs/loanbook.md describes it.
"""

import math
import random
import sys
from pathlib import Path

SEED = 20240501
ACCOUNTS = 300
NEAR_LIQUIDATION = 8  # accounts placed at HF 1.04..1.06

PRICE = {"ETH": 3000.0, "WBTC": 60000.0, "wstETH": 3500.0, "USDC": 1.0}
LT = {"ETH": 0.83, "WBTC": 0.78, "wstETH": 0.81, "USDC": 0.87}
DECIMALS = {"ETH": 6, "WBTC": 8, "wstETH": 6, "USDC": 2}
ASSETS = ["ETH", "WBTC", "wstETH", "USDC"]

# The default mix: (collateral assets, debt asset, weight).
MIX = [
    (["ETH"], "USDC", 0.35),
    (["WBTC"], "USDC", 0.20),
    (["wstETH"], "ETH", 0.20),
    (["ETH", "WBTC"], "USDC", 0.15),
    (["USDC"], "ETH", 0.10),
]


def normal(rng):
    """Standard normal by Box-Muller (stable across Python versions)."""
    u1 = 1.0 - rng.random()  # (0, 1]
    u2 = rng.random()
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def kinds(rng):
    """Exactly ACCOUNTS * weight accounts of each kind, shuffled."""
    out = []
    for k, (_, _, weight) in enumerate(MIX):
        out += [k] * round(ACCOUNTS * weight)
    assert len(out) == ACCOUNTS
    rng.shuffle(out)
    return out


def debt_usd(rng):
    """Heavy-tailed sizes: lognormal, median $40k, clipped to [$500, $40M]."""
    return min(max(40e3 * math.exp(1.6 * normal(rng)), 500.0), 40e6)


def health(rng, near):
    if near:
        return 1.04 + 0.02 * rng.random()
    while True:  # truncated lognormal, median 1.35 as in the generator
        hf = 1.0 + 0.35 * math.exp(0.7 * normal(rng))
        if 1.08 <= hf <= 3.0:
            return hf


def account(rng, kind, near):
    """Collateral so that sum c_i p_i LT_i / debt = HF, as the generator."""
    collateral_assets, debt_asset, _ = MIX[kind]
    usd = debt_usd(rng)
    hf = health(rng, near)
    weights = [0.5 + rng.random() for _ in collateral_assets]
    if len(weights) == 1:
        weights = [1.0]
    total = sum(weights)
    row = {f"{a}_{side}": 0.0 for a in ASSETS for side in ("collateral", "debt")}
    for asset, w in zip(collateral_assets, weights):
        row[f"{asset}_collateral"] = w / total * hf * usd / (PRICE[asset] * LT[asset])
    row[f"{debt_asset}_debt"] = usd / PRICE[debt_asset]
    return row


def fmt(value, asset):
    if value == 0.0:
        return "0"
    return f"{value:.{DECIMALS[asset]}f}"


def main():
    root = Path(__file__).resolve().parent.parent
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else (
        root / "configs" / "loanbooks" / "example.csv")
    rng = random.Random(SEED)
    columns = [f"{a}_{side}" for side in ("collateral", "debt") for a in ASSETS]
    lines = [
        "# Example loan book: 300 accounts over ETH, WBTC, wstETH, USDC.",
        "# Written by scripts/make_example_loanbook.py (do not edit by hand).",
        "account," + ",".join(columns),
    ]
    ids = set()
    near = set(rng.sample(range(ACCOUNTS), NEAR_LIQUIDATION))
    for a, kind in enumerate(kinds(rng)):
        account_id = f"0x{rng.getrandbits(160):040x}"
        assert account_id not in ids
        ids.add(account_id)
        row = account(rng, kind, a in near)
        fields = [fmt(row[c], c.split("_")[0]) for c in columns]
        lines.append(account_id + "," + ",".join(fields))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
