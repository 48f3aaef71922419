"""``kerasgene export | serve | predict``: a trained run to TF Serving and back.

Each handler turns its arguments into one library call
(:func:`kerasgene.serving.exporter.export_run`, :class:`kerasgene.serving.server.Server`,
:meth:`kerasgene.serving.client.Client.predict_genes`); TensorFlow and gRPC are
imported inside the handlers, so building the parser stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from kerasgene._io import check_output_file, write_text
from kerasgene.cli._common import name_value_pairs
from kerasgene.errors import ConfigError
from kerasgene.serving.protocol import MiB

log = logging.getLogger(__name__)


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
def cmd_export(args: argparse.Namespace) -> int:
    from kerasgene.serving.exporter import export_run

    target = export_run(args.run, args.base_dir, args.name, args.version, args.metadata)
    print(f"exported {args.run} as {args.name} version {target.name}: {target}")
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
#: names of --genes that are meant as a file, not as comma-separated ids
_FILE_SUFFIXES = (".gtf", ".gff", ".gff3", ".bed", ".gz", ".bgz", ".txt", ".tsv", ".csv",
                  ".list", ".ids")


def _check_genes_arg(spec: str) -> None:
    """Refuse a --genes file that does not exist (it would be read as a gene id) or that
    holds no record or id (only blank and comment lines)."""
    from kerasgene._io import open_text
    from kerasgene.errors import InputFileError

    if not os.path.exists(spec):
        if os.sep in spec or spec.lower().endswith(_FILE_SUFFIXES):
            raise InputFileError(f"--genes {spec}: file not found (expected a GTF, GFF3 or BED "
                                 "file, a file of gene ids, or comma-separated ids)")
        return
    if not os.path.isfile(spec):
        raise InputFileError(f"--genes {spec}: expected a file, found a directory")
    try:
        with open_text(spec) as fh:
            if any(line.strip() and not line.startswith(("#", "track", "browser"))
                   for line in fh):
                return
    except (OSError, EOFError, UnicodeDecodeError):
        return  # the readers report a broken file with its line
    raise InputFileError(f"--genes {spec}: no gene in the file (only blank or comment lines); "
                         "expected GTF, GFF3 or BED records, or gene ids one per line")


def _input_files(args: argparse.Namespace, tracks: dict[str, str]) -> dict[str, str | None]:
    """``{what: path}`` of every input file ``predict`` reads (``--genes`` when it is a
    file), for :func:`kerasgene._io.check_output_file`."""
    return {"--genes file": args.genes, "--annotation file": args.annotation,
            "--genome file": args.genome, "--chrom-aliases table": args.chrom_aliases,
            **{f"--track {name} file": path for name, path in tracks.items()}}


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from kerasgene.io.annotation import select_genes
    from kerasgene.serving.client import Client, write_predictions

    tracks = name_value_pairs(args.track, "--track", "NAME=BIGWIG")
    check_output_file(args.out, _input_files(args, tracks))  # before any input is read
    _check_genes_arg(args.genes)
    with Client(args.target, args.model, timeout=args.timeout, version=args.version,
                batch_size=args.batch_size) as client:  # checks the options; connects later
        genes = select_genes(args.genes, args.annotation)
        if not genes:
            raise ConfigError(f"--genes {args.genes}: no gene named; expected at least one")
        outputs = client.predict_genes(genes, args.genome, tracks or None,
                                       chrom_aliases=args.chrom_aliases)
    path = write_predictions(args.out, genes, outputs)
    first = np.asarray(next(iter(outputs.values()))).reshape(len(genes), -1)
    missing = int(np.isnan(first.astype(np.float64)).all(axis=1).sum())
    note = f" ({missing} not predicted: empty cells, see the warning)" if missing else ""
    skipped = len(getattr(genes, "skipped", {}))  # an annotation file's genes its reader skipped
    if skipped:
        note += (f"; {skipped} more genes of {args.genes} were skipped by its reader (no strand, "
                 "several loci, ...: see the warnings) and have no row")
    print(f"wrote predictions for {len(genes) - missing} of {len(genes)} genes to {path}{note}",
          file=sys.stderr)
    return 0
