"""Observations computed from a run: targets checked, train–test gap, weakest classes, loss trend.

Seed 001 wrote its Analysis by hand after each model; these are the figures it quoted,
taken from ``metrics.jsonl`` so they are always right. Targets are the config's free
text; the measurable figures in them are read with a few patterns:
``99.4 %`` (a metric threshold), ``8,000 parameters`` / ``parameters less than 8K``
(a parameter limit) and ``15 epochs`` (an epoch budget).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from archlab.report.doc import METRIC_LABELS
from archlab.rundir import Run

_NUM = r"(\d[\d,]*(?:\.\d+)?)"
_PCT = re.compile(_NUM + r"\s*%")
_PARAMS_AFTER = re.compile(_NUM + r"\s*([kKmM])?\s*(?:trainable\s+)?(?:parameters|params)\b")
_PARAMS_BEFORE = re.compile(r"(?:parameters|params)\b[^%\d]{0,30}?" + _NUM + r"\s*([kKmM])?\b(?!\s*%)")
_EPOCHS = re.compile(r"(\d+)\s*epochs?\b", re.IGNORECASE)
_TOL = 1e-6  # float32 accuracies such as 0.99409997 count as 99.41


@dataclass
class Target:
    """The measurable parts of one free-text target."""

    text: str
    metric_pct: float | None = None  # threshold in percent
    split: str | None = None
    metric: str | None = None
    max_params: float | None = None
    params_inclusive: bool = False
    max_epochs: int | None = None


def _number(text: str, suffix: str | None = None) -> float:
    value = float(text.replace(",", ""))
    return value * {"k": 1e3, "m": 1e6}.get((suffix or "").lower(), 1.0)


def parse_target(text: str, run: Run) -> Target:
    """Read the threshold, parameter limit and epoch budget written in ``text`` (any may be absent)."""
    t = Target(text=text)
    low = text.lower()
    pct = _PCT.search(text)
    if pct:
        t.metric_pct = _number(pct.group(1))
        t.split = next((s for s in ("train", "val", "test") if s in low), None) or run.eval_split
        if "map" in low or "average precision" in low:
            t.metric = "map_macro"
        elif "f1" in low:
            t.metric = "macro_f1"
        else:
            t.metric = run.metric_key(t.split) or "acc"
    m = _PARAMS_AFTER.search(text) or _PARAMS_BEFORE.search(text)
    if m:
        t.max_params = _number(m.group(1), m.group(2))
        t.params_inclusive = bool(re.search(r"at most|<=|≤|maximum|max\b|up to", low))
    e = _EPOCHS.search(text)
    if e:
        t.max_epochs = int(e.group(1))
    return t


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _label(split: str | None, metric: str | None) -> str:
    return f"{split or ''} {METRIC_LABELS.get(metric or '', metric or '')}".strip()


def check_target(t: Target, run: Run) -> list[str]:
    """One sentence per measurable part of ``t``; empty when ``t`` holds no figure."""
    out: list[str] = []
    if t.metric_pct is not None and t.split and t.metric:
        rows = run.series(t.split, t.metric)
        label = _label(t.split, t.metric)
        hits = [(e, v) for e, v in rows if 100 * v + _TOL >= t.metric_pct]
        if not rows:
            out.append(f"{label} ≥ {t.metric_pct:g}: not measured in this run")
        elif hits:
            first_epoch, first_value = hits[0]
            after = [(e, v) for e, v in rows if e >= first_epoch]
            held = sum(1 for _, v in after if 100 * v + _TOL >= t.metric_pct)
            budget = ""
            if t.max_epochs is not None:
                budget = (
                    f", within the {t.max_epochs}-epoch budget"
                    if first_epoch <= t.max_epochs
                    else f", after the {t.max_epochs}-epoch budget"
                )
            out.append(
                f"{label} ≥ {t.metric_pct:g}: first reached at epoch {first_epoch} ({pct(first_value)}){budget};"
                f" held in {held} of the {len(after)} epochs from there"
            )
        else:
            best_v = max(v for _, v in rows)
            best_e = next(e for e, v in rows if v == best_v)
            out.append(
                f"{label} ≥ {t.metric_pct:g}: not reached; best {pct(best_v)} at epoch {best_e},"
                f" {t.metric_pct - 100 * best_v:.2f} points short"
            )
    if t.max_params is not None and run.params is not None:
        limit, n = t.max_params, run.params
        ok = n <= limit if t.params_inclusive else n < limit
        rel = "≤" if t.params_inclusive else "<"
        if ok:
            out.append(f"parameters {rel} {limit:,.0f}: met with {n:,} ({limit - n:,.0f} to spare)")
        else:
            out.append(f"parameters {rel} {limit:,.0f}: not met, {n:,} parameters ({n - limit:,.0f} over)")
    if t.max_epochs is not None and t.metric_pct is None:
        ran = len(run.history)
        out.append(
            f"epochs ≤ {t.max_epochs}: {'met' if ran <= t.max_epochs else 'not met'}, {ran} epochs run"
        )
    return out


def _at(values: object, i: int) -> object:
    return values[i] if isinstance(values, list) and i < len(values) else None


def _is_num(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def weakest_classes(run: Run, split: str, epoch: int | None, n: int = 3) -> list[str]:
    """The ``n`` classes with the lowest F1 at ``epoch`` (else the last epoch), with their commonest confusion."""
    rec = run.record(epoch).get(split) if epoch is not None else None
    if not isinstance(rec, dict):
        rec = run.last_record(split)
    f1 = rec.get("per_class_f1")
    if not isinstance(f1, list) or len(f1) < 2:
        return []
    names = run.classes if len(run.classes) == len(f1) else [str(i) for i in range(len(f1))]
    prec, rec_, sup = rec.get("per_class_precision"), rec.get("per_class_recall"), rec.get("support")
    ap = rec.get("per_class_ap")
    conf = rec.get("confusion")
    scored = [i for i in range(len(f1)) if _is_num(f1[i])]
    order = sorted(scored, key=lambda i: f1[i])[:n]
    out = []
    for i in order:
        parts = []
        if _is_num(_at(prec, i)) and _is_num(_at(rec_, i)):
            parts.append(f"precision {prec[i]:.3f}, recall {rec_[i]:.3f}")
        if _is_num(_at(ap, i)):
            parts.append(f"AP {ap[i]:.3f}")
        if _is_num(_at(sup, i)):
            parts.append(f"{int(sup[i]):,} samples")
        if isinstance(conf, list) and i < len(conf) and isinstance(conf[i], list):
            row = [(c, j) for j, c in enumerate(conf[i]) if j != i and isinstance(c, (int, float))]
            if row:
                count, j = max(row)
                if count > 0 and j < len(names):
                    parts.append(f"most often taken for '{names[j]}', {int(count)}×")
        out.append(f"'{names[i]}' F1 {f1[i]:.3f}" + (f" ({', '.join(parts)})" if parts else ""))
    return out


def observations(run: Run) -> list[str]:
    """Seed 001's Analysis bullets, computed: targets, gap, weakest classes, loss trend, stability."""
    out: list[str] = []
    ev, key = run.eval_split, run.metric_key()
    for text in run.config.get("targets") or []:
        for sentence in check_target(parse_target(str(text), run), run):
            out.append(f"Target “{text}”: {sentence}.")
    if ev and key:
        best_v, best_e = run.best(ev, key)
        train_at = dict(run.series("train", key))
        if best_e is not None and best_e in train_at:
            gap = round(100 * (train_at[best_e] - best_v), 2)
            if gap >= 0:
                verdict = "the model fits the training set better" + (
                    " (a sign of overfitting)" if gap > 2 else " (small: it generalises well)"
                )
            else:
                verdict = "test above train, as usual while dropout or augmentation act on the training pass"
            out.append(
                f"Train–{ev} gap at the best {ev} epoch ({best_e}): train {pct(train_at[best_e])} vs {ev} "
                f"{pct(best_v)}, {gap:+.2f} points; {verdict}."
            )
        rows = run.series(ev, key)
        if len(rows) >= 5:
            tail = [v for _, v in rows[-3:]]
            out.append(
                f"Last 3 of {len(rows)} epochs: {ev} {METRIC_LABELS.get(key, key)} between {pct(min(tail))} and {pct(max(tail))} "
                f"(spread {100 * (max(tail) - min(tail)):.2f} points)."
            )
    if ev:
        losses = run.series(ev, "loss")
        if len(losses) >= 2:
            low_v, low_e = min((v, e) for e, v in losses)
            last_e, last_v = losses[-1]
            if low_e < last_e and last_v > 1.05 * low_v:
                out.append(
                    f"{ev.capitalize()} loss was lowest at epoch {low_e} ({low_v:.4f}) and ended {100 * (last_v / low_v - 1):.0f}% "
                    f"higher ({last_v:.4f}): later epochs overfit or the learning rate is too high."
                )
            elif low_e == last_e:
                out.append(
                    f"{ev.capitalize()} loss still fell in the last epoch ({last_v:.4f}): more epochs may help."
                )
            else:
                out.append(f"{ev.capitalize()} loss flat near its minimum {low_v:.4f} (epoch {low_e}).")
        weak = weakest_classes(run, ev, run.selected_epoch)
        if weak:
            at = run.selected_epoch or len(run.history)
            out.append(f"Weakest classes by F1 ({ev}, epoch {at}): " + "; ".join(weak) + ".")
    notes = run.config.get("notes")
    if isinstance(notes, str) and notes.strip():
        out.extend(line.strip().lstrip("-* ").strip() for line in notes.strip().splitlines() if line.strip())
    return out
