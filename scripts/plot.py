#!/usr/bin/env python3
"""Plots of a schelling result file (docs/output.md), as PNG files.

    scripts/plot.py OUT.h5 -o DIR [--metric uncovered_shortfall]
                    [--stat es_99] [--size size.h5]

Writes, into DIR:
  survival.png       log-log survival curve P(metric > x) per sweep point,
                     from /paths/<metric> when present, else /hist; VaR and
                     ES of the --stat level marked
  incentive.png      --stat of --metric against the first swept key with its
                     95% confidence band (or, without a sweep, the
                     evaluations of --size); the solver's answer marked
  fan.png            market prices: quantile bands of /samples/fan_price when
                     present, else the worst paths of /samples/price; the
                     worst-loss paths highlighted
  cascade_depth.png  histogram of cascade_depth

Needs numpy, h5py and matplotlib (Debian: /usr/bin/python3). No network.
"""
import argparse
import re
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FIGSIZE = (8, 5)  # inches; at DPI 100 every PNG is 800 x 500 pixels
DPI = 100


def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def sweep_keys(f):
    """[(key, values [P])] in creation order; values numbers or strings."""
    if "sweep" not in f:
        return []
    g = f["sweep"]
    out = []
    for key in g:
        d = g[key]
        if d.dtype.kind in "OSU":
            out.append((key, [text(v) for v in d.asstr()[()]]))
        else:
            out.append((key, d[()]))
    return out


def n_points(f, metric):
    return f[f"summary/{metric}/mean"].shape[0]


def point_labels(f, metric):
    keys = sweep_keys(f)
    labels = []
    for p in range(n_points(f, metric)):
        if keys:
            labels.append(", ".join(f"{k.split('.')[-1]}={keys_value(v, p)}"
                                    for k, v in keys))
        else:
            labels.append(f"point {p}")
    return labels


def keys_value(values, p):
    v = values[p]
    return f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)


def stat_interval(g, stat):
    """The statistic [P] and its 95% CI (lo, hi)."""
    value = g[stat][()]
    if stat == "mean":
        se = g["stderr"][()]
        return value, value - 1.96 * se, value + 1.96 * se
    if stat == "p_positive":
        n = g["n"][()]
        se = np.sqrt(value * (1 - value) / np.maximum(n, 1))
        return value, value - 1.96 * se, value + 1.96 * se
    if f"{stat}_lo" in g:
        return value, g[f"{stat}_lo"][()], g[f"{stat}_hi"][()]
    return value, value, value


def level_of(stat):
    digits = stat.split("_", 1)[1] if "_" in stat else "99"
    return digits if digits.isdigit() else "99"


def survival_from_hist(f, metric, p):
    counts = f[f"hist/{metric}/counts"][p].astype(float)
    edges = f[f"hist/{metric}/edges"][()]
    n = counts.sum()
    # P(X >= edge_i) for the finite lower edges of bins 1..B-1
    tail = np.cumsum(counts[::-1])[::-1] / max(n, 1)
    x = edges[1:-1]
    y = tail[1:]
    keep = (y > 0) & np.isfinite(x) & (x > 0)
    return x[keep], y[keep]


def survival_from_paths(f, metric, p):
    v = np.sort(f[f"paths/{metric}"][p])
    v = v[np.isfinite(v)]
    n = len(v)
    y = 1.0 - np.arange(n) / n
    keep = v > 0
    return v[keep], y[keep]


def plot_survival(f, metric, stat, path):
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    g = f[f"summary/{metric}"]
    lvl = level_of(stat)
    labels = point_labels(f, metric)
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(labels), 1)))
    use_paths = f"paths/{metric}" in f
    drawn = False
    for p, label in enumerate(labels):
        x, y = (survival_from_paths if use_paths else survival_from_hist)(
            f, metric, p)
        if len(x) == 0:
            continue
        drawn = True
        ax.step(x, y, where="post", color=colors[p], label=label)
        for name, style in ((f"var_{lvl}", "--"), (f"es_{lvl}", ":")):
            if name in g and g[name][p] > 0:
                ax.axvline(g[name][p], color=colors[p], linestyle=style,
                           linewidth=1)
    if drawn:
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, f"{metric} is zero on every path",
                transform=ax.transAxes, ha="center")
    ax.set_xlabel(f"{metric} (USD)")
    ax.set_ylabel(f"P({metric} > x)")
    ax.set_title(f"Survival of {metric}; dashed VaR {lvl}, dotted ES {lvl}"
                 + (" (from /paths)" if use_paths else " (from /hist)"))
    if len(labels) <= 16:
        ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def read_size(path):
    if not path:
        return None
    with h5py.File(path, "r") as s:
        g = s["size"]
        e = g["evaluations"]
        return {
            "param": text(g.attrs["param"]),
            "target": text(g.attrs["target"]),
            "answer": float(g.attrs["answer"]),
            "answer_lo": float(g.attrs["answer_lo"]),
            "answer_hi": float(g.attrs["answer_hi"]),
            "value": e["value"][()],
            "statistic": e["statistic"][()],
            "lo": e["lo"][()],
            "hi": e["hi"][()],
        }


