"""Two CPU processes (gloo) train the tiny model, in float32 and with --amp (bfloat16): the
queue and the key encoder stay identical on both ranks, losses are finite, and only rank 0
writes the run folder."""
import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

import train
from cpstn_min import distributed
from cpstn_min.config import Config

WORLD = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, port: int, cfg_dict: dict, result_dir: str):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    run = train.prepare(Config.from_dict(cfg_dict), log=lambda *a: None)
    try:
        train.fit(run)
        moco = run.core.moco
        torch.save({"queue": moco.queue, "ptr": moco.queue_ptr,
                    "key": [p.detach() for p in moco.encoder_k.parameters()],
                    "query": [p.detach() for p in run.core.encoder_q.parameters()],
                    "step": run.step}, os.path.join(result_dir, f"rank{rank}.pt"))
    finally:
        distributed.shutdown()


@pytest.mark.parametrize("amp", [False, True], ids=["float32", "amp"])
def test_two_gloo_processes_keep_identical_queues(tmp_path, amp):
    cfg = Config()
    cfg.train.amp = amp
    cfg.data.synthetic_train, cfg.data.synthetic_val = 32, 26
    cfg.data.cache_dir = str(tmp_path / "cache")
    cfg.augment.T_out = 8
    cfg.model.hidden_channels, cfg.model.feature_dim, cfg.model.proj_dim = 4, 8, 8
    cfg.model.pretext_hidden = 8
    cfg.train.epochs, cfg.train.batch_size, cfg.train.log_every = 2, 8, 1   # 4 clips per rank
    cfg.train.out_dir = str(tmp_path / "run")
    mp.spawn(worker, args=(free_port(), cfg.to_dict(), str(tmp_path)), nprocs=WORLD, join=True)

    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD))
    steps = 2 * (32 // 8)
    assert r0["step"] == r1["step"] == steps
    # every rank enqueued the keys of both ranks: 8 per step into a queue of 32
    assert int(r0["ptr"]) == int(r1["ptr"]) == (steps * 8) % 32
    assert torch.equal(r0["queue"], r1["queue"])
    assert all(torch.equal(a, b) for a, b in zip(r0["key"], r1["key"]))
    assert all(torch.equal(a, b) for a, b in zip(r0["query"], r1["query"]))  # DDP-averaged gradients

    with open(tmp_path / "run" / "log.jsonl") as f:
        records = [json.loads(line) for line in f]
    step_records = [r for r in records if r.get("type") != "epoch"]
    assert [r["step"] for r in step_records] == list(range(1, steps + 1))  # rank 0 alone logs
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in records)
    assert os.path.isfile(tmp_path / "run" / "checkpoint.pt")
    assert not any(n.startswith("checkpoint.pt.tmp") for n in os.listdir(tmp_path / "run"))
