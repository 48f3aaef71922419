"""``kerasgene demo``: simulate planted-truth data, then prepare, train and evaluate every
system of :mod:`kerasgene.systems` that has demo settings, from the YAML configs in
``configs/``, and compare each model with its baselines and
with the noise ceiling that ``truth.json`` states.

Writes ``OUT/data`` (the simulated files), ``OUT/runs/<config>`` (one run directory per
model) and ``OUT/summary.json``::

    {"systems": {"isegnet": {"metric": "r2", "test": ..., "ceiling": ..., "baselines": {...},
                           "shuffled_control": ..., "shuffled_control_sd": ...,
                           "shuffled_control_permutations": ...},
               "deeprage": {..., "best_variant": ..., "variants": {...}},
               "chromatin": {..., "binary": {"metric": "auprc", ...}},
               "histone_fcn": {..., "single_model": ...}}}
"""

from __future__ import annotations

import json
import logging
import os
import resource
import time
from pathlib import Path

import kerasgene
from kerasgene import systems
from kerasgene.config import load_config
from kerasgene.errors import ConfigError, KerasgeneError

log = logging.getLogger(__name__)

CONFIG_DIR = Path(kerasgene.__file__).resolve().parents[1] / "configs"


def _config(name: str, data: Path, runs: Path, seed: int, overrides=()) -> dict:
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"{path}: demo config not found (run the demo from a kerasgene checkout)")
    return load_config(path, [f"data_dir={data}", f"run_dir={runs / name}", f"seed={seed}",
                              *overrides])


def _train(config: dict) -> dict:
    """Train one run; its metrics.json with the run's ``target`` name and ``seconds``."""
    from kerasgene.train.run_config import run_dir
    from kerasgene.train.runs import train

    t0 = time.perf_counter()
    train(config)
    run = run_dir(config)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["target"] = json.loads((run / "preprocessing.json").read_text())["target_name"]
    metrics["phases"] = metrics.pop("seconds", {})
    metrics["seconds"] = round(time.perf_counter() - t0, 1)
    return metrics


def _add_phases(total: dict, phases: dict) -> None:
    """Sum one run's ``{phase: {"wall", "cpu"}}`` into ``total``."""
    for phase, got in phases.items():
        into = total.setdefault(phase, {"wall": 0.0, "cpu": 0.0})
        for k in ("wall", "cpu"):
            into[k] = round(into[k] + got[k], 1)


def run_system(system: systems.System, data: Path, runs: Path, seed: int, truth: dict,
               overrides=()) -> dict:
    """Train the demo run(s) of one system and score them against its noise ceiling.

    A system with several demo variants (DeepRAGE) trains each into ``runs/<model>`` and
    reports the best as ``test``; the baselines are fitted with
    :attr:`~kerasgene.systems.DemoEntry.baselines_with` only. Each of the system's
    further demo runs (:attr:`~kerasgene.systems.DemoEntry.also`: chromatin's binary
    task) adds a row of its own under its key.

    Returns
    -------
    ``{"metric", "target", "test", "ceiling", "baselines", "seconds", "phases"}``
    (``phases``: wall and CPU seconds of each phase of :func:`kerasgene.train.runs.train`,
    summed over the variants), plus ``shuffled_control``, ``shuffled_control_sd`` and
    ``shuffled_control_permutations`` (the mean and standard deviation over the control's
    label permutations, and how many, when the config trains one), ``best_variant``, ``variants`` and ``variant_seconds``
    (several variants), ``single_model`` and ``members`` (an ensemble),
    ``ceiling_test_examples`` (the ceiling on the test examples themselves, where the
    system has a :attr:`~kerasgene.systems.DemoEntry.split_ceiling`); ``ceiling`` is
    None where truth.json states none.
    """
    row = _run_entry(system.demo, data, runs, seed, truth, overrides)
    for key, entry in system.demo.also.items():
        row[key] = _run_entry(entry, data, runs, seed, truth, overrides)
    return row