def target_figure(size):
    """(metric, stat) the solver's target is on, e.g. es_999(shortfall);
    the uncovered shortfall's es_99 without a solver file."""
    m = re.match(r"\s*(\w+)\((\w+)\)", size["target"]) if size else None
    return (m.group(2), m.group(1)) if m else ("uncovered_shortfall", "es_99")


def target_threshold(size, metric, stat):
    """The solver's threshold when the plot shows its statistic."""
    m = re.match(r"\s*(\w+)\((\w+)\)\s*[<>]=\s*(\S+)", size["target"])
    if m and m.group(1) == stat and m.group(2) == metric:
        return float(m.group(3))
    return None


def incentive_series(f, metric, stat, size):
    """x, y, lo, hi, x label, y label; the sweep, else the solver's runs."""
    keys = sweep_keys(f)
    numeric = [(k, v) for k, v in keys
               if not isinstance(v, list) and len(v) > 0]
    if numeric and n_points(f, metric) > 1:
        key, x = numeric[0]
        y, lo, hi = stat_interval(f[f"summary/{metric}"], stat)
        return np.asarray(x, float), y, lo, hi, key, f"{stat}({metric})"
    if size is not None:
        order = np.argsort(size["value"])
        ylabel = size["target"].split("<")[0].split(">")[0].strip()
        return (size["value"][order], size["statistic"][order],
                size["lo"][order], size["hi"][order],
                size["param"] + " (solver evaluations)", ylabel)
    y, lo, hi = stat_interval(f[f"summary/{metric}"], stat)
    key = numeric[0][0] if numeric else "sweep point"
    x = np.asarray(numeric[0][1], float) if numeric else np.arange(len(y))
    return x, y, lo, hi, key, f"{stat}({metric})"


