"""LLaVA-style models: the demo VLM built from a config (no download), its tokenizer, LLaVA's prompt, the
frozen tower's features, and greedy answers.

The demo VLM is a ``transformers.LlavaForConditionalGeneration`` whose vision tower is the demo CLIP's,
converted (:func:`slug.vlm.hf.convert_vision_tower`), with LLaVA's two-layer GELU projector and a small
Llama-style language model; its tokenizer is a word-level ``tokenizers`` model over the world's
questions and answers (a real LLaVA has Llama's SentencePiece tokenizer). It reads the penultimate
vision layer and drops the class token (``vision_feature_layer = -2``, ``vision_feature_select_strategy
= "default"``), as LLaVA-1.5 does. Images enter as the open_clip model's preprocessed tensors: for
LLaVA-1.5 these equal its ``CLIPImageProcessor``'s (resize the short side, centre crop 336, CLIP's mean
and std; the original LLaVA-1.5 code pads images to a square first, llava-hf's processor does not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

#: LLaVA-1.5's conversation format (``llava-hf`` model cards).
PROMPT = "USER: <image>\n{question} ASSISTANT:"
IMAGE_TOKEN = "<image>"
SPECIAL = ("<pad>", "<s>", "</s>", "<unk>", IMAGE_TOKEN)


def build_tokenizer(texts: Sequence[str]):
    """A word-level ``PreTrainedTokenizerFast`` over the words of ``texts`` (whitespace and punctuation
    split), with LLaVA's ``<image>`` token; built offline, saved with ``save_pretrained``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    split = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    words = sorted({w for t in texts for w, _ in split.pre_tokenize_str(t.replace(IMAGE_TOKEN, " "))})
    vocab = {tok: i for i, tok in enumerate([*SPECIAL, *[w for w in words if w not in SPECIAL]])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = split
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", extra_special_tokens={"image_token": IMAGE_TOKEN})
    fast.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    return fast


def image_token_id(tokenizer) -> int:
    return int(tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))


def demo_llava(vision_tower: torch.nn.Module, tokenizer, hidden_size: int = 128, layers: int = 2, heads: int = 4,
               intermediate_size: int = 384, seed: int = 0):
    """A ``LlavaForConditionalGeneration`` with ``vision_tower`` (a ``CLIPVisionModel``) as its tower, a
    fresh projector and a fresh Llama-style language model of the given size."""
    from transformers import LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vc = vision_tower.config
    n_patches = (vc.image_size // vc.patch_size) ** 2
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=intermediate_size,
                       num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                       max_position_embeddings=max(128, 2 * n_patches + 64), pad_token_id=tokenizer.pad_token_id,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
    cfg = LlavaConfig(vision_config=vc.to_dict(), text_config=text.to_dict(), image_token_index=image_token_id(tokenizer),
                      vision_feature_layer=-2, vision_feature_select_strategy="default", projector_hidden_act="gelu",
                      image_seq_length=n_patches, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg)
    model.model.vision_tower.load_state_dict(vision_tower.state_dict())
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model.eval()


def tower(model) -> torch.nn.Module:
    """The VLM's ``CLIPVisionModel``."""
    return model.model.vision_tower


def n_image_tokens(model) -> int:
    """Image tokens per image: the tower's patches (the class token is dropped, strategy "default")."""
    vc = model.config.vision_config
    n = (vc.image_size // vc.patch_size) ** 2
    return n if model.config.vision_feature_select_strategy == "default" else n + 1


def prompt_ids(tokenizer, question: str, n_tokens: int) -> list[int]:
    """LLaVA's prompt with ``<image>`` expanded to ``n_tokens`` image tokens (as ``LlavaProcessor`` does)."""
    text = PROMPT.format(question=question).replace(IMAGE_TOKEN, IMAGE_TOKEN * n_tokens)
    return [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]


@torch.no_grad()
def tower_features(model, pixels: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """What the projector reads: ``hidden_states[vision_feature_layer]`` without the class token ([N, patches, width])."""
    t, fl = tower(model), model.config.vision_feature_layer
    dev = next(t.parameters()).device
    dtype = next(t.parameters()).dtype
    out = []
    for i in range(0, len(pixels), batch_size):
        hs = t(pixels[i:i + batch_size].to(dev).to(dtype), output_hidden_states=True).hidden_states[fl]
        out.append((hs[:, 1:] if model.config.vision_feature_select_strategy == "default" else hs).float().cpu())
    return torch.cat(out) if out else torch.empty(0)


def embed_with_features(model, input_ids: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """The language model's input embeddings with the image tokens replaced by the projected features
    (LlavaModel's merge, for features computed once)."""
    emb = model.get_input_embeddings()(input_ids)
    img = model.model.multi_modal_projector(features.to(emb.device, emb.dtype))
    mask = input_ids == model.config.image_token_index
    if int(mask.sum()) != img.shape[0] * img.shape[1]:
        raise ValueError(f"{int(mask.sum())} image tokens in the prompts for {img.shape[0]} x {img.shape[1]} features")
    return emb.masked_scatter(mask.unsqueeze(-1), img.reshape(-1, img.shape[-1]))


@torch.no_grad()
def answer(model, tokenizer, pixels: torch.Tensor, question: str, max_new_tokens: int = 16,
           batch_size: int = 64, features: torch.Tensor | None = None) -> list[str]:
    """Greedy answers of the VLM to one question about each image (LLaVA's prompt, ``max_new_tokens`` new
    tokens, as the reference's lmms-eval tasks). With ``features`` (from :func:`tower_features`) the
    tower is not run again."""
    ids = prompt_ids(tokenizer, question, n_image_tokens(model))
    dev = next(model.parameters()).device
    out: list[str] = []
    n = len(pixels) if features is None else len(features)
    for i in range(0, n, batch_size):
        m = min(batch_size, n - i)
        input_ids = torch.tensor([ids] * m, device=dev)
        mask = torch.ones_like(input_ids)
        if features is None:
            gen = model.generate(input_ids=input_ids, attention_mask=mask,
                                 pixel_values=pixels[i:i + m].to(dev).to(next(tower(model).parameters()).dtype),
                                 max_new_tokens=max_new_tokens, do_sample=False)
            new = gen[:, input_ids.shape[1]:]
        else:
            emb = embed_with_features(model, input_ids, features[i:i + m])
            new = model.generate(inputs_embeds=emb, attention_mask=mask, max_new_tokens=max_new_tokens,
                                 do_sample=False)
        out += [s.strip() for s in tokenizer.batch_decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=True)]
    return out


def save_vlm(model, tokenizer, path: str | Path) -> None:
    """``save_pretrained`` of the model and its tokenizer into a folder that appears complete or not at all."""
    from slug.io import atomic_dir

    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


def load_vlm(path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """A LLaVA folder (the demo's, or a local copy of ``llava-hf/llava-1.5-7b-hf``) and its tokenizer, offline."""
    from transformers import AutoTokenizer, LlavaForConditionalGeneration

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a LLaVA folder (no config.json): for the paper setting download it "
                                "first (`huggingface-cli download llava-hf/llava-1.5-7b-hf --local-dir <vlm.model_dir>`) "
                                "and set vlm.model_dir")
    model = LlavaForConditionalGeneration.from_pretrained(path, dtype=dtype, local_files_only=True).to(device).eval()
    return model, AutoTokenizer.from_pretrained(path, local_files_only=True)
