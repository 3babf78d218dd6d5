"""The one TensorBoard event reader of the tests: what a run wrote, by tag."""

from __future__ import annotations

from pathlib import Path


def read_events(folder: Path) -> dict:
    """Every ``events.out.tfevents.*`` under ``folder`` (a run's output_dir or its ``runs/``):

    * ``points``: {tag: [(step, value), ...]} every scalar point of every file, sorted by step (a step
      written twice, e.g. by a resumed run, shows twice);
    * ``scalars``: {tag: {step: value}};
    * ``texts``: {tag: {step: text}} (text summaries: samples, alarms, the aha step);
    * ``layouts``: the custom-scalars layouts (``custom_scalars__config__``).
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.util import tensor_util

    files = sorted(Path(folder).glob("**/events.out.tfevents.*"))
    assert files, f"no TensorBoard event file under {folder}"
    points, texts, layouts = {}, {}, []
    for event_file in files:
        acc = EventAccumulator(str(event_file), size_guidance={"scalars": 0, "tensors": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            points.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
        for tag in acc.Tags()["tensors"]:
            for event in acc.Tensors(tag):
                value = tensor_util.make_ndarray(event.tensor_proto)
                raw = value.item() if value.shape == () else value.flat[0]
                if tag == "custom_scalars__config__":
                    layouts.append(layout_pb2.Layout.FromString(raw))
                else:
                    texts.setdefault(tag, {})[event.step] = raw.decode("utf-8", "replace")
    points = {tag: sorted(values, key=lambda p: p[0]) for tag, values in points.items()}
    scalars = {tag: dict(values) for tag, values in points.items()}
    return {"points": points, "scalars": scalars, "texts": texts, "layouts": layouts}
