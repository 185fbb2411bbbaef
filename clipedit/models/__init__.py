"""CLIP models: ``load_clip(name)`` for OpenAI CLIP, open_clip, checkpoints and the offline guide."""
from clipedit.models.openai_clip import (CLIP_MEAN, CLIP_STD, KNOWN_CONFIGS, ClipConfig, ClipModel, build_clip,
                                         clip_from_state_dict, infer_config)
from clipedit.models.registry import ModelSpec, get_spec, list_models, load_clip, read_state_dict, register_model
from clipedit.weights import ModelUnavailableError

__all__ = ["CLIP_MEAN", "CLIP_STD", "KNOWN_CONFIGS", "ClipConfig", "ClipModel", "build_clip", "clip_from_state_dict",
           "infer_config", "ModelSpec", "ModelUnavailableError", "get_spec", "list_models", "load_clip",
           "read_state_dict", "register_model"]
