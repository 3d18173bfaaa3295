"""The device side: what runs on a Raspberry Pi. numpy, Pillow and a TFLite runtime only.

Nothing in this package imports TensorFlow, except ``runtime`` falling back to ``tf.lite`` when it is the only
TFLite interpreter installed.
"""
