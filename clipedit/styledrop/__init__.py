"""StyleDrop (Sohn et al. 2023) on clipedit's masked generative backbone: adapters tuned on ONE style image
(:mod:`~clipedit.styledrop.train`), two-scale guidance (:mod:`~clipedit.styledrop.guidance`), sampling
(:mod:`~clipedit.styledrop.sample`) and round 2, iterative training with feedback (:mod:`~clipedit.styledrop.feedback`).
"""
from clipedit.styledrop.feedback import Feedback, collect_feedback, retrain_with_feedback, score_candidates, select_top
from clipedit.styledrop.guidance import DEFAULT_LAMBDA_A, DEFAULT_LAMBDA_B, two_scale, two_scale_logits_fn
from clipedit.styledrop.sample import StyledSamples, sample_style
from clipedit.styledrop.train import PAPER, StyleDropSettings, TrainedStyle, load_style, style_prompt, train_style

__all__ = ["DEFAULT_LAMBDA_A", "DEFAULT_LAMBDA_B", "Feedback", "PAPER", "StyleDropSettings", "StyledSamples",
           "TrainedStyle", "collect_feedback", "load_style", "retrain_with_feedback", "sample_style",
           "score_candidates", "select_top", "style_prompt", "train_style", "two_scale", "two_scale_logits_fn"]
