"""Fill in package sources (``@@SOURCE charrnn.reference._rnn_step@@``, and refresh every
```python source=... block), and put the English chapter's python blocks into the Russian one (where it says @@CODE n@@).

The two languages show the same code (tests/test_guide.py checks it); the Russian text is
written separately, with a placeholder line ``@@CODE 1@@``, ``@@CODE 2@@``… where each
block goes, or with the blocks already in place (then they are replaced by the English ones).

    python docs/guide/fill_code.py docs/guide/ru/01-task-and-data.md
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import guidecode  # noqa: E402


def sources(text: str) -> str:
    text = re.sub(
        r"^@@SOURCE ([\w.]+)@@$", lambda m: f"```python source={m[1]}\n{guidecode.source_of(m[1])}```", text, flags=re.M
    )
    return guidecode.FENCE.sub(
        lambda m: f"```python {m[2]}\n{guidecode.source_of(m[2][7:])}```" if m[2].startswith("source=") else m[0],
        text,
    )


for arg in sys.argv[1:]:
    ru = Path(arg)
    if ru.parent.name == "en":
        ru.write_text(sources(ru.read_text(encoding="utf-8")), encoding="utf-8")
        continue
    blocks = guidecode.code_blocks(ru.parent.parent / "en" / ru.name)
    text = ru.read_text(encoding="utf-8")
    text = re.sub(r"^@@CODE (\d+)@@$", lambda m, b=blocks: f"```python\n{b[int(m[1]) - 1]}```", text, flags=re.M)
    k = iter(range(len(blocks)))
    text = guidecode.FENCE.sub(
        lambda m, b=blocks, k=k: f"```python\n{b[next(k)]}```" if m[1] == "python" and not m[2] else m[0], text
    )
    text = sources(text)
    ru.write_text(text, encoding="utf-8")
