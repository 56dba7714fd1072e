"""Device choice: CPU fp32 without accelerators, clear error when CUDA is asked for but absent."""

import pytest
import torch

from graphflow.models.device import DeviceUnavailableError, pick_device


def test_cpu_uses_float32() -> None:
    assert pick_device("cpu") == (torch.device("cpu"), torch.float32)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
def test_cuda_requested_but_absent_is_a_clear_error() -> None:
    with pytest.raises(DeviceUnavailableError, match="'cuda' was requested but no CUDA GPU"):
        pick_device("cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
def test_auto_falls_back_to_cpu_float32_without_accelerators() -> None:
    if torch.backends.mps.is_available():
        pytest.skip("MPS is present here")
    assert pick_device("auto") == (torch.device("cpu"), torch.float32)


def test_unknown_preference_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown device preference 'tpu'"):
        pick_device("tpu")
