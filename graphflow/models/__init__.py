"""Model files: folder layout (paths), safe weight reading (files), family detection (detect),
layout conversion (convert), loading into MODEL/CLIP/VAE values (loader, cache, device, vae)
and tiny test models (tiny). Submodules are imported on demand: diffusers is heavy."""
