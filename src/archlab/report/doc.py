"""A small document model rendered twice: GitHub markdown (images as files) and self-contained HTML.

A report is built once as a list of blocks (headings, paragraphs, bullet lists, tables,
code, images, footnotes) and rendered by :meth:`Doc.markdown` and :meth:`Doc.html`. HTML
embeds every image as a base64 ``data:`` URI, inlines its stylesheet and uses no script,
so the file opens the same offline, from any folder, and in a mail attachment.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

CSS = """
body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;
max-width:1100px;margin:24px auto;padding:0 24px;background:#fff}
h1{font-size:26px;border-bottom:1px solid #d0d7de;padding-bottom:6px}
h2{font-size:20px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}
h3{font-size:16px;margin-top:20px}
table{border-collapse:collapse;margin:10px 0;font-size:14px}
th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fbfcfd}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:10px;overflow-x:auto;
font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:90%}
figure{margin:12px 0}
figure img{max-width:100%;height:auto;border:1px solid #eaeef2}
figcaption{color:#57606a;font-size:13px}
.meta{color:#57606a}
.foot{color:#57606a;font-size:13px}
"""

# How each metric is named in reports.
METRIC_LABELS = {
    "acc": "accuracy",
    "map_macro": "mAP (macro)",
    "macro_f1": "macro F1",
    "subset_acc": "subset accuracy",
    "micro_f1": "micro F1",
    "top5": "top-5 accuracy",
}


@dataclass
class Image:
    """A PNG shown in the report: ``name`` is its file name next to the markdown."""

    name: str
    png: bytes
    caption: str = ""


@dataclass
class Block:
    kind: str  # h1 h2 h3 p meta bullets table code image foot
    text: str = ""
    items: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    numeric: list[bool] = field(default_factory=list)
    lang: str = ""
    image: Image | None = None


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _numeric_columns(rows: list[list[str]], ncols: int) -> list[bool]:
    """A column is right-aligned when every non-empty cell starts like a number."""
    out = []
    for j in range(ncols):
        cells = [r[j].strip() for r in rows if j < len(r) and r[j].strip() not in ("", "-")]
        out.append(bool(cells) and all(c[0].isdigit() or c[:2] in ("+0", "-0", "+1", "-1") for c in cells))
    return out


class Doc:
    """Blocks of one report; add with the methods below, render with :meth:`markdown` / :meth:`html`."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.blocks: list[Block] = [Block("h1", title)]

    def h2(self, text: str) -> None:
        self.blocks.append(Block("h2", text))

    def h3(self, text: str) -> None:
        self.blocks.append(Block("h3", text))

    def p(self, text: str) -> None:
        self.blocks.append(Block("p", text))

    def meta(self, text: str) -> None:
        self.blocks.append(Block("meta", text))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(Block("bullets", items=[str(i) for i in items]))

    def table(self, header: list[str], rows: list[list[object]]) -> None:
        cells = [[str(c) for c in r] for r in rows]
        self.blocks.append(
            Block("table", header=list(header), rows=cells, numeric=_numeric_columns(cells, len(header)))
        )

    def code(self, text: str, lang: str = "") -> None:
        self.blocks.append(Block("code", text=text.rstrip("\n"), lang=lang))

    def image(self, name: str, png: bytes, caption: str = "") -> None:
        self.blocks.append(Block("image", image=Image(name, png, caption)))

    def foot(self, text: str) -> None:
        self.blocks.append(Block("foot", text))

    def images(self) -> list[Image]:
        return [b.image for b in self.blocks if b.image is not None]

    def markdown(self, image_dir: str = "") -> str:
        """GitHub markdown; images are linked as ``image_dir/name`` (write them there)."""
        out: list[str] = []
        for b in self.blocks:
            if b.kind in ("h1", "h2", "h3"):
                out.append("#" * int(b.kind[1]) + " " + b.text)
            elif b.kind in ("p", "meta"):
                out.append(b.text)
            elif b.kind == "foot":
                out.append(f"<sub>{b.text}</sub>")
            elif b.kind == "bullets":
                out.append("\n".join(f"- {i}" for i in b.items))
            elif b.kind == "table":
                head = "| " + " | ".join(_md_cell(h) for h in b.header) + " |"
                rule = "|" + "|".join("---:" if n else "---" for n in b.numeric) + "|"
                body = ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b.rows]
                out.append("\n".join([head, rule, *body]))
            elif b.kind == "code":
                out.append(f"```{b.lang}\n{b.text}\n```")
            elif b.kind == "image" and b.image is not None:
                path = f"{image_dir}/{b.image.name}" if image_dir else b.image.name
                line = f"![{b.image.caption or b.image.name}]({path})"
                out.append(line + (f"\n\n*{b.image.caption}*" if b.image.caption else ""))
        return "\n\n".join(out) + "\n"

    def html(self) -> str:
        """One self-contained HTML page: inline CSS, images as base64 data URIs, no JavaScript."""
        esc = html.escape
        body: list[str] = []
        for b in self.blocks:
            if b.kind in ("h1", "h2", "h3"):
                body.append(f"<{b.kind}>{esc(b.text)}</{b.kind}>")
            elif b.kind == "p":
                body.append(f"<p>{esc(b.text)}</p>")
            elif b.kind in ("meta", "foot"):
                body.append(f'<p class="{b.kind}">{esc(b.text)}</p>')
            elif b.kind == "bullets":
                body.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + "</ul>")
            elif b.kind == "table":
                head = "".join(f"<th>{esc(h)}</th>" for h in b.header)
                rows = []
                for r in b.rows:
                    tds = "".join(
                        f'<td class="num">{esc(c)}</td>'
                        if j < len(b.numeric) and b.numeric[j]
                        else f"<td>{esc(c)}</td>"
                        for j, c in enumerate(r)
                    )
                    rows.append(f"<tr>{tds}</tr>")
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
            elif b.kind == "code":
                body.append(f"<pre><code>{esc(b.text)}</code></pre>")
            elif b.kind == "image" and b.image is not None:
                data = base64.b64encode(b.image.png).decode("ascii")
                alt = esc(b.image.caption or b.image.name)
                cap = f"<figcaption>{esc(b.image.caption)}</figcaption>" if b.image.caption else ""
                body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">{cap}</figure>')
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(self.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body)
            + "\n</body>\n</html>\n"
        )

    def write(self, md_path: Path, image_dir: str, with_html: bool = True) -> tuple[Path, Path]:
        """Write ``md_path``, its images under ``md_path.parent / image_dir`` and (``with_html``) the HTML beside it."""
        from archlab.rundir import atomic_write_bytes, atomic_write_text

        md_path = Path(md_path)
        folder = md_path.parent / image_dir
        if self.images():
            folder.mkdir(parents=True, exist_ok=True)
        for img in self.images():
            atomic_write_bytes(folder / img.name, img.png)
        html_path = md_path.with_suffix(".html")
        atomic_write_text(md_path, self.markdown(image_dir))
        if with_html:
            atomic_write_text(html_path, self.html())
        return md_path, html_path
