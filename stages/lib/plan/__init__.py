"""What a run builds and what it will cost before it runs: the default build and the
grid (grid), the per-system plan (plan_model, plan_render) and training memory
(memory_estimate). The top package: imports any below.
"""
