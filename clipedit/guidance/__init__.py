"""CLIP guidance: the guide loss, its augmentations and distances."""
from clipedit.guidance.augment import AUGMENTS, Augment, make_augment, resize_square
from clipedit.guidance.guide import CLIPGuide, GuideOutput, Prompt, clip_embed, preprocess
from clipedit.guidance.losses import LOSSES, negative_cosine, spherical_distance

__all__ = ["AUGMENTS", "Augment", "make_augment", "resize_square", "CLIPGuide", "GuideOutput", "Prompt",
           "clip_embed", "preprocess", "LOSSES", "negative_cosine", "spherical_distance"]
