"""The Hub: repo ids and downloads (hub), mixture dataset cards (cards) and adapter
model cards (adapter_card). Imports core, data, inference.
"""
