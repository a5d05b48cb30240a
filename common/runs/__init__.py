"""Runs: the fold loop and its context, the run store, the second-split recheck, training and picking runs."""
