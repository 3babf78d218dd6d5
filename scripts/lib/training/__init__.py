"""Stage 3b, watching training: the callbacks that ride along ``GRPOTrainer``.

``tracking`` writes the aha curves and sample texts to TensorBoard and the console; ``health``
raises alarms on the signs of a dying run (all-equal groups, collapsing length, KL blow-up);
``reward_guard`` stops a run whose reward raises or miscounts, after saving a checkpoint.
"""
