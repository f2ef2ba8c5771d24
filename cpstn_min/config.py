"""Every default in one place: dataclasses for data, augmentation, model, training and evaluation.

train.py maps command-line flags onto Config; the resolved config is saved with
every run (config.json) and restored on --resume / by eval.py. eval.py maps its
flags onto EvalConfig, the argument of evaluation.evaluate.
"""
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Optional, Tuple

from .atomic import atomic_write


@dataclass
class DataConfig:
    dataset: str = "synthetic"           # synthetic | ntu60 | ntu120 | custom
    data_root: Optional[str] = None      # prepared / preprocessed data folder (ntu60, ntu120, custom)
    data_format: str = "auto"            # auto | prepared | stgcn | ctrgcn | pyskl
    split: str = "xsub"                  # xsub | xview (ntu60, synthetic) | xset (ntu120)
    num_workers: int = 0
    cache_dir: Optional[str] = None      # generated (synthetic) or converted (NTU) arrays (default: $CPSTN_CACHE, else ~/.cache/cpstn)
    # synthetic dataset only
    center: bool = True                  # spine joint of frame 0 at the origin, as prepare does for NTU
    synthetic_train: int = 1200          # clips in the training split
    synthetic_val: int = 600             # clips in the validation split
    synthetic_seed: int = 0
    synthetic_style: float = 0.0         # 0..1: how much each performer does each action their own way
    # the input stream the encoder learns (streams.py): joint | bone | motion
    stream: str = "joint"
    # custom dataset: the joint layout of its clips (graph.LAYOUTS); None: the dataset's own
    # (ntu-rgb+d for synthetic and NTU data)
    layout: Optional[str] = None


@dataclass
class AugmentConfig:
    T_out: int = 50                                   # frames of every view
    # contrastive key view (mild)
    key_crop: Tuple[float, float] = (0.9, 1.0)
    key_shear: float = 0.5
    key_rotate_deg: float = 0.0
    # contrastive query view (strong)
    query_crop: Tuple[float, float] = (0.5, 1.0)
    query_shear: float = 0.5
    query_rotate_deg: float = 30.0
    # pretext view (pretext_views.py): labelled playback speed, spatial transform, direction
    pretext_frames: int = 0                           # frames of the pretext view (0: T_out)
    pretext_pace: str = "stride"                      # stride | crop (the first design)
    pretext_strides: Tuple[int, ...] = (1, 2, 3, 4)   # source frames per output frame (30 fps data)
    pretext_paces: Tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)   # crop: fraction of the clip covered
    # freeze (which body part, if any, lost its articulation; learned by a head on per-joint features,
    # model.spatial_pool) | swap | mask | rotation (the first design) | none (pace only: the default
    # before the per-joint head, README "Pretext tasks")
    pretext_spatial: str = "freeze"
    pretext_rotations_deg: Tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)   # rotation: about the camera axis
    # also predict playback direction (--no-pretext-reverse: off, as every run before it was the default)
    pretext_reverse: bool = True
    # the pretext view's viewpoint, drawn as the query's (shear, rotation up to +-deg about each axis):
    # the pace head then learns speed from every viewpoint, not only the training cameras'
    # (README "Pretext tasks"); 0 and 0 reproduce runs made before (rotation 0 draws nothing)
    pretext_shear: float = 0.5
    pretext_rotate_deg: float = 30.0
    # relative viewpoint (a third pretext task, off by default): the pretext view is the query's
    # viewpoint turned by one of these yaws about the vertical axis, and a head on both views'
    # features says which (README "Pretext tasks"); the pretext view's own rotation is then unused
    pretext_viewpoint: bool = False
    pretext_viewpoint_deg: Tuple[float, ...] = (-60.0, -30.0, 0.0, 30.0, 60.0)


