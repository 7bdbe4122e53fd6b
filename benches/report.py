#!/usr/bin/env python3
"""Turns the criterion results of `cargo bench --bench conv` into a markdown table of speedups
(direct time / FFT time) and an SVG plot of speedup against kernel size.

    python3 benches/report.py [CRITERION_DIR] [OUT_DIR] [COMMAND]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion (or target/criterion); OUT_DIR to
benches/; COMMAND, the bench command that produced the results, is quoted in the report. Writes REPORT.md and speedup.svg there. Only the latest run of each benchmark is
read, so ratios come from one run.
"""

import json
import os
import re
import sys
from collections import defaultdict
from pathlib import Path


def load(criterion_dir):
    """{(backend, pass, geometry): {"fft": seconds, "direct": seconds}}"""
    results = defaultdict(dict)
    for bench in Path(criterion_dir).glob("*/*/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        parts = meta["group_id"].split("/")
        if len(parts) != 3:
            continue  # another bench's group (the kernel stage benches share the directory)
        backend, pass_, geometry = parts
        results[(backend, pass_, geometry)][meta["value_str"]] = estimates["mean"]["point_estimate"] / 1e9
    return {k: v for k, v in results.items() if "fft" in v and "direct" in v}


def kernel_of(geometry):
    return int(re.search(r"_k(\d+)", geometry).group(1))


def table(results):
    lines = [
        "| backend | pass | geometry | FFT | direct | speedup |",
        "|---|---|---|---:|---:|---:|",
    ]
    for (backend, pass_, geometry), t in sorted(results.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2].split("_k")[0], kernel_of(kv[0][2]), kv[0][2])):
        lines.append(
            f"| {backend} | {pass_} | {geometry} | {t['fft'] * 1e3:.1f} ms | {t['direct'] * 1e3:.1f} ms | {t['direct'] / t['fft']:.2f}x |"
        )
    return "\n".join(lines)


# Kernels past this size (the 1-D long filters) are in the table only: on the plot's linear
# kernel axis they would squeeze the 2-D and 3-D sweeps into its first pixels.
PLOT_MAX_KERNEL = 32


def svg(results, width=640, height=400, margin=50):
    """Speedup against kernel size, one line per (backend, pass, geometry without kernel)."""
    series = defaultdict(list)
    for (backend, pass_, geometry), t in results.items():
        if kernel_of(geometry) > PLOT_MAX_KERNEL:
            continue
        base = re.sub(r"_k\d+", "", geometry)
        series[f"{backend} {pass_} {base}"].append((kernel_of(geometry), t["direct"] / t["fft"]))
    if not series:
        return "<svg xmlns='http://www.w3.org/2000/svg'/>"
    kernels = [k for s in series.values() for k, _ in s]
    speedups = [v for s in series.values() for _, v in s] + [1.0]
    k_lo, k_hi = min(kernels), max(kernels) + 1e-9
    v_hi = max(speedups) * 1.1
    x = lambda k: margin + (k - k_lo) / (k_hi - k_lo) * (width - 2 * margin)
    y = lambda v: height - margin - v / v_hi * (height - 2 * margin)
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' font-size='11'>",
        f"<rect width='{width}' height='{height}' fill='white'/>",
        f"<line x1='{margin}' y1='{y(0)}' x2='{width - margin}' y2='{y(0)}' stroke='black'/>",
        f"<line x1='{margin}' y1='{y(0)}' x2='{margin}' y2='{margin}' stroke='black'/>",
        f"<line x1='{margin}' y1='{y(1)}' x2='{width - margin}' y2='{y(1)}' stroke='gray' stroke-dasharray='4'/>",
        f"<text x='{width / 2}' y='{height - 10}' text-anchor='middle'>kernel size</text>",
        f"<text x='12' y='{height / 2}' transform='rotate(-90 12 {height / 2})' text-anchor='middle'>speedup (direct / FFT)</text>",
    ]
    for k in sorted(set(kernels)):
        parts.append(f"<text x='{x(k)}' y='{y(0) + 15}' text-anchor='middle'>{k}</text>")
    for i in range(int(v_hi) + 1):
        parts.append(f"<text x='{margin - 6}' y='{y(i) + 4}' text-anchor='end'>{i}</text>")
    for i, (name, points) in enumerate(sorted(series.items())):
        color = colors[i % len(colors)]
        points.sort()
        path = " ".join(f"{x(k):.1f},{y(v):.1f}" for k, v in points)
        parts.append(f"<polyline points='{path}' fill='none' stroke='{color}' stroke-width='2'/>")
        parts.extend(f"<circle cx='{x(k):.1f}' cy='{y(v):.1f}' r='3' fill='{color}'/>" for k, v in points)
        parts.append(f"<text x='{margin + 10}' y='{margin + 14 * i}' fill='{color}'>{name}</text>")
    parts.append("</svg>")
    return "\n".join(parts)


def main():
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    criterion_dir = Path(sys.argv[1] if len(sys.argv) > 1 else Path(target) / "criterion")
    out_dir = Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).parent)
    command = sys.argv[3] if len(sys.argv) > 3 else "cargo bench --bench conv"
    if not criterion_dir.is_dir():
        sys.exit(f"no criterion results in {criterion_dir}: run `cargo bench --bench conv` first")
    results = load(criterion_dir)
    if not results:
        sys.exit(f"{criterion_dir} holds no pair of fft and direct results")
    (out_dir / "REPORT.md").write_text(
        "# FFT against direct convolution\n\nSpeedup = direct time / FFT time, measured in one "
        f"`{command}` run; plot: `speedup.svg` (kernels up to "
        f"{PLOT_MAX_KERNEL}).\n\n" + table(results) + "\n"
    )
    (out_dir / "speedup.svg").write_text(svg(results))
    print(table(results))
    print(f"wrote {out_dir / 'REPORT.md'} and {out_dir / 'speedup.svg'}")


if __name__ == "__main__":
    main()
