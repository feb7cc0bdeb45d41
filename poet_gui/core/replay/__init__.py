"""A plan executed on the real model: the plan file's operation list run step by step with PyTorch
kernels (compute, recompute, page out to real files, page in, free), its gradients checked against
keep-all and ``torch.autograd``, its resident bytes against the simulator; and a device profile
calibrated from the same kernels and storage.

Optional (the ``[replay]`` extra): the only package that imports PyTorch, and only in the modules
that run kernels; ``command`` is the CLI's torch-free side. It sits beside ``sweep`` at the top of the
core and may import every earlier stage.
"""
