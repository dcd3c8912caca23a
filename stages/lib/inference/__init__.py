"""Generating outputs: the Decoding value (decoding) and its record (decoding_record),
the predict section (predict_config), the engines (engines; the continuous engine's
kv_batch, generation and beam_search; vllm_engine) and answer cleaning (answers).
Imports core, data, model.
"""