@dataclass
class ModelConfig:
    in_channels: int = 3
    hidden_channels: int = 16
    feature_dim: int = 256
    layout: str = "ntu-rgb+d"
    strategy: str = "spatial"
    proj_dim: int = 128
    mlp: bool = True                     # MoCo v2 MLP projector
    queue_size: int = 32768              # capped to the training-set size
    momentum: float = 0.999
    temperature: float = 0.07
    contrastive: bool = True             # --no-contrastive: pretext-only model
    pretext: bool = True                 # --no-pretext: SkeletonCLR baseline
    lambda_spatial: float = 1.0
    lambda_pace: float = 1.0
    lambda_dir: float = 1.0
    lambda_view: float = 1.0             # relative viewpoint (augment.pretext_viewpoint)
    pretext_hidden: int = 256            # hidden units of each pretext head (0 = linear head)
    # heads read features after this block (0: the last); 7 of 10: the last three blocks learn from the
    # contrastive loss only, so the speed the pace head needs is not averaged away (README "Pretext tasks")
    pretext_block: int = 7
    loss_weighting: str = "fixed"        # fixed (the lambdas) | uncertainty (learned per task)
    # every pretext weight is multiplied by a factor that moves from start to end over training
    # along a half cosine (training/pretext_weight.py); 1 and 1: fixed weights. 1 and 0: the
    # pretext tasks shape the early features and then leave the encoder to the contrastive loss
    pretext_weight_start: float = 1.0
    pretext_weight_end: float = 1.0
    # what the spatial classifier (freeze, swap, rotation) reads: "joints" = features averaged over
    # time only, one vector per joint, so which body part was changed stays locatable; "mean" =
    # averaged over joints too, as the pace head (before this field: no spatial task learned so)
    spatial_pool: str = "joints"
    # what the pace (and direction) classifier reads: "frames" = features averaged over the joints
    # only, in 8 spans of time, so the head sees how the features change along the view (pretext.py;
    # with the direction task the default since the benchmark measured it, README "Pretext tasks") |
    # "mean" = averaged over time and joints (the default before; configs saved then load with it)
    pace_pool: str = "frames"
    # the encoder's initial conv and graph-conv weights: "uniform" (PyTorch's default, as the peers
    # and every run before this field) | "orthogonal" (the same norm per layer, orthogonal rows or
    # columns: no draw with nearly parallel filters; experiments/results/seed_spread.md)
    init: str = "uniform"
    # batch norm of the contrastive views over this many groups of the batch, the key's drawn after a
    # random permutation (shuffle_bn.py: MoCo's shuffle BN on one process); 1 = over the whole batch,
    # as SkeletonCLR/AimCLR and every run before this field
    shuffle_bn_groups: int = 1


@dataclass
class TrainConfig:
    epochs: int = 300
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_steps: Tuple[int, ...] = (250,)   # lr x0.1 at each
    seed: int = 1
    # the weights' (and queue's) seed when it should differ from `seed`, which then sets only the
    # data order and the views: separates what the initialisation does from what the rest does
    init_seed: Optional[int] = None
    device: str = "cpu"
    amp: bool = False                    # mixed precision (training/precision.py)
    amp_dtype: str = "auto"              # with amp: auto | bfloat16 | float16 (CUDA only)
    out_dir: str = "runs/default"
    resume: bool = False
    overwrite: bool = False              # start afresh even if out_dir holds a checkpoint
    save_every: int = 100                # also checkpoint every N steps (0: only at epoch ends)
    log_every: int = 10
    check_data: bool = False             # scan every training clip for NaN/inf before training


def upgrade(d: dict) -> dict:
    """A config saved by an earlier version -> today's fields with the meaning they had, so old
    runs load and resume as they were made:
    - saved before pretext_rotate_deg existed (its augment section names pretext_shear but not
      it): the pretext view was not rotated, 0;
    - saved before spatial_pool existed (its model section names pretext_hidden but not it): the
      spatial head read the mean over joints;
    - saved before pace_pool existed (names pretext_hidden but not it): the pace head read the mean
      over time and joints;
    - saved before the pretext redesign (it has model.lambda_rot): in-plane rotation and
      crop-fraction pace."""
    d = {k: dict(v) if isinstance(v, dict) else v for k, v in d.items()}
    augment = d.get("augment")
    if isinstance(augment, dict) and "pretext_shear" in augment and "pretext_rotate_deg" not in augment:
        augment["pretext_rotate_deg"] = 0.0
    model = d.get("model", {})
    if isinstance(model, dict) and ("pretext_hidden" in model or "lambda_rot" in model):
        model.setdefault("spatial_pool", "mean")
        model.setdefault("pace_pool", "mean")
    if not isinstance(model, dict) or "lambda_rot" not in model:
        return d
    d["model"]["lambda_spatial"] = d["model"].pop("lambda_rot")
    d.setdefault("augment", {}).update(pretext_pace="crop", pretext_spatial="rotation")
    d["augment"].setdefault("pretext_shear", 0.0)            # nor sheared, before those fields existed
    d["augment"].setdefault("pretext_rotate_deg", 0.0)
    return d


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        def build(sub_cls, values):
            names = {f.name: f for f in dataclasses.fields(sub_cls)}
            unknown = set(values) - set(names)
            if unknown:
                raise ValueError(f"unknown {sub_cls.__name__} fields: {sorted(unknown)}")
            kw = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
            return sub_cls(**kw)
        d = upgrade(d)
        return cls(data=build(DataConfig, d.get("data", {})),
                   augment=build(AugmentConfig, d.get("augment", {})),
                   model=build(ModelConfig, d.get("model", {})),
                   train=build(TrainConfig, d.get("train", {})))

    def save(self, path: str) -> None:
        with atomic_write(path, "w") as f:
            json.dump(self.to_dict(), f, indent=2)


