"""The study as one command: sweeps over pruning methods and values, and reports that compare like with like.

Reading results (report) needs no TensorFlow, so bench JSON brought back from a device is read anywhere.
"""
