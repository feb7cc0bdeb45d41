"""What goes to disk: plan files (versioned JSON, re-checked by the simulator when read), workspaces
(a whole session) and the operation list as CSV; all written atomically.

May import every earlier stage (model, device, schedule, solve): reading a plan file re-plans nothing
but re-checks it, and a workspace names its solver options.
"""
