"""Stage 3a, the run's folder: what a training run owns on disk and how it survives a stop.

``run_control`` holds the output-dir lock, finds and resumes checkpoints, stops cleanly on a signal
or a full disk; ``run_files`` names and reads the files a run writes (run info, held-out scores,
health alarms); ``checkpoint_table`` reads them back into the table ``make checkpoints`` prints.
"""
