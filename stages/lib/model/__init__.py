"""Loading models and checking model folders before transformers sees them (models,
model_dirs). Imports core.
"""
