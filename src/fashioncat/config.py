"""Typed, validated view of params.yaml: one dataclass per section, each with its checks.

Every stage loads the whole file through `load`, so a mistake anywhere (unknown
key, wrong type, ratios that do not sum to 1, missing mapping file) stops the
run before any work starts, with one line naming the key. The YAML-to-dataclass
converter is `fashioncat.typed`; the guard that limits a stage to its declared keys
is `fashioncat.declared`.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass
from pathlib import Path

from fashioncat.errors import FashionError
from fashioncat.typed import build, join, parse

FORMATS = ("deepfashion", "imaterialist", "coco", "deepfashion2", "imagefolder", "csv")
CATEGORY_FIELDS = ("name", "supercategory", "id")  # coco: which field of a category the class mapping names
CROWD = ("drop", "keep")  # coco: what becomes of an annotation with iscrowd 1
BOX_FORMATS = ("xyxy", "xywh")  # csv: corners, or top-left corner and size
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
FITS = ("stretch", "pad")
# Names only: fashioncat.model.models maps them to Keras objects (this module must not import TensorFlow).
ARCHITECTURES = ("vgg16", "resnet50", "resnet50v2")
INITIALIZERS = ("random_normal", "he_normal", "glorot_normal", "zeros", "he_uniform", "glorot_uniform")
OPTIMIZERS = ("adam", "adadelta", "adamax", "adagrad", "sgd")
REGULARIZERS = ("none", "l1", "l2", "l1_l2")
BATCH_NORM = ("frozen", "train")
EXECUTORS = ("local", "ray")
DISTRIBUTE = ("auto", "none")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
LABEL_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given")
# Dataset names go into dvc.yaml commands and output paths (data/raw/<name>): nothing a shell or a path reads.
DATASET_NAME = re.compile(r"[a-z0-9_]+")
MAX_MARGIN = 10.0  # crop.margin: 10 box sizes on each side is already more than any crop needs; huge ones overflow


@dataclass(frozen=True)
class Hyper:
    """The hyperparameters the paper tunes (Tables 1, 3, 4 and 5)."""

    initializer: str
    optimizer: str
    learning_rate: float
    decay: float  # learning rate multiplied by this after every epoch; 1 = constant
    regularizer: str
    l1: float  # strength of the L1 term when the regularizer has one
    l2: float

    def check(self, key: str) -> None:
        for name, known in (("initializer", INITIALIZERS), ("optimizer", OPTIMIZERS), ("regularizer", REGULARIZERS)):
            _one_of(self, key, name, known)
        _positive(self, key, "learning_rate")
        _non_negative(self, key, "l1", "l2")
        _decay(self.decay, join(key, "decay"))


@dataclass(frozen=True)
class EmbeddedConfig:
    """How Fashion-MNIST is rendered into the two real dataset formats."""

    package: str
    integrity: str
    target_classes: str
    source_per_class: int
    target_per_class: int
    source_canvas: int
    target_canvas: int
    dead_links: int
    multi_label: int
    target_shift: float  # 0-1: how far the target's colours depart from the source look

    def check(self, key: str) -> None:
        if not 0 <= self.target_shift <= 1:
            raise FashionError(f"params.yaml: {key}.target_shift must be in [0, 1], not {self.target_shift!r}")
        _positive(self, key, "source_per_class", "target_per_class", "source_canvas", "target_canvas")
        _non_negative(self, key, "dead_links", "multi_label")
        _existing_file(self, key, "target_classes")
        if not self.integrity.startswith("sha512-"):
            raise FashionError(f"params.yaml: {key}.integrity must be an npm 'sha512-…' string")
        for name in ("source_canvas", "target_canvas"):
            if getattr(self, name) < 56:
                raise FashionError(f"params.yaml: {key}.{name} must be at least 56 pixels")


@dataclass(frozen=True)
class NoOptions:
    """deepfashion and imaterialist: their layout is fixed, nothing to choose."""

    partial: typing.ClassVar[bool] = True


@dataclass(frozen=True)
class CocoOptions:
    """COCO instances JSON (Fashionpedia, ModaNet, DeepFashion2 converted): one crop per annotation."""

    partial: typing.ClassVar[bool] = True  # every key has a default

    annotations: str = ""  # the JSON, relative to the dataset folder; "" = the one JSON at the top or in annotations/
    images: str = ""  # the folder each image's file_name is relative to; "" = the dataset folder
    category_field: str = "name"  # what the class mapping lists: category name, supercategory or id
    crowd: str = "drop"  # iscrowd 1 (a group of garments under one box): drop | keep
    min_box_side: float = 0  # boxes narrower or lower than this many pixels are dropped

    def check(self, key: str) -> None:
        _one_of(self, key, "category_field", CATEGORY_FIELDS)
        _one_of(self, key, "crowd", CROWD)
        _non_negative(self, key, "min_box_side")
        _relative(self, key, "annotations", "images")


@dataclass(frozen=True)
class DeepFashion2Options:
    """DeepFashion2 (image/NNNNNN.jpg, annos/NNNNNN.json): one crop per item."""

    partial: typing.ClassVar[bool] = True

    min_box_side: float = 0
    max_occlusion: int = 3  # 1 slight, 2 medium, 3 heavy: items occluded more are dropped
    viewpoints: list[int] = dataclasses.field(default_factory=lambda: [1, 2, 3])  # 1 no wear, 2 frontal, 3 side/back

    def check(self, key: str) -> None:
        _non_negative(self, key, "min_box_side")
        if not 1 <= self.max_occlusion <= 3:
            raise FashionError(f"params.yaml: {key}.max_occlusion must be 1, 2 or 3, not {self.max_occlusion!r}")
        views = self.viewpoints
        if not views or not set(views) <= {1, 2, 3} or len(set(views)) < len(views):
            raise FashionError(f"params.yaml: {key}.viewpoints must list some of 1, 2, 3 once each, not {views}")


@dataclass(frozen=True)
class ImageFolderOptions:
    """One folder per category, the whole image kept."""

    partial: typing.ClassVar[bool] = True

    extensions: list[str] = dataclasses.field(default_factory=lambda: list(IMAGE_EXTENSIONS))  # any case

    def check(self, key: str) -> None:
        if not self.extensions:
            raise FashionError(f"params.yaml: {key}.extensions must list at least one extension")
        for i, ext in enumerate(self.extensions):
            if not re.fullmatch(r"\.[A-Za-z0-9]+", ext):
                raise FashionError(f"params.yaml: {key}.extensions[{i}] must be like '.jpg', not {ext!r}")


@dataclass(frozen=True)
class CsvOptions:
    """A table of image and label, optionally with a box (Kaggle Fashion Product Images: styles.csv)."""

    partial: typing.ClassVar[bool] = True

    file: str = ""  # the CSV, relative to the dataset folder; "" = the one .csv at the top
    image_column: str = "image"
    image_template: str = "{}"  # the image's path, {} standing for the column's value: "images/{}.jpg"
    label_column: str = "label"
    box_columns: list[str] = dataclasses.field(default_factory=list)  # 4 columns to crop to; [] = whole image
    box_format: str = "xyxy"  # xyxy: x1 y1 x2 y2 | xywh: x y width height
    delimiter: str = ","

    def check(self, key: str) -> None:
        _relative(self, key, "file")
        _one_of(self, key, "box_format", BOX_FORMATS)
        if self.image_template.count("{}") != 1:
            raise FashionError(
                f"params.yaml: {key}.image_template must hold {{}} once (where the column's value goes), "
                f"not {self.image_template!r}"
            )
        if len(self.box_columns) not in (0, 4):
            raise FashionError(
                f"params.yaml: {key}.box_columns must name 4 columns (or none: whole images), "
                f"not {len(self.box_columns)}"
            )
        if len(self.delimiter) != 1 or self.delimiter in '"\r\n':
            raise FashionError(f"params.yaml: {key}.delimiter must be one character, not a quote or line break")


# the options each dataset format takes, under datasets.<name>.options
OPTIONS = {
    "deepfashion": NoOptions,
    "imaterialist": NoOptions,
    "coco": CocoOptions,
    "deepfashion2": DeepFashion2Options,
    "imagefolder": ImageFolderOptions,
    "csv": CsvOptions,
}


@dataclass(frozen=True)
class DatasetConfig:
    """One dataset: where it is, how to read it, how to map its labels."""

    format: str
    location: str
    classes: str
    per_class: int
    options: dict | None = None  # the format's settings (OPTIONS); the default serves code, params.yaml needs the key

    def check(self, key: str) -> None:
        _one_of(self, key, "format", FORMATS)
        _positive(self, key, "per_class")
        _existing_file(self, key, "classes")
        self.reader_options(key)

    def reader_options(self, key: str = "datasets.<name>"):
        """This format's options, typed and checked (an error names `key`.options)."""
        if OPTIONS[self.format] is NoOptions and self.options:
            raise FashionError(f"params.yaml: {key}.options must be empty: format {self.format} takes no options")
        return build(OPTIONS[self.format], self.options or {}, join(key, "options"))


