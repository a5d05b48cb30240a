"""Stage 02 for image contests (data.modality: image): reports/eda.html on images, digits and boxes.

Sections: overview, a sample grid (images with their boxes and labels), image sizes, digits per
image, digit class balance, box sizes and the label strings. Everything but the grid and the image
sizes comes from the label JSON, so the report is useful before the images are unpacked; without
them the size section shows the extent of the boxes (a lower bound of the image size) instead.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.reports.eda_text import log_bins, log_scale
from common.data.images import boxes_frame
from common.reports.report import Report, pyplot

TRAIN, TEST = "#457b9d", "#e76f51"


def image_report(contest, train: pd.DataFrame, test: pd.DataFrame, n_samples: int = 16) -> Path:
    """Write reports/eda.html for an image contest's frames (common.data.images.load_image_tables)."""
    d, seed = contest.config.data, contest.config.seed
    splits = {"train": train, "test": test}
    labelled = {k: f for k, f in splits.items() if "digits" in f.columns}
    boxes = {k: boxes_frame(f) for k, f in labelled.items()}
    report = Report(f"EDA: {contest.config.competition.name}", contest.reports_dir)

    report.section("Overview")
    report.text(f"{contest.task} task scored by {contest.metric.name} ({contest.metric.direction}). "
                f"Train: {len(train):,} images, {len(boxes['train']):,} digits; test: {len(test):,} images"
                + (f", {len(boxes['test']):,} digits (labelled)." if "test" in boxes else " (unlabelled)."))
    report.table(pd.DataFrame([{"split": k, "images": len(f), "labelled": k in labelled,
                                "digits": len(boxes[k]) if k in boxes else np.nan,
                                "image sizes known": "image_width" in f.columns} for k, f in splits.items()]))

    report.section("Sample images")
    if d.image_dir and "image_width" in train.columns:
        sample = train.sample(min(n_samples, len(train)), random_state=seed)
        report.text("Random training images with their digit boxes and label strings.", note=True)
        report.figure(plot_samples(sample, contest.path(d.image_dir), d.target), "eda_image_samples",
                      "sample training images with boxes and labels")
    else:
        report.text("No training images (data.image_dir is not set or holds no images): the sample grid is "
                    "skipped. The sections below come from the label file alone.", note=True)

    report.section("Image sizes")
    sizes = {k: image_sizes(f) for k, f in splits.items()}
    sizes = {k: s for k, s in sizes.items() if s is not None}
    if any(s.attrs["measured"] for s in sizes.values()):
        report.text("Width and height of each image in pixels.", note=True)
    else:
        report.text("Image files absent: shown instead is the extent of each image's digit boxes "
                    "(rightmost left + width, lowest top + height), a lower bound of the image size.", note=True)
    if sizes:
        report.table(size_table(sizes))
        report.figure(plot_sizes(sizes), "eda_image_sizes", "image width and height distributions")

    report.section("Digits per image")
    if labelled:
        counts = digit_count_table(labelled)
        report.table(counts)
        report.figure(plot_bars(counts, "digits", "images"), "eda_image_digit_counts", "digits per image")
    else:
        report.text("No labels.")

    report.section("Digit class balance")
    if boxes:
        balance = digit_balance_table(boxes)
        report.table(balance)
        report.figure(plot_bars(balance, "digit", "boxes"), "eda_image_digit_classes", "boxes per digit class")

    report.section("Box sizes")
    if boxes:
        box = {k: b.assign(aspect=b["width"] / b["height"].clip(lower=1)) for k, b in boxes.items()}
        report.text("Digit box width, height and width / height in pixels. Small boxes (a few pixels high) "
                    "decide the input resolution a recogniser needs.", note=True)
        report.table(box_table(box))
        report.figure(plot_boxes(box), "eda_image_boxes", "box width, height and aspect distributions")

    report.section("Label strings")
    if labelled:
        top = train[d.target].value_counts().head(15)
        report.text(f"{train[d.target].nunique():,} distinct label strings in train; whole-string accuracy "
                    "counts an image right only when every digit is.", note=True)
        report.table(pd.DataFrame({"label": top.index.astype(str), "images": top.to_numpy(),
                                   "share": top.to_numpy() / len(train)}))
    return report.write("eda.html")


# ---------------------------------------------------------------- tables
def image_sizes(frame: pd.DataFrame) -> pd.DataFrame | None:
    """width/height per image: measured from the files, else the box extent; None without either."""
    if "image_width" in frame.columns:
        out = pd.DataFrame({"width": frame["image_width"], "height": frame["image_height"]})
        out.attrs["measured"] = True
        return out
    if "digits" not in frame.columns:
        return None
    right = [max(np.add(l, w)) for l, w in zip(frame["left"], frame["width"])]
    bottom = [max(np.add(t, h)) for t, h in zip(frame["top"], frame["height"])]
    out = pd.DataFrame({"width": right, "height": bottom})
    out.attrs["measured"] = False
    return out


