"""Stage 4, watching training: the callbacks that ride along ``GRPOTrainer``.

``aha_tracker`` adds the aha curves and sample texts to each training log (``AhaTracker``); ``writers``
holds where they go (the run's TensorBoard writer, W&B texts, the aha dashboard layout); ``console_log``
prints one line per logging step and keeps checkpoint saves quiet; ``health_checks`` holds the pure checks
for the signs of a dying run (all-equal groups, collapsing length, KL blow-up) and their thresholds;
``health_monitor`` runs them at each log and raises the alarms (``HealthMonitor``); ``reward_guard`` stops
a run whose reward raises or miscounts, after saving a checkpoint.
"""