@dataclass(frozen=True)
class DownloadConfig:
    """How iMaterialist images are fetched. The defaults serve code; in params.yaml every key is required."""

    workers: int
    timeout_s: float  # per request and per read
    retries: int
    max_bytes: int
    max_per_class: int
    deadline_s: float = 300.0  # all tries of one file together
    local_roots: list[str] = dataclasses.field(default_factory=list)  # where absolute file: URLs may also read
    allowed_hosts: list[str] = dataclasses.field(default_factory=list)  # hosts exempt from the internal-address ban

    def check(self, key: str) -> None:
        _positive(self, key, "workers", "timeout_s", "max_bytes", "deadline_s")
        _non_negative(self, key, "retries", "max_per_class")
        for i, root in enumerate(self.local_roots):
            if not Path(root).is_dir():
                raise FashionError(f"params.yaml: {key}.local_roots[{i}]: folder {root} does not exist")
        for i, host in enumerate(self.allowed_hosts):
            if not re.fullmatch(r"[\w.-]+|\[?[0-9a-fA-F:.]+\]?", host):
                raise FashionError(
                    f"params.yaml: {key}.allowed_hosts[{i}]: {host!r} is not a host name or IP address "
                    "(no scheme, port or path)"
                )


@dataclass(frozen=True)
class CropConfig:
    margin: float
    size: int
    fit: str
    workers: int

    def check(self, key: str) -> None:
        _positive(self, key, "size")
        _non_negative(self, key, "margin", "workers")
        _at_most(self, key, MAX_MARGIN, "margin")
        _one_of(self, key, "fit", FITS)


