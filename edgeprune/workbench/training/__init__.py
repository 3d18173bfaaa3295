"""Training: the architectures, the training loop, the tf.data input and BatchNorm re-estimation."""
