"""The ground floor: what every stage needs to talk to the person and to its sibling processes.

``console`` prints one line per event (rank 0 only, above tqdm's bar); ``distributed`` knows the
rank, the world size and how to end a process group. Nothing here knows about recipes, models or
rewards, so any module above may import it.
"""
