"""Training: the train section (train_config), edit-weighted loss (edit_weights,
weighted_trainer) and the DVCLive log (training_log). Imports core, data, model.
"""
