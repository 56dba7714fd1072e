"""Diffusion sampling maths: latents, conditioning, model sampling, denoisers, schedules, samplers.

Pure torch; nothing here imports the engine (graphflow.api and friends).
"""
