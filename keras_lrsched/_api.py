"""The one export decorator: a public schedule is registered for serialization here, once."""

import keras

PACKAGE = "keras_lrsched"


def export(cls):
    """Register `cls` as a Keras serializable under package `keras_lrsched`.

    Registration makes `.keras` files that hold a keras_lrsched schedule load without
    `custom_objects`, as long as `keras_lrsched` has been imported.
    """
    return keras.saving.register_keras_serializable(package=PACKAGE, name=cls.__name__)(cls)
