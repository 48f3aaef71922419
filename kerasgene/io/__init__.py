"""Readers for the genomics files users have; the lowest layer of kerasgene.

============================  ==========================================================
module                        reads
============================  ==========================================================
:mod:`~kerasgene.io.genome`   FASTA (plain, gzip, bgzip) and 2bit genomes
:mod:`~kerasgene.io.tracks`   bigWig signal tracks (and the papers' transforms); bedGraph
                              and bigBed through :mod:`~kerasgene.io.track_formats`
:mod:`~kerasgene.io.annotation`  GTF, GFF3 (Ensembl, GENCODE, NCBI) and BED gene records;
                              peak files (BED3+, narrowPeak, broadPeak) as intervals
:mod:`~kerasgene.io.expression`  TPM tables, quantifiers' outputs, GCT, gene × condition
                              matrices
:mod:`~kerasgene.io.regulators`  DeepRAGE's regulator-state triplets and name lists
:mod:`~kerasgene.io.vcf`      VCF / BCF variants
:mod:`~kerasgene.io.chroms`   chromosome names: built-in aliases and alias tables
:mod:`~kerasgene.io.cache`    where files derived once from a user's file are kept
============================  ==========================================================

Every reader recognises its format from the file's content, reads chromosome names
through :mod:`~kerasgene.io.chroms`, and raises a one-line
:class:`~kerasgene.errors.KerasgeneError` naming the file (and line or field) on bad
input. Nothing here imports TensorFlow or another kerasgene layer.
"""
