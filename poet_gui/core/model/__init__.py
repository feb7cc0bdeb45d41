"""What is trained: the training graph (forward and backward nodes in stage order), its file format,
the built-in model zoo and the ONNX importer.

The first stage of the pipeline: it may import only :mod:`poet_gui.core.errors` and
:mod:`poet_gui.core.atomic`, so a graph can be built, read and written without any notion of a device
or a plan.
"""
