"""The Qt-free planning engine: graphs, device profiles, costs, MILP, heuristics, simulator, files."""
