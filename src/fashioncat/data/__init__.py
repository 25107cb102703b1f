"""The data half: read, fetch, crop, balance and split datasets. Never imports TensorFlow."""
