"""Stable Diffusion unlearning through the CLIP text encoder (SLUG, section 7 of the reference).

The text-to-image model is a diffusers ``StableDiffusionPipeline`` whose ``text_encoder`` is a
Hugging Face ``CLIPTextModel``; the SLUG edit is computed on the open_clip model and carried into
that encoder by :mod:`slug.clip.hf` (one code path for the demo and for SD 1.5 / 2.1).

The demo's model is small and runs in *pixel space*: a diffusers ``UNet2DConditionModel`` (32x32x3)
trained with a ``DDPMScheduler`` on images rendered by the demo world, conditioned on the demo
CLIP's text hidden states (frozen, as in SD), sampled with ``DDIMScheduler`` and classifier-free
guidance by ``StableDiffusionPipeline`` itself. Pixel space means there is no autoencoder: the
pipeline is called with ``output_type="latent"`` and its "latents" are the images; the VAE it
requires is a fixed placeholder whose only role is ``vae_scale_factor = 1`` (it is never run).

Generation evaluation: the demo CLIP (the *original*, unedited model) classifies each generated
image zero-shot within its subject's task: among the generator's identities (person prompts), objects
(object prompts), characters and identities (character prompts) or styles ("a {object} in {style}
style"); the recognition rate of a prompt set is the fraction classified as the prompted subject.

Modules: ``pipeline`` (models, schedulers, loading), ``subjects``, ``train`` (the demo UNet),
``generation`` (fixed-noise generation and its evaluator), ``grids`` (the report's images).
"""

from slug.diffusion.generation import (
    CHARACTER_PROMPTS,
    OBJECT_PROMPTS,
    PERSON_PROMPTS,
    STYLE_PROMPT,
    GenerationEvaluator,
    PromptSet,
    Recogniser,
    evaluation_prompts,
    fixed_noise,
    generate,
    prompt_templates,
    recognition_checks,
    recognition_metrics,
    retain_keys,
)
from slug.diffusion.grids import grid, grid_indices, save_grid_png
from slug.diffusion.pipeline import (
    PIPELINE_PARTS,
    check_pipeline_dir,
    demo_unet,
    load_pipeline,
    make_pipeline,
    open_sd,
    pixel_space,
    placeholder_vae,
    sample_scheduler,
    sd_candidates,
    sd_size,
    subjects_and_pipeline,
    train_scheduler,
)
from slug.diffusion.subjects import KINDS, Concepts, Subjects, choose_subjects, resolve_subjects
from slug.diffusion.train import encode_prompts, render_training_set, train_demo_unet

__all__ = [
    "CHARACTER_PROMPTS",
    "KINDS",
    "OBJECT_PROMPTS",
    "PERSON_PROMPTS",
    "STYLE_PROMPT",
    "Concepts",
    "PIPELINE_PARTS",
    "GenerationEvaluator",
    "PromptSet",
    "Recogniser",
    "Subjects",
    "check_pipeline_dir",
    "choose_subjects",
    "demo_unet",
    "encode_prompts",
    "evaluation_prompts",
    "fixed_noise",
    "generate",
    "grid",
    "grid_indices",
    "load_pipeline",
    "make_pipeline",
    "open_sd",
    "pixel_space",
    "placeholder_vae",
    "prompt_templates",
    "recognition_checks",
    "recognition_metrics",
    "render_training_set",
    "resolve_subjects",
    "retain_keys",
    "sample_scheduler",
    "save_grid_png",
    "sd_candidates",
    "sd_size",
    "subjects_and_pipeline",
    "train_demo_unet",
    "train_scheduler",
]
