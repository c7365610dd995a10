"""The saved state of a run's modules (models, optimizers, schedulers) against the modules themselves: the
same keys, shapes and dtypes, finite values, hyperparameters in range, an optimizer's state of its own kind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from bridge.app.checkpoint_checks.basics import known, number, refused, shown

POSITIVE = ("lr", "initial_lr", "base_lrs", "_last_lr", "max_lr")  # learning rates: > 0
NON_NEGATIVE = ("eps", "weight_decay", "momentum", "dampening", "gamma", "last_epoch", "_step_count")


def check_module(saved: Any, module: Any, name: str, where: str) -> None:
    """A module's saved state against its state now: an optimizer's (:func:`check_optimizer`), else the same
    structure (keys, lengths, types), tensors of the same shape and dtype, finite, hyperparameters in range."""
    current = module.state_dict()
    at, where = f"'modules'[{name!r}]", f"{where}: the state of {name!r} does not fit this run's {name}"
    if isinstance(module, torch.optim.Optimizer):
        check_optimizer(saved, current, module, at, where)
    else:
        conforms(saved, current, at, where)


def conforms(saved: Any, current: Any, at: str, where: str) -> None:
    """``saved`` has the structure of ``current``: the same keys, lengths, types, tensor shapes and dtypes; its
    numbers and tensors are finite, its learning rates positive."""
    if isinstance(current, torch.Tensor):
        check_tensor(saved, tuple(current.shape), current.dtype, at, where)
    elif isinstance(current, Mapping):
        if not isinstance(saved, Mapping):
            raise refused(where, at, f"must be a dictionary, got {type(saved).__name__}")
        known(saved, current, at, where)
        for key, value in current.items():
            if key not in saved:
                raise refused(where, f"{at}[{key!r}]", "is missing")
            conforms(saved[key], value, f"{at}[{key!r}]", where)
            _in_range(key, saved[key], f"{at}[{key!r}]", where)
    elif isinstance(current, list | tuple):
        if not isinstance(saved, list | tuple) or len(saved) != len(current):
            raise refused(where, at, f"must be a list of {len(current)}, got {shown(saved)}")
        for index, (mine, theirs) in enumerate(zip(saved, current, strict=True)):
            conforms(mine, theirs, f"{at}[{index}]", where)
    elif isinstance(current, bool) or current is None or isinstance(current, str):
        if type(saved) is not type(current):
            raise refused(where, at, f"must be a {type(current).__name__}, got {shown(saved)}")
    elif isinstance(current, int | float):
        number(saved, at, where, integer=isinstance(current, int))
    elif type(saved) is not type(current):
        raise refused(where, at, f"must be a {type(current).__name__}, got {type(saved).__name__}")


def _in_range(key: Any, value: Any, at: str, where: str) -> None:
    """Hyperparameters a crafted checkpoint could turn against the run: learning rates > 0, ``eps``, weight
    decay, momentum and the like ≥ 0, Adam's betas in [0, 1)."""
    values = value if isinstance(value, list | tuple) else [value]
    values = [v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v for v in values]
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if key in POSITIVE and any(v <= 0 for v in numbers):
        raise refused(where, at, f"must be a positive learning rate, got {shown(value)}")
    if key in NON_NEGATIVE and any(v < 0 for v in numbers):
        raise refused(where, at, f"must be at least 0, got {shown(value)}")
    if key == "betas" and any(not 0 <= v < 1 for v in numbers):
        raise refused(where, at, f"must be in [0, 1), got {shown(value)}")


def check_tensor(value: Any, shape: tuple[int, ...] | None, dtype: torch.dtype | None, at: str, where: str) -> None:
    """A dense tensor of ``shape`` and ``dtype`` (``None``: any), every element finite. The shape is checked
    before any element is read: a crafted tensor can claim a vast shape over a one-element storage."""
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided:
        raise refused(where, at, f"must be a dense tensor, got {type(value).__name__}")
    if shape is not None and tuple(value.shape) != shape:
        raise refused(where, at, f"must have shape {shape} (this run's), got {tuple(value.shape)}")
    if dtype is not None and value.dtype != dtype:
        raise refused(where, at, f"must be {dtype} (this run's), got {value.dtype}")
    if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
        raise refused(where, at, "holds NaN or infinite values (the run diverged, or the file was altered)")