def plot_incentive(f, metric, stat, size, path):
    x, y, lo, hi, xlabel, ylabel = incentive_series(f, metric, stat, size)
    order = np.argsort(x)
    x, y, lo, hi = x[order], y[order], lo[order], hi[order]
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    ax.fill_between(x, lo, hi, alpha=0.3, label="95% CI")
    ax.plot(x, y, "o-", label=ylabel)
    if size is not None and target_threshold(size, metric, stat) is not None:
        ax.axhline(target_threshold(size, metric, stat), color="tab:gray",
                   linestyle="--", label="target")
    if size is not None and np.isfinite(size["answer"]):
        ax.axvspan(size["answer_lo"], size["answer_hi"], color="tab:red",
                   alpha=0.15, label="answer uncertainty")
        ax.axvline(size["answer"], color="tab:red",
                   label=f"answer {size['answer']:.6g}")
        ax.set_title(f"{size['target']}: {size['param']} = "
                     f"{size['answer']:.6g} "
                     f"[{size['answer_lo']:.6g}, {size['answer_hi']:.6g}]",
                     fontsize=9)
    else:
        ax.set_title(f"{ylabel} against {xlabel}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def risky_columns(prices):
    """Columns whose price moves on some path (stable assets do not)."""
    spread = prices.max(axis=(0, 1)) - prices.min(axis=(0, 1))
    cols = [a for a in range(prices.shape[2]) if spread[a] > 0]
    return cols[:4] or [0]


def plot_fan(f, path):
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    s = f["samples"] if "samples" in f else None
    names = text(s.attrs.get("assets", b"")).split(",") if s else []
    worst = s["price"][()] if s is not None and "price" in s else None
    fan = s["fan_price"][()] if s is not None and "fan_price" in s else None
    if worst is None or worst.shape[0] == 0:
        ax.text(0.5, 0.5, "no sample paths in /samples", ha="center",
                transform=ax.transAxes)
    else:
        steps = np.arange(worst.shape[1])
        cols = risky_columns(worst)
        colors = plt.cm.tab10(np.arange(len(cols)))
        for c, a in zip(colors, cols):
            name = names[a] if a < len(names) else f"asset {a}"
            s0 = worst[0, 0, a]
            if fan is not None:
                bands = fan[:, :, a] / s0
                k = bands.shape[0]
                for i in range(k // 2):
                    ax.fill_between(np.arange(bands.shape[1]), bands[i],
                                    bands[k - 1 - i], color=c, alpha=0.15)
                label = f"{name} quantile bands"
            else:
                q = np.quantile(worst[:, :, a] / s0, [0.1, 0.5, 0.9], axis=0)
                ax.fill_between(steps, q[0], q[2], color=c, alpha=0.2)
                label = f"{name}: spread of the worst paths"
            ax.plot([], [], color=c, alpha=0.4, linewidth=8, label=label)
            for k in range(worst.shape[0]):
                ax.plot(steps, worst[k, :, a] / s0, color=c,
                        linewidth=2.0 if k == 0 else 0.6,
                        alpha=1.0 if k == 0 else 0.5)
        ax.plot([], [], color="black", linewidth=2,
                label="worst-loss path (thick), next worst (thin)")
        ax.legend(fontsize=7)
    ax.set_xlabel("step")
    ax.set_ylabel("market price / initial price")
    ax.set_title("Market prices: " + ("fan chart of /samples/fan_price"
                                      if fan is not None else
                                      "worst-loss paths (/samples/price)"))
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_cascade(f, path, metric="cascade_depth"):
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    if f"hist/{metric}" not in f:
        ax.text(0.5, 0.5, f"no /hist/{metric}", ha="center",
                transform=ax.transAxes)
    else:
        counts = f[f"hist/{metric}/counts"][()]
        edges = f[f"hist/{metric}/edges"][()]
        labels = point_labels(f, metric)
        lows = ["< %g" % edges[1]] + ["%g" % e for e in edges[1:-1]]
        last = max(int(np.max(np.nonzero(counts.sum(axis=0))[0], initial=0)),
                   1)
        idx = np.arange(last + 1)
        width = 0.8 / max(len(labels), 1)
        for p, label in enumerate(labels[:8]):
            ax.bar(idx + p * width, counts[p, :last + 1], width=width,
                   label=label)
        ax.set_xticks(idx + 0.4 - width / 2)
        ax.set_xticklabels([lows[i] for i in idx], rotation=45, fontsize=7)
        ax.set_yscale("symlog")
        if len(labels) <= 8:
            ax.legend(fontsize=7)
    ax.set_xlabel(f"{metric}: lower bin edge (rounds)")
    ax.set_ylabel("paths")
    ax.set_title("Cascade depth: most liquidation rounds in one step")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def make_plots(result, outdir, metric="uncovered_shortfall", stat="es_99",
               size_path=None):
    """Write the four PNGs; return their paths."""
    os.makedirs(outdir, exist_ok=True)
    size = read_size(size_path)
    paths = {name: os.path.join(outdir, name + ".png")
             for name in ("survival", "incentive", "fan", "cascade_depth")}
    with h5py.File(result, "r") as f:
        if f"summary/{metric}" not in f:
            raise SystemExit(f"plot.py: {result} has no /summary/{metric}")
        if stat not in f[f"summary/{metric}"]:
            raise SystemExit(f"plot.py: {result} has no "
                             f"/summary/{metric}/{stat}")
        plot_survival(f, metric, stat, paths["survival"])
        plot_incentive(f, metric, stat, size, paths["incentive"])
        plot_fan(f, paths["fan"])
        plot_cascade(f, paths["cascade_depth"])
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("result", help="schelling result file (OUT.h5)")
    ap.add_argument("-o", "--outdir", required=True, help="output directory")
    ap.add_argument("--metric", help="default: the solver target's metric "
                    "with --size, else uncovered_shortfall")
    ap.add_argument("--stat", help="mean, p_positive, var_<lvl> or es_<lvl>; "
                    "default: the solver target's statistic, else es_99")
    ap.add_argument("--size", help="size.h5 written by schelling size -o")
    args = ap.parse_args(argv)
    metric, stat = target_figure(read_size(args.size))
    paths = make_plots(args.result, args.outdir, args.metric or metric,
                       args.stat or stat, args.size)
    for p in paths.values():
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
