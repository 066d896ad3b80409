"""The difference between two results ledgers (:mod:`vae_mnist.build.ledger`), as text, Markdown or a Provenance page.

:func:`diff_ledgers` compares two ledgers: glued numbers beyond a relative tolerance (exact by default), glued
words and tables with the sentences that paste them, figures whose pixels changed (and by how much, on their
grey thumbnails), runs added, removed or retrained. :func:`render` writes it for the terminal or a CI job
summary; :func:`provenance_markdown` writes the part of the book's Provenance page the build generates.
"""
from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from .ledger import NUMBER, plain_number


def numbers_close(a: str, b: str, rtol: float) -> bool:
    """Whether two glued texts are equal up to ``rtol`` in every number they show (the words equal)."""
    if a == b:
        return True
    if rtol <= 0:
        return False
    na, nb = NUMBER.findall(a), NUMBER.findall(b)
    if len(na) != len(nb) or NUMBER.sub("#", a) != NUMBER.sub("#", b):
        return False
    for x, y in zip(na, nb):
        x, y = float(x), float(y)
        if not (x == y or abs(x - y) <= rtol * max(abs(x), abs(y))):
            return False
    return True


def thumb_change(old: dict, new: dict) -> tuple:
    """Mean and largest absolute change of two figures' grey thumbnails, as fractions of the grey range."""
    a, b = base64.b64decode(old.get("thumb", "")), base64.b64decode(new.get("thumb", ""))
    if len(a) != len(b) or not a:
        return 1.0, 1.0
    d = [abs(x - y) / 255 for x, y in zip(a, b)]
    return sum(d) / len(d), max(d)


@dataclass
class Diff:
    numbers: List[dict] = field(default_factory=list)      # glued numbers that moved
    words: List[dict] = field(default_factory=list)        # glued words, sentences and tables that changed
    glue_added: List[str] = field(default_factory=list)
    glue_removed: List[str] = field(default_factory=list)
    figures: List[dict] = field(default_factory=list)
    figures_added: List[str] = field(default_factory=list)
    figures_removed: List[str] = field(default_factory=list)
    runs_added: List[str] = field(default_factory=list)
    runs_removed: List[str] = field(default_factory=list)
    runs_changed: List[dict] = field(default_factory=list)
    context: List[str] = field(default_factory=list)       # package, lock, profile: reported, not counted

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f) for f in ("numbers", "words", "glue_added", "glue_removed", "figures",
                                                  "figures_added", "figures_removed", "runs_added",
                                                  "runs_removed", "runs_changed"))

    def chapters(self) -> List[str]:
        """The chapters and run pages with a changed number, word or figure."""
        keys = [c["key"] for c in self.numbers + self.words + self.figures] + self.glue_added + self.glue_removed \
            + self.figures_added + self.figures_removed
        return sorted({k.split(":", 1)[0] for k in keys})


def diff_ledgers(old: dict, new: dict, rtol: float = 0.0) -> Diff:
    out = Diff()
    for key, label in (("package", "package sources"), ("lock", "lock file"), ("profile", "profile"), ("seeds", "seeds")):
        if old.get(key) != new.get(key):
            out.context.append(f"{label}: {str(old.get(key))[:12]} -> {str(new.get(key))[:12]}")
    og, ng = old["glue"], new["glue"]
    out.glue_added = sorted(set(ng) - set(og))
    out.glue_removed = sorted(set(og) - set(ng))
    for key in sorted(set(og) & set(ng)):
        a, b = og[key], ng[key]
        if numbers_close(a.get("value", ""), b.get("value", ""), rtol):
            continue
        change = {"key": key, "kind": b.get("kind"), "old": a.get("value"), "new": b.get("value"),
                  "sentences": b.get("sentences", [])}
        if a.get("kind") == "number" and b.get("kind") == "number":
            x, y = a["number"], b["number"]
            change["delta"] = y - x
            change["relative"] = (y - x) / abs(x) if x else math.inf
            se = b.get("se") or a.get("se")
            if se:
                change["in_se"] = (y - x) / se
            out.numbers.append(change)
        else:
            out.words.append(change)
    of, nf = old["figures"], new["figures"]
    out.figures_added = sorted(set(nf) - set(of))
    out.figures_removed = sorted(set(of) - set(nf))
    for key in sorted(set(of) & set(nf)):
        if of[key].get("pixels") != nf[key].get("pixels"):
            mean, peak = thumb_change(of[key], nf[key])
            out.figures.append({"key": key, "mean": mean, "max": peak})
    orr, nr = old["runs"], new["runs"]
    out.runs_added = sorted(set(nr) - set(orr))
    out.runs_removed = sorted(set(orr) - set(nr))
    for name in sorted(set(orr) & set(nr)):
        a, b = orr[name], nr[name]
        what = []
        if a.get("history") != b.get("history") or a.get("code_hash") != b.get("code_hash"):
            what.append("retrained" + (" (code hash changed)" if a.get("code_hash") != b.get("code_hash") else ""))
        if a.get("config") != b.get("config"):
            what.append("configuration changed")
        if a.get("software") != b.get("software"):
            what.append("software changed: " + ", ".join(
                f"{k} {a['software'].get(k)} -> {b['software'].get(k)}"
                for k in sorted(set(a.get("software", {})) | set(b.get("software", {})))
                if a.get("software", {}).get(k) != b.get("software", {}).get(k)))
        am, bm = a.get("metrics", {}), b.get("metrics", {})
        moved = {k: (am.get(k), bm.get(k)) for k in sorted(set(am) | set(bm))
                 if not numbers_close(repr(am.get(k)), repr(bm.get(k)), rtol)}
        if what or moved:
            out.runs_changed.append({"name": name, "what": what, "metrics": moved})
    return out


