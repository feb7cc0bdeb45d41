"""The Qt-free planning engine, one package per pipeline stage, each importing only those before it:

``model`` (what is trained) → ``device`` (what it runs on, what each step costs) → ``schedule`` (a
problem, a plan, the independent simulator) → ``solve`` (how a plan is found) → ``files`` (what goes to
disk) → ``sweep`` (many problems at once) and ``replay`` (a plan run on the real model, with PyTorch:
optional). ``errors`` and ``atomic`` sit below them all. The order is an
import-linter layers contract in ``pyproject.toml``, checked by the test suite.
"""
