"""Scoring and comparing systems: predictions files (predictions), result files
(results), the paired bootstrap (bootstrap), comparisons (comparison), edit analyses
(gec_analysis) and copy shares (copy_share). Imports core, metrics, data, inference.
"""