def _run_entry(demo: systems.DemoEntry, data: Path, runs: Path, seed: int, truth: dict,
               overrides=()) -> dict:
    """One demo entry's run(s) and its row (:func:`run_system`)."""
    metric = demo.metric
    variants = demo.variants or {None: ()}
    scores, baselines, run_dirs = {}, {}, {}
    row = {"metric": metric, "seconds": 0.0, "phases": {}}
    for model, extra in variants.items():
        model_args = [] if model is None else [f"model.name={model}"]
        cfg = _config(demo.config, data, runs, seed, [*overrides, *model_args, *extra])
        if model is not None and len(variants) > 1:
            cfg["run_dir"] = str(runs / model)
        if demo.baselines_with not in (None, model):
            cfg["baselines"] = []
        m = _train(cfg)
        run_dirs[model] = Path(cfg["run_dir"])
        scores[model] = float(m["test"][metric])
        row["target"] = m["target"]
        baselines.update({k: v[metric] for k, v in m.get("baselines", {}).items()})
        row["seconds"] += m["seconds"]
        _add_phases(row["phases"], m["phases"])
        if len(variants) > 1:
            row.setdefault("variant_seconds", {})[model] = m["seconds"]
        if "controls" in m:
            row["shuffled_control"] = m["controls"]["shuffled"][metric]
            row["shuffled_control_sd"] = m["controls"]["shuffled_sd"][metric]
            row["shuffled_control_permutations"] = len(m["controls"]["shuffled_runs"])
        if m.get("members"):
            row["members"] = [x[metric] for x in m["members"]]
            row["single_model"] = max(row["members"])
    best = max(scores, key=scores.get)
    ceiling = None if demo.ceiling is None else float(demo.ceiling(truth))
    row.update(test=scores[best], ceiling=ceiling, baselines=baselines)
    if demo.split_ceiling is not None:
        split_ceiling = systems.resolve(demo.split_ceiling)
        row["ceiling_test_examples"] = float(split_ceiling(data, run_dirs[best]))
    if len(scores) > 1:
        row.update(best_variant=best, variants=scores)
    row["seconds"] = round(row["seconds"], 1)
    return row


def demo_systems() -> list[str]:
    """The systems ``kerasgene demo`` runs (those with a :class:`~kerasgene.systems.DemoEntry`)."""
    return [n for n in systems.names() if systems.get(n).demo is not None]


def _entry_label(name: str, key: str | None) -> str:
    """A demo entry's name: the system's (``chromatin``), or ``system.key`` for a further
    entry (``chromatin.binary``)."""
    return name if key is None else f"{name}.{key}"


def _rows(summary: dict) -> list[tuple[str, dict]]:
    """``(name, row)`` of every system and of each further demo entry of a system
    (``chromatin.binary``), in the summary's order."""
    return [(n, r) for name, row in summary["systems"].items()
            for n, r in [(name, row), *((_entry_label(name, k), v) for k, v in row.items()
                                        if isinstance(v, dict) and "metric" in v)]]


def format_summary(summary: dict) -> str:
    """The summary as a fixed-width table (one row per system and further entry)."""
    rows = _rows(summary)
    width = max([len("system"), *(len(name) for name, _ in rows)])
    lines = [f"{'system':<{width}} {'metric':<8} {'test':>7} {'ceiling':>8} {'ratio':>6}  "
             "baselines / notes"]
    lines += [_summary_line(name, row, width) for name, row in rows]
    return "\n".join(lines)


#: The phases of a run (:func:`kerasgene.train.runs.train`), in the order they run.
PHASES = ("prepare", "fit", "evaluate", "control", "baselines")


def format_timings(summary: dict) -> str:
    """Where the demo's time went: wall-clock (CPU) seconds per system and phase, then
    the simulation and the total."""
    lines = [f"{'system':<18}" + "".join(f"{p:>16}" for p in (*PHASES, "total"))]
    for name, row in _rows(summary):
        phases = row.get("phases", {})
        cells = [_seconds(phases.get(p)) for p in PHASES]
        wall = sum(phases[p]["wall"] for p in PHASES if p in phases)
        cpu = sum(phases[p]["cpu"] for p in PHASES if p in phases)
        lines.append(f"{name:<18}" + "".join(f"{c:>16}" for c in cells)
                     + f"{_seconds({'wall': wall, 'cpu': cpu}):>16}")
        extra = {k: v for k, v in phases.items() if k not in PHASES}
        if extra or row.get("variant_seconds"):
            parts = [f"{k} {_seconds(v)}" for k, v in extra.items()]
            parts += [f"{k} {v:.0f}s" for k, v in row.get("variant_seconds", {}).items()]
            lines.append(f"{'':<18}  " + ", ".join(parts))
    for key, got in summary.get("seconds", {}).items():
        lines.append(f"{key:<18}{_seconds(got):>16}")
    return "\n".join(lines)


def _seconds(got: dict | None) -> str:
    return "-" if got is None else f"{got['wall']:.0f} ({got['cpu']:.0f})"


