"""What is measured on a Keras model: accuracy, MACs and parameters, the size floor."""
