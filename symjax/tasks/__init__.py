"""The study's three tasks as importable functions; experiments/taskN.py only parse flags and call them."""