def _short(text, width: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 3] + "..."


def _changed_part(old, new, context: int = 30, width: int = 120) -> tuple:
    """The part of two texts that differs, with a little context either side ("..." where cut)."""
    a, b = " ".join(str(old).split()), " ".join(str(new).split())
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[len(a) - 1 - end] == b[len(b) - 1 - end]:
        end += 1
    lo = max(0, start - context)

    def cut(s):
        hi = min(len(s), len(s) - end + context)
        part = s[lo:hi]
        part = part if len(part) <= width else part[:width - 3] + "..."
        return ("..." if lo > 0 else "") + part + ("..." if hi < len(s) and not part.endswith("...") else "")
    return cut(a), cut(b)


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def render(diff: Diff, old_label: str = "old", new_label: str = "new", markdown: bool = False) -> str:
    """The difference as terminal text, or as Markdown (for a CI job summary or the Provenance page)."""
    lines: List[str] = []
    h = (lambda s: lines.extend(["", f"### {s}", ""])) if markdown else (lambda s: lines.extend(["", s]))
    item = (lambda s: lines.append(f"- {s}")) if markdown else (lambda s: lines.append(f"  {s}"))
    code = (lambda s: f"`{s}`") if markdown else (lambda s: s)
    if diff.empty:
        lines.append(f"No result changed between {old_label} and {new_label}: every glued value, figure and run is identical.")
    else:
        n_runs = len(diff.runs_added) + len(diff.runs_removed) + len(diff.runs_changed)
        lines.append(f"Results changed between {old_label} and {new_label}: {len(diff.numbers)} number(s), "
                     f"{len(diff.words)} word(s) or table(s), {len(diff.figures) + len(diff.figures_added) + len(diff.figures_removed)} "
                     f"figure(s), {n_runs} run(s), in {len(diff.chapters())} page(s).")
    if diff.context:
        lines.append(("Built from different inputs: " if diff.empty else "Inputs: ") + "; ".join(diff.context) + ".")
    if diff.runs_added or diff.runs_removed or diff.runs_changed:
        h("Runs")
        for name in diff.runs_added:
            item(f"added {code(name)}")
        for name in diff.runs_removed:
            item(f"removed {code(name)}")
        for change in diff.runs_changed:
            moved = ", ".join(f"{k} {_fmt(a)} -> {_fmt(b)}" for k, (a, b) in list(change["metrics"].items())[:6])
            more = len(change["metrics"]) - 6
            item(f"{code(change['name'])}: " + "; ".join(change["what"] + ([moved + (f" (+{more} more)" if more > 0 else "")]
                                                                            if moved else [])))
    if diff.numbers:
        h("Numbers")
        for c in diff.numbers:
            extra = f", {c['in_se']:+.1f} s.e." if "in_se" in c else ""
            item(f"{code(c['key'])}: {_fmt(plain_number(c['old']))} -> {_fmt(plain_number(c['new']))} "
                 f"({c['delta']:+.4g}, {100 * c['relative']:+.3g}%{extra})")
    if diff.words:
        h("Sentences and tables whose glued words changed")
        for c in diff.words:
            if c["kind"] == "markdown" and ("|" in str(c["old"]) + str(c["new"]) or "\n" in str(c["old"]).strip()):
                item(f"{code(c['key'])}: the glued table or passage changed")
            else:
                old, new = _changed_part(c["old"], c["new"])
                item(f"{code(c['key'])}: {code(old)} -> {code(new)}")
            for s in c["sentences"][:2]:
                lines.append(("  " if markdown else "    ") + f"in: \"{_short(plain_myst(s), 160)}\"")
    if diff.glue_added or diff.glue_removed:
        h("Glued values added or removed")
        for k in diff.glue_added:
            item(f"added {code(k)}")
        for k in diff.glue_removed:
            item(f"removed {code(k)}")
    if diff.figures or diff.figures_added or diff.figures_removed:
        h("Figures")
        for c in diff.figures:
            item(f"{code(c['key'])}: pixels changed, mean {100 * c['mean']:.2f}% / largest {100 * c['max']:.1f}% "
                 "of the grey range on a 32 x 32 thumbnail")
        for k in diff.figures_added:
            item(f"added {code(k)}")
        for k in diff.figures_removed:
            item(f"removed {code(k)}")
    return "\n".join(lines).strip() + "\n"


