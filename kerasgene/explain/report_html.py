"""A static HTML page of TF-MoDISco patterns that a biologist opens in a browser.

:func:`write_modisco_report` writes one logo figure per pattern
(:func:`kerasgene.explain.plots.plot_pattern`: contribution weights, base frequencies,
best JASPAR match) into ``modisco_logos/`` and ``modisco_report.html`` beside it: the
settings, then one table row per pattern (metacluster, seqlets, logo, best match with
its Tomtom p- and q-value, the next matches), and, on simulated data, which planted
motifs were found — the layout of modisco's own ``modisco report``. The page links the
PNG files by relative path: keep the folder together.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from kerasgene._io import safe_name, write_text

LOGO_DIR = "modisco_logos"

_STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;
vertical-align:middle;font-size:13px}th{background:#f0f0f0}img{max-height:260px}
.hit{background:#e8f5e9}.miss{background:#fdecea}caption{text-align:left;font-weight:bold}"""


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return html.escape(str(value))


def _table(caption: str, header: Sequence[str], body: Sequence[Sequence[str]],
           classes: Sequence[str] | None = None) -> str:
    """An HTML table; ``body`` cells are already HTML."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    trs = []
    for k, cells in enumerate(body):
        cls = f' class="{classes[k]}"' if classes and classes[k] else ""
        trs.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>"
            + "".join(trs) + "</table>")


def pattern_logos(out: Path, patterns, rows: Sequence[Mapping], motifs) -> dict[str, str]:
    """``modisco_logos/<pattern>.png`` per pattern; returns ``{pattern: relative path}``."""
    from kerasgene.explain import plots as P

    by_id = {m.matrix_id: m for m in motifs or []}
    row_of = {r["pattern"]: r for r in rows}
    (out / LOGO_DIR).mkdir(parents=True, exist_ok=True)
    paths = {}
    for p in tqdm(patterns, desc="pattern logos", unit="pattern"):
        r = row_of.get(p.name, {})
        a, b = p.trim()
        m = by_id.get(r.get("target_id", ""))
        rel = f"{LOGO_DIR}/{safe_name(p.name)}.png"
        P.plot_pattern(p.cwm[a:b], p.ppm[a:b], None if m is None else m.probabilities(),
                       out / rel, name=p.name, n_seqlets=p.n_seqlets,
                       match="" if m is None else f"{m.matrix_id} {m.name}",
                       q_value=r.get("q_value"), strand=r.get("strand", "+"))
        paths[p.name] = rel
    return paths


def write_modisco_report(out: Path, patterns, rows: Sequence[Mapping], motifs, *,
                         title: str, settings: Mapping, q_threshold: float,
                         recovery: Sequence[Mapping] | None = None) -> Path:
    """Logos and ``modisco_report.html`` in ``out`` (see the module docstring).

    Parameters
    ----------
    patterns : :class:`kerasgene.explain.modisco.Pattern` list
    rows : their Tomtom rows (:func:`kerasgene.explain.modisco.pattern_rows`)
    motifs : the JASPAR motifs matched against (for the match logos)
    settings : shown as a table at the top (attribution, sequences, cost, ...)
    recovery : planted motifs found (:func:`kerasgene.explain.modisco.planted_recovery`)
    """
    logos = pattern_logos(out, patterns, rows, motifs)
    row_of = {r["pattern"]: r for r in rows}
    parts = [f"<h1>{html.escape(title)}</h1>",
             _table("Settings", ["setting", "value"],
                    [[html.escape(str(k)), _cell(v)] for k, v in settings.items()])]
    body, classes = [], []
    for p in patterns:
        r = row_of.get(p.name, {})
        q = r.get("q_value", 1.0)
        match = (f"{html.escape(r['target_id'])} {html.escape(r['target_name'])}"
                 if r.get("target_id") else "(none)")
        body.append([html.escape(p.name), html.escape(p.metacluster), str(p.n_seqlets),
                     f'<img src="{html.escape(logos[p.name])}" alt="{html.escape(p.name)}">',
                     match, _cell(r.get("p_value", 1.0)), _cell(q),
                     html.escape(r.get("strand", "")), html.escape(r.get("others", ""))])
        classes.append("hit" if r.get("target_id") and q <= q_threshold else "")
    parts.append(_table(f"Patterns (green: best match at Tomtom q ≤ {q_threshold:g})",
                        ["pattern", "metacluster", "seqlets", "logos (trimmed)",
                         "best JASPAR match", "p", "q", "strand", "next matches"],
                        body, classes))
    if recovery:
        sources = [k.removesuffix("_q") for k in recovery[0] if k.endswith("_q")]
        top = [k for k in recovery[0] if k.startswith("top")]
        scored = "attributed" in recovery[0]
        parts.append(_table(
            f"Planted motifs (truth.json) found at q ≤ {q_threshold:g}: the best match of "
            + " or ".join(sources) + (f" (among the {top[0][3:]} best: {top[0]})" if top else "")
            + ("; site attribution: the planted sites' mean contribution against "
               "position-matched random windows, in their standard deviations" if scored else ""),
            ["planted", "JASPAR", *(["site attribution (sd)"] if scored else []), *sources,
             "recovered", *top],
            [[html.escape(m["name"]), html.escape(m["ids"]),
              *([_cell(m["site_effect_sd"])] if scored else []),
              *[html.escape(m[s] or "—") for s in sources], "yes" if m["recovered"] else "no",
              *[html.escape(m[t] or "—") for t in top]]
             for m in recovery], ["hit" if m["recovered"] else "miss" for m in recovery]))
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_STYLE}</style></head><body>" + "\n".join(parts)
            + "</body></html>\n")
    return write_text(out / "modisco_report.html", page)
