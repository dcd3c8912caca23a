"""The data side: corpus readers (corpora), the benchmark's datasets (benchmark_info),
mixtures and their sizes (mixture_config, mixture_size), decontamination (decontam)
and the prompt formats training and inference share (prompts). Imports core and
metrics.
"""
