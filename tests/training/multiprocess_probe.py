"""Run under ``torchrun --nproc_per_node=2``: writes, per rank, the frames of two epochs and the eval metrics to
``$PROBE_DIR/rank<N>.json`` (one file per rank: ranks printing to one shared pipe can interleave their lines)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from lerobot_core.training.config import parse_train_config
from lerobot_core.training.train import Trainer

trainer = Trainer(parse_train_config(sys.argv[1:])).setup()
rank = trainer.accelerator.process_index
epochs = [[int(i) for batch in trainer.loader for i in batch["index"]] for _ in range(2)]
result = trainer.run()
Path(os.environ["PROBE_DIR"], f"rank{rank}.json").write_text(json.dumps(
    {"rank": rank, "world": trainer.accelerator.num_processes, "epochs": epochs, "eval": result.eval_metrics,
     "losses": result.losses}))
