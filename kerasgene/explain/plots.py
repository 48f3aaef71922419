"""Figures of the interpretation analyses, written as PNG files.

Every figure names its axes with units, marks the TSS and TTS (and the junction where
the TSS part of the iSEGnet window ends and the TTS part begins: the two parts are not
contiguous in the genome), and says in its title what was averaged over how many genes.
Figures are built with :class:`matplotlib.figure.Figure` (no pyplot global state), so
they are safe in servers, tests and threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from kerasgene._io import write_atomic
from kerasgene.explain.sites import ISEGNET_LAYOUT, layout_step, window_segments

ATTR_UNITS = "IG attribution\n(Δ prediction)"
_POS = "#c0392b"
_NEG = "#2c7fb8"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    return fig


def _save(fig, path) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix), atomically."""
    return write_atomic(path, lambda tmp: fig.savefig(tmp, bbox_inches="tight"))


def _fmt_offset(o: int) -> str:
    if o == 0:
        return "0"
    if abs(o) >= 1000 and o % 1000 == 0:
        return f"{o // 1000:+d} kb"
    return f"{o:+d}"


def window_axis(ax, layout=ISEGNET_LAYOUT, *, labels: bool = True, tick_step: int = 500) -> None:
    """Decorate an axis whose x is the window index: anchor lines (TSS/TTS), a grey
    bar at each segment junction, ticks as oriented offsets from the anchor (the
    junction tick reads "end of one part | start of the next")."""
    ticks: dict[int, str] = {}
    segs = window_segments(layout)
    step = layout_step(layout)  # bp per position (binned windows: ticks every kb)
    tick_step = tick_step if step == 1 else max(tick_step, 1000)
    for k, (anchor, o1, o2, a, _b) in enumerate(segs):
        if o1 <= 0 < o2:
            ax.axvline(a - o1 // step, color="k", lw=0.9, ls="--", zorder=0)
        first = int(np.ceil(o1 / tick_step) * tick_step)
        for o in range(first, o2 + 1, tick_step):
            x = a + (o - o1) // step
            label = anchor if o == 0 else _fmt_offset(o)
            ticks[x] = f"{ticks[x]} | {label}" if x in ticks else label
        if k > 0:
            ax.axvspan(a - 4, a + 4, color="0.6", alpha=0.6, lw=0, zorder=0)
    xs = sorted(ticks)
    ax.set_xticks(xs)
    ax.set_xticklabels([ticks[x] for x in xs] if labels else [""] * len(xs), fontsize=8)
    ax.set_xlim(0, segs[-1][4])


def _common_scale(values) -> tuple[float, str]:
    """(factor, text) so that values / factor are of order 1; text like "×10⁻⁴"."""
    vmax = max((float(np.nanmax(np.abs(v))) for v in values if np.size(v)), default=0.0)
    if not np.isfinite(vmax) or vmax == 0:
        return 1.0, ""
    e = int(np.floor(np.log10(vmax)))
    if -1 <= e <= 2:
        return 1.0, ""
    sup = str(e).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return 10.0 ** e, f"×10{sup} "


def _anchor_caption(layout) -> str:
    parts = [f"{a}[{o1:+d}, {o2:+d}) bp" for a, o1, o2, *_ in layout]
    junction = "  (grey bar: junction of the two parts)" if len(layout) > 1 else ""
    step = layout_step(layout)
    bins = f" in {step} bp bins" if step > 1 else ""
    return "Position relative to the anchor (bp): " + " ⊕ ".join(parts) + bins + junction


def plot_track_profiles(
    profiles: Mapping[str, Mapping[str, np.ndarray]],
    path,
    *,
    layout=ISEGNET_LAYOUT,
    n_genes: int | None = None,
    title: str = "Mean site-level attribution across genes",
    ylabel: str = ATTR_UNITS,
) -> Path:
    """iSEGnet Fig. 4B–D: one panel per track with the mean attribution across genes
    (± s.e.m. band), TSS/TTS marked.

    Parameters
    ----------
    profiles : ``{track: {"mean": (L,), "sem": (L,)}}`` (``sites.track_profiles``)
    path : PNG file to write
    n_genes : number of genes averaged (shown in the title)
    """
    names = list(profiles)
    fig = _figure(10, 0.6 + 1.1 * len(names))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    factor, ftext = _common_scale([profiles[n]["mean"] for n in names])
    for ax, name in zip(axes, names):
        m = np.asarray(profiles[name]["mean"]) / factor
        s = np.asarray(profiles[name].get("sem", np.zeros_like(m))) / factor
        x = np.arange(len(m))
        ax.axhline(0, color="0.5", lw=0.6)
        ax.fill_between(x, m - s, m + s, color="0.75", lw=0)
        ax.plot(x, m, color=_POS, lw=0.9)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        window_axis(ax, layout, labels=ax is axes[-1])
    axes[-1].set_xlabel(_anchor_caption(layout), fontsize=8)
    suffix = f"\n(n = {n_genes} genes; line: mean, grey band: ± s.e.m.)" if n_genes else ""
    fig.suptitle(title + suffix, fontsize=10)
    unit = ylabel.replace("\n", " ")
    fig.supylabel(f"{ftext}{unit}".strip(), fontsize=8, x=1.0)
    return _save(fig, path)


def plot_gene_tracks(
    attribution: Mapping[str, np.ndarray],
    signal: Mapping[str, np.ndarray] | None,
    path,
    *,
    gene: str,
    layout=ISEGNET_LAYOUT,
    signal_units: Mapping[str, str] | None = None,
    highlight: Sequence[tuple[int, int]] = (),
    explained: str = "prediction",
) -> Path:
    """Per-gene attribution beside the observed signal (iSEGnet Fig. 5B/C, S8).

    For every track a grey panel of the observed input signal and below it the signed
    attribution (red: raises the prediction, blue: lowers it).

    Parameters
    ----------
    attribution : ``{track: (L,)}`` site-level attribution of this gene
    signal : ``{track: (L,)}`` the input values of this gene (same track names); None
        to plot attribution only
    signal_units : ``{track: unit}`` for the signal axis labels (default "scaled [0, 1]")
    highlight : window intervals to shade (e.g. differential or top-attribution regions)
    explained : what the attributions are differences of, named in the title
        (``predicted log2(TPM + 1)``, ``P(class 1: above median)``)
    """
    names = list(attribution)
    n_rows = sum(2 if signal is not None and t in signal else 1 for t in names)
    fig = _figure(10, 0.4 + 0.8 * n_rows)
    axes = fig.subplots(n_rows, 1, sharex=True, squeeze=False)[:, 0]
    r = 0
    units = dict(signal_units or {})
    factor, ftext = _common_scale([attribution[t] for t in names])
    for t in names:
        if signal is not None and t in signal:
            ax = axes[r]
            v = np.asarray(signal[t], np.float64)
            ax.fill_between(np.arange(len(v)), 0, v, color="0.55", lw=0, step="mid")
            ax.set_ylabel(f"{t}\nsignal\n({units.get(t, 'scaled 0–1')})", rotation=0,
                          ha="right", va="center", fontsize=7)
            ax.tick_params(axis="y", labelsize=6)
            window_axis(ax, layout, labels=False)
            for a, b in highlight:
                ax.axvspan(a, b, color="gold", alpha=0.3, lw=0)
            r += 1
        ax = axes[r]
        a_ = np.asarray(attribution[t], np.float64) / factor
        x = np.arange(len(a_))
        ax.fill_between(x, 0, np.where(a_ > 0, a_, 0), color=_POS, lw=0, step="mid")
        ax.fill_between(x, 0, np.where(a_ < 0, a_, 0), color=_NEG, lw=0, step="mid")
        ax.axhline(0, color="0.4", lw=0.5)
        ax.set_ylabel(f"{t}\nattribution\n({ftext.strip() or '×1'})", rotation=0, ha="right",
                      va="center", fontsize=7)
        ax.tick_params(axis="y", labelsize=6)
        for a, b in highlight:
            ax.axvspan(a, b, color="gold", alpha=0.3, lw=0)
        window_axis(ax, layout, labels=r == n_rows - 1)
        r += 1
    axes[-1].set_xlabel(_anchor_caption(layout), fontsize=8)
    fig.suptitle(f"{gene}: input signal (grey) and IG attribution (red raises, blue lowers "
                 f"{explained}; units Δ {explained})", fontsize=9)
    return _save(fig, path)


def plot_saliency_heatmap(
    matrix: np.ndarray,
    row_labels: Sequence[str],
    path,
    *,
    title: str,
    xlabel: str = "Bin (100 bp bins over TSS ± 5 kb; TSS between bins 49 and 50)",
    ylabel: str = "Feature",
    cbar_label: str = "Mean signed gradient\n∂ prediction / ∂ input",
    bin_ticks: Sequence[int] | None = None,
) -> Path:
    """Team Jamaica Fig. 3/4: a features × bins heatmap of mean signed gradients
    (diverging colours centred at 0: red raises, blue lowers the prediction)."""
    m = np.asarray(matrix, np.float64)
    if m.shape[0] != len(row_labels):
        raise ValueError(f"{len(row_labels)} row labels for a matrix of shape {m.shape}")
    fig = _figure(10, 1.2 + 0.16 * len(row_labels))
    ax = fig.add_subplot(1, 1, 1)
    v = float(np.nanmax(np.abs(m))) or 1.0
    im = ax.imshow(m, aspect="auto", cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
    ax.set_yticks(range(len(row_labels)))
    ax.set_yticklabels(row_labels, fontsize=6 if len(row_labels) > 30 else 8)
    if bin_ticks is None:
        step = max(1, m.shape[1] // 10)
        bin_ticks = list(range(0, m.shape[1], step))
    ax.set_xticks(list(bin_ticks))
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.set_title(title, fontsize=10)
    cb = fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    cb.set_label(cbar_label, fontsize=8)
    cb.ax.tick_params(labelsize=7)
    return _save(fig, path)


def _logo(ax, pwm: np.ndarray, title: str) -> None:
    import logomaker
    import pandas as pd

    from kerasgene.explain.motifs import information_content

    p = np.asarray(pwm, np.float64)
    ic = information_content(p)
    df = pd.DataFrame(p * ic[:, None], columns=list("ACGT"))
    logomaker.Logo(df, ax=ax, color_scheme="classic", show_spines=False)
    ax.set_ylim(0, 2)
    _label_logo_axes(ax, len(p), "bits", title)


def _label_logo_axes(ax, width: int, ylabel: str, title: str) -> None:
    """A logo's y label, its positions 1..``width`` as x ticks and its title."""
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_xticks(range(width))
    ax.set_xticklabels([str(i + 1) for i in range(width)], fontsize=6)
    ax.set_title(title, fontsize=9, loc="left")


def plot_filter_match(
    filter_pwm: np.ndarray,
    match_pwm: np.ndarray | None,
    path,
    *,
    filter_name: str,
    n_sites: int | None = None,
    match_id: str = "",
    match_name: str = "",
    p_value: float | None = None,
    q_value: float | None = None,
    strand: str = "+",
) -> Path:
    """Sequence logo (information content, bits) of a filter's PWM above the logo of its
    best JASPAR match (reverse-complemented when Tomtom matched the reverse strand)."""
    fig = _figure(max(4.0, 0.35 * max(len(filter_pwm), len(match_pwm) if match_pwm is not None
                                      else 0) + 1.5), 3.6 if match_pwm is not None else 1.9)
    axes = fig.subplots(2 if match_pwm is not None else 1, 1, squeeze=False)[:, 0]
    sites = f", {n_sites} top-activating subsequences" if n_sites is not None else ""
    _logo(axes[0], filter_pwm, f"{filter_name}{sites}")
    if match_pwm is not None:
        from kerasgene.explain.motifs import reverse_complement_pwm

        mp = reverse_complement_pwm(match_pwm) if strand == "-" else np.asarray(match_pwm)
        stats = []
        if p_value is not None:
            stats.append(f"Tomtom p = {p_value:.2g}")
        if q_value is not None:
            stats.append(f"q = {q_value:.2g}")
        rc = " (reverse complement)" if strand == "-" else ""
        _logo(axes[1], mp, f"JASPAR {match_id} {match_name}{rc}; " + ", ".join(stats))
    axes[-1].set_xlabel("Position in motif (bp)", fontsize=8)
    return _save(fig, path)


def _contribution_logo(ax, cwm: np.ndarray, title: str) -> None:
    """Signed logo of a contribution weight matrix (letters above or below zero)."""
    import logomaker
    import pandas as pd

    logomaker.Logo(pd.DataFrame(np.asarray(cwm, np.float64), columns=list("ACGT")), ax=ax,
                   color_scheme="classic", show_spines=False)
    ax.axhline(0, color="0.5", lw=0.5)
    _label_logo_axes(ax, len(cwm), "contribution", title)


def plot_pattern(
    cwm: np.ndarray,
    ppm: np.ndarray,
    match_pwm: np.ndarray | None,
    path,
    *,
    name: str,
    n_seqlets: int,
    match: str = "",
    q_value: float | None = None,
    strand: str = "+",
) -> Path:
    """A TF-MoDISco pattern: its contribution weight matrix (signed logo), its PPM
    (bits) and the logo of its best JASPAR match (reverse-complemented when Tomtom
    matched the reverse strand), all trimmed alike by the caller."""
    rows = 3 if match_pwm is not None else 2
    fig = _figure(max(4.0, 0.35 * max(len(cwm), len(match_pwm) if match_pwm is not None
                                      else 0) + 1.5), 1.8 * rows)
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    _contribution_logo(axes[0], cwm, f"{name}: contribution weights, {n_seqlets} seqlets")
    _logo(axes[1], ppm, f"{name}: base frequencies")
    if match_pwm is not None:
        from kerasgene.explain.motifs import reverse_complement_pwm

        mp = reverse_complement_pwm(match_pwm) if strand == "-" else np.asarray(match_pwm)
        rc = " (reverse complement)" if strand == "-" else ""
        q = f"; Tomtom q = {q_value:.2g}" if q_value is not None else ""
        _logo(axes[2], mp, f"JASPAR {match}{rc}{q}")
    axes[-1].set_xlabel("Position in pattern (bp)", fontsize=8)
    return _save(fig, path)


def plot_knockout(
    abs_delta: np.ndarray,
    is_target: np.ndarray,
    path,
    *,
    title: str,
    ranksum_p: float | None = None,
    fisher: tuple[int, int, float] | None = None,
    units: str = "|Δ prediction| (mean over conditions)",
) -> Path:
    """|Δ| of the target genes vs all other genes after a knockout (box + points), with
    the rank-sum p-value and the top-k Fisher test in the title."""
    d = np.asarray(abs_delta, np.float64)
    t = np.asarray(is_target, bool)
    fig = _figure(4.6, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    groups = [d[~t], d[t]]
    ax.boxplot(groups, showfliers=False, widths=0.5)
    rng = np.random.default_rng(0)
    for k, g in enumerate(groups, start=1):
        x = k + rng.uniform(-0.15, 0.15, len(g))
        ax.scatter(x, g, s=6, alpha=0.5, color=_NEG if k == 1 else _POS, lw=0)
    ax.set_xticks([1, 2])
    ax.set_xticklabels([f"other genes\n(n = {len(groups[0])})",
                        f"target genes\n(n = {len(groups[1])})"], fontsize=8)
    ax.set_ylabel(units, fontsize=8)
    sub = []
    if ranksum_p is not None:
        sub.append(f"rank-sum p = {ranksum_p:.2g}")
    if fisher is not None:
        a, k, fp = fisher
        sub.append(f"{a} of top {k} are targets (Fisher p = {fp:.2g})")
    ax.set_title(title + ("\n" + "; ".join(sub) if sub else ""), fontsize=9)
    return _save(fig, path)


def plot_enrichment(rows: Sequence[Mapping], path, *, title: str, top: int = 20) -> Path:
    """Horizontal bars of −log10 q (Benjamini–Hochberg) of the most enriched motifs, with
    the foreground / background hit fractions as labels."""
    rows = list(rows)[:top]
    fig = _figure(7, 0.9 + 0.28 * max(1, len(rows)))
    ax = fig.add_subplot(1, 1, 1)
    if not rows:
        ax.text(0.5, 0.5, "no motifs tested", ha="center", va="center")
        ax.set_axis_off()
        return _save(fig, path)
    y = np.arange(len(rows))[::-1]
    val = [-np.log10(max(r["q_value"], 1e-300)) for r in rows]
    ax.barh(y, val, color=_POS)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r['name']} ({r['motif_id']})" for r in rows], fontsize=7)
    for yy, v, r in zip(y, val, rows):
        ax.text(v, yy, f"  {r['fg_hits']}/{r['fg_n']} vs {r['bg_hits']}/{r['bg_n']}",
                va="center", fontsize=6)
    ax.axvline(-np.log10(0.05), color="k", ls="--", lw=0.7)
    ax.set_xlabel("−log10 q (Fisher's exact test, BH); dashed: q = 0.05", fontsize=8)
    ax.set_title(title + "\nlabels: sequences with a FIMO hit, foreground vs background",
                 fontsize=9)
    return _save(fig, path)


def plot_ablation(names: Sequence[str], values: Sequence[float], path, *, title: str,
                  highlight: str = "all", xlabel: str = "test R²") -> Path:
    """Horizontal bars of one score per input subset (iSEGnet Fig. 4A), in the given
    order top to bottom, each labelled with its value; the ``highlight`` subset (all
    inputs) in its own colour, a line at 0."""
    names, v = [str(n) for n in names], np.asarray(values, np.float64)
    fig = _figure(6, 1.0 + 0.32 * max(1, len(v)))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(v))[::-1]
    ax.barh(y, np.nan_to_num(v), color=[_POS if n == highlight else _NEG for n in names])
    for yy, val in zip(y, v):
        ax.text(val if np.isfinite(val) else 0.0, yy, f" {val:.3f} ", va="center",
                ha="right" if val < 0 else "left", fontsize=7)
    ax.axvline(0, color="k", lw=0.7)
    ax.margins(x=0.15)  # room for the value labels
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_ylabel("inputs of the retrained model", fontsize=8)
    ax.set_xlabel(f"{xlabel} (red: {highlight})" if highlight in names else xlabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_differential(
    mean_a: np.ndarray,
    mean_b: np.ndarray,
    fraction_differential: np.ndarray,
    path,
    *,
    labels: tuple[str, str],
    track: str,
    n_genes: int,
    layout=ISEGNET_LAYOUT,
    explained: str = "prediction",
) -> Path:
    """Mean attribution of one track under two conditions and the fraction of genes in
    which each site is a differential attribution site (top 10 %); ``explained`` names
    what the attributions are differences of (the y-axis units)."""
    fig = _figure(10, 3.4)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(mean_a))
    ax1.axhline(0, color="0.5", lw=0.6)
    ax1.plot(x, mean_b, color=_NEG, lw=0.8, alpha=0.8, label=labels[1])
    ax1.plot(x, mean_a, color=_POS, lw=0.8, alpha=0.8, label=labels[0])
    ax1.legend(fontsize=7, frameon=False, loc="upper left")
    ax1.set_ylabel(f"mean attribution\n(Δ {explained})", fontsize=8)
    window_axis(ax1, layout, labels=False)
    ax2.fill_between(x, 0, fraction_differential, color="0.4", lw=0, step="mid")
    ax2.set_ylabel("fraction of genes\ndifferential", fontsize=8)
    window_axis(ax2, layout)
    ax2.set_xlabel(_anchor_caption(layout), fontsize=8)
    fig.suptitle(f"{track}: attribution {labels[0]} vs {labels[1]} (n = {n_genes} genes; "
                 "differential = top 10 % of |difference| over all sites)", fontsize=9)
    return _save(fig, path)


def plot_mutagenesis(
    deltas: np.ndarray,
    path,
    *,
    layout=ISEGNET_LAYOUT,
    title: str,
    units: str = "Δ prediction (alt − ref)",
) -> Path:
    """In silico saturation mutagenesis of one window: a bases × positions heatmap of Δ
    (red raises, blue lowers the prediction; 0 at the reference base) above the largest
    and smallest Δ per position, TSS/TTS marked.

    Parameters
    ----------
    deltas : (4, L) rows A, C, G, T in the window's orientation
    path : PNG file to write
    layout : the window's parts ``(anchor, first offset, end offset)``
    """
    d = np.asarray(deltas, np.float64)
    if d.ndim != 2 or d.shape[0] != 4:
        raise ValueError(f"deltas: expected shape (4, L), got {d.shape}")
    fig = _figure(10, 3.2)
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[1.3, 1])
    v = float(np.nanmax(np.abs(d))) or 1.0
    im = ax.imshow(d, aspect="auto", cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest",
                   extent=(-0.5, d.shape[1] - 0.5, 3.5, -0.5))
    ax.set_yticks(range(4))
    ax.set_yticklabels(list("ACGT"), fontsize=8)
    ax.set_ylabel("Base", fontsize=9)
    window_axis(ax, layout, labels=False)
    cb = fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    cb.set_label(units, fontsize=7)
    cb.ax.tick_params(labelsize=7)
    ax2.axhline(0, color="0.5", lw=0.6)
    x = np.arange(d.shape[1])
    ax2.plot(x, d.max(axis=0), color=_POS, lw=0.8, label="largest Δ")
    ax2.plot(x, d.min(axis=0), color=_NEG, lw=0.8, label="smallest Δ")
    ax2.legend(fontsize=7, loc="upper right", frameon=False)
    ax2.set_ylabel("Δ range per\nposition", fontsize=8)
    ax2.tick_params(axis="y", labelsize=7)
    window_axis(ax2, layout)
    ax2.set_xlabel(_anchor_caption(layout), fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
