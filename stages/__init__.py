"""writing-alpaca: DVC stages and CLI for writing-assistant instruction tuning."""
