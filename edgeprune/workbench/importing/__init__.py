"""Importing models trained elsewhere: tf.keras .keras/.h5 files and Keras 3 .keras files, checked like every
untrusted file, rebuilt as tf_keras models with the preprocessing folded in, and written as a run."""
