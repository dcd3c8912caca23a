"""The pieces the stages share, in packages by concept, bottom-up: core; metrics; data
and model; inference and training; evaluation; publishing and plan. A package imports
only from packages below it (tests/test_layout.py); each package's docstring says what
it owns.
"""
