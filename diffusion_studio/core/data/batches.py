"""Training batches that resume exactly: in memory when the data is small, streamed when it is not.

The order is a pure function of (seed, epoch): each epoch is a seeded permutation
of all images plus one coin flip per position for the horizontal flip. Rank r of
a DDP group takes positions r, r + world_size, … of that permutation (padded to a
multiple of world_size), so the shards are disjoint and of equal length. The whole
sampling state is then (epoch, position), the same on every rank: saving rank 0's
and loading it anywhere gives the very same next batches, in memory or streamed.

A labelled dataset passes one class label per image (``labels``); :meth:`BatchSource.next_labelled_batch`
returns each batch's labels with it, drawn by the same indices, so labels resume exactly too.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from ..device import to_device
from ..errors import InputError
from .decode import decode_image, load_images_tensor, skip_kind

__all__ = ["BatchSource", "choose_batch_source", "decoded_bytes", "default_memory_budget"]

_MIX_EPOCH = 0x9E3779B97F4A7C15  # golden-ratio constant: spreads (seed, epoch) over the seed space


class _EpochOrder:
    """This rank's (indices, flips) for any epoch; the last epoch is cached."""

    def __init__(self, num_items: int, seed: int, rank: int, world_size: int):
        self.num_items, self.seed, self.rank, self.world_size = num_items, seed, rank, world_size
        self._cached: tuple[int, torch.Tensor, torch.Tensor] | None = None

    def __call__(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cached is None or self._cached[0] != epoch:
            generator = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch * _MIX_EPOCH) % 2**63)
            order = torch.randperm(self.num_items, generator=generator)
            flips = torch.rand(self.num_items, generator=generator) < 0.5
            # Pad to a multiple of world_size with the permutation's first entries (as torch's
            # DistributedSampler does): every rank's shard has the same length, so all ranks
            # roll over to the next epoch together and rank 0's (epoch, position) fits them all.
            padded = -(-self.num_items // self.world_size) * self.world_size
            if padded > self.num_items:
                repeats = -(-padded // self.num_items)
                order, flips = order.repeat(repeats)[:padded], flips.repeat(repeats)[:padded]
            self._cached = (epoch, order[self.rank :: self.world_size], flips[self.rank :: self.world_size])
        return self._cached[1], self._cached[2]

    def draw(self, epoch: int, position: int, count: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """The next ``count`` (indices, flips) from (epoch, position), and the cursor after them."""
        indices, flips = [], []
        while count > 0:
            order, coin = self(epoch)
            if position >= len(order):
                epoch, position = epoch + 1, 0
                continue
            take = min(count, len(order) - position)
            indices.append(order[position : position + take])
            flips.append(coin[position : position + take])
            position, count = position + take, count - take
        return torch.cat(indices), torch.cat(flips), epoch, position


class _BatchKeys:
    """An endless batch sampler for the DataLoader: lists of (index, flip) from a cursor."""

    def __init__(self, order: _EpochOrder, epoch: int, position: int, batch_size: int, hflip: bool):
        self.order, self.epoch, self.position, self.batch_size = order, epoch, position, batch_size
        self.hflip = hflip

    def __iter__(self) -> Iterator[list[tuple[int, bool]]]:
        epoch, position = self.epoch, self.position
        while True:
            indices, flips, epoch, position = self.order.draw(epoch, position, self.batch_size)
            yield list(zip(indices.tolist(), (flips & self.hflip).tolist()))


class _PathDataset(torch.utils.data.Dataset):
    """Decodes one file per key in a DataLoader worker; a file that fails comes back as its reason."""

    def __init__(self, paths: Sequence[str], image_size: int, channels: int):
        self.paths, self.image_size, self.channels = list(paths), image_size, channels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: tuple[int, bool]) -> tuple[int, np.ndarray | None, str | None]:
        index, flip = key
        try:
            pixels = decode_image(self.paths[index], self.image_size, self.channels)
        except Exception as exc:  # noqa: BLE001 - deleted/changed since the scan: skip it, keep training
            return index, None, str(exc)
        return index, np.ascontiguousarray(pixels[:, :, ::-1]) if flip else pixels, None


def _as_list(items: list) -> list:
    return items


def _fits_on_device(num_bytes: int, device: torch.device) -> bool:
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return num_bytes <= free // 4  # leave most of the memory to the model and activations
    if device.type == "mps":
        return num_bytes <= 1 << 30
    return False


class BatchSource:
    """Endless random batches, float (B, C, S, S) in [-1, 1] on ``device``.

    ``data`` is a uint8 tensor (N, C, S, S) held in memory (on ``device`` when it
    fits, else on the CPU), or a list of image paths streamed through a DataLoader
    with ``workers`` processes (then ``image_size`` and ``channels`` are required).
    ``labels``: a class index per item (N,), or None for unlabelled data.
    """

    def __init__(
        self,
        data: torch.Tensor | Sequence[str],
        batch_size: int,
        device: str | torch.device = "cpu",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        hflip: bool = True,
        workers: int = 0,
        *,
        image_size: int | None = None,
        channels: int | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
    ):
        if batch_size < 1:
            raise InputError(f"The batch size must be at least 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside a group of {world_size}")
        self.batch_size, self.device, self.hflip = int(batch_size), torch.device(device), bool(hflip)
        self.rank, self.world_size, self.workers = int(rank), int(world_size), max(0, int(workers))
        self.unreadable: list[dict[str, str]] = []  # files that failed while streaming
        self.skipped: list[dict[str, str]] = []  # files that failed while decoding into memory
        self._epoch, self._position = 0, 0
        self._iterator: Iterator[list] | None = None
        if isinstance(data, torch.Tensor):
            if data.dtype != torch.uint8 or data.ndim != 4 or len(data) == 0:
                raise ValueError("in-memory data must be a non-empty uint8 tensor (N, C, S, S)")
            self.in_memory = True
            self._data = data.to(self.device) if _fits_on_device(data.numel(), self.device) else data.cpu()
            self.image_size, self.channels = int(data.shape[-1]), int(data.shape[1])
            self.paths: list[str] = []
        else:
            if image_size is None or channels is None:
                raise ValueError("streaming from paths needs image_size and channels")
            self.paths = [str(p) for p in data]
            if not self.paths:
                raise InputError("There are no images to train on")
            self.in_memory = False
            self.image_size, self.channels = int(image_size), int(channels)
        self.labels: torch.Tensor | None = None
        if labels is not None:
            self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
            if self.labels.shape != (self.num_items,):
                raise ValueError(f"{self.num_items} items need {self.num_items} labels, got {tuple(self.labels.shape)}")
        self._order = _EpochOrder(self.num_items, int(seed), self.rank, self.world_size)

    # -- state ---------------------------------------------------------------------------------
    @property
    def num_items(self) -> int:
        return len(self._data) if self.in_memory else len(self.paths)

    @property
    def seed(self) -> int:
        return self._order.seed

    @property
    def batches_per_epoch(self) -> int:
        per_rank = max(1, -(-self.num_items // self.world_size))
        return max(1, -(-per_rank // self.batch_size))

    def state_dict(self) -> dict[str, Any]:
        """Plain ints only, safe for ``torch.load(weights_only=True)``."""
        return {
            "epoch": self._epoch,
            "position": self._position,
            "seed": self.seed,
            "num_items": self.num_items,
            "rank": self.rank,
            "world_size": self.world_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """Continue where ``state`` left off (any rank's state fits every rank of the group).

        Returns False, and starts that epoch afresh, when the dataset size or the number of
        ranks changed so that the old order cannot be continued exactly.
        """
        exact = int(state.get("num_items", -1)) == self.num_items and int(
            state.get("world_size", -1)
        ) == self.world_size
        self._order = _EpochOrder(self.num_items, int(state.get("seed", self.seed)), self.rank, self.world_size)
        self._epoch = int(state.get("epoch", 0))
        self._position = int(state.get("position", 0)) if exact else 0
        self.close()
        return exact

    # -- batches -------------------------------------------------------------------------------
    def next_batch(self) -> torch.Tensor:
        """The next batch of images (see :meth:`next_labelled_batch` for their labels)."""
        return self.next_labelled_batch()[0]

    def next_labelled_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch of images and their class labels (long (B,) on the device; None for unlabelled data)."""
        images, indices = self._next_in_memory() if self.in_memory else self._next_streamed()
        if self.labels is None:
            return images, None
        return images, to_device(self.labels[indices], self.device)

    def _to_float(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 0…255 → float32 [-1, 1] on the device (moved as uint8: a quarter of the bytes)."""
        if self.device.type == "cpu":  # numpy runs this on one thread: no torch thread-pool wake-ups
            pixels = batch.numpy()
            return torch.from_numpy(np.subtract(pixels, np.float32(127.5), dtype=np.float32) / np.float32(127.5))
        batch = to_device(batch, self.device)  # asynchronous only for CUDA from pinned memory
        return torch.sub(batch, 127.5).div_(127.5)

    def _next_in_memory(self) -> tuple[torch.Tensor, torch.Tensor]:
        indices, flips, self._epoch, self._position = self._order.draw(self._epoch, self._position, self.batch_size)
        if self._data.device.type == "cpu":
            # numpy gather and flip: single-threaded, so no torch thread-pool wake-ups for small batches.
            pixels = self._data.numpy()[indices.numpy()]
            if self.hflip:
                mirrored = flips.numpy()
                pixels[mirrored] = pixels[mirrored][..., ::-1]
            return self._to_float(torch.from_numpy(pixels)), indices
        batch = self._data.index_select(0, indices.to(self._data.device))
        if self.hflip:
            flips = flips.to(self._data.device).view(-1, 1, 1, 1)
            batch = torch.where(flips, batch.flip(-1), batch)
        return self._to_float(batch), indices

    def _loader_iterator(self) -> Iterator[list]:
        keys = _BatchKeys(self._order, self._epoch, self._position, self.batch_size, self.hflip)
        dataset = _PathDataset(self.paths, self.image_size, self.channels)
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=keys,
            num_workers=self.workers,
            collate_fn=_as_list,
            prefetch_factor=4 if self.workers else None,
            persistent_workers=False,
        )
        return iter(loader)

    def _next_streamed(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._iterator is None:
            self._iterator = self._loader_iterator()
        for _attempt in range(max(16, self.batches_per_epoch + 1)):
            items = next(self._iterator)
            # Advance the cursor exactly as the batch sampler did for this batch.
            _, _, self._epoch, self._position = self._order.draw(self._epoch, self._position, self.batch_size)
            good = [(index, pixels) for index, pixels, _reason in items if pixels is not None]
            self._note_unreadable(items)
            if good:
                # Fill the places of files that vanished with images of this batch: the shape stays fixed.
                filled = [good[i % len(good)] for i in range(self.batch_size)]
                batch = np.stack([pixels for _index, pixels in filled])
                indices = torch.tensor([index for index, _pixels in filled], dtype=torch.long)
                return self._to_float(torch.from_numpy(batch)), indices
        raise InputError(f"None of the {self.num_items} training images can be read any more; were they moved?")

    def _note_unreadable(self, items: list) -> None:
        seen = {entry["path"] for entry in self.unreadable}
        for index, pixels, reason in items:
            path = self.paths[index]
            if pixels is None and path not in seen:
                seen.add(path)
                self.unreadable.append({"path": path, "reason": reason, "kind": skip_kind(reason)})

    def close(self) -> None:
        """Stop the DataLoader workers (they restart on the next batch)."""
        self._iterator = None

    def __del__(self) -> None:
        self._iterator = None


def decoded_bytes(num_images: int, image_size: int, channels: int) -> int:
    """Bytes that ``num_images`` decoded uint8 images of (channels, image_size, image_size) take."""
    return int(num_images) * int(channels) * int(image_size) ** 2


def default_memory_budget() -> int:
    """How much decoded data to hold in RAM: a quarter of physical memory, at most 4 GiB."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        physical = 8 << 30  # Windows has no sysconf; assume a modest machine
    return int(min(4 << 30, physical // 4))


def choose_batch_source(
    paths: Sequence[str],
    *,
    image_size: int,
    channels: int,
    batch_size: int,
    device: str | torch.device = "cpu",
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    hflip: bool = True,
    workers: int = 0,
    memory_budget_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    labels: Sequence[int] | np.ndarray | None = None,
) -> BatchSource:
    """Decode everything into memory when it fits in ``memory_budget_bytes``, else stream.

    In memory, files that fail to decode are left out (with their labels) and listed in
    ``source.skipped``; raises InputError when none of them can be decoded.
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise InputError("There are no usable images to train on")
    budget = default_memory_budget() if memory_budget_bytes is None else int(memory_budget_bytes)
    common = dict(device=device, seed=seed, rank=rank, world_size=world_size, hflip=hflip, workers=workers)
    if decoded_bytes(len(paths), image_size, channels) > budget:
        return BatchSource(paths, batch_size, image_size=image_size, channels=channels, labels=labels, **common)
    data, skipped = load_images_tensor(paths, image_size, channels, progress=progress)
    if len(data) == 0:
        reasons = "; ".join(entry["reason"] for entry in skipped[:3])
        raise InputError(f"No usable images: all {len(paths)} could not be decoded ({reasons})")
    if labels is not None and skipped:
        gone = {entry["path"] for entry in skipped}
        labels = [label for path, label in zip(paths, labels) if path not in gone]
    source = BatchSource(data, batch_size, labels=labels, **common)
    source.skipped = skipped
    return source
