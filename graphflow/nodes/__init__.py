"""graphflow's built-in nodes; each module is a plugin registered through the same hook as any other."""
