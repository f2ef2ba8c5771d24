"""Accuracy studies on the synthetic benchmark, calling the typed APIs
(cpstn_min.training.main(Config), cpstn_min.evaluation.evaluate(EvalConfig)).

ablation.py      the README's results table: which part of CP-STN adds what, over seeds and splits
pace_signal.py   is the pace label learnable? simple motion statistics and a pace-only training
tables.py        writing results: table cells, the README table, JSON, the command that made them
"""