def _summary_line(name: str, row: dict, width: int) -> str:
    """One row of :func:`format_summary` (``-`` where there is no ceiling), its name
    padded to ``width``."""
    ceiling = row.get("ceiling")
    ratio = f"{row['test'] / ceiling:>6.2f}" if ceiling else f"{'-':>6}"
    notes = ", ".join(f"{k} {v:.3f}" for k, v in row.get("baselines", {}).items())
    if "shuffled_control" in row:
        notes += f"; shuffled labels {_control(row)}"
    if "best_variant" in row:
        notes += "; " + ", ".join(f"{k} {v:.3f}" for k, v in row["variants"].items())
    if row.get("ceiling_test_examples") is not None:
        at = row["ceiling_test_examples"]
        notes += f"; ceiling on the test examples {at:.3f} (ratio {row['test'] / at:.2f})"
    if row.get("single_model") is not None:
        notes += f"; best single sub-model {row['single_model']:.3f}"
    shown = f"{ceiling:>8.3f}" if ceiling is not None else f"{'-':>8}"
    return f"{name:<{width}} {row['metric']:<8} {row['test']:>7.3f} {shown} {ratio}  {notes}"


def _control(row: dict) -> str:
    """The shuffled control's score: ``mean ± sd (n permutations)``, or ``mean (1
    permutation)`` (no spread to show); ``mean ± sd`` for a summary without the count."""
    n = row.get("shuffled_control_permutations")
    if n == 1:
        return f"{row['shuffled_control']:.3f} (1 permutation)"
    shown = f"{row['shuffled_control']:.3f} ± {row['shuffled_control_sd']:.3f}"
    return shown if n is None else f"{shown} ({n} permutations)"


def default_jobs() -> int:
    """``kerasgene demo``'s default ``--jobs``: one process per CPU core, at most 4. Each
    process keeps TensorFlow's default threads, which one training leaves partly idle: on
    2 cores the seed-0 demo took 731 s wall with 2 at a time against 930 s one after the
    other (1,292 and 1,290 CPU-s; the same results)."""
    return max(1, min(4, os.cpu_count() or 1))


def _entries(names: list[str]) -> list[tuple[str, str | None]]:
    """The demo entries of the systems ``names`` as ``(system, key)`` jobs: each system's
    own entry (key None) in the order of ``names``, then every further entry
    (:attr:`~kerasgene.systems.DemoEntry.also`: chromatin's binary task) — on two
    processes the short ones then fill the end instead of trailing a long system."""
    return [(n, None) for n in names] + [(n, k) for n in names for k in systems.get(n).demo.also]


