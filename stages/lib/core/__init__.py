"""Foundations every other package may use: files written atomically and read with
one-line errors (io), typed params (params), and the word-level sameness test of
outputs and inputs (same_words). Imports nothing of stages.lib.
"""