@dataclass(frozen=True)
class BalanceConfig:
    allow_smaller: bool
    skip_stale_corrections: bool  # true: skip (and count) a correction balance cannot apply, instead of failing


@dataclass(frozen=True)
class SplitConfig:
    train: float
    val: float
    test: float

    def check(self, key: str) -> None:
        _positive(self, key, "train", "val", "test")
        total = self.train + self.val + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise FashionError(f"params.yaml: {key}.train + val + test must sum to 1, not {total:g}")


@dataclass(frozen=True)
class Augment:
    """The paper's augmentation knobs, with Keras' classic `ImageDataGenerator` meaning.

    rotation: degrees, angle uniform in [-rotation, rotation].
    shear: DEGREES (as `shear_range`), angle uniform in [-shear, shear]; the
        paper's "shear 0.2" is therefore a 0.2 degree shear, not 20 %.
    zoom: factors zx, zy drawn independently, uniform in [1 - zoom, 1 + zoom].
    horizontal_flip: mirror left-right with probability 0.5.

    The defaults (all off) serve code; in params.yaml every key is required.
    """

    rotation: float = 0
    shear: float = 0
    zoom: float = 0
    horizontal_flip: bool = False

    def check(self, key: str) -> None:
        _non_negative(self, key, "rotation", "shear", "zoom")
        if self.zoom >= 1:
            raise FashionError(f"params.yaml: {join(key, 'zoom')} must be below 1, not {self.zoom!r}")

    @property
    def active(self) -> bool:
        """Whether any transform is on; when not, batches pass through untouched."""
        return bool(self.rotation or self.shear or self.zoom or self.horizontal_flip)


@dataclass(frozen=True)
class Engine:
    """How TensorFlow computes a training (train.precision, train.deterministic): the numbers, not the method."""

    precision: str = "float32"
    deterministic: bool = True


DEFAULT_ENGINE = Engine()  # float32, deterministic: what every run used before these keys existed


