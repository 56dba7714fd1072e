"""The optimisation loop shared by the demo's denoiser stages: lr schedule, v- and flow losses, EMA, checkpoint."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

from graphflow.demo.runlog import Budget, Progress, lr_factor, save_atomic
from graphflow.sampling.flow import snr_shift


class StepSettings(Protocol):
    """The optimisation settings a stage's config provides."""

    steps: int
    batch: int
    lr: float
    warmup: int
    clip: float
    ema_max: float
    final_lr_fraction: float


def v_prediction_loss(
    predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    latents: torch.Tensor,
    alphas: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """MSE between predict(noisy, t) and v for clean latents noised at uniformly drawn timesteps.

    Timesteps and noise come from the (CPU) generator, so a run draws the same ones on any device.
    """
    timesteps = torch.randint(0, len(alphas), (latents.shape[0],), generator=generator)
    noise = torch.randn(latents.shape, generator=generator).to(latents.device)
    abar = alphas[timesteps].to(latents.device)
    a = abar.sqrt().view(-1, 1, 1, 1)
    s = (1 - abar).sqrt().view(-1, 1, 1, 1)
    target = a * noise - s * latents  # v = sqrt(abar) * eps - sqrt(1 - abar) * x0
    return F.mse_loss(predict(a * latents + s * noise, timesteps.to(latents.device)), target)


def flow_matching_loss(
    predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    latents: torch.Tensor,
    generator: torch.Generator,
    shift: float = 1.0,
    logit_mean: float = 0.0,
    logit_std: float = 1.0,
) -> torch.Tensor:
    """MSE between predict(x_sigma, sigma) and v = noise - x0 on straight paths x_sigma = (1 - sigma) x0 + sigma noise.

    sigma is SD3's logit-normal draw (sigmoid of a normal) moved by SD3's shift; drawn from the CPU generator.
    """
    normal = torch.randn(latents.shape[0], generator=generator)
    sigma = snr_shift(shift, torch.sigmoid(logit_mean + logit_std * normal)).to(latents.device)
    noise = torch.randn(latents.shape, generator=generator).to(latents.device)
    s = sigma.view(-1, 1, 1, 1)
    return F.mse_loss(predict((1 - s) * latents + s * noise, sigma), noise - latents)


@torch.no_grad()
def update_ema(ema: dict[str, torch.Tensor], model: torch.nn.Module, decay: float) -> None:
    """Move the EMA weights towards the model's (integer buffers are copied)."""
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            ema[key].mul_(decay).add_(value, alpha=1 - decay)
        else:
            ema[key].copy_(value)


class Trainer:
    """One model's optimiser, EMA weights and step count, resumed from and saved to one checkpoint file.

    Optimiser parameter groups may carry an `lr_scale` that multiplies the scheduled learning rate.
    The model is moved to `device` in place, so an optimiser built over its parameters stays valid.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        checkpoint: Path,
        settings: StepSettings,
        stage: str,
        device: torch.device | str = "cpu",
    ) -> None:
        self.model, self.optimizer, self.checkpoint, self.settings, self.stage = (
            model.to(device),
            optimizer,
            checkpoint,
            settings,
            stage,
        )
        self.ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.step, self.seconds = 0, 0.0
        if checkpoint.exists():
            state = torch.load(checkpoint, weights_only=True, map_location=device)
            model.load_state_dict(state["model"])
            self.ema = state["ema"]
            optimizer.load_state_dict(state["optimizer"])
            self.step, self.seconds = int(state["step"]), float(state["seconds"])

    def save(self, seconds: float) -> None:
        """Write model, EMA, optimiser and progress atomically."""
        state = {
            "model": self.model.state_dict(),
            "ema": self.ema,
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "seconds": seconds,
        }
        save_atomic(state, self.checkpoint)

    def run(self, batch_loss: Callable[[int], torch.Tensor], budget: Budget) -> bool:
        """Optimise batch_loss(step) until all steps are done (True) or the budget runs out (False)."""
        s = self.settings
        progress = Progress(self.stage, s.steps, self.step, s.batch)
        began, seconds = time.monotonic(), self.seconds
        self.model.train()
        while self.step < s.steps and not budget.expired():
            factor = lr_factor(self.step, s.warmup, s.steps, s.final_lr_fraction)
            for group in self.optimizer.param_groups:
                group["lr"] = s.lr * factor * group.get("lr_scale", 1.0)
            loss = batch_loss(self.step)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.clip)
            self.optimizer.step()
            self.step += 1
            update_ema(self.ema, self.model, min(s.ema_max, (1 + self.step) / (10 + self.step)))
            progress.update(self.step, loss.item())
            if budget.checkpoint_due():
                self.save(seconds + time.monotonic() - began)
        self.save(seconds + time.monotonic() - began)
        return self.step >= s.steps