def _run_systems_in_processes(names: list[str], data: Path, runs: Path, seed: int,
                              truth: dict, jobs: int, finished, entry=None,
                              after=None) -> None:
    """:func:`run_system` for each of ``names``, each demo entry (:func:`_entries`) in a
    spawned process, ``jobs`` processes at a time (each takes the next entry when it is
    free); ``finished(name, row)`` is called as each system's last entry ends. ``entry``:
    the function a process runs per entry (default :func:`_entry_process`; tests pass
    their own).

    The first failure, a process that dies (killed, out of memory), Ctrl-C or SIGTERM
    stops every process at once — nothing more starts and the running entries are
    terminated (their run directories lack ``run.json``, so no command reads them) — and
    is raised, ending with ``after()`` (default: the systems that finished before are in
    ``summary.json``).
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from kerasgene.train.launcher import stop_processes, stopped_on_signal

    level = logging.getLogger("kerasgene").getEffectiveLevel()
    context = multiprocessing.get_context("spawn")
    entry = entry or _entry_process
    todo = _entries(names)
    procs: dict[str, multiprocessing.process.BaseProcess] = {}

    def run() -> int:
        rows: dict[tuple[str, str | None], dict] = {}
        others = set(multiprocessing.active_children())
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
        try:
            started = {pool.submit(entry, name, key, data, runs, seed, truth, level):
                       (name, key) for name, key in todo}
            # the pool's processes (started by submit; none of this process's other ones)
            procs.update((p.name, p) for p in multiprocessing.active_children()
                         if p not in others)
            pending = set(started)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    name, key = started[future]
                    if isinstance(future.exception(), BrokenProcessPool):
                        left = [_entry_label(*e) for e in todo if e not in rows]
                        raise KerasgeneError(
                            "demo: one of its processes ended abruptly (killed, or out of "
                            f"memory?); not finished: {', '.join(left)}"
                        ) from future.exception()
                    rows[(name, key)] = future.result()
                    mine = [e for e in todo if e[0] == name]
                    if all(e in rows for e in mine):
                        row = {**rows[(name, None)], **{k: rows[(name, k)] for _, k in mine if k}}
                        print(f"demo: {name} finished in {row['seconds']:.0f} s (test "
                              f"{row['metric']} {row['test']:.3f})", flush=True)
                        finished(name, row)
        except BaseException:
            stop_processes(procs)  # the running entries end now; then nothing more starts
            pool.shutdown(cancel_futures=True)
            raise
        pool.shutdown()
        return 0

    stopped_on_signal(run, procs, "demo",
                      after or "the systems that finished are in summary.json")


def _entry_process(name: str, key: str | None, data: Path, runs: Path, seed: int,
                   truth: dict, level: int) -> dict:
    """One demo entry of :func:`_run_systems_in_processes` (system ``name``'s own, or its
    ``also`` entry ``key``), in one of the pool's processes (silent Keras; the parent's log level;
    TensorFlow's start-up lines filtered as by the CLI; tqdm's bars under a thread lock:
    its default multiprocessing lock, of no use to one process, is a semaphore that a
    process stopped by the parent would leave behind, with a warning; idle threads
    not spinning: :func:`kerasgene.train.launcher.stop_idle_spinning`)."""
    import threading

    from tqdm.auto import tqdm

    from kerasgene.cli import import_tensorflow_quietly

    tqdm.set_lock(threading.RLock())
    label = _entry_label(name, key)
    logging.basicConfig(level=level, format=f"%(levelname)s %(name)s [{label}]: %(message)s")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    import_tensorflow_quietly(share_cores=True)  # the pool's processes share the cores
    demo = systems.get(name).demo
    return _run_entry(demo if key is None else demo.also[key], data, runs, seed, truth,
                      ["training.verbose=0"])


def run_demo(out: Path, seed: int = 0, scale: str = "small", names=None, verbose: int = 2,
             jobs: int = 1) -> dict:
    """Simulate (reusing ``OUT/data`` when it holds the same seed and scale), train and
    evaluate the systems ``names`` (default: :func:`demo_systems`); print and return the
    summary (also ``OUT/summary.json``, rewritten as each system finishes).

    ``verbose`` is Keras' training verbosity (2: one line per epoch; 0: silent). ``jobs``:
    demo entries trained at once (a system's runs, or its binary task), each in its own
    process (:func:`_run_systems_in_processes`; the same results as one after the other:
    each process keeps TensorFlow's default threads, so every model sees the same
    arithmetic); Keras' per-epoch lines are then off, and a line per finished system is
    printed instead.
    """
    from kerasgene._io import write_json
    from kerasgene.simulate import simulate
    from kerasgene.train.launcher import stopped_on_signal
    from kerasgene.train.runs import timed_phase

    wall, cpu = time.perf_counter(), time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_cpu = children.ru_utime + children.ru_stime
    out = Path(out)
    data, runs = out / "data", out / "runs"
    todo = list(names or demo_systems())
    for i, name in enumerate(todo):  # before any work
        if name not in demo_systems():
            raise ConfigError(f"demo: unknown system {name!r}; expected one of "
                              f"{', '.join(demo_systems())}")
        if name in todo[:i]:
            raise ConfigError(f"demo: system {name!r} given twice")
    truth_path = data / "truth.json"
    truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
    seconds: dict = {}
    if truth is None or (truth["generator"]["seed"], truth["generator"]["scale"]) != (seed, scale):
        with timed_phase(seconds, "simulate"):
            truth = simulate(data, seed=seed, scale=scale)
    summary = {"seed": seed, "scale": scale, "systems": {}, "seconds": seconds}
    if (out / "summary.json").exists():  # an earlier demo's, whose runs this one replaces
        log.info("demo: replacing %s of an earlier demo", out / "summary.json")
        (out / "summary.json").unlink()

    def finished(name: str, row: dict) -> None:
        done = {**summary["systems"], name: row}
        summary["systems"] = {n: done[n] for n in todo if n in done}
        write_json(out / "summary.json", summary)

    def one_by_one() -> int:
        for name in todo:
            log.info("demo: %s", name)
            finished(name, run_system(systems.get(name), data, runs, seed, truth["tasks"],
                                      [f"training.verbose={verbose}"]))
        return 0

    def after() -> str:
        done = list(summary["systems"])
        return (f"the systems that finished are in summary.json: {', '.join(done)}" if done
                else "no system had finished")

    if jobs > 1 and len(_entries(todo)) > 1:
        _run_systems_in_processes(todo, data, runs, seed, truth["tasks"], jobs, finished,
                                  after=after)
    else:
        stopped_on_signal(one_by_one, {}, "demo", after)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary["seconds"]["total"] = {
        "wall": round(time.perf_counter() - wall, 1),
        "cpu": round(time.process_time() - cpu + children.ru_utime + children.ru_stime
                     - children_cpu, 1)}
    write_json(out / "summary.json", summary)
    print(format_summary(summary))
    print(format_timings(summary))
    return summary
