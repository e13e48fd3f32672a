"""Text to image with a latent (Stable Diffusion) model: generation step by step, comparisons, and its views.

- :mod:`.generate` — settings, guidance and prompt comparisons, SDEdit, the lockstep generation loop
- :mod:`.views` — what the panel and the exports show: previews, channels, histograms, guidance, decodes

The model and its parts (prompt encoder, VAE, linear preview) come from :mod:`core.model_sources.latent`.
Importing this package imports nothing heavy.
"""
