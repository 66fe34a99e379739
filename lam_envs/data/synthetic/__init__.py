"""Embedded synthetic versions of the two tasks and the pretraining corpora, generated from a seed."""