def ledger_label(ledger: dict, source) -> str:
    when = ledger.get("created", "?")
    return f"{source} (built {when}, package {str(ledger.get('package'))[:12]})"


# --------------------------------------------------------------------------------------------------
# The Provenance page (book/provenance.md includes what the build writes here)
# --------------------------------------------------------------------------------------------------
PROVENANCE_FILE = "provenance.md"
_ROLE = re.compile(r"\{[\w:-]+\}`([^`]*)`")


def plain_myst(text: str) -> str:
    """MyST source made safe to show as text: ``{glue:text}`x:.2f``` -> ``⟨x⟩``, a role's target in angle brackets
    (not square ones, which a following parenthesis would turn into a link)."""
    return _ROLE.sub(lambda m: "⟨" + m.group(1).split(":")[0].split("<")[-1].rstrip(">") + "⟩", text)


def provenance_path(root) -> Path:
    return Path(root) / "_build" / PROVENANCE_FILE


def provenance_markdown(ledger: Optional[dict], diff: Optional[Diff] = None, baseline: Optional[str] = None) -> str:
    """The generated part of the Provenance page: this build's inputs and runs, and what changed."""
    if ledger is None:
        return "The ledger of this build is written once its chapters have run.\n"
    lines = [f"This build (profile `{ledger['profile']}`, {ledger['seeds']} seed(s) per headline model) shows "
             f"{sum(1 for g in ledger['glue'].values() if g['kind'] == 'number')} glued numbers, "
             f"{sum(1 for g in ledger['glue'].values() if g['kind'] != 'number')} glued words, sentences and tables, "
             f"{len(ledger['figures'])} figures and {len(ledger['runs'])} runs. It was built from package sources "
             f"`{str(ledger['package'])[:12]}` and lock file `{str(ledger['lock'])[:12]}` (SHA-256, first 12 digits).",
             "", "| run | epochs | code hash | TensorFlow | Keras | NumPy | test −ELBO |", "|---|---:|---|---|---|---|---:|"]
    for name, run in sorted(ledger["runs"].items()):
        sw = run.get("software", {})
        elbo = run.get("metrics", {}).get("test_neg_elbo")
        lines.append(f"| `{name}` | {run.get('epochs')} | `{str(run.get('code_hash'))[:12]}` | {sw.get('tensorflow', '?')} "
                     f"| {sw.get('keras', '?')} | {sw.get('numpy', '?')} | {'' if elbo is None else f'{elbo:.2f}'} |")
    lines += ["", "## What changed since the build compared with", ""]
    if diff is None:
        lines.append("There was no earlier build to compare with (no earlier ledger in `_build/`, and none given to "
                     "`vae-mnist book --compare`).")
    else:
        lines.append(f"Compared with {baseline}:")
        lines.append("")
        body = render(diff, "that build", "this one", markdown=True)
        lines.append(body)  # its "###" headings sit under the page's "## What changed ..."
    return "\n".join(lines).rstrip() + "\n"