@dataclass(frozen=True)
class Override:
    """Per-architecture changes to the shared training settings; unset keys inherit them."""

    partial: typing.ClassVar[bool] = True  # keys may be left out of params.yaml

    epochs: int | None = None
    initializer: str | None = None
    optimizer: str | None = None
    learning_rate: float | None = None
    decay: float | None = None
    regularizer: str | None = None
    l1: float | None = None
    l2: float | None = None


# Keras' 0.99 needs a few hundred steps before the moving statistics used at inference match
# the data; a CPU-sized tuning trial (about 40 steps) would score chance on validation however
# well it trained. 0.9 settles in about 30 steps. The paper profile sets Keras' 0.99.
DEFAULT_BATCH_NORM_MOMENTUM = 0.9


@dataclass(frozen=True)
class TrainConfig:
    image_size: int
    batch_size: int
    epochs: int
    subset: int  # training images per architecture, stratified and seeded; 0 = the whole train split
    patience: int
    hyper: Hyper
    augment: Augment
    architectures: dict[str, Override]
    distribute: str = "auto"  # auto: MirroredStrategy over the GPUs when there are several | none: never
    precision: str = "auto"  # auto: mixed_float16 when a GPU is visible, else float32 | one of PRECISIONS
    deterministic: bool = True  # op determinism; false lets Keras compile with XLA on a GPU
    batch_norm_momentum: float = DEFAULT_BATCH_NORM_MOMENTUM  # Keras (and so the paper): 0.99

    def check(self, key: str) -> None:
        _positive(self, key, "image_size", "batch_size", "epochs")
        if not 0 < self.batch_norm_momentum < 1:
            raise FashionError(
                f"params.yaml: {key}.batch_norm_momentum must be between 0 and 1 (exclusive), not"
                f" {self.batch_norm_momentum}"
            )
        _non_negative(self, key, "patience", "subset")
        _one_of(self, key, "distribute", DISTRIBUTE)
        _one_of(self, key, "precision", PRECISIONS)
        if self.image_size < 32:
            raise FashionError(f"params.yaml: {key}.image_size must be at least 32 (keras.applications' minimum)")
        for name in self.architectures:
            if name not in ARCHITECTURES:
                raise FashionError(f"params.yaml: {key}.architectures.{name} is not one of {', '.join(ARCHITECTURES)}")
            self.hyper_for(name).check(f"{key}.architectures.{name}")

    def hyper_for(self, architecture: str) -> Hyper:
        changes = {
            k: v
            for k, v in dataclasses.asdict(self.architectures[architecture]).items()
            if v is not None and k != "epochs"
        }
        return dataclasses.replace(self.hyper, **changes)

    def epochs_for(self, architecture: str) -> int:
        return self.architectures[architecture].epochs or self.epochs

    def engine(self) -> Engine:
        return Engine(self.precision, self.deterministic)


@dataclass(frozen=True)
class TrialConfig:
    """The budget of one tuning trial (the paper trained every trial in full)."""

    epochs: int
    subset: int  # training images per trial, stratified and seeded; 0 = the whole train split
    val_subset: int  # validation images that score a trial, stratified and seeded; 0 = the whole val split
    patience: int  # >0: stop a trial when validation loss has not improved for this many epochs

    def check(self, key: str) -> None:
        _positive(self, key, "epochs")
        _non_negative(self, key, "subset", "val_subset", "patience")

    @property
    def subsets(self) -> dict[str, int]:
        """Images a trial takes from each split (`splits.with_subsets`' sizes; 0 = all)."""
        return {"train": self.subset, "val": self.val_subset}


@dataclass(frozen=True)
class AugmentGrid:
    """Table 2: each knob swept on its own, in this order, keeping the best value of each."""

    rotation: list[float]
    shear: list[float]
    zoom: list[float]
    horizontal_flip: list[bool]


@dataclass(frozen=True)
class InitializerGrid:
    initializer: list[str]


@dataclass(frozen=True)
class OptimizerGrid:
    optimizer: list[str]


@dataclass(frozen=True)
class LrRegularizerGrid:
    learning_rate: list[float]
    regularizer: list[str]


@dataclass(frozen=True)
class LrDecayGrid:
    learning_rate: list[float]
    decay: list[float]