def _quantiles(values: pd.Series) -> dict[str, float]:
    q = values.quantile([0, 0.05, 0.5, 0.95, 1]).to_numpy()
    return {"mean": values.mean(), "min": q[0], "p5": q[1], "median": q[2], "p95": q[3], "max": q[4]}


def size_table(sizes: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.DataFrame([{"split": k, "measure": c + (" (image)" if s.attrs["measured"] else " (box extent)"),
                          **_quantiles(s[c])} for k, s in sizes.items() for c in ("width", "height")])


def digit_count_table(labelled: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Images with 1, 2, ... digits per labelled split."""
    top = max(int(f["n_digits"].max()) for f in labelled.values())
    table = pd.DataFrame({"digits": np.arange(1, top + 1)})
    for k, f in labelled.items():
        table[k] = f["n_digits"].value_counts().reindex(table["digits"], fill_value=0).to_numpy()
        table[f"{k}_share"] = table[k] / len(f)
    return table


def digit_balance_table(boxes: dict[str, pd.DataFrame]) -> pd.DataFrame:
    table = pd.DataFrame({"digit": np.arange(10)})
    for k, b in boxes.items():
        table[k] = b["digit"].value_counts().reindex(table["digit"], fill_value=0).to_numpy()
        table[f"{k}_share"] = table[k] / max(len(b), 1)
    return table


def box_table(boxes: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.DataFrame([{"split": k, "measure": c, **_quantiles(b[c])}
                         for k, b in boxes.items() for c in ("width", "height", "aspect")])


# ---------------------------------------------------------------- plots
def plot_samples(sample: pd.DataFrame, image_dir: Path, target: str, cols: int = 4):
    from matplotlib.patches import Rectangle
    from PIL import Image

    plt = pyplot()
    rows = int(np.ceil(len(sample) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (_, row) in zip(axes.flat, sample.iterrows()):
        with Image.open(image_dir / row["file_name"]) as img:
            ax.imshow(np.asarray(img.convert("RGB")))
        for digit, left, top, w, h in zip(row["digits"], row["left"], row["top"], row["width"], row["height"]):
            ax.add_patch(Rectangle((left, top), w, h, fill=False, edgecolor="#ffbe0b", linewidth=1.2))
            ax.text(left, top, str(digit), color="#ffbe0b", fontsize=7, va="bottom")
        ax.set_title(f"{row['file_name']}  label {row[target]}", fontsize=8)
    fig.tight_layout()
    return fig


def plot_sizes(sizes: dict[str, pd.DataFrame]):
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    colors = {"train": TRAIN, "test": TEST}
    for ax, c in zip(axes[:2], ("width", "height")):
        _share_histograms(ax, sizes, c, log_bins(*(s[c] for s in sizes.values())), colors)
        log_scale(ax, "x")
        ax.set_xlabel(f"{c} (px)")
        ax.set_ylabel("share of images")
        ax.legend(fontsize=7)
    for k, s in sizes.items():
        axes[2].scatter(s["width"], s["height"], s=3, alpha=0.3, color=colors.get(k), label=k)
    log_scale(axes[2], "x")
    log_scale(axes[2], "y")
    axes[2].set_xlabel("width (px)")
    axes[2].set_ylabel("height (px)")
    fig.tight_layout()
    return fig


def _share_histograms(ax, frames: dict[str, pd.DataFrame], column: str, bins: np.ndarray, colors: dict[str, str]):
    """One histogram of `column` per frame (train, test), each as shares of its rows, values clipped into the bins."""
    for k, frame in frames.items():
        ax.hist(frame[column].clip(lower=bins[0], upper=bins[-1]), bins=bins, weights=np.full(len(frame), 1 / len(frame)),
                alpha=0.55, color=colors.get(k), label=k)


def plot_bars(table: pd.DataFrame, key: str, what: str):
    plt = pyplot()
    splits = [c for c in table.columns if c.endswith("_share")]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(table))
    width = 0.8 / max(len(splits), 1)
    for i, c in enumerate(splits):
        ax.bar(x + i * width, table[c], width=width, label=c.removesuffix("_share"),
               color=(TRAIN, TEST)[i % 2])
    ax.set_xticks(x + width * (len(splits) - 1) / 2, table[key].astype(str))
    ax.set_xlabel(key)
    ax.set_ylabel(f"share of {what}")
    ax.legend()
    return fig


def plot_boxes(boxes: dict[str, pd.DataFrame]):
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    colors = {"train": TRAIN, "test": TEST}
    for ax, c in zip(axes, ("width", "height", "aspect")):
        values = np.concatenate([b[c].to_numpy(float) for b in boxes.values()])
        bins = (log_bins(values) if c != "aspect"
                else np.linspace(0, min(values.max(), 2.0), 40))
        _share_histograms(ax, boxes, c, bins, colors)
        if c != "aspect":
            log_scale(ax, "x")
        ax.set_xlabel(f"box {c}" + (" (px)" if c != "aspect" else " (width / height)"))
        ax.set_ylabel("share of boxes")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
