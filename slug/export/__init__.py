"""Unlearned models people can use: safetensors files with their provenance (``formats``), CLIP
exports (``clip``), Hugging Face / diffusers folders for Stable Diffusion (``diffusion``) and model
cards (``card``). ``slug.cli`` is the command line over them (``slug apply``, ``slug inspect``,
``slug list``)."""