@dataclass(frozen=True)
class Grids:
    """One grid per tuning step, in the paper's order (Tables 2-5)."""

    augmentation: AugmentGrid
    initializer: InitializerGrid
    optimizer: OptimizerGrid
    lr_regularizer: LrRegularizerGrid
    lr_decay: LrDecayGrid

    def check(self, key: str) -> None:
        for step in dataclasses.fields(self):
            grid = getattr(self, step.name)
            for name in (f.name for f in dataclasses.fields(grid)):
                values = getattr(grid, name)
                where = f"{key}.{step.name}.{name}"
                if not values:
                    raise FashionError(f"params.yaml: {where} must list at least one value")
                if len(set(values)) != len(values):
                    raise FashionError(f"params.yaml: {where} lists a value twice")
                known = {"initializer": INITIALIZERS, "optimizer": OPTIMIZERS, "regularizer": REGULARIZERS}.get(name)
                for value in values:
                    if known and value not in known:
                        raise FashionError(f"params.yaml: {where}: {value!r} is not one of {', '.join(known)}")
                    if not known and not isinstance(value, bool) and value < 0:
                        raise FashionError(f"params.yaml: {where}: {value!r} must not be negative")
        for lr in self.lr_regularizer.learning_rate + self.lr_decay.learning_rate:
            if lr <= 0:
                raise FashionError(f"params.yaml: {key}: learning rate {lr!r} must be positive")
        for decay in self.lr_decay.decay:
            _decay(decay, f"{key}.lr_decay.decay")
        if any(z >= 1 for z in self.augmentation.zoom):
            raise FashionError(f"params.yaml: {key}.augmentation.zoom values must be below 1")


@dataclass(frozen=True)
class RayResources:
    """What each tuning trial asks Ray for (`tune.executor: ray`); fractions share a device."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0

    def check(self, key: str) -> None:
        _positive(self, key, "num_cpus")
        _non_negative(self, key, "num_gpus")


@dataclass(frozen=True)
class TuneConfig:
    """The defaults of executor and ray serve code; in params.yaml every key is required."""

    trial: TrialConfig
    grids: Grids
    noise_seeds: int  # seeds `tune_noise` trains the starting configuration with, for the noise band
    executor: str = "local"  # local: trials one after another in the stage | ray: a round's trials as Ray tasks
    ray: RayResources = dataclasses.field(default_factory=RayResources)

    def check(self, key: str) -> None:
        if self.noise_seeds < 2:
            raise FashionError(f"params.yaml: {key}.noise_seeds must be at least 2 (a spread needs two runs)")
        _one_of(self, key, "executor", EXECUTORS)


@dataclass(frozen=True)
class FinalConfig:
    """Training the final model with the tuned configuration on the whole train split (Table 5)."""

    epochs: int
    patience: int
    batch_size: int  # its own: on 2 cores a larger batch trains more images per second
    learning_rate_scale: float  # the tuned rate was chosen at train.batch_size; a larger batch takes larger steps
    anneal: bool  # the tuned rate also falls along a half cosine to 0 over the run (models.CosineAnneal)
    label_smoothing: float  # targets (1 - s) on the true class, s spread evenly over all classes; 0: none
    ema: bool  # evaluate and save a moving average of the weights (Keras optimizers' use_ema)
    flip_tta: bool  # score the mean of the image's and its mirror's probabilities (final's val, evaluate's test)

    def check(self, key: str) -> None:
        _positive(self, key, "epochs", "batch_size", "learning_rate_scale")
        _non_negative(self, key, "patience", "label_smoothing")
        if self.label_smoothing >= 1:
            raise FashionError(
                f"params.yaml: {join(key, 'label_smoothing')} must be below 1, not {self.label_smoothing!r}"
            )

    def hyper(self, tuned: Hyper) -> Hyper:
        """The tuned configuration with its learning rate scaled for this batch size."""
        return dataclasses.replace(tuned, learning_rate=tuned.learning_rate * self.learning_rate_scale)


@dataclass(frozen=True)
class Retrain:
    """How a transfer experiment retrains: its own optimizer and schedule, or (`tuned`) the from-scratch ones."""

    optimizer: str
    learning_rate: float
    decay: float
    tuned: bool = False  # true: the tuned configuration's optimizer, learning rate and decay (the paper's way)

    def check(self, key: str) -> None:
        _one_of(self, key, "optimizer", OPTIMIZERS)
        _positive(self, key, "learning_rate")
        _decay(self.decay, join(key, "decay"))


@dataclass(frozen=True)
class FinetuneConfig:
    """Table 6: the tuned model on the target dataset."""

    epochs: int  # the same budget for last_layer, whole_model and scratch
    patience: int
    min_delta: float  # a smaller fall in validation loss does not count as an improvement
    batch_norm: str  # frozen: BN layers keep source statistics (inference mode) | train: they adapt
    last_layer: Retrain
    whole_model: Retrain

    def check(self, key: str) -> None:
        _positive(self, key, "epochs")
        _non_negative(self, key, "patience", "min_delta")
        _one_of(self, key, "batch_norm", BATCH_NORM)


@dataclass(frozen=True)
class LabelIssuesConfig:
    """Finding likely mislabelled images from out-of-sample predictions."""

    filter_by: str  # cleanlab.filter.find_label_issues' method
    sheet: int  # images on the contact sheet

    def check(self, key: str) -> None:
        _one_of(self, key, "filter_by", LABEL_FILTERS)
        _positive(self, key, "sheet")


@dataclass(frozen=True)
class Config:
    seed: int
    embedded: EmbeddedConfig
    datasets: dict[str, DatasetConfig]
    download: DownloadConfig
    crop: CropConfig
    balance: BalanceConfig
    split: SplitConfig
    train: TrainConfig
    tune: TuneConfig
    final: FinalConfig
    finetune: FinetuneConfig
    label_issues: LabelIssuesConfig

    def check(self, key: str) -> None:
        for name in self.datasets:
            _dataset_name(name)

    def dataset(self, name: str) -> DatasetConfig:
        if name not in self.datasets:
            raise FashionError(f"params.yaml: datasets.{name} is not defined (have: {', '.join(self.datasets)})")
        return self.datasets[name]


def load(path: str | Path = "params.yaml") -> Config:
    """Read and validate params.yaml; raise FashionError naming the bad key."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise FashionError(f"{path}: parameters file not found") from None
    except UnicodeDecodeError as exc:
        raise FashionError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return build(Config, parse(text, str(path)), "")


