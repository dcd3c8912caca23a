"""Metrics that reproduce the official scorers exactly (docs/metrics.md), scale 0-100.

Modules (import the one you need; ERRANT pulls in spaCy lazily):
    sari           corpus_sari / sentence_sari          (EASSE defaults)
    gleu           corpus_gleu / sentence_gleu          (JFLEG gleu.py)
    m2             corpus_m2 / sentence_m2 / parse_m2   (nusnlp m2scorer)
    errant_scorer  corpus_errant / errant_breakdown / extract_edits  (errant 3.0.2)
    m2format       the shared M2 parser (M2Block, M2Edit, M2FormatError)
    ids            the metric ids (the one list), what each headlines, its card name
    registry       every benchmark metric behind one interface (Metric, Inputs) and the
                   one table of them by id (METRICS, get_metric): what evaluate, the
                   bootstrap and `writing-alpaca score` dispatch through

Nothing is imported here: importing one metric must not run another's code (normalize
uses m2format alone, and tests/test_dvc_deps.py counts a package __init__ with code as
a dependency of every stage that imports a module below it).
"""
