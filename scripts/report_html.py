#!/usr/bin/env python3
"""One self-contained HTML report of a schelling result, for a governance post.

    scripts/report_html.py OUT.h5 -o report.html [--size size.h5]
                           [--metric uncovered_shortfall] [--stat es_99]

The page holds everything (PNG plots embedded as base64, no scripts, no
network): the run, the sweep values, a summary table per point with 95%
intervals, the frontier points, the solver's answer, the resolved config.
Needs numpy, h5py and matplotlib (Debian: /usr/bin/python3).
"""
import argparse
import base64
import html
import os
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plot  # noqa: E402  (scripts/plot.py)

STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto;
       color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #eef; } td.l, th.l { text-align: left; }
tr.base td { font-weight: bold; } tr.front td:last-child { color: #070; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
"""

SUMMARY_ROWS = [  # (metric, stat, heading)
    ("uncovered_shortfall", "mean", "uncovered shortfall mean"),
    ("uncovered_shortfall", "es_99", "uncovered shortfall ES 99"),
    ("shortfall", "p_positive", "P(shortfall > 0)"),
    ("bad_debt", "mean", "bad debt mean"),
    ("bonus_paid", "mean", "bonus paid mean"),
    ("liquidations", "mean", "liquidations mean"),
]


def fmt(x):
    if not np.isfinite(x):
        return "nan"
    if abs(x) >= 1e4:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def cell(f, metric, stat, p):
    g = f.get(f"summary/{metric}")
    if g is None or stat not in g:
        return "&ndash;"
    value, lo, hi = plot.stat_interval(g, stat)
    if stat == "p_positive":
        return f"{100 * value[p]:.3g}%"
    return f"{fmt(value[p])} <small>[{fmt(lo[p])}, {fmt(hi[p])}]</small>"


def summary_table(f):
    keys = plot.sweep_keys(f)
    frontier = f["frontier"][()] if "frontier" in f else None
    baseline = int(f["sweep"].attrs.get("baseline", 0)) if "sweep" in f else 0
    rows = [r for r in SUMMARY_ROWS if f"summary/{r[0]}" in f]
    n = plot.n_points(f, rows[0][0]) if rows else 0
    out = ["<table><tr><th>point</th>"]
    out += [f"<th class=l>{html.escape(k)}</th>" for k, _ in keys]
    out += [f"<th>{html.escape(h)}<br><small>[95% CI]</small></th>"
            for _, _, h in rows]
    if frontier is not None:
        out.append("<th>frontier</th>")
    out.append("</tr>")
    for p in range(n):
        cls = []
        if keys and p == baseline:
            cls.append("base")
        if frontier is not None and frontier[p]:
            cls.append("front")
        out.append(f"<tr class='{' '.join(cls)}'><td>{p}"
                   f"{' (baseline)' if 'base' in cls else ''}</td>")
        out += [f"<td class=l>{html.escape(plot.keys_value(v, p))}</td>"
                for _, v in keys]
        out += [f"<td>{cell(f, m, s, p)}</td>" for m, s, _ in rows]
        if frontier is not None:
            out.append(f"<td>{'&#9733;' if frontier[p] else ''}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "\n".join(out)


def run_info(f, path):
    a = f.attrs
    items = [("file", os.path.basename(path)),
             ("schelling", plot.text(a.get("schelling_version", "?"))),
             ("created", plot.text(a.get("created_utc", "?"))),
             ("seed", a.get("seed", "?")), ("paths", a.get("paths", "?")),
             ("steps", a.get("steps", "?")),
             ("step (s)", a.get("dt_seconds", "?"))]
    return "<p>" + " &middot; ".join(
        f"<b>{html.escape(str(k))}</b> {html.escape(str(v))}"
        for k, v in items) + "</p>"


def sweep_section(f):
    keys = plot.sweep_keys(f)
    if not keys:
        return "<p>No sweep: one point.</p>"
    items = []
    for k, v in keys:
        seen = []
        for p in range(len(v)):
            t = plot.keys_value(v, p)
            if t not in seen:
                seen.append(t)
        items.append(f"<li><code>{html.escape(k)}</code>: "
                     f"{html.escape(', '.join(seen))}</li>")
    base = int(f["sweep"].attrs.get("baseline", 0))
    text = (f"<p>{len(keys[0][1])} points (Cartesian product, first key "
            f"slowest), baseline point {base}, all on common random "
            f"numbers.</p><ul>{''.join(items)}</ul>")
    if "frontier" in f:
        fr = np.nonzero(f["frontier"][()])[0]
        text += ("<p>Frontier (not dominated on tail shortfall and bonus "
                 f"paid): points {', '.join(str(p) for p in fr)}.</p>")
    return text


def size_section(size):
    if size is None:
        return ""
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{v:.8g}</td><td>{fmt(s)}</td>"
        f"<td>[{fmt(lo)}, {fmt(hi)}]</td></tr>"
        for i, (v, s, lo, hi) in enumerate(zip(
            size["value"], size["statistic"], size["lo"], size["hi"])))
    answer = (f"<p><b>{html.escape(size['param'])} = {size['answer']:.6g}"
              f"</b>, uncertainty [{size['answer_lo']:.6g}, "
              f"{size['answer_hi']:.6g}] for target <code>"
              f"{html.escape(size['target'])}</code>.</p>"
              if np.isfinite(size["answer"]) else
              f"<p>No value in the range meets <code>"
              f"{html.escape(size['target'])}</code>.</p>")
    return (f"<h2>Recommended value</h2>{answer}<table><tr><th>eval</th>"
            f"<th>value</th><th>statistic</th><th>95% CI</th></tr>{rows}"
            "</table>")


def embed(png):
    with open(png, "rb") as fh:
        data = base64.b64encode(fh.read()).decode()
    return f"<img alt='{os.path.basename(png)}' src='data:image/png;base64,{data}'>"


def build(result, size_path, metric, stat):
    size = plot.read_size(size_path)
    with tempfile.TemporaryDirectory() as tmp:
        pngs = plot.make_plots(result, tmp, metric, stat, size_path)
        images = {k: embed(v) for k, v in pngs.items()}
    with h5py.File(result, "r") as f:
        config = plot.text(f["config"][()]) if "config" in f else ""
        body = [
            "<h1>schelling risk report</h1>", run_info(f, result),
            "<h2>Sweep</h2>", sweep_section(f),
            "<h2>Summary per point</h2>", summary_table(f),
            size_section(size),
            "<h2>Incentive curve</h2>", images["incentive"],
            "<h2>Loss distribution</h2>", images["survival"],
            "<h2>Price paths</h2>", images["fan"],
            "<h2>Liquidation cascades</h2>", images["cascade_depth"],
            "<h2>Configuration</h2><details><summary>resolved YAML</summary>"
            f"<pre>{html.escape(config)}</pre></details>",
        ]
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            "<title>schelling risk report</title>"
            f"<style>{STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("result", help="schelling result file (OUT.h5)")
    ap.add_argument("-o", "--output", required=True, help="HTML file")
    ap.add_argument("--size", help="size.h5 written by schelling size -o")
    ap.add_argument("--metric", default="uncovered_shortfall")
    ap.add_argument("--stat", default="es_99")
    args = ap.parse_args(argv)
    page = build(args.result, args.size, args.metric, args.stat)
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write(page)
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
