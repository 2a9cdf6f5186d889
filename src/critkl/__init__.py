"""Prioritized-KL RL fine-tuning on critical tokens."""