def check_optimizer(saved: Any, current: Mapping[str, Any], optimizer: Any, at: str, where: str) -> None:
    """An optimizer's state: ``param_groups`` as this optimizer's (the same parameters and switches such as
    ``amsgrad``, numeric hyperparameters in range), and per parameter either no state or the state this kind of
    optimizer keeps (:func:`_state_keys`): tensors of that parameter's shape and dtype (0-d ones finite), and a
    ``step`` that is a whole number ≥ 0 held in a 0-d real tensor."""
    if not isinstance(saved, Mapping) or set(saved) != {"state", "param_groups"}:
        raise refused(where, at, f"must be an optimizer's state ('state' and 'param_groups'), got {shown(saved)}")
    conforms(saved["param_groups"], current["param_groups"], f"{at}['param_groups']", where)
    parameters: dict[Any, tuple[torch.Tensor, set[str] | None]] = {}
    for index, (group, now) in enumerate(zip(saved["param_groups"], current["param_groups"], strict=True)):
        _same_switches(group, now, f"{at}['param_groups'][{index}]", where)
        expected = _state_keys(optimizer, index)
        params = optimizer.param_groups[index]["params"]
        parameters.update((key, (param, expected)) for key, param in zip(now["params"], params, strict=True))
    state = saved["state"]
    if not isinstance(state, Mapping):
        raise refused(where, f"{at}['state']", f"must be a dictionary, got {type(state).__name__}")
    for key, entry in state.items():
        if key not in parameters or not isinstance(entry, Mapping):
            raise refused(where, f"{at}['state'][{shown(key)}]", "is not the state of one of this run's parameters")
        param, expected = parameters[key]
        if entry and expected is not None and set(entry) != expected:
            got = ", ".join(sorted(map(shown, entry)))
            raise refused(where, f"{at}['state'][{key}]", f"must hold {', '.join(sorted(expected))}, got {got}")
        for name, value in entry.items():
            _check_parameter_state(name, value, param, f"{at}['state'][{key}][{shown(name)}]", where)


def _same_switches(group: Mapping[str, Any], now: Mapping[str, Any], at: str, where: str) -> None:
    """The settings of a parameter group that are the code's choice, not training state (``amsgrad``,
    ``foreach``, ``fused`` … : booleans, strings, ``None``), as this run's: its ``params``, the same indices."""
    for key, value in now.items():
        if key == "params" or isinstance(value, bool | str) or value is None:
            if not (type(group[key]) is type(value) and group[key] == value):
                raise refused(where, f"{at}[{key!r}]", f"must be {shown(value)} (this run's), got {shown(group[key])}")


def _state_keys(optimizer: Any, index: int) -> set[str] | None:
    """The keys of a parameter's state in param group ``index`` once this optimizer has stepped: learned from a
    probe (a one-element parameter, a zero gradient, one step of a new optimizer of this kind and settings).
    ``None`` where the probe cannot tell (an optimizer that needs a closure, say)."""
    group = optimizer.param_groups[index]
    probe = torch.zeros(1, dtype=group["params"][0].dtype, requires_grad=True)
    try:
        other = type(optimizer)([{**{k: v for k, v in group.items() if k != "params"}, "params": [probe]}])
        probe.grad = torch.zeros_like(probe)
        other.step()
    except Exception:  # any failure of the probe only means that it cannot tell
        return None
    return {str(k) for k in other.state[probe]}


def _check_parameter_state(name: Any, value: Any, parameter: torch.Tensor, at: str, where: str) -> None:
    if name == "step":
        whole = "must be a whole number ≥ 0 in a real 0-d tensor"
        if not isinstance(value, torch.Tensor) or value.dim() != 0 or value.is_complex() or value.dtype == torch.bool:
            raise refused(where, at, f"{whole}, got {shown(value)}")
        check_tensor(value, (), None, at, where)
        if value.item() < 0 or value.item() != int(value.item()):
            raise refused(where, at, f"{whole}, got {shown(value)}")
    elif isinstance(value, torch.Tensor) and value.dim() == 0:
        check_tensor(value, (), None, at, where)
    else:
        check_tensor(value, tuple(parameter.shape), parameter.dtype, at, where)
