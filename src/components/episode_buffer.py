"""Episode storage: `EpisodeBatch` (a batch of whole episodes) and the episode replay buffers.

Transition fields are stored as `[batch, time, *vshape]`, or `[batch, time, n_agents, *vshape]` for
fields whose scheme entry has `group: "agents"`; `episode_const` fields drop the time axis. The reserved
field `filled` (`[batch, time, 1]`) marks valid steps: episodes shorter than `max_seq_length` are padded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from components.transforms import Transform

Preprocess = dict[str, tuple[str, list[Transform]]]


class EpisodeBatch:
    def __init__(
        self,
        scheme: dict[str, dict[str, Any]],
        groups: dict[str, int],
        batch_size: int,
        max_seq_length: int,
        data: dict[str, dict[str, torch.Tensor]] | None = None,
        preprocess: Preprocess | None = None,
        device: str | torch.device = "cpu",
    ):
        self.scheme = scheme.copy()
        self.groups = groups
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.preprocess = {} if preprocess is None else preprocess
        self.device = device
        if data is not None:
            self.transition_data = data["transition_data"]
            self.episode_data = data["episode_data"]
        else:
            self.transition_data = {}
            self.episode_data = {}
            self._setup_data(self.scheme, self.groups, batch_size, max_seq_length, self.preprocess)

    def _setup_data(self, scheme, groups, batch_size, max_seq_length, preprocess) -> None:
        for key, (new_key, transforms) in preprocess.items():
            if key not in scheme:
                raise KeyError(f"preprocess names field '{key}', which is not in the scheme {sorted(scheme)}")
            vshape = scheme[key]["vshape"]
            vshape = (vshape,) if isinstance(vshape, int) else tuple(vshape)
            dtype = scheme[key].get("dtype", torch.float32)
            for transform in transforms:
                vshape, dtype = transform.infer_output_info(vshape, dtype)
            self.scheme[new_key] = {"vshape": vshape, "dtype": dtype}
            for opt in ("group", "episode_const"):
                if opt in scheme[key]:
                    self.scheme[new_key][opt] = scheme[key][opt]
        if "filled" in scheme:
            raise KeyError("'filled' is a reserved key of EpisodeBatch and may not appear in a scheme")
        self.scheme["filled"] = {"vshape": (1,), "dtype": torch.long}
        for field, info in self.scheme.items():
            vshape = info["vshape"]
            vshape = (vshape,) if isinstance(vshape, int) else tuple(vshape)
            dtype = info.get("dtype", torch.float32)
            shape = (groups[info["group"]], *vshape) if "group" in info else vshape
            if info.get("episode_const", False):
                self.episode_data[field] = torch.zeros((batch_size, *shape), dtype=dtype, device=self.device)
            else:
                self.transition_data[field] = torch.zeros(
                    (batch_size, max_seq_length, *shape), dtype=dtype, device=self.device
                )

    def to(self, device: str | torch.device) -> EpisodeBatch:
        for store in (self.transition_data, self.episode_data):
            for k, v in store.items():
                store[k] = v.to(device)
        self.device = device
        return self

    def update(self, data: dict[str, Any], bs: Any = slice(None), ts: Any = slice(None), mark_filled: bool = True) -> None:
        """Write `data[field]` into the slots `[bs, ts]` (in place), applying any preprocess transform."""
        slices = self._parse_slices((bs, ts))
        for k, v in data.items():
            if k in self.transition_data:
                target = self.transition_data
                if mark_filled:
                    target["filled"][slices] = 1
                    mark_filled = False
                _slices = slices
            elif k in self.episode_data:
                target = self.episode_data
                _slices = slices[0]
            else:
                raise KeyError(f"'{k}' is not a field of this EpisodeBatch (fields: {sorted(self.scheme)})")
            dtype = self.scheme[k].get("dtype", torch.float32)
            if isinstance(v, torch.Tensor):
                v = v.to(device=self.device, dtype=dtype)
            else:
                v = torch.as_tensor(np.asarray(v), dtype=dtype, device=self.device)
            dest_shape = target[k][_slices].shape
            if v.numel() != int(np.prod(dest_shape)):
                raise ValueError(f"cannot write '{k}' of shape {tuple(v.shape)} into slots of shape {tuple(dest_shape)}")
            target[k][_slices] = v.reshape(dest_shape)
            if k in self.preprocess:
                new_k, transforms = self.preprocess[k]
                v = target[k][_slices]
                for transform in transforms:
                    v = transform.transform(v)
                target[new_k][_slices] = v.view(target[new_k][_slices].shape)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, str):
            if item in self.episode_data:
                return self.episode_data[item]
            if item in self.transition_data:
                return self.transition_data[item]
            raise KeyError(f"'{item}' is not a field of this EpisodeBatch (fields: {sorted(self.scheme)})")
        if isinstance(item, tuple) and all(isinstance(it, str) for it in item):
            new_data = {"transition_data": {}, "episode_data": {}}
            for key in item:
                if key in self.transition_data:
                    new_data["transition_data"][key] = self.transition_data[key]
                elif key in self.episode_data:
                    new_data["episode_data"][key] = self.episode_data[key]
                else:
                    raise KeyError(f"'{key}' is not a field of this EpisodeBatch")
            new_scheme = {key: self.scheme[key] for key in item}
            new_groups = {self.scheme[key]["group"]: self.groups[self.scheme[key]["group"]] for key in item if "group" in self.scheme[key]}
            return EpisodeBatch(new_scheme, new_groups, self.batch_size, self.max_seq_length, data=new_data, device=self.device)
        bs_slice, ts_slice = self._parse_slices(item)
        new_data = {
            "transition_data": {k: v[bs_slice, ts_slice] for k, v in self.transition_data.items()},
            "episode_data": {k: v[bs_slice] for k, v in self.episode_data.items()},
        }
        ret_bs = self._get_num_items(bs_slice, self.batch_size)
        ret_max_t = self._get_num_items(ts_slice, self.max_seq_length)
        return EpisodeBatch(self.scheme, self.groups, ret_bs, ret_max_t, data=new_data, device=self.device)

    @staticmethod
    def _get_num_items(indexing_item: Any, max_size: int) -> int:
        if isinstance(indexing_item, (list, np.ndarray, torch.Tensor)):
            return len(indexing_item)
        if isinstance(indexing_item, slice):
            return len(range(*indexing_item.indices(max_size)))
        return 1

    @staticmethod
    def _parse_slices(items: Any) -> tuple[Any, Any]:
        if isinstance(items, (slice, int, list, np.ndarray, torch.Tensor)):
            items = (items, slice(None))
        if len(items) != 2:
            raise IndexError(f"EpisodeBatch takes [batch, time] indices, got {len(items)} indices")
        parsed = []
        for item in items:
            if isinstance(item, int):
                parsed.append(slice(item, item + 1))
            else:
                parsed.append(item)
        return parsed[0], parsed[1]

    def max_t_filled(self) -> int:
        return int(torch.sum(self.transition_data["filled"], 1).max(0)[0].item())

    def state_dict(self) -> dict[str, Any]:
        return {"transition_data": dict(self.transition_data), "episode_data": dict(self.episode_data)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for store_name in ("transition_data", "episode_data"):
            store = getattr(self, store_name)
            for k, v in state[store_name].items():
                if k not in store or store[k].shape != v.shape:
                    raise ValueError(f"saved buffer field '{k}' does not match this scheme (shape {tuple(v.shape)})")
                store[k].copy_(v)

    def __repr__(self) -> str:
        return f"EpisodeBatch(batch_size={self.batch_size}, max_seq_length={self.max_seq_length}, keys={list(self.scheme)})"
