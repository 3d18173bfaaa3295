"""The only place edgeprune imports TensorFlow.

tfmot works only with Keras 2, so TF_USE_LEGACY_KERAS=1 must be set before TensorFlow is first imported;
then ``tf.keras`` is ``tf_keras`` and both the converter and tfmot see the same Keras.
"""
import contextlib
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def quiet_native_stderr():
    """TensorFlow's C++ start-up lines (oneDNN, CUDA probing) go to fd 2 before any log level applies."""
    if os.environ.get("EDGEPRUNE_TF_VERBOSE"):
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


try:
    with quiet_native_stderr():
        import tensorflow as tf  # noqa: E402
        import tf_keras as keras  # noqa: E402

        tf.config.list_physical_devices()  # probes CUDA now, while stderr is quiet
except ImportError as exc:
    from ..errors import UserError

    raise UserError(f"this command needs the workbench ({exc.name or 'tensorflow'} is not installed): "
                    "pip install 'edgeprune[train]'; a device needs only `edgeprune bench`") from None

tf.get_logger().setLevel("ERROR")


def tfmot():
    """tensorflow-model-optimization, imported on first use (it is slow to import)."""
    import tensorflow_model_optimization as mot

    return mot


__all__ = ["tf", "keras", "tfmot", "quiet_native_stderr"]
