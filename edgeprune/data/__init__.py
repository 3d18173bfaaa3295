"""Datasets as folders of class folders. Pure Python + numpy + Pillow: no TensorFlow, usable on a device."""
