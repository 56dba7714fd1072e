"""Builders for the demo model's parts, all standard diffusers / transformers classes."""

from __future__ import annotations

from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from graphflow.demo.config import DemoConfig

BETA_START, BETA_END, BETA_SCHEDULE, TRAIN_TIMESTEPS = 0.00085, 0.012, "scaled_linear", 1000


def build_vae(config: DemoConfig, scaling_factor: float = 1.0) -> AutoencoderKL:
    """A KL autoencoder that shrinks the image 2**(len(channels)-1) times."""
    n = len(config.vae.channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=config.vae.channels,
        layers_per_block=1,
        latent_channels=config.vae.latent_channels,
        norm_num_groups=config.vae.groups,
        sample_size=config.image_size,
        scaling_factor=scaling_factor,
    )


def build_unet(config: DemoConfig) -> UNet2DConditionModel:
    """A UNet with cross-attention at the levels from `attention_from` down and in the middle block."""
    attends = [level >= config.unet.attention_from for level in range(len(config.unet.channels))]
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attends)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attends))
    return UNet2DConditionModel(
        sample_size=config.latent_size,
        in_channels=config.vae.latent_channels,
        out_channels=config.vae.latent_channels,
        down_block_types=down,
        up_block_types=up,
        block_out_channels=config.unet.channels,
        layers_per_block=config.unet.layers,
        cross_attention_dim=config.text.width,
        attention_head_dim=config.unet.heads,  # diffusers' legacy name: this is the number of heads
        norm_num_groups=config.unet.groups,
    )


def build_text_encoder(config: DemoConfig, tokenizer: CLIPTokenizer) -> CLIPTextModel:
    """A small CLIP text transformer over the tokenizer's vocabulary."""
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=config.text.width,
            intermediate_size=config.text.width * 4,
            num_hidden_layers=config.text.layers,
            num_attention_heads=config.text.heads,
            max_position_embeddings=tokenizer.model_max_length,
            projection_dim=config.text.width,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )


def build_scheduler(spacing: str = "trailing") -> EulerDiscreteScheduler:
    """The Euler scheduler the pipeline ships with (v-prediction, SD's scaled-linear betas)."""
    return EulerDiscreteScheduler(
        num_train_timesteps=TRAIN_TIMESTEPS,
        beta_start=BETA_START,
        beta_end=BETA_END,
        beta_schedule=BETA_SCHEDULE,
        prediction_type="v_prediction",
        timestep_spacing=spacing,
        steps_offset=1,
    )
