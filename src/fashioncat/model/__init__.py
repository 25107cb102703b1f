"""The model half: input pipelines, architectures, training, tuning, transfer and evaluation."""