def decay_at_80pct(epochs: int) -> Tuple[int, ...]:
    """lr milestones for a run of `epochs`: x0.1 at 80% of it (the probe recipe's 80 of 100)."""
    return (max(1, round(0.8 * epochs)),)


# Linear probes. "standardized": every feature dimension mapped to zero mean and unit variance
# over the training set (a batch norm without affine parameters, fixed), lr 0.3: of 0.03..3.0 the
# rate whose final training loss was lowest on random-init and pretrained features alike.
# "recipe": SkeletonCLR/AimCLR's lr 3.0 on raw features, which oscillates on many encoders.
PROBE_LR = {"standardized": 0.3, "recipe": 3.0}


@dataclass
class EvalConfig:
    """evaluation.evaluate's settings (eval.py's flags): what to evaluate, on which data, where the
    results go, and the protocols (linear probe 100 epochs, x0.1 at 80: on standardized features
    by default, or the SkeletonCLR/AimCLR recipe, lr 3.0 on raw features).
    Not part of Config: evaluation reads the pretraining Config from the checkpoint."""
    protocol: str = "linear"             # linear | knn | semi | finetune
    checkpoint: Optional[str] = None     # RUN/checkpoint.pt written by train.py
    random_init: bool = False            # a random encoder of the checkpoint's (or the default) model config
    stream: Optional[str] = None         # joint | bone | motion; None: the checkpoint's (config.data.stream)
    ensemble: Tuple[str, ...] = ()       # run folders or checkpoints whose class scores are fused
    ensemble_weights: Tuple[float, ...] = ()   # one per ensemble member (default: equal)
    # data: None keeps what the checkpoint was pretrained on (a new dataset drops its data_root)
    dataset: Optional[str] = None
    data_root: Optional[str] = None
    data_format: Optional[str] = None
    split: Optional[str] = None
    out_dir: Optional[str] = None        # default: the checkpoint's folder (/random_init with random_init)
    label_fraction: float = 0.1          # semi: fraction of training labels kept (0.01 or 0.1)
    label_subset: Optional[str] = None   # semi: a saved label-subset JSON instead of drawing one
    subset_seed: int = 0                 # semi: which labels are kept (saved to JSON)
    seed: int = 0                        # classifier init, batch order, random-init encoder
    device: str = "cpu"
    batch_size: int = 256                # feature extraction and evaluation batches
    cache_features: bool = True          # linear / knn: extract frozen features once, reuse
    resume: bool = False                 # semi / finetune: continue from the per-epoch state
    progress: bool = True                # progress bars
    # linear probe on frozen pooled features
    linear_epochs: int = 100
    linear_probe: str = "standardized"   # standardized (converges on every encoder) | recipe (lr 3.0, raw)
    linear_lr: Optional[float] = None    # None: the probe's own, PROBE_LR
    linear_momentum: float = 0.9
    linear_milestones: Tuple[int, ...] = (80,)   # lr x0.1 at each
    linear_batch_size: int = 128
    # cosine kNN on L2-normalised features
    knn_k: int = 20
    knn_temperature: float = 0.07        # vote weight exp(cos / temperature)
    # semi / finetune: encoder + linear classifier trained end to end
    finetune_epochs: int = 100
    finetune_lr: float = 0.1
    finetune_momentum: float = 0.9
    finetune_weight_decay: float = 1e-4
    finetune_milestones: Tuple[int, ...] = (80,)
    finetune_batch_size: int = 64
    finetune_eval_every: int = 10        # test accuracy every n epochs (and after the last)

    @property
    def probe_lr(self) -> float:
        return self.linear_lr if self.linear_lr is not None else PROBE_LR[self.linear_probe]

    def with_epochs(self, epochs: int) -> "EvalConfig":
        """A copy whose linear probe, semi and finetune all train `epochs` epochs, lr x0.1 at 80%."""
        return dataclasses.replace(self, linear_epochs=epochs, finetune_epochs=epochs,
                                   linear_milestones=decay_at_80pct(epochs),
                                   finetune_milestones=decay_at_80pct(epochs))
