"""The workbench: train, prune, export. Needs TensorFlow; import it only from commands that need it.

Every module here gets TensorFlow through ``edgeprune.workbench.tf``, the one place that selects Keras 2.
"""
