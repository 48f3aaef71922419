"""The ``export``, ``serve`` and ``predict`` subcommands of ``kerasgene``.

``register(subparsers)`` adds them to the CLI's parser; each handler takes the parsed
Namespace and returns the exit status. TensorFlow and gRPC are imported inside the
handlers, so building the parser stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from kerasgene._io import write_atomic, write_text
from kerasgene.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)

MiB = 1 << 20


def register(subparsers) -> None:
    """Add ``export``, ``serve`` and ``predict`` to an argparse subparsers object."""
    p = subparsers.add_parser(
        "export", help="write a trained model as a TF Serving SavedModel version",
        description="Write RUN (a complete run directory: its run.json completion record "
        "names the model; or a .keras file outside any run directory, e.g. a tuning "
        "best_model.keras) to BASE_DIR/NAME/<version>/ with a serving_default signature "
        "and assets/kerasgene.json. A run killed or failed during training (no run.json), "
        "a checkpoint.keras and temporary files are refused.")
    p.add_argument("--run", required=True, metavar="RUN_DIR",
                   help="complete run directory, or a .keras file outside a run directory")
    p.add_argument("--base-dir", required=True, metavar="DIR", help="model repository root")
    p.add_argument("--name", required=True, help="servable name, e.g. isegnet")
    p.add_argument("--version", type=int, default=None,
                   help="version number (default: one more than the largest)")
    p.add_argument("--metadata", metavar="JSON", default=None,
                   help="preprocessing constants (default: RUN_DIR/preprocessing.json if any)")
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser(
        "serve", help="TF-Serving-compatible gRPC server (development, tests)",
        description="Serve every model under --model-base-path (DIR/NAME/VERSION/), or those "
        "of --model-config-file, over TF Serving's gRPC API; new versions are picked up "
        "while running. SIGTERM stops it cleanly.")
    p.add_argument("--model-base-path", metavar="DIR", default=None,
                   help="model repository (one directory per model)")
    p.add_argument("--model-config-file", metavar="F", default=None,
                   help="ModelServerConfig text proto (serving/models.config); with "
                   "--model-base-path its base_paths are taken as DIR/<last part>")
    p.add_argument("--port", type=int, default=8500, help="gRPC port (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--poll-seconds", type=float, default=1.0,
                   help="look for new versions this often (0: never)")
    p.add_argument("--max-batch-size", type=int, default=1024,
                   help="largest batch in one request (INVALID_ARGUMENT beyond)")
    p.add_argument("--max-message-mb", type=int, default=256,
                   help="largest request/response in MiB (RESOURCE_EXHAUSTED beyond)")
    p.add_argument("--allow-empty", action="store_true",
                   help="start even when no model has a servable version yet (exports made "
                   "later are picked up); without it that is an error (exit 2)")
    p.add_argument("--max-workers", type=int, default=8, help="RPC worker threads")
    p.add_argument("--max-concurrent-rpcs", type=int, default=64,
                   help="calls in flight beyond which RESOURCE_EXHAUSTED is answered")
    p.add_argument("--load-threads", type=int, default=2,
                   help="model versions loaded concurrently")
    p.add_argument("--port-file", metavar="PATH", default=None,
                   help="write the bound port here once serving (useful with --port 0)")
    p.set_defaults(func=cmd_serve)

    p = subparsers.add_parser(
        "predict", help="predict genes through a served model, write a TSV",
        description="Build each gene's inputs from FASTA and bigWig files with the "
        "preprocessing constants of the served export, call the server, write one row per "
        "gene.")
    p.add_argument("--target", required=True, metavar="HOST:PORT", help="gRPC endpoint")
    p.add_argument("--model", required=True, help="servable name")
    p.add_argument("--genes", required=True, metavar="ANNOTATION_OR_LIST",
                   help="GTF, GFF3 or BED of the genes (told by content), or a file of gene "
                   "ids/names (one per line; needs --annotation), or comma-separated ids "
                   "(needs --annotation)")
    p.add_argument("--annotation", metavar="GTF", default=None,
                   help="GTF, GFF3 or BED where gene ids/names of a list are looked up")
    p.add_argument("--genome", metavar="FASTA", default=None,
                   help="genome: FASTA (plain, gzip, bgzip) or 2bit")
    p.add_argument("--chrom-aliases", metavar="TABLE", default=None,
                   help="chromosome alias table (UCSC chromAlias.txt or a user table) relating "
                        "the names of the genome, the tracks and the genes")
    p.add_argument("--track", action="append", default=[], metavar="NAME=BIGWIG",
                   help="a track of the epigenome input (repeat; names as exported)")
    p.add_argument("--out", required=True, metavar="TSV", help="output table")
    p.add_argument("--version", type=int, default=None, help="model version (default newest)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per RPC")
    p.add_argument("--batch-size", type=int, default=256, help="examples per request")
    p.set_defaults(func=cmd_predict)


# ----------------------------------------------------------------------------- export
def find_model(run: Path) -> tuple[Path, dict | None]:
    """``(model file, completion record or None)`` of ``--run``.

    A directory must be a complete run (:func:`kerasgene.train.runs.check_run`); its record
    names the model. A file must be a ``.keras`` model that is neither a temporary, nor a
    ``checkpoint.keras``, nor inside a run directory (a folder with ``config.yaml`` or
    ``run.json``) other than as the recorded model of a complete run.

    Raises
    ------
    InputFileError
        one line naming the path and why it is refused.
    """
    from kerasgene._io import is_temporary
    from kerasgene.train.runs import RUN_RECORD, check_run

    if run.is_dir():
        record = check_run(run)
        return run / record["model"], record
    if not run.is_file():
        raise InputFileError(f"{run}: run directory or .keras file not found")
    if is_temporary(run):
        raise InputFileError(f"{run}: a temporary file (left by an interrupted save); export "
                             "a complete run directory")
    if run.name == "checkpoint.keras":
        raise InputFileError(f"{run}: the checkpoint of a fit in progress or interrupted, not "
                             "a trained model; export the run directory once training completes")
    if run.suffix != ".keras":
        raise InputFileError(f"{run}: expected a .keras model file or a run directory")
    folder = run.parent
    if (folder / RUN_RECORD).is_file() or (folder / "config.yaml").is_file():
        record = check_run(folder)
        if (folder / record["model"]).resolve() != run.resolve():
            raise InputFileError(f"{run}: not the model recorded in {folder / RUN_RECORD} "
                                 f"({record['model']})")
        return run, record
    return run, None


def _read_json(path: Path, what: str) -> dict:
    try:
        doc = json.loads(path.read_text())
    except OSError as err:
        raise InputFileError(f"{path}: cannot read {what} ({err.strerror})") from None
    except ValueError as err:
        raise InputFileError(f"{path}: {what} is not valid JSON ({err})") from None
    if not isinstance(doc, dict):
        raise InputFileError(f"{path}: {what} must be a JSON object")
    return doc


def cmd_export(args: argparse.Namespace) -> int:
    from kerasgene.models import load_model
    from kerasgene.serving.export import export

    run = Path(args.run)
    model_file, record = find_model(run)
    folder = model_file.parent
    if args.metadata is not None:
        metadata = _read_json(Path(args.metadata), "metadata")
    elif record is not None and (folder / "preprocessing.json").is_file():
        metadata = _read_json(folder / "preprocessing.json", "metadata")
    else:
        log.warning("%s: no preprocessing.json; exporting without preprocessing constants "
                    "(kerasgene predict will need them)", run)
        metadata = {}
    model = load_model(model_file)
    target = export(model, args.base_dir, args.name, args.version, metadata, run=record)
    print(f"exported {model_file} as {args.name} version {target.name}: {target}")
    return 0


# ----------------------------------------------------------------------------- serve
def cmd_serve(args: argparse.Namespace) -> int:
    from kerasgene.serving.server import Server, serve_forever

    if args.max_message_mb < 1 or args.max_message_mb > 2047:
        raise ConfigError(f"serve: --max-message-mb must be in [1, 2047] (got {args.max_message_mb})")
    server = Server(
        args.model_base_path,
        args.model_config_file,
        host=args.host,
        port=args.port,
        poll_seconds=args.poll_seconds,
        max_batch_size=args.max_batch_size,
        max_message_bytes=args.max_message_mb * MiB,
        max_workers=args.max_workers,
        max_concurrent_rpcs=args.max_concurrent_rpcs,
        load_threads=args.load_threads,
        allow_empty=args.allow_empty,
    )

    def ready(srv) -> None:
        if args.port_file:
            write_text(args.port_file, f"{srv.port}\n")
        print(f"kerasgene serve: listening on {args.host}:{srv.port}; models: "
              f"{', '.join(srv.repo.names()) or '(none yet)'}", flush=True)

    return serve_forever(server, on_ready=ready)


# ----------------------------------------------------------------------------- predict
def _read_genes(spec: str, annotation: str | None):
    """Genes of ``--genes``: an annotation file (GTF, GFF3 or BED, told by content), else
    a file of gene ids / names (one per line) or comma-separated ids looked up in
    ``--annotation`` (exact id, id without version, NCBI GeneID, or name)."""
    from kerasgene.io.annotation import read_genes, sniff_annotation

    if os.path.isfile(spec) and sniff_annotation(spec) is not None:
        return read_genes(spec)
    if os.path.isfile(spec):
        with open(spec, encoding="utf-8") as fh:
            wanted = [line.split()[0] for line in fh if line.strip() and not line.startswith("#")]
        source = spec
    else:
        wanted = [w for w in spec.split(",") if w]
        source = "--genes"
    if annotation is None:
        raise ConfigError(f"{source}: a list of gene ids needs --annotation GTF to find them")
    genes = read_genes(annotation)
    by_key = {}
    for g in genes:
        for key in (g.id, g.id.split(".")[0], *g.xrefs, g.name):
            by_key.setdefault(key, g)
    missing = [w for w in wanted if w not in by_key and w.split(".")[0] not in by_key]
    if missing:
        why = [f"{w} ({genes.skipped[w]})" if w in genes.skipped else w for w in missing[:5]]
        raise InputFileError(f"{source}: {len(missing)} gene(s) not in {annotation}: "
                             f"{', '.join(why)}{' ...' if len(missing) > 5 else ''}")
    return [by_key.get(w) or by_key[w.split(".")[0]] for w in wanted]


def write_predictions_tsv(path: str | os.PathLike, genes, outputs: dict) -> Path:
    """One row per gene: coordinates, then every output (``name`` for one column,
    ``name_0, name_1, ...`` for several); written to a temporary file and renamed."""
    import numpy as np
    import pandas as pd

    table = pd.DataFrame({
        "gene_id": [g.id for g in genes], "gene_name": [g.name for g in genes],
        "chrom": [g.chrom for g in genes], "start": [g.start for g in genes],
        "end": [g.end for g in genes], "strand": [g.strand for g in genes],
    })
    for name, values in outputs.items():
        values = np.asarray(values).reshape(len(genes), -1)
        if values.shape[1] == 1:
            table[name] = values[:, 0]
        else:
            for j in range(values.shape[1]):
                table[f"{name}_{j}"] = values[:, j]
    path = Path(path)
    try:
        write_atomic(path, lambda tmp: table.to_csv(tmp, sep="\t", index=False,
                                                      float_format="%.6g"))
    except OSError as err:
        raise InputFileError(f"{path}: cannot write predictions ({err.strerror})") from None
    return path


def cmd_predict(args: argparse.Namespace) -> int:
    from kerasgene.serving.client import Client

    genes = _read_genes(args.genes, args.annotation)
    tracks = {}
    for item in args.track:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--track {item!r}: expected NAME=BIGWIG")
        if name in tracks:
            raise ConfigError(f"--track {name!r} given twice")
        tracks[name] = path
    with Client(args.target, args.model, timeout=args.timeout, version=args.version,
                batch_size=args.batch_size) as client:
        outputs = client.predict_genes(genes, args.genome, tracks or None,
                                       chrom_aliases=args.chrom_aliases)
    path = write_predictions_tsv(args.out, genes, outputs)
    print(f"wrote predictions for {len(genes)} genes to {path}", file=sys.stderr)
    return 0
