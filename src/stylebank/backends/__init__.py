"""The inference backends behind one contract (``stylizer.Stylizer``): the PyTorch model (``pytorch``, also the
Python API's model object), ONNX Runtime (``onnx_runtime``, with ``export`` writing its files), the automatic
choice between them (``auto.load_stylizer``), and tiled stylizing for large photos (``tiling``). Nothing is imported
here, so that the ONNX Runtime path never imports PyTorch."""
