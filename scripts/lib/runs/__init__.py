"""Stage 5, the run's folder: what a training run owns on disk and how it survives a stop.

``output_lock`` holds the one-run-per-``output_dir`` lock; ``resume`` finds complete checkpoints,
checks them and resolves ``resume``; ``resume_logs`` keeps the JSON-lines logs one history
across resumes (no step twice); ``stopping`` stops cleanly on a signal, an error or a dead rank, at a
checkpoint (``GracefulStop``, the stop report); ``disk`` turns a full disk into one line; ``run_files`` names and
reads the files a run writes (run info, held-out scores, health alarms); ``checkpoint_table`` reads them
back into the table ``make checkpoints`` prints.
"""