def _positive(obj, key: str, *names: str) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise FashionError(f"params.yaml: {join(key, name)} must be positive, not {getattr(obj, name)!r}")


def _non_negative(obj, key: str, *names: str) -> None:
    for name in names:
        if getattr(obj, name) < 0:
            raise FashionError(f"params.yaml: {join(key, name)} must not be negative, not {getattr(obj, name)!r}")


def _at_most(obj, key: str, limit: float, *names: str) -> None:
    for name in names:
        if getattr(obj, name) > limit:
            raise FashionError(f"params.yaml: {join(key, name)} must be at most {limit:g}, not {getattr(obj, name)!r}")


def _decay(value: float, key: str) -> None:
    """The learning rate is multiplied by `decay` after every epoch: 1 keeps it, 0 or above 1 make no sense."""
    if not 0 < value <= 1:
        raise FashionError(f"params.yaml: {key} must be in (0, 1], not {value!r}")


def _dataset_name(name: str) -> None:
    if not DATASET_NAME.fullmatch(name):
        raise FashionError(
            f"params.yaml: datasets: the dataset name {name!r} may hold only a-z, 0-9 and _ "
            "(it goes into dvc.yaml commands and output paths)"
        )


def _one_of(obj, key: str, name: str, allowed: tuple[str, ...]) -> None:
    value = getattr(obj, name)
    if value not in allowed:
        raise FashionError(f"params.yaml: {join(key, name)} must be one of {', '.join(allowed)}, not {value!r}")


def _relative(obj, key: str, *names: str) -> None:
    """Paths inside the dataset folder: relative, and never up out of it."""
    for name in names:
        value = getattr(obj, name)
        if Path(value).is_absolute() or ".." in Path(value).parts:
            raise FashionError(
                f"params.yaml: {join(key, name)} must be a path inside the dataset folder, not {value!r}"
            )


def _existing_file(obj, key: str, name: str) -> None:
    if not Path(getattr(obj, name)).is_file():
        raise FashionError(f"params.yaml: {join(key, name)}: mapping file {getattr(obj, name)} does not exist")
