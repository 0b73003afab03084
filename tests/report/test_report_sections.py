"""The run report shows curriculum stages and the weighted sampler's per-class effect."""

from pathlib import Path

import archlab


def test_curriculum_and_sampler_sections(tmp_path: Path) -> None:
    result = archlab.train(
        None,
        overrides=[
            f"run.out_dir={tmp_path}",
            "run.summary=false",
            "run.progress=false",
            "run.threads=1",
            "curriculum=[{classes: [0, 7], epochs: 1}, {epochs: 1}]",
            "data.sampler=inverse",
        ],
        echo=lambda _: None,
    )
    md = (result.run_dir / "report.md").read_text()
    assert "## Curriculum stages" in md and "## Weighted sampler: inverse" in md
    # Inverse frequency: in stage 1 only classes 0 and 7 are drawn, half of the draws each.
    stage1 = md.split("### Stage 1")[1].split("### Stage 2")[0]
    row0 = next(line for line in stage1.splitlines() if line.startswith("| 0 "))
    assert "50.00" in row0
    assert [s["classes"] for s in result.results["stages"]] == [[0, 7], []]
